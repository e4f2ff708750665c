-- Reverts 008_lead_company_and_crm_status.
alter table leads drop constraint if exists leads_crm_status_length_check;
alter table leads drop constraint if exists leads_company_length_check;
alter table leads drop column if exists crm_status;
alter table leads drop column if exists company;
