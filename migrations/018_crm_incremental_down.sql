-- Reverts 018_crm_incremental: the CRM steps' change indexes and lead_score_due. The next
-- nightly of the code before 018 scores every lead again.

drop index if exists idx_enrollments_updated_at;
drop index if exists idx_dnc_list_org_added_at;
drop index if exists idx_leads_waiting_for_owner;
drop index if exists idx_lead_activities_org_matched_at;
drop index if exists idx_leads_org_updated_at;
drop table if exists lead_score_due;
