-- Reverts 017_dbt_change_indexes: the indexes the incremental dbt marts find changed rows by. The
-- marts still build; each incremental run then scans the source tables.

drop index if exists idx_lead_recommendations_computed_at;
drop index if exists idx_lead_source_costs_updated_at;
drop index if exists idx_lead_notes_created_at;
drop index if exists idx_lead_activities_matched_at;
drop index if exists idx_lead_activities_loaded_at;
drop index if exists idx_lead_assignments_assigned_at;
drop index if exists idx_lead_score_history_calculated_at;
drop index if exists idx_leads_updated_at;
