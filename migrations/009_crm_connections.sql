-- 009_crm_connections: syncing leads with the organizations' own CRMs over their APIs
-- (schema story 3.12, "CRM integration (via API, not schema)").
-- Requires 002_epic3_crm_tables (leads), 003_lead_imports (import_batches).
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * crm_connections: one row per organization and CRM account (vendor, base URL, the NAME of the
--   environment variable that holds the token). No secret is ever stored in the database: a
--   deployment sets the variable, and a missing one is a clear error naming the connection.
--   options (jsonb) holds per-connection settings: the CRM fields leadflow writes back to,
--   the vendor owner id -> leadflow user id map, the API version.
-- * The raw API records land in one schema per vendor (raw_hubspot, raw_salesforce,
--   raw_pipedrive), written by dlt with its own bookkeeping tables (_dlt_loads,
--   _dlt_pipeline_state: the incremental cursors, committed with the data they describe).
--   Every raw row carries its connection_id. The schemas are created here so their owner and
--   grants are the migration's: the analyst role gets nothing in them.
-- * crm_sync_state: per connection, the newest dlt load already turned into leads
--   (last_load_id, committed in the same transaction as the leads) and the push watermark
--   (pushed_until). A run killed midway resumes from both.
-- * lead_external_ids: which CRM record (connection, external id) is which lead. A record
--   updated in the CRM merges into its lead even when its phone changed. pushed_* hold what
--   leadflow last wrote to that record: a push sends only what differs (idempotent).
-- * crm_sync_runs: one row per pull / push of a connection, with its counts and error.
-- * RLS (tenant_isolation_policy on organization_id) on every table with tenant rows.

create schema if not exists raw_hubspot;
create schema if not exists raw_salesforce;
create schema if not exists raw_pipedrive;
comment on schema raw_hubspot is 'HubSpot CRM v3 contacts as the API returned them (dlt).';
comment on schema raw_salesforce is 'Salesforce Lead records as the REST query API returned them (dlt).';
comment on schema raw_pipedrive is 'Pipedrive v1 persons as the API returned them (dlt).';

create table if not exists crm_connections (
    id               uuid primary key default gen_random_uuid(),
    organization_id  uuid not null references organizations (id) on delete cascade,
    vendor           varchar(20) not null
        constraint crm_connections_vendor_check
        check (vendor in ('hubspot', 'salesforce', 'pipedrive')),
    name             varchar(100) not null
        constraint crm_connections_name_check check (name ~ '^[a-z0-9][a-z0-9_.-]*$'),
    base_url         text not null
        constraint crm_connections_base_url_check check (base_url ~ '^https?://[^\s]+$'),
    secret_env       varchar(100) not null
        constraint crm_connections_secret_env_check check (secret_env ~ '^[A-Z_][A-Z0-9_]*$'),
    options          jsonb not null default '{}'::jsonb
        constraint crm_connections_options_check check (jsonb_typeof(options) = 'object'),
    pull_enabled     boolean not null default true,
    push_enabled     boolean not null default true,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    constraint crm_connections_org_name_key unique (organization_id, name)
);
comment on table crm_connections is
    'One CRM account of an organization: vendor, API base URL and the environment variable holding its token (never the token).';
comment on column crm_connections.secret_env is
    'Name of the environment variable with the API token (HubSpot private app token, Salesforce access token, Pipedrive API token).';
comment on column crm_connections.options is
    'Per-connection settings: status_field, score_field, dnc_field (where leadflow writes back), owners (vendor owner id -> user id), api_version.';
create index if not exists idx_crm_connections_organization_id on crm_connections (organization_id);
drop trigger if exists trigger_crm_connections_updated_at on crm_connections;
create trigger trigger_crm_connections_updated_at before update on crm_connections
    for each row execute function set_updated_at();

create table if not exists crm_sync_state (
    connection_id    uuid primary key references crm_connections (id) on delete cascade,
    organization_id  uuid not null references organizations (id) on delete cascade,
    last_load_id     text,
    pushed_until     timestamptz,
    last_pull_at     timestamptz,
    last_push_at     timestamptz,
    updated_at       timestamptz not null default now()
);
comment on table crm_sync_state is
    'Per connection: the newest dlt load turned into leads, and the push watermark.';
create index if not exists idx_crm_sync_state_organization_id on crm_sync_state (organization_id);
drop trigger if exists trigger_crm_sync_state_updated_at on crm_sync_state;
create trigger trigger_crm_sync_state_updated_at before update on crm_sync_state
    for each row execute function set_updated_at();

create table if not exists lead_external_ids (
    connection_id    uuid not null references crm_connections (id) on delete cascade,
    external_id      varchar(100) not null,
    organization_id  uuid not null references organizations (id) on delete cascade,
    vendor           varchar(20) not null,
    lead_id          uuid not null references leads (id) on delete cascade,
    first_seen_at    timestamptz not null default now(),
    last_seen_at     timestamptz not null default now(),
    pushed_status    varchar(20),
    pushed_score     integer,
    pushed_dnc       boolean,
    pushed_at        timestamptz,
    constraint lead_external_ids_pkey primary key (connection_id, external_id)
);
comment on table lead_external_ids is
    'Which CRM record is which lead, and what leadflow last pushed to it.';
create index if not exists idx_lead_external_ids_lead_id on lead_external_ids (lead_id);
create index if not exists idx_lead_external_ids_organization_id
    on lead_external_ids (organization_id);

create table if not exists crm_sync_runs (
    id               uuid primary key default gen_random_uuid(),
    connection_id    uuid not null references crm_connections (id) on delete cascade,
    organization_id  uuid not null references organizations (id) on delete cascade,
    kind             varchar(10) not null
        constraint crm_sync_runs_kind_check check (kind in ('pull', 'push')),
    status           varchar(20) not null default 'running'
        constraint crm_sync_runs_status_check check (status in ('running', 'succeeded', 'failed')),
    fetched          integer not null default 0 check (fetched >= 0),
    batch_id         uuid references import_batches (id) on delete set null,
    pushed           integer not null default 0 check (pushed >= 0),
    push_failed      integer not null default 0 check (push_failed >= 0),
    error            text,
    details          jsonb not null default '{}'::jsonb,
    started_at       timestamptz not null default now(),
    finished_at      timestamptz
);
comment on table crm_sync_runs is
    'One pull or push of a CRM connection: records fetched (and the import batch they went into) or pushed, and the error if it failed.';
create index if not exists idx_crm_sync_runs_connection on crm_sync_runs (connection_id, started_at desc);
create index if not exists idx_crm_sync_runs_organization_id on crm_sync_runs (organization_id);

do $$
declare
    t text;
begin
    foreach t in array array['crm_connections', 'crm_sync_state', 'lead_external_ids',
                             'crm_sync_runs']
    loop
        execute format('alter table %I enable row level security', t);
        execute format('drop policy if exists tenant_isolation_policy on %I', t);
        execute format(
            'create policy tenant_isolation_policy on %I'
            ' using (organization_id = nullif(current_setting(''app.current_tenant_id'', true), '''')::uuid)'
            ' with check (organization_id = nullif(current_setting(''app.current_tenant_id'', true), '''')::uuid)',
            t);
    end loop;
end
$$;
