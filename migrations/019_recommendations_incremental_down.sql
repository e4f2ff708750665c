-- Reverts 019_recommendations_incremental: the ranking inputs kept with each model version and
-- the indexes of the incremental ranking. The next ranking after this ranks every lead.

drop index if exists idx_leads_org_created_at;
alter table lead_conversion_models drop column if exists ranking_inputs;
