"""Synthetic lead histories with a known signal, for the recommendation tests and benchmark.

Each generated lead has a hidden responsiveness r in (0, 1) (partly from its source). Its
activities are answered with probability r; it converts (reaches `recruited`) with a hazard
that grows with r, at a time after its creation; its rule score sees r only through noise. So a
model that reads answered activities should beat the rule score, and a test can check that it
does.

Phones are valid numbers (`<prefix>` + 2000000 + n: exchange 2xx-3xx), so an imported file can
merge into a generated lead. Set-based SQL with `setseed`: deterministic for a seed, a million leads in minutes. Local use
only (tests, `python -m benchmarks recommend`); the product never imports it.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

SOURCES = ("referral", "facebook", "indeed", "linkedin", "job_fair", "website")


def generate(
    conn: psycopg.Connection,
    organization_id: str,
    leads: int,
    *,
    seed: int = 1,
    now: datetime | None = None,
    days: int = 240,
    phone_prefix: str = "+1646",
) -> dict[str, int]:
    """Add `leads` leads with activities, status and score history to the organization (its
    active agents own them). Returns the rows written per table."""
    params = {
        "org": organization_id,
        "n": leads,
        "days": days,
        "seed": seed,
        "now": now,
        "prefix": phone_prefix,
    }
    conn.execute("select setseed(%s)", (((seed * 7919) % 1000) / 1000.0,))
    conn.execute("create temp table gen_leads on commit drop as " + _LEADS_SQL, params)
    counts = {"leads": conn.execute(_INSERT_LEADS, params).rowcount}
    # a number the organization already has (a seeded lead) is not generated again
    conn.execute(
        "delete from gen_leads g where not exists (select 1 from leads l where l.id = g.id)"
    )
    counts["lead_activities"] = conn.execute(_ACTIVITIES_SQL, params).rowcount
    counts["lead_status_history"] = conn.execute(_STATUS_SQL, params).rowcount
    counts["lead_score_history"] = conn.execute(_SCORES_SQL, params).rowcount
    conn.execute(_CURRENT_SQL, params)
    conn.execute("drop table gen_leads")
    return counts


_LEADS_SQL = """
with agents as (
    select array_agg(id order by id) as ids from users
    where organization_id = %(org)s and is_active
),
raw as (
    select g as n, random() as u1, random() as u2, random() as u3, random() as u4, random() as u5,
           random() as u6
    from generate_series(1, %(n)s) g
)
select md5(%(org)s::text || ':' || %(seed)s || ':' || n)::uuid as id,
       n,
       (array['referral','facebook','indeed','linkedin','job_fair','website'])[1 + floor(u1 * 6)::int] as source,
       a.ids[1 + floor(u2 * array_length(a.ids, 1))::int] as user_id,
       coalesce(%(now)s::timestamptz, now()) - make_interval(secs => u3 * %(days)s * 86400) as created_at,
       -- responsiveness: a source effect plus the lead's own
       least(0.95, greatest(0.02,
           0.15 + 0.5 * u4 * u4 + case floor(u1 * 6)::int when 0 then 0.2 when 4 then 0.1 else 0 end
       )) as r,
       u5, u6
from raw cross join agents a
"""

_INSERT_LEADS = """
insert into leads (id, organization_id, user_id, first_name, last_name, phone_number, source,
                   status, created_at, updated_at)
select id, %(org)s, user_id, 'Gen', 'Lead ' || n, %(prefix)s || (2000000 + n)::text, source,
       'new', created_at, created_at
from gen_leads
on conflict do nothing
"""

# 0..9 activities between creation and now; answered with probability r
_ACTIVITIES_SQL = """
insert into lead_activities (source_id, event_id, organization_id, lead_id, lead_phone, user_id,
                             activity_type, direction, outcome, occurred_at, matched_at)
select 'gen:' || g.id || ':' || k, 'gen:' || g.id || ':' || k, %(org)s, g.id,
       %(prefix)s || (2000000 + g.n)::text, g.user_id, kind,
       case when inbound then 'inbound' else 'outbound' end,
       case when inbound then null
            when kind = 'call' then case when answered then 'answered' else 'no_answer' end
            when kind = 'sms' then case when answered then 'replied' else 'delivered' end
            else case when answered then 'replied' else 'sent' end end,
       occurred, occurred
from gen_leads g
cross join lateral generate_series(1, floor(g.u5 * 10)::int) k
cross join lateral (
    select (array['call','call','sms','email'])[1 + floor(random() * 4)::int] as kind,
           random() < g.r as answered,
           random() < g.r * 0.15 as inbound,
           g.created_at + (coalesce(%(now)s::timestamptz, now()) - g.created_at) * random() as occurred
) act
"""

# new at creation; converted leads reach recruited after a delay that shrinks as r grows;
# the others may go cold
_STATUS_SQL = """
with fate as (
    select g.id, g.created_at,
           random() < g.r * 0.9 as converts,
           g.created_at + make_interval(secs => (5 + 120 * random() * (1.1 - g.r)) * 86400) as recruited_at,
           random() < 0.3 as goes_cold,
           random() < 0.5 as stalls
    from gen_leads g
),
steps as (
    select id, null::text as from_status, 'new' as to_status, created_at as at from fate
    union all
    select id, 'new', 'contacted', created_at + (recruited_at - created_at) * 0.3 from fate
    where converts
    union all
    select id, 'contacted', 'qualified', created_at + (recruited_at - created_at) * 0.6 from fate
    where converts
    union all
    select id, 'qualified', 'recruited', recruited_at from fate where converts
    union all  -- many who never convert are worked too: a status alone does not give it away
    select id, 'new', 'contacted', created_at + interval '6 days' from fate
    where not converts and stalls
    union all
    select id, 'contacted', 'qualified', created_at + interval '14 days' from fate
    where not converts and stalls and goes_cold is false
    union all
    select id, case when stalls then 'contacted' else 'new' end, 'cold',
           created_at + interval '20 days' from fate
    where not converts and goes_cold
)
insert into lead_status_history (lead_id, from_status, to_status, trigger_type, notes, changed_at)
select id, from_status, to_status, 'import', 'generated', at
from steps where at <= coalesce(%(now)s::timestamptz, now())
"""

# a score a day after creation, seeing r only through noise
_SCORES_SQL = """
insert into lead_score_history (lead_id, score, factors, calculated_at)
select g.id, s.total,
       jsonb_build_object('qualification', s.q, 'engagement', s.e, 'intent', s.i,
                          'demographic', s.d, 'total', s.total),
       least(g.created_at + interval '1 day', coalesce(%(now)s::timestamptz, now()))
from gen_leads g
cross join lateral (
    select round(20 * g.u6)::int as q, round(10 * (g.r + random()))::int as e,
           round(15 * random())::int as i, round(10 * random())::int as d
) f
cross join lateral (select f.q, f.e, f.i, f.d, least(100, f.q + f.e + f.i + f.d) as total) s
"""

_CURRENT_SQL = """
update leads l set
    status = coalesce((select h.to_status from lead_status_history h where h.lead_id = l.id
                       order by h.changed_at desc limit 1), 'new'),
    lead_score = coalesce((select s.score from lead_score_history s where s.lead_id = l.id
                           order by s.calculated_at desc limit 1), 0)
from gen_leads g where g.id = l.id
"""
