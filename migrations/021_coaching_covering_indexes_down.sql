-- Reverts 021_coaching_covering_indexes: 020's and 004's indexes without the included columns.

create index if not exists idx_lead_activities_lead_id on lead_activities (lead_id, occurred_at desc);
drop index if exists idx_lead_activities_lead_contacts;

create index if not exists idx_lead_assignments_to_user_assigned_at
    on lead_assignments (to_user_id, assigned_at);
drop index if exists idx_lead_assignments_to_user_assigned_at_lead;

create index if not exists idx_lead_activities_user_occurred_at
    on lead_activities (user_id, occurred_at);
drop index if exists idx_lead_activities_user_occurred_at_lead;
