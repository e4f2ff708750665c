-- Reverts 014_keep_what_users_give: the leads' notes, the importer's row notes, the leads' extra
-- fields and the raw HubSpot extra properties go (with their data); leadflow_apply_tenancy() is
-- 011's again.

drop table if exists import_row_notes;
drop table if exists lead_notes;
do $$
begin
    if to_regclass('raw_hubspot.contacts') is not null then
        alter table raw_hubspot.contacts drop column if exists extra_properties;
    end if;
end
$$;
alter table leads drop constraint if exists leads_extra_fields_check;
alter table leads drop column if exists extra_fields;

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

revoke all on function public.leadflow_apply_tenancy() from public;

select public.leadflow_apply_tenancy();
