-- 011_tenancy_and_least_privilege: the roles, grants and row-level security a multi-tenant
-- deployment relies on, and database functions no login role can turn against their owner.
-- Requires 001-010.
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
-- Runs as a superuser, as an owner with CREATEROLE, or as a database owner without it (a managed
-- PostgreSQL): what needs a privilege the role lacks is skipped with a NOTICE that says what a
-- DBA runs (`leadflow db roles --sql` prints it).
--
-- DECISIONS
-- * Four roles. The owner runs the migrations and owns every object. `leadflow_pipeline`
--   (NOLOGIN group) is the only role whose members get around the tenant policies: a permissive
--   `pipeline_access` policy TO leadflow_pipeline on every table with row-level security, and
--   DML on every table (the nightly, CRM and graph syncs, dbt and multi-organization imports are
--   cross-tenant). `leadflow_app` (NOLOGIN group, for the application's login) is subject to the
--   policies and sees nothing until it sets app.current_tenant_id for its transaction; it may
--   write the tenant tables listed in leadflow_apply_tenancy() and only read organizations,
--   users, crm_connections (no tenant picks a secret or a host), lead_conversion_models (only
--   the pipeline writes models) and analyst_access. Analysts are any login role given
--   `leadflow db grant-analyst ROLE --org ...`: usage of schema analytics and SELECT on the marts,
--   whose `analyst_read` policy shows the organizations granted to them in analyst_access,
--   whatever they set; nothing else.
-- * A policy scoped TO a role costs nothing to the others (the planner drops it), so the
--   application's plans keep using organization_id indexes.
-- * FORCE ROW LEVEL SECURITY on every tenant table once leadflow_pipeline exists: the owner's
--   own login is then subject to the policies unless it is a pipeline member (this migration
--   makes the migrating role one when it may). Without the role (an owner that may not create
--   roles) RLS stays enabled, not forced: the owner is the pipeline, as PostgreSQL's owner
--   semantics make it, until a DBA creates the roles and `leadflow migrate` (or
--   `select leadflow_apply_tenancy()`) applies them. Roles are cluster-wide and created only when
--   missing; the down migration leaves them (another database may use them).
-- * One tenant setting for every table: dnc_list's policy read app.current_org_id (as the Epic 3
--   reference showed); it reads app.current_tenant_id now, like every other policy.
-- * Nobody but the owner creates objects in schema public (PostgreSQL 14 let everyone), and every
--   SECURITY DEFINER function pins search_path = pg_catalog, pg_temp, schema-qualifies every
--   object and casts explicitly: a function or operator planted in public (an exact-type match
--   such as =(varchar, text) or nextval(text) beats pg_catalog's, which needs a cast) can no
--   longer run with the owner's rights. The trigger functions that read other tables are pinned
--   and qualified too (a session's temp table named `leads` no longer answers for public.leads).
-- * is_on_dnc_list(phone, org) is SECURITY INVOKER now: it answers through the caller's own
--   row-level security, so a tenant learns nothing of another organization's list; for an
--   organization the session cannot see it raises insufficient_privilege (never a misleading
--   false). is_on_dnc_list(phone) asks for the session's organization. EXECUTE on both and on
--   budget_balance goes to leadflow_app and leadflow_pipeline only.
-- * organizations.timezone must be an IANA name PostgreSQL knows (pg_timezone_names), checked by
--   a trigger on write; rows written before keep their value (the dbt staging model reads an
--   unknown zone as UTC, so one tenant's value cannot fail everyone's nightly).
-- * Marts: dbt recreates a table mart on every build, so the protection is applied by a dbt
--   post-hook in the build's transaction (leadflow_protect_mart): RLS enabled (the dbt login
--   owns the table and bypasses it; incremental models read themselves), analyst_read TO public,
--   tenant_read TO leadflow_app (the tenant setting), pipeline_access TO leadflow_pipeline,
--   SELECT to exactly those roles. The default privilege 006 gave the analyst group on new tables
--   is revoked: a mart built without the hook is readable by nobody but its owner (fail closed).
--   The analyst group of 006 keeps its role but no longer reads the marts: grant it with
--   `leadflow db grant-analyst analyst --all-organizations` to restore its all-tenant view.

-- schema public ---------------------------------------------------------------------------------

revoke create on schema public from public;

-- roles ------------------------------------------------------------------------------------------

do $$
declare
    privileged boolean;
begin
    select r.rolsuper or r.rolcreaterole into privileged
    from pg_catalog.pg_roles r where r.rolname = current_user;
    if not privileged then
        if not exists (select 1 from pg_catalog.pg_roles where rolname = 'leadflow_pipeline')
            or not exists (select 1 from pg_catalog.pg_roles where rolname = 'leadflow_app')
        then
            raise notice 'leadflow: % may not create roles: leadflow_pipeline and leadflow_app '
                'were not created and RLS is enabled but not forced (the owner is the pipeline); '
                'a DBA runs the SQL of `leadflow db roles --sql`, then `leadflow migrate` '
                'applies it', current_user;
        end if;
        return;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'leadflow_pipeline') then
        create role leadflow_pipeline nologin;
        comment on role leadflow_pipeline is
            'leadflow: the only role whose members bypass the tenant policies (pipeline_access)';
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'leadflow_app') then
        create role leadflow_app nologin;
        comment on role leadflow_app is
            'leadflow: the application; one organization per transaction (app.current_tenant_id)';
    end if;
    if not pg_catalog.pg_has_role(current_user, 'leadflow_pipeline', 'USAGE') then
        begin
            execute pg_catalog.format('grant leadflow_pipeline to %I', current_user);
        exception when insufficient_privilege then
            raise notice 'leadflow: % could not join leadflow_pipeline: a DBA runs '
                '`grant leadflow_pipeline to %I`', current_user, current_user;
        end;
    end if;
end
$$;

-- one tenant setting for every table --------------------------------------------------------------

drop policy if exists org_dnc_policy on dnc_list;
drop policy if exists tenant_isolation_policy on dnc_list;
create policy tenant_isolation_policy on dnc_list
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);
comment on table dnc_list is
    'Do-not-contact numbers, per organization (Story 3.8). RLS reads app.current_tenant_id.';

-- functions that cannot be hijacked ----------------------------------------------------------------

create or replace function public.is_on_dnc_list(p_phone text, p_org uuid)
returns boolean
language plpgsql
stable
security invoker
set search_path = pg_catalog, pg_temp
as $$
begin
    if p_org is null
        or not exists (select 1 from public.organizations o where o.id = p_org)
    then
        raise exception 'is_on_dnc_list: organization % is not visible to this session', p_org
            using errcode = 'insufficient_privilege',
                  hint = 'The DNC check answers for the organization in app.current_tenant_id.';
    end if;
    return exists (
        select 1
        from public.dnc_list d
        where d.organization_id = p_org
          and d.phone_number::text = p_phone
    );
end;
$$;

comment on function public.is_on_dnc_list(text, uuid) is
    'True iff the organization''s DNC list holds the E.164 phone; raises for an organization the '
    'session cannot see (security invoker: the caller''s row-level security decides).';

create or replace function public.is_on_dnc_list(p_phone text)
returns boolean
language sql
stable
security invoker
set search_path = pg_catalog, pg_temp
as $$
    select public.is_on_dnc_list(
        p_phone, nullif(pg_catalog.current_setting('app.current_tenant_id', true), '')::uuid
    );
$$;

comment on function public.is_on_dnc_list(text) is
    'is_on_dnc_list(phone, the session''s organization from app.current_tenant_id).';

create or replace function public.budget_transactions_apply_balance()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_user_org uuid;
    v_previous numeric(12, 2);
begin
    if pg_catalog.current_setting('transaction_isolation'::text) = 'repeatable read'::text then
        raise exception 'budget_transactions inserts need read committed or serializable isolation'
            using errcode = 'object_not_in_prerequisite_state',
                  hint = 'The balance chain must see rows committed while waiting for the lock.';
    end if;

    -- A missing user is left to the foreign key; a user of another organization is refused.
    select u.organization_id into v_user_org from public.users u where u.id = new.user_id;
    if v_user_org <> new.organization_id then
        raise exception 'budget_transactions.organization_id % is not the organization of user %',
            new.organization_id, new.user_id
            using errcode = 'foreign_key_violation';
    end if;

    -- Serialize the user's ledger; released at commit or rollback.
    perform pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('budget_transactions:'::text || new.user_id::text, 0::bigint)
    );

    select bt.balance_after_usd into v_previous
    from public.budget_transactions bt
    where bt.user_id = new.user_id
    order by bt.seq desc
    limit 1;

    new.seq := pg_catalog.nextval(
        pg_catalog.pg_get_serial_sequence('public.budget_transactions'::text, 'seq'::text)::regclass
    );
    new.balance_after_usd := coalesce(v_previous, 0::numeric) + new.amount_usd;
    return new;
end;
$$;

create or replace function public.budget_transactions_append_only()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    if tg_op = 'DELETE'
        and (
            not exists (select 1 from public.users u where u.id = old.user_id)
            or not exists (select 1 from public.organizations o where o.id = old.organization_id)
        )
    then
        -- Cascade from deleting the owning user or organization.
        return old;
    end if;
    raise exception 'budget_transactions is append-only: % is not allowed', pg_catalog.lower(tg_op)
        using errcode = 'restrict_violation',
              hint = 'Record a correction as a new adjustment transaction.';
end;
$$;

create or replace function public.budget_balance(p_user_id uuid)
returns numeric
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select coalesce(
        (
            select bt.balance_after_usd
            from public.budget_transactions bt
            where bt.user_id = p_user_id
            order by bt.seq desc
            limit 1
        ),
        0::numeric
    );
$$;

create or replace function public.leads_referral_same_organization()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    if new.referred_by_lead_id is not null and not exists (
        select 1 from public.leads r
        where r.id = new.referred_by_lead_id and r.organization_id = new.organization_id
    ) then
        raise exception 'lead % cannot be referred by lead % of another organization',
            new.id, new.referred_by_lead_id
            using errcode = 'foreign_key_violation';
    end if;
    return new;
end
$$;

-- organizations.timezone ---------------------------------------------------------------------------

create or replace function public.organizations_check_timezone()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    if not exists (select 1 from pg_catalog.pg_timezone_names z where z.name = new.timezone) then
        raise exception 'organization time zone %: not a time zone name PostgreSQL knows', new.timezone
            using errcode = 'check_violation',
                  hint = 'Use an IANA name such as America/New_York, Europe/London or UTC.';
    end if;
    return new;
end;
$$;

create or replace trigger trigger_organizations_check_timezone
    before insert or update of timezone on organizations
    for each row
    execute function public.organizations_check_timezone();

-- analysts ---------------------------------------------------------------------------------------

create table if not exists analyst_access (
    role_name        name not null,
    organization_id  uuid references organizations (id) on delete cascade,
    granted_at       timestamptz not null default now(),
    granted_by       name not null default current_user
);
comment on table analyst_access is
    'Which organizations a PostgreSQL role reads in the marts (organization_id null: all of them). '
    'Written by `leadflow db grant-analyst` / `revoke-analyst`; a role sees its own rows only.';
create unique index if not exists idx_analyst_access_role_org
    on analyst_access (role_name, organization_id) where organization_id is not null;
create unique index if not exists idx_analyst_access_role_all
    on analyst_access (role_name) where organization_id is null;

alter table analyst_access enable row level security;
drop policy if exists analyst_own_grants on analyst_access;
create policy analyst_own_grants on analyst_access
    for select
    using (
        exists (
            select 1 from pg_catalog.pg_roles r
            where r.rolname = analyst_access.role_name
              and pg_catalog.pg_has_role(current_user, r.oid, 'USAGE')
        )
    );
-- every role reads its own grants: the marts' policy subqueries run as the querying role
grant select on analyst_access to public;

create or replace function public.leadflow_protect_mart(p_table regclass)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    tenant_rows boolean;
    grantee record;
begin
    tenant_rows := exists (
        select 1 from pg_catalog.pg_attribute a
        where a.attrelid = p_table and a.attname = 'organization_id' and not a.attisdropped
    );
    execute pg_catalog.format('alter table %s enable row level security', p_table);
    execute pg_catalog.format('revoke all on %s from public', p_table);
    execute pg_catalog.format('drop policy if exists analyst_read on %s', p_table);
    execute pg_catalog.format('drop policy if exists tenant_read on %s', p_table);
    execute pg_catalog.format('drop policy if exists pipeline_access on %s', p_table);
    execute pg_catalog.format(
        'create policy analyst_read on %s for select using (%s)', p_table,
        case when tenant_rows then
            'organization_id in (select a.organization_id from public.analyst_access a)'
            ' or exists (select 1 from public.analyst_access a where a.organization_id is null)'
        else 'true' end
    );
    if exists (select 1 from pg_catalog.pg_roles where rolname = 'leadflow_app') then
        execute pg_catalog.format(
            'create policy tenant_read on %s for select to leadflow_app using (%s)', p_table,
            case when tenant_rows then
                'organization_id = nullif(pg_catalog.current_setting('
                '''app.current_tenant_id'', true), '''')::uuid'
            else 'true' end
        );
        execute pg_catalog.format('grant select on %s to leadflow_app', p_table);
    end if;
    if exists (select 1 from pg_catalog.pg_roles where rolname = 'leadflow_pipeline') then
        execute pg_catalog.format(
            'create policy pipeline_access on %s to leadflow_pipeline using (true) with check (true)',
            p_table
        );
        execute pg_catalog.format('grant select on %s to leadflow_pipeline', p_table);
    end if;
    for grantee in
        select distinct a.role_name
        from public.analyst_access a
        join pg_catalog.pg_roles r on r.rolname = a.role_name
    loop
        execute pg_catalog.format('grant select on %s to %I', p_table, grantee.role_name);
    end loop;
end;
$$;

comment on function public.leadflow_protect_mart(regclass) is
    'Row-level security, policies and SELECT grants of one mart (dbt post-hook of every mart).';

-- the grants of every role, re-applied by `leadflow migrate` ---------------------------------------

create or replace function public.leadflow_apply_tenancy()
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    has_pipeline boolean := exists (
        select 1 from pg_catalog.pg_roles where rolname = 'leadflow_pipeline');
    has_app boolean := exists (select 1 from pg_catalog.pg_roles where rolname = 'leadflow_app');
    -- tenant tables the application writes (under its tenant's policies); every other table
    -- with row-level security it only reads, every table without it is closed to it
    app_writes text[] := array[
        'leads', 'lead_audit_log', 'lead_status_history', 'lead_score_history',
        'lead_assignments', 'dnc_list', 'nurture_sequences', 'lead_sequence_enrollments',
        'nurture_touches', 'lead_source_costs', 'segments', 'segment_count_history',
        'budget_transactions', 'system_config', 'users', 'import_batches', 'import_rejects',
        'lead_activities', 'crm_sync_state', 'crm_sync_runs', 'lead_external_ids',
        'lead_recommendations', 'recommendation_cache_state'];
    t record;
    s text;
begin
    for t in
        select c.oid::regclass as rel, c.relname::text as name, c.relrowsecurity as rls
        from pg_catalog.pg_class c
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
    loop
        if t.rls and has_pipeline then
            execute pg_catalog.format('alter table %s force row level security', t.rel);
            execute pg_catalog.format('drop policy if exists pipeline_access on %s', t.rel);
            execute pg_catalog.format(
                'create policy pipeline_access on %s to leadflow_pipeline'
                ' using (true) with check (true)', t.rel);
        elsif t.rls then
            execute pg_catalog.format('alter table %s no force row level security', t.rel);
            execute pg_catalog.format('drop policy if exists pipeline_access on %s', t.rel);
        end if;
        if has_pipeline then
            execute pg_catalog.format(
                'grant select, insert, update, delete on %s to leadflow_pipeline', t.rel);
        end if;
        if has_app then
            execute pg_catalog.format('revoke all on %s from leadflow_app', t.rel);
            if t.rls and t.name = any (app_writes) then
                execute pg_catalog.format(
                    'grant select, insert, update, delete on %s to leadflow_app', t.rel);
            elsif t.rls then
                execute pg_catalog.format('grant select on %s to leadflow_app', t.rel);
            end if;
        end if;
    end loop;
    if has_app then
        grant update (name, timezone) on public.organizations to leadflow_app;
        -- the commands check that the schema is current before they work
        if pg_catalog.to_regclass('public.leadflow_schema_migrations') is not null then
            grant select on public.leadflow_schema_migrations to leadflow_app;
        end if;
        grant usage on all sequences in schema public to leadflow_app;
        grant execute on function public.is_on_dnc_list(text, uuid), public.is_on_dnc_list(text),
            public.budget_balance(uuid) to leadflow_app;
        if pg_catalog.to_regnamespace('analytics') is not null then
            grant usage on schema analytics to leadflow_app;
        end if;
    end if;
    if has_pipeline then
        grant usage on all sequences in schema public to leadflow_pipeline;
        grant execute on function public.is_on_dnc_list(text, uuid), public.is_on_dnc_list(text),
            public.budget_balance(uuid), public.leadflow_protect_mart(regclass)
            to leadflow_pipeline;
        -- dbt and dlt create their relations here
        foreach s in array array['analytics', 'analytics_staging', 'analytics_intermediate',
                                 'raw_hubspot', 'raw_salesforce', 'raw_pipedrive']
        loop
            if pg_catalog.to_regnamespace(s) is not null then
                execute pg_catalog.format(
                    'grant usage, create on schema %I to leadflow_pipeline', s);
            end if;
        end loop;
        if not pg_catalog.pg_has_role(current_user, 'leadflow_pipeline', 'USAGE') then
            raise notice 'leadflow: % is not a member of leadflow_pipeline: its login sees no '
                'tenant rows (a DBA runs `grant leadflow_pipeline to %I` if it runs the pipeline)',
                current_user, current_user;
        end if;
    end if;
end;
$$;

comment on function public.leadflow_apply_tenancy() is
    'Forced row-level security, pipeline_access policies and the grants of leadflow_pipeline and '
    'leadflow_app for the roles that exist now; idempotent, run by every `leadflow migrate`.';

-- EXECUTE only where it is needed (trigger functions need none to fire) ------------------------

revoke all on function public.is_on_dnc_list(text, uuid) from public;
revoke all on function public.is_on_dnc_list(text) from public;
revoke all on function public.budget_balance(uuid) from public;
revoke all on function public.budget_transactions_apply_balance() from public;
revoke all on function public.budget_transactions_append_only() from public;
revoke all on function public.leads_referral_same_organization() from public;
revoke all on function public.organizations_check_timezone() from public;
revoke all on function public.set_updated_at() from public;
revoke all on function public.update_leads_updated_at() from public;
revoke all on function public.leadflow_protect_mart(regclass) from public;
revoke all on function public.leadflow_apply_tenancy() from public;

-- the marts: no all-tenant group read; every existing mart protected now, dbt re-protects ---------

do $$
declare
    mart record;
begin
    if exists (select 1 from pg_catalog.pg_roles where rolname = 'analyst') then
        alter default privileges in schema analytics revoke select on tables from analyst;
        revoke select on all tables in schema analytics from analyst;
    end if;
    for mart in
        select c.oid::regclass as rel
        from pg_catalog.pg_class c
        where c.relnamespace = 'analytics'::regnamespace and c.relkind in ('r', 'p')
    loop
        begin
            perform public.leadflow_protect_mart(mart.rel);
        exception when insufficient_privilege then
            raise notice 'leadflow: % is not the owner of mart %: the next dbt build protects it',
                current_user, mart.rel;
        end;
    end loop;
end
$$;

select public.leadflow_apply_tenancy();
