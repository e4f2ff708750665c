-- Reverts 011_tenancy_and_least_privilege: the functions and policies of 002/007, no forced RLS,
-- no pipeline_access policies, no grants to leadflow_pipeline / leadflow_app in this database,
-- marts readable by the analyst group of 006 again. The roles stay (cluster-wide: another
-- database may use them), and schema public stays closed to CREATE (re-opening it to everyone is
-- a decision for a DBA, not a rollback).

do $$
declare
    t record;
begin
    for t in
        select c.oid::regclass as rel, c.relnamespace::regnamespace::text as schema_name
        from pg_catalog.pg_class c
        where c.relnamespace in ('public'::regnamespace, 'analytics'::regnamespace)
          and c.relkind in ('r', 'p')
    loop
        execute format('drop policy if exists pipeline_access on %s', t.rel);
        if t.schema_name = 'analytics' then
            execute format('drop policy if exists analyst_read on %s', t.rel);
            execute format('drop policy if exists tenant_read on %s', t.rel);
            execute format('alter table %s disable row level security', t.rel);
        else
            execute format('alter table %s no force row level security', t.rel);
        end if;
        if exists (select 1 from pg_roles where rolname = 'leadflow_app') then
            execute format('revoke all on %s from leadflow_app', t.rel);
        end if;
        if exists (select 1 from pg_roles where rolname = 'leadflow_pipeline') then
            execute format('revoke all on %s from leadflow_pipeline', t.rel);
        end if;
    end loop;
    if exists (select 1 from pg_roles where rolname = 'leadflow_app') then
        revoke all on all sequences in schema public from leadflow_app;
        revoke usage on schema analytics from leadflow_app;
    end if;
    if exists (select 1 from pg_roles where rolname = 'leadflow_pipeline') then
        revoke all on all sequences in schema public from leadflow_pipeline;
        revoke all on schema analytics, analytics_staging, analytics_intermediate, raw_hubspot,
            raw_salesforce, raw_pipedrive from leadflow_pipeline;
    end if;
    if exists (select 1 from pg_roles where rolname = 'analyst') then
        grant select on all tables in schema analytics to analyst;
        alter default privileges in schema analytics grant select on tables to analyst;
    end if;
end
$$;

drop function if exists public.leadflow_apply_tenancy();
drop function if exists public.leadflow_protect_mart(regclass);
drop table if exists analyst_access;

drop trigger if exists trigger_organizations_check_timezone on organizations;
drop function if exists public.organizations_check_timezone();

drop policy if exists tenant_isolation_policy on dnc_list;
create policy org_dnc_policy on dnc_list
    using (organization_id = nullif(current_setting('app.current_org_id', true), '')::uuid)
    with check (organization_id = nullif(current_setting('app.current_org_id', true), '')::uuid);
comment on table dnc_list is
    'Do-not-contact numbers, per organization (Story 3.8). RLS reads app.current_org_id.';

drop function if exists public.is_on_dnc_list(text);
drop function if exists public.is_on_dnc_list(text, uuid);
create function is_on_dnc_list(p_phone text, p_org uuid)
returns boolean
language sql
stable
security definer
set search_path = public, pg_temp
as $$
    select exists (
        select 1
        from public.dnc_list d
        where d.organization_id = p_org
          and d.phone_number = p_phone
    );
$$;
comment on function is_on_dnc_list(text, uuid) is
    'True iff the organization''s DNC list holds the E.164 phone. SECURITY DEFINER: bypasses RLS.';
grant execute on function is_on_dnc_list(text, uuid) to public;

create or replace function budget_transactions_apply_balance()
returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    v_user_org uuid;
    v_previous numeric(12, 2);
begin
    if current_setting('transaction_isolation') = 'repeatable read' then
        raise exception 'budget_transactions inserts need read committed or serializable isolation'
            using errcode = 'object_not_in_prerequisite_state',
                  hint = 'The balance chain must see rows committed while waiting for the lock.';
    end if;

    -- A missing user is left to the foreign key; a user of another organization is refused.
    select u.organization_id into v_user_org from users u where u.id = new.user_id;
    if v_user_org <> new.organization_id then
        raise exception 'budget_transactions.organization_id % is not the organization of user %',
            new.organization_id, new.user_id
            using errcode = 'foreign_key_violation';
    end if;

    -- Serialize the user's ledger; released at commit or rollback.
    perform pg_advisory_xact_lock(hashtextextended('budget_transactions:' || new.user_id::text, 0));

    select bt.balance_after_usd into v_previous
    from budget_transactions bt
    where bt.user_id = new.user_id
    order by bt.seq desc
    limit 1;

    new.seq := nextval(pg_get_serial_sequence('budget_transactions', 'seq'));
    new.balance_after_usd := coalesce(v_previous, 0) + new.amount_usd;
    return new;
end;
$$;

create or replace function budget_transactions_append_only()
returns trigger
language plpgsql
as $$
begin
    if tg_op = 'DELETE'
        and (
            not exists (select 1 from users u where u.id = old.user_id)
            or not exists (select 1 from organizations o where o.id = old.organization_id)
        )
    then
        -- Cascade from deleting the owning user or organization.
        return old;
    end if;
    raise exception 'budget_transactions is append-only: % is not allowed', lower(tg_op)
        using errcode = 'restrict_violation',
              hint = 'Record a correction as a new adjustment transaction.';
end;
$$;

create or replace function budget_balance(p_user_id uuid)
returns numeric
language sql
stable
as $$
    select coalesce(
        (
            select bt.balance_after_usd
            from budget_transactions bt
            where bt.user_id = p_user_id
            order by bt.seq desc
            limit 1
        ),
        0
    );
$$;

create or replace function leads_referral_same_organization()
returns trigger
language plpgsql
as $$
begin
    if new.referred_by_lead_id is not null and not exists (
        select 1 from leads r
        where r.id = new.referred_by_lead_id and r.organization_id = new.organization_id
    ) then
        raise exception 'lead % cannot be referred by lead % of another organization',
            new.id, new.referred_by_lead_id
            using errcode = 'foreign_key_violation';
    end if;
    return new;
end
$$;

grant execute on function budget_balance(uuid), budget_transactions_apply_balance(),
    budget_transactions_append_only(), leads_referral_same_organization(), set_updated_at(),
    update_leads_updated_at() to public;
