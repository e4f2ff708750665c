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
-- * Indexes: the incremental ranking reads per organization what 017 and 018 index already
--   (leads (organization_id, updated_at), lead_activities (organization_id,
--   coalesce(matched_at, loaded_at)) for activities attached since the last run, late arrivals
--   included, lead_score_history.calculated_at, lead_sequence_enrollments.updated_at, dnc_list
--   (organization_id, added_at)); it adds leads (organization_id, created_at) only: leads entering
--   the as-of window and the age boundaries crossed. lead_status_history.changed_at and
--   lead_activities (organization_id, occurred_at) are indexed already (002, 004).

alter table lead_conversion_models add column if not exists ranking_inputs jsonb;
comment on column lead_conversion_models.ranking_inputs is
    'Organization-wide ranking inputs of this version (cuts, answer rates, answered hours), set by its first ranking.';

create index if not exists idx_leads_org_created_at on leads (organization_id, created_at);
