-- Referrals between the seeded leads (leads.referred_by_lead_id / referred_by_ref, added by
-- migrations/007_lead_referrals.sql), so the demo graph has (:Lead)-[:REFERRED_BY]->(:Lead).
-- The same shape in every organization (lead NN of organization o is b{o}000000-...-0000000000NN):
--   17 (recruited) referred 13, 08 and 04      one lead who referred three others
--   03 -> 09 -> 08 -> 17                       a referral chain of length 3
-- Every referrer was created before the lead it referred, and is a live lead of the same
-- organization. referred_by_ref holds the referrer's phone, as an import would have stored it.
-- Re-runnable: only sets a referral where none has been set yet.
update leads l
set referred_by_lead_id = r.id,
    referred_by_ref = r.phone_number
from (
    values
        ('17', '13'), ('17', '08'), ('17', '04'),
        ('08', '09'), ('09', '03')
) as v(referrer, referred)
cross join generate_series(1, 3) as o(n)
join leads r
  on r.id = format('b%s000000-0000-4000-8000-0000000000%s', o.n, v.referrer)::uuid
where l.id = format('b%s000000-0000-4000-8000-0000000000%s', o.n, v.referred)::uuid
  and l.organization_id = r.organization_id
  and r.deleted_at is null
  and l.referred_by_lead_id is null;
