-- Reverts 009_crm_connections (the raw schemas go with everything dlt wrote in them).
drop table if exists crm_sync_runs;
drop table if exists lead_external_ids;
drop table if exists crm_sync_state;
drop table if exists crm_connections;
drop schema if exists raw_pipedrive cascade;
drop schema if exists raw_salesforce cascade;
drop schema if exists raw_hubspot cascade;
