-- Reverts 004_lead_activities.
drop table if exists sync_watermarks cascade;
drop table if exists lead_activities cascade;
