-- Reverts 013_crm_secrets_and_raw: tenants may write their crm_connections rows again, a token
-- variable may be shared, and the raw tables are dlt's to create (wide) on the next pull. The
-- narrow raw tables go with their records, and dlt's stored schemas and cursors of the raw
-- schemas with them (they describe the narrow tables): the next pull is a full one, as after
-- the up. Error texts scrubbed by the up stay scrubbed.

do $$
declare
    raw record;
begin
    for raw in
        select * from (values ('raw_hubspot', 'contacts'), ('raw_salesforce', 'leads'),
                              ('raw_pipedrive', 'persons')) as t(s, t)
    loop
        execute format('drop table if exists %I.%I', raw.s, raw.t);
        if exists (select 1 from pg_roles where rolname = 'leadflow_pipeline') then
            execute format('revoke usage, create on schema %I from leadflow_pipeline', raw.s);
            execute format('revoke all on all tables in schema %I from leadflow_pipeline', raw.s);
        end if;
        if to_regclass(raw.s || '._dlt_version') is not null then
            execute format('delete from %I._dlt_version', raw.s);
        end if;
        if to_regclass(raw.s || '._dlt_pipeline_state') is not null then
            execute format('delete from %I._dlt_pipeline_state', raw.s);
        end if;
    end loop;
end
$$;

drop policy if exists tenant_isolation_policy on crm_connections;
create policy tenant_isolation_policy on crm_connections
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);

drop index if exists crm_connections_secret_env_key;
