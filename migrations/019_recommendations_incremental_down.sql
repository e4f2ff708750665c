-- Reverts 019_recommendations_incremental: the ranking inputs kept with each model version and
-- the indexes of the incremental ranking. The next ranking after this ranks every lead.

drop index if exists idx_dnc_list_org_added_at;
drop index if exists idx_lead_sequence_enrollments_updated_at;
drop index if exists idx_lead_score_history_calculated_at;
drop index if exists idx_lead_activities_org_loaded_at;
drop index if exists idx_lead_activities_org_matched_at;
drop index if exists idx_leads_org_created_at;
drop index if exists idx_leads_org_updated_at;
alter table lead_conversion_models drop column if exists ranking_inputs;
