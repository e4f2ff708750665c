-- 014_keep_what_users_give: what a lead file or a CRM record carries is kept (issue 20, part 1).
-- Requires 003_lead_imports, 011_tenancy_and_least_privilege and 013_crm_secrets_and_raw.
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * A lead's own note (a file's Notes/Comments column, a CRM record's note) is a row of
--   lead_notes, not a column on leads: several notes of several imports accumulate instead of
--   overwriting each other, and each keeps where it came from (source 'import: <file name>' or
--   'crm:<vendor>: <connection>', and its batch). Not lead_activities: that table is MongoDB's
--   activity stream copied by its own sync (its watermark and counts are over those events),
--   and an import writing it would make the ingest domain a second writer of the activities
--   domain's table. A unique index on (lead_id, md5(body)) makes a repeated import of the same
--   note a no-op (`on conflict do nothing`); the timeline can union lead_notes later.
-- * The importer's own notes on a row (an e-mail blanked as invalid, an owner not found or given
--   by name, an extra field cut by a cap, ...) go to import_row_notes, one row per note, with the
--   batch, the row number and the lead the row loaded into: countable per batch and code, and
--   tenant data under row-level security like import_rejects (tenant_isolation_policy; forced
--   RLS, pipeline_access and the grants by leadflow_apply_tenancy(), redefined here with
--   import_row_notes among the tables the application role writes). Codes are free text (the
--   importer's vocabulary grows without a migration): documented in README "Importing leads".
-- * leads.extra_fields: the columns of a file (and a CRM record's properties) that map to no
--   lead field, kept as data in a JSON object of strings, never as identifiers. Bounded by the
--   importer (at most 50 keys, a key at most 64 characters, a value at most 1,000; what is cut is
--   an import_row_notes row), so a hostile file cannot grow a row without limit; the CHECK here
--   keeps it a JSON object. On a merge the newer row's keys are added and its
--   values replace the older ones (empty cells are never kept, so never overwrite); a change
--   writes a lead_audit_log row field_name 'extra_fields' (old and new objects as text).
-- * A CRM record's properties beyond the mapped fields are kept the same way when the
--   connection names them (options.keep_properties, HubSpot: custom properties must be asked
--   for by name); the pull keeps them in raw_hubspot.contacts.extra_properties (jsonb), one
--   column whatever the tenant's properties, as 013 keeps the raw tables narrow.

alter table leads add column if not exists extra_fields jsonb not null default '{}'::jsonb;
alter table leads drop constraint if exists leads_extra_fields_check;
alter table leads add constraint leads_extra_fields_check check (
    jsonb_typeof(extra_fields) = 'object'
);
comment on column leads.extra_fields is
    'Columns of the lead''s files and properties of its CRM records that map to no lead field: '
    '{"key": "value"}, at most 50 keys of at most 64 characters, values at most 1,000.';

create table if not exists lead_notes (
    id bigint generated always as identity primary key,
    organization_id uuid not null references organizations (id) on delete cascade,
    lead_id uuid not null references leads (id) on delete cascade,
    body text not null,
    source text not null,
    batch_id uuid references import_batches (id) on delete set null,
    created_at timestamptz not null default now()
);
comment on table lead_notes is
    'Notes a lead''s files and CRM records carried (a Notes column), one row per distinct text.';
comment on column lead_notes.source is
    'Where the note came from: ''import: <file name>'' or ''crm:<vendor>: <connection>''.';
comment on column lead_notes.batch_id is 'The import batch that first brought the note.';
create unique index if not exists idx_lead_notes_lead_body on lead_notes (lead_id, md5(body));
create index if not exists idx_lead_notes_org on lead_notes (organization_id);

alter table lead_notes enable row level security;
drop policy if exists tenant_isolation_policy on lead_notes;
create policy tenant_isolation_policy on lead_notes
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);
revoke all on lead_notes from public;

create table if not exists import_row_notes (
    id bigint generated always as identity primary key,
    batch_id uuid not null references import_batches (id) on delete cascade,
    organization_id uuid not null references organizations (id) on delete cascade,
    row_number integer not null,
    lead_id uuid references leads (id) on delete set null,
    code text not null,
    detail text not null default '',
    created_at timestamptz not null default now()
);
comment on table import_row_notes is
    'What the importer noted on a loaded row (invalid e-mail blanked, owner not found, extra field '
    'cut, ...): one row per note, with its batch, row number and the lead the row loaded into.';
comment on column import_row_notes.code is
    'invalid_email, invalid_status, invalid_owner, owner_not_found, owner_not_in_organization, '
    'owner_not_mapped, invalid_referral, self_referral, extra_fields_cut, ...';
comment on column import_row_notes.detail is 'The offending value (cut at 200 characters).';

create index if not exists idx_import_row_notes_batch on import_row_notes (batch_id, code);
create index if not exists idx_import_row_notes_lead on import_row_notes (lead_id);
create index if not exists idx_import_row_notes_org on import_row_notes (organization_id);

alter table import_row_notes enable row level security;
drop policy if exists tenant_isolation_policy on import_row_notes;
create policy tenant_isolation_policy on import_row_notes
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);
revoke all on import_row_notes from public;

-- a HubSpot connection's keep_properties (custom properties) land in one JSON column of the raw
-- table, never in columns of their own (013's narrow tables)
do $$
begin
    if to_regclass('raw_hubspot.contacts') is not null then
        alter table raw_hubspot.contacts add column if not exists extra_properties jsonb;
    end if;
end
$$;

-- leadflow_apply_tenancy(): as in 011, with import_row_notes and lead_notes among the tables the
-- application writes (an import scoped to one organization runs as it)
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
        'import_row_notes', 'lead_notes',
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

revoke all on function public.leadflow_apply_tenancy() from public;

select public.leadflow_apply_tenancy();
