-- 004_lead_activities: activity events (calls, SMS, e-mails, meetings, notes) copied from MongoDB
-- into PostgreSQL, and the watermarks of incremental syncs.
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
-- Idempotent where PostgreSQL allows it.
--
-- DECISIONS
-- * Identity of an event is its MongoDB _id (source_id, unique): the loader inserts with
--   `on conflict (source_id) do nothing`, so re-reading a batch after a crash loads nothing twice.
--   event_id (the producer's id) is kept for tracing but is not unique here: the contract's key
--   is the _id.
-- * lead_id is null while the event matches no lead of its organization; lead_ref keeps the lead
--   id or phone exactly as the event gave it, lead_phone the E.164 form when the phone
--   normalizes (CHECK E.164, as on leads). Unmatched rows are re-matched on
--   (organization_id, lead_phone) by every sync, served by the partial index on organization_id
--   where lead_id is null plus leads' idx_leads_phone_unique.
-- * Foreign keys: organization cascades (tenant data goes with the tenant); lead and user are
--   ON DELETE SET NULL: the activity happened and outlives the lead or user record. A lead
--   deleted for good turns its activities back into unmatched rows.
-- * activity_type and direction are CHECKed enums; outcome is free text (the loader keeps only
--   the documented outcomes of each type, see dagster_project/core/activities.py), so a new
--   outcome in the source needs no migration.
-- * No updated_at: rows are immutable copies except lead_id/matched_at, which matched_at stamps.
-- * Indexes: (lead_id, occurred_at desc) for a lead's timeline, (organization_id, occurred_at)
--   for per-tenant time scans (and the organization foreign key), partial (organization_id)
--   where lead_id is null for re-matching. The user_id set-null foreign key is left unindexed,
--   as in 002 (deleting a user is rare and may scan).
-- * sync_watermarks is pipeline bookkeeping, not tenant data: one row per sync
--   ('mongo.activities'), position (last_occurred_at, last_source_id) in the source's
--   (occurred_at, _id) order. No RLS (no organization_id); application roles need no grant.
-- * RLS on lead_activities: tenant_isolation_policy on organization_id, USING and WITH CHECK,
--   reading nullif(current_setting('app.current_tenant_id', true), '')::uuid as in 002.

create table if not exists lead_activities (
    id uuid primary key default gen_random_uuid(),
    source_id text not null,
    event_id text,
    organization_id uuid not null references organizations (id) on delete cascade,
    lead_id uuid references leads (id) on delete set null,
    lead_phone varchar(20),
    lead_ref text,
    user_id uuid references users (id) on delete set null,
    activity_type varchar(20) not null,
    direction varchar(10),
    outcome varchar(30),
    occurred_at timestamptz not null,
    duration_seconds integer,
    subject text,
    body text,
    matched_at timestamptz,
    loaded_at timestamptz not null default now(),
    constraint lead_activities_source_id_key unique (source_id),
    constraint lead_activities_activity_type_check check (
        activity_type in ('call', 'sms', 'email', 'meeting', 'note')
    ),
    constraint lead_activities_direction_check check (direction in ('inbound', 'outbound')),
    constraint lead_activities_lead_phone_e164_check check (lead_phone ~ '^\+[1-9][0-9]{1,14}$'),
    constraint lead_activities_duration_seconds_check check (duration_seconds >= 0)
);

comment on table lead_activities is
    'Activity events (call, sms, email, meeting, note) synced from MongoDB; one row per Mongo _id.';
comment on column lead_activities.source_id is 'MongoDB _id of the event, as a string; unique.';
comment on column lead_activities.event_id is 'The producer''s event id (stable), for tracing.';
comment on column lead_activities.lead_id is
    'Matched lead of the same organization; null while unmatched (re-matched by every sync).';
comment on column lead_activities.lead_phone is
    'The event''s phone in E.164 when it normalizes in the organization''s region, else null.';
comment on column lead_activities.lead_ref is 'Lead id or phone exactly as the event gave it.';
comment on column lead_activities.outcome is
    'call: answered/no_answer/voicemail/busy; sms: delivered/replied/failed; '
    'email: sent/opened/replied/bounced; meeting: scheduled/completed/no_show; note: null.';
comment on column lead_activities.matched_at is 'When lead_id was set (at load or by a re-match).';
comment on column lead_activities.loaded_at is 'When the row was copied from MongoDB.';

create index if not exists idx_lead_activities_lead_id
    on lead_activities (lead_id, occurred_at desc);
create index if not exists idx_lead_activities_org_occurred_at
    on lead_activities (organization_id, occurred_at);
create index if not exists idx_lead_activities_unmatched
    on lead_activities (organization_id)
    where lead_id is null;

create table if not exists sync_watermarks (
    name text primary key,
    last_occurred_at timestamptz,
    last_source_id text,
    updated_at timestamptz not null default now()
);

comment on table sync_watermarks is
    'Position of each incremental sync in its source, advanced with the rows it covers.';
comment on column sync_watermarks.name is 'The sync, e.g. mongo.activities.';
comment on column sync_watermarks.last_occurred_at is 'occurred_at of the last event loaded.';
comment on column sync_watermarks.last_source_id is
    'Mongo _id of the last event loaded: the tie-break among events with equal occurred_at.';

alter table lead_activities enable row level security;
drop policy if exists tenant_isolation_policy on lead_activities;
create policy tenant_isolation_policy on lead_activities
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);
