-- 001_organizations_users: tenants (organizations) and the people who work leads (users).
--
-- Runs unchanged under `psql -v ON_ERROR_STOP=1 -f` and inside the migration runner's own
-- transaction: no begin/commit, no concurrent index builds, no psql meta-commands.
-- Idempotent where PostgreSQL allows it.
--
-- DECISIONS
-- * Ids are uuid v4 from core gen_random_uuid() (PostgreSQL 13+), not the reference's
--   uuid_generate_v4(): uuid-ossp and pgcrypto are not available on every target.
-- * Tenant = organization. Every tenant-scoped table carries organization_id (child tables of
--   leads reach it through lead_id); RLS policies compare it with the session setting
--   app.current_tenant_id. ENABLE, not FORCE: the pipeline connects as the table owner (or a
--   BYPASSRLS role); application and analyst roles are subject to the policies.
-- * nullif(current_setting('app.current_tenant_id', true), '')::uuid: an unset setting (null)
--   or a reset one ('') matches no row instead of raising an error.
-- * User e-mails are unique per organization, case-insensitively: a unique index on
--   (organization_id, lower(email)); the same person may work for two organizations.
-- * pg_trgm is created here because 002 indexes lead names with gin_trgm_ops. The down
--   migration leaves it installed: an extension is database-wide, may predate this project or be
--   shared with other schemas, and dropping it requires owning it; `create extension if not
--   exists` makes re-applying this file a no-op, so up -> down -> up is unaffected.
-- * One generic trigger function set_updated_at() maintains updated_at on every table that has
--   one (leads keep the reference's own update_leads_updated_at(), see 002). now() is the
--   transaction's start time, as in the reference.

create extension if not exists pg_trgm;

create or replace function set_updated_at()
returns trigger
language plpgsql
as $$
begin
    new.updated_at = now();
    return new;
end;
$$;

comment on function set_updated_at() is
    'BEFORE UPDATE row trigger: stamps updated_at with the transaction time.';

-- organizations --------------------------------------------------------------------------------

create table if not exists organizations (
    id uuid primary key default gen_random_uuid(),
    name text not null,
    slug text,
    timezone text not null default 'UTC',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint organizations_slug_key unique (slug)
);

comment on table organizations is
    'Tenants. Every tenant-scoped row belongs to exactly one organization (RLS: app.current_tenant_id).';
comment on column organizations.slug is 'Short URL-safe handle, unique across the installation.';
comment on column organizations.timezone is
    'IANA time zone name (e.g. America/New_York) used for schedules and month boundaries.';

create or replace trigger trigger_organizations_updated_at
    before update on organizations
    for each row
    execute function set_updated_at();

-- users ----------------------------------------------------------------------------------------

create table if not exists users (
    id uuid primary key default gen_random_uuid(),
    organization_id uuid not null references organizations (id) on delete cascade,
    email text not null,
    first_name text,
    last_name text,
    role text not null default 'agent',
    is_active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint users_role_check check (role in ('admin', 'manager', 'agent')),
    constraint users_email_check check (email ~ '^[^@[:space:]]+@[^@[:space:]]+$')
);

comment on table users is 'People of an organization who own, work and manage leads.';
comment on column users.role is 'admin | manager | agent.';
comment on column users.is_active is
    'Inactive users keep their history but receive no new lead assignments.';

-- Leading organization_id also serves the foreign key (cascade deletes, per-tenant scans).
create unique index if not exists idx_users_org_email_unique
    on users (organization_id, lower(email));

create or replace trigger trigger_users_updated_at
    before update on users
    for each row
    execute function set_updated_at();

-- row-level security ---------------------------------------------------------------------------

alter table organizations enable row level security;
drop policy if exists tenant_isolation_policy on organizations;
create policy tenant_isolation_policy on organizations
    using (id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);

alter table users enable row level security;
drop policy if exists tenant_isolation_policy on users;
create policy tenant_isolation_policy on users
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (
        organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid
    );
