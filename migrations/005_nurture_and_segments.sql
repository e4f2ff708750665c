-- 005_nurture_and_segments: what the `segment_counts` and `nurture_enrollments` assets need:
-- segment sizes over time, automatic entry into nurture sequences, and the outbound touch queue.
-- Requires 002_epic3_crm_tables (segments, nurture_sequences, lead_sequence_enrollments, leads).
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * segment_count_history: one row per (segment, counted_at), appended by segment_counts with
--   counted_at = the run's as-of time; re-running for the same as-of time overwrites its row
--   (primary key). organization_id is denormalised from the segment so tenants and dbt marts
--   filter without a join; it references organizations like every other tenant column.
-- * nurture_sequences.entry_filter: a segment filter (dagster_project/core/segments.py) choosing
--   the leads enrolled automatically; null = no automatic enrollment. Only its JSON shape (an
--   object) is checked here; the filter language is validated by the asset, which reports a
--   bad filter instead of failing.
-- * nurture_touches is the outbound queue: one row per (enrollment, step), so re-running the
--   asset cannot queue a step twice (unique (enrollment_id, step), `on conflict do nothing`).
--   lead_id, sequence_id and organization_id are denormalised for the sender and for RLS.
--   Rows are never deleted by the pipeline: status moves queued -> sent (by the sender) or
--   queued -> cancelled (the lead went DNC, was recruited or deleted). organization_id also
--   references organizations (on delete cascade) like every other tenant column.
-- * RLS on both new tables: tenant_isolation_policy on organization_id, USING and WITH CHECK,
--   enabled not forced (the pipeline owns the tables), as in 002.

-- nurture_sequences.entry_filter ---------------------------------------------------------------

alter table nurture_sequences add column if not exists entry_filter jsonb;
alter table nurture_sequences drop constraint if exists nurture_sequences_entry_filter_check;
alter table nurture_sequences add constraint nurture_sequences_entry_filter_check
    check (entry_filter is null or jsonb_typeof(entry_filter) = 'object');
comment on column nurture_sequences.entry_filter is
    'Segment filter (JSON object) of the leads enrolled automatically; null = none.';

-- segment_count_history ------------------------------------------------------------------------

create table if not exists segment_count_history (
    segment_id uuid not null references segments (id) on delete cascade,
    organization_id uuid not null references organizations (id) on delete cascade,
    counted_at timestamptz not null,
    lead_count integer not null,
    constraint segment_count_history_pkey primary key (segment_id, counted_at),
    constraint segment_count_history_lead_count_check check (lead_count >= 0)
);

comment on table segment_count_history is
    'Size of every segment at each segment_counts run (segment sizes over time).';
comment on column segment_count_history.counted_at is 'As-of time of the run that counted.';
comment on column segment_count_history.lead_count is 'Live leads matching the segment filter.';

create index if not exists idx_segment_count_history_org_counted_at
    on segment_count_history (organization_id, counted_at);

-- nurture_touches ------------------------------------------------------------------------------

create table if not exists nurture_touches (
    id uuid primary key default gen_random_uuid(),
    enrollment_id uuid not null references lead_sequence_enrollments (id) on delete cascade,
    lead_id uuid not null references leads (id) on delete cascade,
    sequence_id uuid not null references nurture_sequences (id) on delete cascade,
    organization_id uuid not null references organizations (id) on delete cascade,
    step integer not null,
    channel varchar(20) not null,
    template_id text not null,
    due_at timestamptz not null,
    queued_at timestamptz not null default now(),
    status varchar(20) not null default 'queued',
    constraint nurture_touches_step_check check (step >= 1),
    constraint nurture_touches_channel_check check (channel in ('sms', 'email', 'call')),
    constraint nurture_touches_status_check check (status in ('queued', 'sent', 'cancelled')),
    constraint nurture_touches_enrollment_step_key unique (enrollment_id, step)
);

comment on table nurture_touches is
    'Outbound nurture queue: one touch per enrollment step, queued by nurture_enrollments.';
comment on column nurture_touches.step is 'steps[].step of the sequence this touch delivers.';
comment on column nurture_touches.due_at is
    'When the step is due (the schedule, not the send time).';
comment on column nurture_touches.status is
    'queued (waiting for the sender), sent, or cancelled (DNC, recruited or deleted lead).';

-- enrollment_id is led by the unique key's index.
create index if not exists idx_nurture_touches_lead_id on nurture_touches (lead_id);
create index if not exists idx_nurture_touches_sequence_id on nurture_touches (sequence_id);
-- Serves the organization_id foreign key and the sender's `status = 'queued' order by due_at`.
create index if not exists idx_nurture_touches_org_status_due_at
    on nurture_touches (organization_id, status, due_at);

-- row-level security ---------------------------------------------------------------------------

alter table segment_count_history enable row level security;
drop policy if exists tenant_isolation_policy on segment_count_history;
create policy tenant_isolation_policy on segment_count_history
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (
        organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid
    );

alter table nurture_touches enable row level security;
drop policy if exists tenant_isolation_policy on nurture_touches;
create policy tenant_isolation_policy on nurture_touches
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (
        organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid
    );
