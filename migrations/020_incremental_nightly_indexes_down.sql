-- Reverts 020_incremental_nightly_indexes: the per-user-week indexes of int_coaching_user_weeks
-- (its incremental builds then scan) and lead_recommendations' HOT-friendly layout.

drop index if exists idx_lead_recommendations_agent;
create index idx_lead_recommendations_agent
    on lead_recommendations (organization_id, user_id, agent_rank);
alter table lead_recommendations reset (fillfactor);

drop index if exists idx_lead_status_history_recruited_at;
drop index if exists idx_lead_activities_user_occurred_at;
create index if not exists idx_lead_assignments_to_user_id on lead_assignments (to_user_id);
drop index if exists idx_lead_assignments_to_user_assigned_at;
