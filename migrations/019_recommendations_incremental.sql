-- 019_recommendations_incremental: what the recommendation steps need to rank only what changed
-- (issue 21): the indexed timestamps that find changed leads, and each model version's ranking
-- inputs.
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * lead_conversion_models.ranking_inputs: the organization-wide inputs of a ranking (the
--   propensity cuts of the bottom and top decile, the answer rate per channel, the answered hours
--   per local hour), computed once per model version by the first ranking with it and kept with
--   the version. Every later ranking with that version, full or incremental, reads them, so a
--   lead's entry depends on its own rows only and an incremental ranking equals a full one. Null:
--   not computed yet (or a version from before 019: it is retrained). Validated on read
--   (leadflow/recommend/inputs.py); a value that does not pass is recomputed.
-- * Indexes on the timestamps the incremental ranking reads per organization: leads.updated_at
--   (every change of a lead row: status, score, owner, merge, soft delete) and created_at (leads
--   entering the as-of window, and age boundaries crossed); lead_activities.matched_at and
--   loaded_at (activities attached since the last run, late arrivals included);
--   lead_score_history.calculated_at; lead_sequence_enrollments.updated_at; dnc_list.added_at.
--   lead_status_history.changed_at and lead_activities (organization_id, occurred_at) are indexed
--   already (002, 004).

alter table lead_conversion_models add column if not exists ranking_inputs jsonb;
comment on column lead_conversion_models.ranking_inputs is
    'Organization-wide ranking inputs of this version (cuts, answer rates, answered hours), set by its first ranking.';

create index if not exists idx_leads_org_updated_at on leads (organization_id, updated_at);
create index if not exists idx_leads_org_created_at on leads (organization_id, created_at);
create index if not exists idx_lead_activities_org_matched_at
    on lead_activities (organization_id, matched_at);
create index if not exists idx_lead_activities_org_loaded_at
    on lead_activities (organization_id, loaded_at);
create index if not exists idx_lead_score_history_calculated_at
    on lead_score_history (calculated_at);
create index if not exists idx_lead_sequence_enrollments_updated_at
    on lead_sequence_enrollments (updated_at);
create index if not exists idx_dnc_list_org_added_at on dnc_list (organization_id, added_at);
