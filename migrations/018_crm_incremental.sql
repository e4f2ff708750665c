-- 018_crm_incremental: what the nightly's CRM steps need to do only what changed (issue 21).
-- Requires 004_lead_activities, 011_tenancy_and_least_privilege and 016_cost_follows_change.
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * lead_score_due: for each live scored lead whose total will change by time alone (its
--   activities' weights decay, so a rounded factor crosses a .5 boundary and the weighted total
--   moves), the earliest instant that can happen (`rescore_at`, computed by
--   leadflow/crm/scoring.py next_total_change, rounded down). No row: time alone never changes
--   the total (no decaying activity, or a DNC lead whose total is 0). The incremental lead_scores
--   step rescores `rescore_at <= as_of` by an index range instead of scoring every lead. It is
--   bookkeeping derived from the scores, rebuilt by every full pass, so it is written without
--   touching leads (no updated_at bump for the later steps to react to).
-- * Tenant data under forced row-level security like lead_activities (tenant_isolation_policy;
--   pipeline_access and the grants by leadflow_apply_tenancy(), called at the end as 015 does):
--   the application reads it, only the pipeline writes it.
-- * Indexes for the change scans of the nightly, all led by organization_id (the steps run one
--   organization per transaction, and Citus distributes on it):
--   leads (organization_id, updated_at): the leads changed since a step's watermark;
--   lead_activities (organization_id, coalesce(matched_at, loaded_at)): activities loaded or
--   re-matched to a lead since the watermark (late arrivals included: that is the load time,
--   occurred_at may be long before; a row inserted with its lead but no matched_at counts by
--   loaded_at); the existing (organization_id, occurred_at) serves the scoring window's edges;
--   leads (organization_id, created_at, id) where user_id is null and deleted_at is null: the
--   leads waiting for an owner, so lead_assignments reads those and not the organization;
--   dnc_list (organization_id, added_at) and lead_sequence_enrollments (updated_at): the phones
--   listed and the enrollments changed since nurture_enrollments' watermark.

create table if not exists lead_score_due (
    lead_id uuid primary key references leads (id) on delete cascade,
    organization_id uuid not null references organizations (id) on delete cascade,
    rescore_at timestamptz not null
);

comment on table lead_score_due is
    'When time alone next changes a lead''s score total (decay of its activities); written by '
    'lead_scores, read by its incremental pass (rescore_at <= as_of).';
comment on column lead_score_due.rescore_at is
    'Earliest instant the total can differ from leads.lead_score with no input changed.';

create index if not exists idx_lead_score_due_org_rescore_at
    on lead_score_due (organization_id, rescore_at);

alter table lead_score_due enable row level security;
drop policy if exists tenant_isolation_policy on lead_score_due;
create policy tenant_isolation_policy on lead_score_due
    using (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    with check (organization_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);

create index if not exists idx_leads_org_updated_at on leads (organization_id, updated_at);
create index if not exists idx_lead_activities_org_matched_at
    on lead_activities (organization_id, (coalesce(matched_at, loaded_at)));
create index if not exists idx_leads_waiting_for_owner
    on leads (organization_id, created_at, id)
    where user_id is null and deleted_at is null;
create index if not exists idx_dnc_list_org_added_at on dnc_list (organization_id, added_at);
create index if not exists idx_enrollments_updated_at on lead_sequence_enrollments (updated_at);

select public.leadflow_apply_tenancy();
