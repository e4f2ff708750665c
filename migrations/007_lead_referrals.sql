-- 007_lead_referrals: who referred a lead, for the graph's (:Lead)-[:REFERRED_BY]->(:Lead).
-- Requires 002_epic3_crm_tables (leads).
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * Imports carry an optional `referred_by` column: the phone number or e-mail of another lead of
--   the same organization. The importer stores it normalized (E.164 or lower-case e-mail) in
--   leads.referred_by_ref and resolves it to leads.referred_by_lead_id when such a live lead
--   exists. A reference that matches no lead yet stays in referred_by_ref and is resolved by a
--   later import or graph sync (the referrer may arrive in a later file).
-- * referred_by_lead_id references leads (on delete set null: the referral disappears with the
--   referrer, the lead stays). A lead never refers itself (CHECK), and the referrer belongs to the
--   same organization (trigger leads_referral_same_organization: a composite foreign key would
--   need ON DELETE SET NULL (column), which PostgreSQL 14 lacks).
-- * Partial index on referred_by_lead_id: referral chains walk it, most leads have no referrer.

alter table leads add column if not exists referred_by_lead_id uuid
    references leads (id) on delete set null;
alter table leads add column if not exists referred_by_ref text;

alter table leads drop constraint if exists leads_referred_by_not_self_check;
alter table leads add constraint leads_referred_by_not_self_check
    check (referred_by_lead_id is null or referred_by_lead_id <> id);
alter table leads drop constraint if exists leads_referred_by_ref_length_check;
alter table leads add constraint leads_referred_by_ref_length_check
    check (referred_by_ref is null or length(referred_by_ref) between 1 and 320);

comment on column leads.referred_by_lead_id is
    'The lead (same organization) who referred this one; null when unknown.';
comment on column leads.referred_by_ref is
    'Referral as imported, normalized: E.164 phone or lower-case e-mail of the referrer.';

create index if not exists idx_leads_referred_by_lead_id
    on leads (referred_by_lead_id) where referred_by_lead_id is not null;
create index if not exists idx_leads_unresolved_referral
    on leads (organization_id) where referred_by_ref is not null and referred_by_lead_id is null;

create or replace function leads_referral_same_organization()
returns trigger
language plpgsql
as $$
begin
    if new.referred_by_lead_id is not null and not exists (
        select 1 from leads r
        where r.id = new.referred_by_lead_id and r.organization_id = new.organization_id
    ) then
        raise exception 'lead % cannot be referred by lead % of another organization',
            new.id, new.referred_by_lead_id
            using errcode = 'foreign_key_violation';
    end if;
    return new;
end
$$;

create or replace trigger trigger_leads_referral_same_organization
    before insert or update of referred_by_lead_id, organization_id on leads
    for each row
    when (new.referred_by_lead_id is not null)
    execute function leads_referral_same_organization();
