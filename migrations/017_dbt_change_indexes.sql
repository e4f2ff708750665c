-- 017_dbt_change_indexes: what the incremental dbt marts look changed rows up by (issue 21).
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * An incremental mart finds the leads changed since its watermark (sync_watermarks 'dbt:<mart>')
--   with one range scan per source table on the column that stamps a change: leads.updated_at
--   (set by trigger on every update, so reassignments, soft deletes and DNC all bump it),
--   lead_score_history.calculated_at, lead_assignments.assigned_at, lead_activities.loaded_at and
--   .matched_at (a late-arriving activity is new by loaded_at whatever its occurred_at),
--   lead_notes.created_at, lead_source_costs.updated_at, lead_recommendations.computed_at.
--   lead_status_history.changed_at has its index already (migration 001).
-- * The marts recompute a changed lead's rows through the lead_id indexes the tables have.
-- * Plain `create index` inside the runner's transaction: on a large live table a DBA may create
--   them beforehand with `create index concurrently if not exists` under the same names.

create index if not exists idx_leads_updated_at on leads (updated_at);
create index if not exists idx_lead_score_history_calculated_at
    on lead_score_history (calculated_at);
create index if not exists idx_lead_assignments_assigned_at on lead_assignments (assigned_at);
create index if not exists idx_lead_activities_loaded_at on lead_activities (loaded_at);
create index if not exists idx_lead_activities_matched_at on lead_activities (matched_at);
create index if not exists idx_lead_notes_created_at on lead_notes (created_at);
create index if not exists idx_lead_source_costs_updated_at on lead_source_costs (updated_at);
create index if not exists idx_lead_recommendations_computed_at
    on lead_recommendations (computed_at);
