-- Reverts 007_lead_referrals.
drop trigger if exists trigger_leads_referral_same_organization on leads;
drop function if exists leads_referral_same_organization();
drop index if exists idx_leads_unresolved_referral;
drop index if exists idx_leads_referred_by_lead_id;
alter table leads drop constraint if exists leads_referred_by_ref_length_check;
alter table leads drop constraint if exists leads_referred_by_not_self_check;
alter table leads drop column if exists referred_by_ref;
alter table leads drop column if exists referred_by_lead_id;
