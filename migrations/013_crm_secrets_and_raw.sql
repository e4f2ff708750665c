-- 013_crm_secrets_and_raw: tenant isolation of the CRM sync (issue 18): whose secret a
-- connection reads, what its errors keep, what the raw tables hold and who reads them.
-- Requires 009_crm_connections.
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * crm_connections belongs to the operator: a row names a secret (the token's variable) and a
--   host, so a tenant may read its connections but never write one. The tenant policy becomes
--   SELECT only (no INSERT/UPDATE/DELETE policy: denied to every role under RLS); the operator's
--   `leadflow crm connect` runs as the pipeline role (owner or BYPASSRLS, or 011's
--   pipeline_access policy).
-- * One token variable is the secret of one connection in the whole database: a unique index on
--   secret_env, across organizations. Connections that already share a variable stop this
--   migration with their ids and the statement to fix them: which organization owns a secret
--   is the operator's call, never guessed. (The sync also refuses a variable that another
--   connection names, for a database restored without the index.)
-- * crm_sync_runs.error and .details written before 013 may hold a token: Pipedrive's rode in
--   the URL as api_token=…, and error texts were stored verbatim. They are scrubbed here with the
--   patterns of leadflow/redaction.py (api_token=, access_token=, password=…, Bearer …,
--   x-api-token …, URL passwords), as is import_batches.file_path of API batches (the base URL).
--   The down migration leaves them scrubbed: a removed secret is never written back.
-- * The raw tables (raw_hubspot.contacts, raw_salesforce.leads, raw_pipedrive.persons) are
--   created here, narrow: the fields vendors.py maps, the record's id and modification time,
--   connection_id and organization_id, and dlt's _dlt_load_id/_dlt_id (the columns dlt itself
--   would create: it keeps loading them, and its schema contract in the pull discards any other
--   key, so a payload with 2,000 unknown keys leaves the table as it is). Row-level security
--   with the tenant policy: a role granted SELECT by mistake still sees its tenant's rows only.
--   No privilege for PUBLIC, the application role or analyst (revoked explicitly); the pipeline
--   role loads them (the owner; leadflow_pipeline, when migration 011 created it, gets the
--   schema, the tables and a pipeline_access policy).
-- * The wide raw tables dlt created before (a column for every key any tenant's CRM ever
--   answered, each tenant's custom fields in them, close to PostgreSQL's 1,600-column limit)
--   are dropped, and dlt's stored schemas (_dlt_version) and cursors (_dlt_pipeline_state) in
--   the raw schemas are deleted: the next pull of every connection is a FULL one into the
--   narrow table. Its records merge into the leads they are linked to (lead_external_ids and
--   crm_sync_state.last_load_id stay; dlt's load ids only grow, so the load takes them all).

-- crm_connections: read by tenants, written by the operator ------------------------------------
do $$
declare
    duplicate record;
    found text := '';
begin
    for duplicate in
        select secret_env, string_agg(id::text, ', ' order by created_at, id) as ids
        from crm_connections group by secret_env having count(*) > 1
    loop
        found := found || format(E'\n  %s is named by connections %s', duplicate.secret_env,
                                 duplicate.ids);
    end loop;
    if found <> '' then
        raise exception using
            message = '013_crm_secrets_and_raw: a token variable is the secret of one connection'
                      ' only, and these are shared:' || found,
            hint = 'give each connection its own variable (update crm_connections set'
                   ' secret_env = ''HUBSPOT_TOKEN_ACME'' where id = ''…'';), then migrate again';
    end if;
end
$$;

create unique index if not exists crm_connections_secret_env_key on crm_connections (secret_env);
comment on index crm_connections_secret_env_key is
    'A token variable is the secret of one connection in the whole database.';

drop policy if exists tenant_isolation_policy on crm_connections;
create policy tenant_isolation_policy on crm_connections
    for select
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);

-- stored errors: the tokens written before out ---------------------------------------------------
create or replace function pg_temp.leadflow_scrub(p_text text) returns text
language sql immutable
as $$
    select regexp_replace(regexp_replace(regexp_replace(regexp_replace(p_text,
        -- key=value in a query string, a libpq string or a mapping
        '((api[_-]?token|access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token|client[_-]?secret|api[_-]?key|apikey|password|passwd|secret|token)(["'']?\s*(=|:|%3D)\s*["'']?))[^\s&"'',;}\])\\]+',
        '\1[REDACTED]', 'gi'),
        -- header values
        '(((proxy-)?authorization|x-api-token|x-api-key|api-token)(["'']?\s*[:=]\s*["'']?)((bearer|basic|token)\s+)?)[^\s"'',;}\]\\]+',
        '\1[REDACTED]', 'gi'),
        -- a bearer token anywhere
        '(bearer)\s+[A-Za-z0-9._~+/=-]{4,}', '\1 [REDACTED]', 'gi'),
        -- a URL's password
        '([A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@"'']*):[^\s/?#@"''\\]*@', '\1:[REDACTED]@', 'g')
$$;

update crm_sync_runs
set error = pg_temp.leadflow_scrub(error),
    details = pg_temp.leadflow_scrub(details::text)::jsonb
where pg_temp.leadflow_scrub(error) is distinct from error
   or pg_temp.leadflow_scrub(details::text) is distinct from details::text;

update import_batches
set file_path = pg_temp.leadflow_scrub(file_path)
where file_format = 'api' and pg_temp.leadflow_scrub(file_path) is distinct from file_path;

drop function pg_temp.leadflow_scrub(text);

-- raw tables: narrow, isolated, closed -------------------------------------------------------------
drop table if exists raw_hubspot.contacts;
drop table if exists raw_salesforce.leads;
drop table if exists raw_pipedrive.persons;

create table raw_hubspot.contacts (
    id                   varchar not null,
    updated_at           timestamptz,
    firstname            varchar,
    lastname             varchar,
    email                varchar,
    phone                varchar,
    mobilephone          varchar,
    company              varchar,
    hs_lead_status       varchar,
    lifecyclestage       varchar,
    hs_analytics_source  varchar,
    hubspot_owner_id     varchar,
    connection_id        varchar,
    organization_id      varchar,
    _dlt_load_id         varchar not null,
    _dlt_id              varchar not null
);

create table raw_salesforce.leads (
    id               varchar not null,
    system_modstamp  timestamptz,
    first_name       varchar,
    last_name        varchar,
    email            varchar,
    phone            varchar,
    mobile_phone     varchar,
    company          varchar,
    status           varchar,
    lead_source      varchar,
    owner_id         varchar,
    do_not_call      boolean,
    connection_id    varchar,
    organization_id  varchar,
    _dlt_load_id     varchar not null,
    _dlt_id          varchar not null
);

create table raw_pipedrive.persons (
    id               bigint not null,
    update_time      timestamptz,
    name             varchar,
    first_name       varchar,
    last_name        varchar,
    phone            jsonb,
    email            jsonb,
    org_name         varchar,
    owner_id         jsonb,
    connection_id    varchar,
    organization_id  varchar,
    _dlt_load_id     varchar not null,
    _dlt_id          varchar not null
);

do $$
declare
    raw record;
begin
    for raw in
        select * from (values ('raw_hubspot', 'contacts', 'HubSpot contacts'),
                              ('raw_salesforce', 'leads', 'Salesforce leads'),
                              ('raw_pipedrive', 'persons', 'Pipedrive persons')) as t(s, t, what)
    loop
        execute format('create unique index %I on %I.%I (_dlt_id)', raw.t || '__dlt_id_key',
                       raw.s, raw.t);
        execute format('create index %I on %I.%I (connection_id, organization_id)',
                       raw.t || '_connection_idx', raw.s, raw.t);
        execute format('comment on table %I.%I is %L', raw.s, raw.t,
                       raw.what || ' as the API returned them, only the mapped fields (dlt,'
                       ' appended per pull with connection_id and organization_id).');
        execute format('alter table %I.%I enable row level security', raw.s, raw.t);
        execute format(
            'create policy tenant_isolation_policy on %I.%I'
            ' using (organization_id = nullif(current_setting(''app.current_tenant_id'', true),'
            ' '''')::uuid::text)'
            ' with check (organization_id = nullif(current_setting(''app.current_tenant_id'','
            ' true), '''')::uuid::text)',
            raw.s, raw.t);
        execute format('revoke all on schema %I from public', raw.s);
        execute format('revoke all on all tables in schema %I from public', raw.s);
        if exists (select 1 from pg_roles where rolname = 'analyst') then
            execute format('revoke all on schema %I from analyst', raw.s);
            execute format('revoke all on all tables in schema %I from analyst', raw.s);
        end if;
        if exists (select 1 from pg_roles where rolname = 'leadflow_app') then
            execute format('revoke all on schema %I from leadflow_app', raw.s);
            execute format('revoke all on all tables in schema %I from leadflow_app', raw.s);
        end if;
        if exists (select 1 from pg_roles where rolname = 'leadflow_pipeline') then
            execute format('grant usage, create on schema %I to leadflow_pipeline', raw.s);
            execute format('grant select, insert, update, delete on all tables in schema %I'
                           ' to leadflow_pipeline', raw.s);
            execute format('create policy pipeline_access on %I.%I to leadflow_pipeline'
                           ' using (true) with check (true)', raw.s, raw.t);
        end if;
        -- dlt's stored schema and cursors describe the dropped wide table: the next pull is full
        if to_regclass(raw.s || '._dlt_version') is not null then
            execute format('delete from %I._dlt_version', raw.s);
        end if;
        if to_regclass(raw.s || '._dlt_pipeline_state') is not null then
            execute format('delete from %I._dlt_pipeline_state', raw.s);
        end if;
    end loop;
end
$$;
