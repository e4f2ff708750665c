-- 008_lead_company_and_crm_status: what CRM exports carry beyond the Epic 3 lead.
-- Requires 002_epic3_crm_tables (leads).
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * leads.company: the lead's employer as a CRM export writes it (HubSpot "Company Name",
--   Salesforce "Company", Pipedrive "Organization", Zoho "Company"). It is data about the
--   person, never the tenant: the tenant is organization_id.
-- * leads.crm_status: the status or lifecycle stage as the source CRM wrote it, kept only when
--   its meaning does not map to a leadflow status (the lead then stays at the status it had,
--   `new` for a new lead). Mapped values are not kept: the status says it.
-- * Both follow the contact-field survivorship of imports: the newest non-empty value wins and
--   every change writes a lead_audit_log row.
-- * Where an imported phone came from a mobile column because the main phone was empty, the
--   import writes a lead_audit_log row field_name 'phone_source' (new_value: the column's
--   header): no column needed.

alter table leads add column if not exists company text;
alter table leads add column if not exists crm_status text;

alter table leads drop constraint if exists leads_company_length_check;
alter table leads add constraint leads_company_length_check
    check (company is null or length(company) between 1 and 500);
alter table leads drop constraint if exists leads_crm_status_length_check;
alter table leads add constraint leads_crm_status_length_check
    check (crm_status is null or length(crm_status) between 1 and 200);

comment on column leads.company is
    'The lead''s employer as imported (a CRM export''s company column); not the tenant.';
comment on column leads.crm_status is
    'Status or lifecycle stage as the source CRM wrote it, when it did not map to a leadflow status.';
