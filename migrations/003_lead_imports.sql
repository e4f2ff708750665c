-- 003_lead_imports: accounting of lead file imports (batches and quarantined rows), the phone
-- number type on leads, and the audit log's link to the import batch that wrote a change.
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * One import_batches row per (file, organization scope). organization_id is null for a
--   multi-organization file (organizations come from its organization_id column); such a batch
--   is visible to the pipeline only, not to tenants (RLS).
-- * Accounting identity, enforced for finished batches by a CHECK:
--   rows_read = inserted + merged + duplicates_in_file + quarantined. `dnc` counts loaded leads
--   that the DNC screen set to 'dnc'; they are already inside inserted/merged.
-- * Re-importing a file is a no-op: at most one succeeded batch per (sha256, organization scope),
--   a partial unique index. Failed batches may be retried at will.
-- * import_rejects keeps the raw row as JSONB with the reason; it cascades with its batch.
-- * leads.phone_type holds phonenumbers' number type (mobile, fixed_line, ...), null if unknown.

alter table leads add column if not exists phone_type varchar(30);
comment on column leads.phone_type is
    'Number type from libphonenumber (mobile, fixed_line, fixed_line_or_mobile, voip, ...); null if unknown.';

create table if not exists import_batches (
    id                  uuid primary key default gen_random_uuid(),
    file_name           text not null,
    file_path           text,
    file_sha256         char(64) not null,
    file_size_bytes     bigint check (file_size_bytes >= 0),
    file_format         varchar(10),
    organization_id     uuid references organizations (id) on delete cascade,
    options             jsonb not null default '{}'::jsonb,
    status              varchar(20) not null default 'running'
        constraint import_batches_status_check
        check (status in ('running', 'succeeded', 'failed')),
    rows_read           integer not null default 0 check (rows_read >= 0),
    inserted            integer not null default 0 check (inserted >= 0),
    merged              integer not null default 0 check (merged >= 0),
    duplicates_in_file  integer not null default 0 check (duplicates_in_file >= 0),
    quarantined         integer not null default 0 check (quarantined >= 0),
    dnc                 integer not null default 0 check (dnc >= 0),
    error               text,
    timings             jsonb not null default '{}'::jsonb,
    started_at          timestamptz not null default now(),
    finished_at         timestamptz,
    constraint import_batches_accounting_check check (
        status <> 'succeeded'
        or rows_read = inserted + merged + duplicates_in_file + quarantined
    )
);
comment on table import_batches is
    'One row per imported lead file and organization scope, with its accounting and timings.';
comment on column import_batches.organization_id is
    'The --org of the import; null for a multi-organization file.';
comment on column import_batches.timings is 'Seconds spent per stage, e.g. {"normalize": 1.2}.';

create unique index if not exists idx_import_batches_once
    on import_batches (file_sha256, coalesce(organization_id, '00000000-0000-0000-0000-000000000000'::uuid))
    where status = 'succeeded';
create index if not exists idx_import_batches_organization_id
    on import_batches (organization_id, started_at desc);

create table if not exists import_rejects (
    id               bigint generated always as identity primary key,
    batch_id         uuid not null references import_batches (id) on delete cascade,
    organization_id  uuid references organizations (id) on delete cascade,
    row_number       integer not null check (row_number >= 0),
    reason           varchar(40) not null,
    detail           text,
    raw_row          jsonb not null,
    created_at       timestamptz not null default now()
);
comment on table import_rejects is
    'Quarantined input rows: nothing of them was loaded; reason and detail say why.';
create index if not exists idx_import_rejects_batch_id on import_rejects (batch_id, row_number);
create index if not exists idx_import_rejects_reason on import_rejects (reason);

alter table lead_audit_log drop constraint if exists lead_audit_log_import_batch_id_fkey;
alter table lead_audit_log add constraint lead_audit_log_import_batch_id_fkey
    foreign key (import_batch_id) references import_batches (id) on delete set null;

alter table import_batches enable row level security;
drop policy if exists tenant_isolation_policy on import_batches;
create policy tenant_isolation_policy on import_batches
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);

alter table import_rejects enable row level security;
drop policy if exists tenant_isolation_policy on import_rejects;
create policy tenant_isolation_policy on import_rejects
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);
