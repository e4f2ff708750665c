"""dbt marts lead_score_trends, organization_score_trends, agent_coaching and lead_timeline on a
small hand-made CRM.

The fixture is two organizations in different timezones (New York, UTC-4 in June; Tokyo,
UTC+9), ten leads (one soft-deleted) and histories placed so that local and UTC days and weeks
differ. Every expected value below is computed by hand in the comments next to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from leadflow.analytics.project import run_dbt

pytestmark = pytest.mark.integration

ORG_NY = "f1000000-0000-4000-8000-000000000001"  # America/New_York: UTC-4 in June 2026
ORG_TK = "f2000000-0000-4000-8000-000000000001"  # Asia/Tokyo: UTC+9

ALICE = "e1000000-0000-4000-8000-000000000001"  # agent, New York
BOB = "e1000000-0000-4000-8000-000000000002"  # agent, New York
CAROL = "e1000000-0000-4000-8000-000000000003"  # manager, New York: reassigns, works no lead
DAN = "e2000000-0000-4000-8000-000000000001"  # agent, Tokyo


def lead_id(n: int) -> str:
    return f"c0000000-0000-4000-8000-{n:012d}"


L1, L2, L3, L4, L5, L6, L7, L8, L9, L10 = (lead_id(n) for n in range(1, 11))

# lead, organization, owner, source, status, soft-deleted
LEADS = [
    (L1, ORG_NY, ALICE, "facebook", "contacted", False),
    (L2, ORG_NY, ALICE, "facebook", "new", False),
    (L3, ORG_NY, ALICE, "facebook", "new", False),
    (L4, ORG_NY, ALICE, "facebook", "new", False),
    (L5, ORG_NY, ALICE, "facebook", "new", False),
    (L6, ORG_NY, None, None, "new", False),
    (L7, ORG_TK, DAN, "linkedin", "new", False),
    (L8, ORG_NY, BOB, "referral", "recruited", False),
    (L9, ORG_NY, BOB, "referral", "contacted", False),
    (L10, ORG_NY, ALICE, "facebook", "recruited", True),
]


def ts(text: str) -> datetime:
    """A UTC instant from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def factors(q: int, e: int, i: int, d: int | None) -> dict[str, int]:
    values = {"qualification": q, "engagement": e, "intent": i, "total": q + e + i + (d or 0)}
    if d is not None:
        values["demographic"] = d
    return values


# lead, calculated_at (UTC), factors; the score is their total. L5 comes before L2 so the
# riser tie between them is decided by lead_id, not by insertion order.
SCORES = [
    (L5, "2026-05-30 14:00", factors(15, 8, 4, 3)),  # 30, NY Sat 05-30
    (L5, "2026-06-01 13:00", factors(20, 10, 5, 5)),  # 40, NY Mon 06-01
    (L1, "2026-06-01 14:00", factors(20, 10, 5, 5)),  # 40, NY Mon 06-01 10:00
    (L1, "2026-06-02 03:30", factors(25, 12, 8, 5)),  # 50, NY Mon 06-01 23:30 (UTC: Tue)
    (L1, "2026-06-03 15:00", factors(22, 10, 8, 5)),  # 45, NY Wed 06-03
    (L2, "2026-05-29 16:00", factors(30, 15, 10, 5)),  # 60, NY Fri 05-29
    (L2, "2026-06-01 16:00", factors(35, 20, 10, 5)),  # 70, NY Mon 06-01
    (L3, "2026-06-01 18:00", factors(40, 20, 15, 5)),  # 80, NY Mon 06-01
    (L4, "2026-06-01 02:00", factors(40, 25, 20, 5)),  # 90, NY Sun 05-31 22:00 (UTC: Mon)
    (L4, "2026-06-01 20:00", factors(35, 20, 15, 5)),  # 75, NY Mon 06-01
    (L6, "2026-06-02 12:00", factors(10, 5, 5, None)),  # 20, no demographic factor
    (L7, "2026-06-01 16:00", factors(25, 15, 10, 5)),  # 55, Tokyo Tue 06-02 01:00
    (L7, "2026-06-07 15:30", factors(30, 20, 10, 5)),  # 65, Tokyo Mon 06-08 00:30
    (L10, "2026-06-01 14:00", factors(40, 30, 20, 10)),  # 100, soft-deleted lead
]

# lead, from, to, strategy, assigned_by, assigned_at
ASSIGNMENTS = [
    (L9, None, ALICE, "round_robin", None, "2026-05-28 12:00"),  # contact at 0 h
    (L1, None, ALICE, "round_robin", None, "2026-06-01 13:00"),  # contact at 2 h
    (L2, None, ALICE, "round_robin", None, "2026-06-01 14:00"),  # contact at 30 h
    (L3, None, ALICE, "load_balanced", None, "2026-06-02 10:00"),  # never contacted
    (L8, None, BOB, "territory", None, "2026-06-03 12:00"),  # contact at 4 h
    (L9, ALICE, BOB, "manual", CAROL, "2026-06-04 12:00"),  # contact at exactly 24 h
    (L7, None, DAN, "round_robin", None, "2026-05-31 16:00"),  # Tokyo Mon 06-01 01:00
    (L10, None, ALICE, "round_robin", None, "2026-06-01 12:00"),  # soft-deleted lead
]

# lead, user, type, direction, outcome, occurred_at, duration_seconds
ACTIVITIES = [
    (L9, ALICE, "sms", "outbound", "delivered", "2026-05-28 12:00", None),
    (L1, ALICE, "call", "outbound", "answered", "2026-06-01 15:00", 200),
    (L2, ALICE, "sms", "inbound", "replied", "2026-06-01 15:00", None),  # not a contact
    (L2, ALICE, "email", "outbound", "sent", "2026-06-02 20:00", None),
    (L3, BOB, "call", "outbound", "no_answer", "2026-06-01 20:00", None),  # before assignment
    (L3, ALICE, "note", None, None, "2026-06-02 11:00", None),  # not a contact
    (L1, ALICE, "call", "outbound", "no_answer", "2026-06-03 14:00", None),
    (L8, BOB, "meeting", "outbound", "completed", "2026-06-03 16:00", 3900),
    (L9, BOB, "call", "outbound", "answered", "2026-06-05 12:00", 65),
    (L8, BOB, "sms", "outbound", "delivered", "2026-06-08 02:00", None),  # NY Sun 06-07 22:00
    (L10, ALICE, "call", "outbound", "answered", "2026-06-01 12:30", 30),  # soft-deleted lead
    (None, ALICE, "call", "outbound", "answered", "2026-06-02 09:00", 40),  # unmatched
]

# lead, from, to, trigger, changed_by, changed_at
STATUS_CHANGES = [
    (L1, None, "new", "import", None, "2026-06-01 12:00"),
    (L1, "new", "contacted", "manual", ALICE, "2026-06-01 15:00"),  # same instant as a call
    (L8, "hot", "recruited", "manual", BOB, "2026-06-05 18:00"),
    (L10, "hot", "recruited", "manual", ALICE, "2026-06-02 10:00"),  # soft-deleted lead
]

# Users and leads last changed long before the run: the timeline's watermark is the newest
# event's time (2026-06-08), so the incremental test sees which leads a run rebuilds.
LEADS_UPDATED_AT = ts("2026-06-06 00:00")


def insert_fixture(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into organizations (id, name, slug, timezone) values"
            " (%s, 'Hudson Hires', 'hudson', 'America/New_York'),"
            " (%s, 'Sakura Staffing', 'sakura', 'Asia/Tokyo')",
            (ORG_NY, ORG_TK),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "insert into users (id, organization_id, email, first_name, last_name, role,"
                " created_at, updated_at) values (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (*user, ts("2026-05-01 00:00"), ts("2026-05-01 00:00"))
                    for user in [
                        (ALICE, ORG_NY, "alice@hudson.test", "Alice", "Archer", "agent"),
                        (BOB, ORG_NY, "bob@hudson.test", "Bob", "Baker", "agent"),
                        (CAROL, ORG_NY, "carol@hudson.test", "Carol", "Chen", "manager"),
                        (DAN, ORG_TK, "dan@sakura.test", "Dan", "Doe", "agent"),
                    ]
                ],
            )
            cur.executemany(
                "insert into leads (id, organization_id, user_id, first_name, last_name,"
                " phone_number, status, source, created_at, updated_at, deleted_at)"
                " values (%s, %s, %s, 'Lead', %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        lead,
                        org,
                        owner,
                        f"Number {n}",
                        f"+1212555{n:04d}",
                        status,
                        source,
                        ts("2026-05-20 12:00"),
                        LEADS_UPDATED_AT,
                        ts("2026-06-05 00:00") if deleted else None,
                    )
                    for n, (lead, org, owner, source, status, deleted) in enumerate(LEADS, 1)
                ],
            )
            cur.executemany(
                "insert into lead_score_history (lead_id, score, factors, calculated_at)"
                " values (%s, %s, %s, %s)",
                [
                    (lead, values["total"], json.dumps(values), ts(at))
                    for lead, at, values in SCORES
                ],
            )
            cur.executemany(
                "insert into lead_assignments"
                " (lead_id, from_user_id, to_user_id, strategy, assigned_by, assigned_at)"
                " values (%s, %s, %s, %s, %s, %s)",
                [(*row[:5], ts(row[5])) for row in ASSIGNMENTS],
            )
            cur.executemany(
                "insert into lead_activities (source_id, organization_id, lead_id, user_id,"
                " activity_type, direction, outcome, occurred_at, duration_seconds,"
                " matched_at, loaded_at)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        f"mongo-{n}",
                        ORG_NY,
                        lead,
                        user,
                        kind,
                        direction,
                        outcome,
                        ts(at),
                        duration,
                        ts(at) if lead else None,
                        ts(at),
                    )
                    for n, (lead, user, kind, direction, outcome, at, duration) in enumerate(
                        ACTIVITIES
                    )
                ],
            )
            cur.executemany(
                "insert into lead_status_history"
                " (lead_id, from_status, to_status, trigger_type, changed_by, changed_at)"
                " values (%s, %s, %s, %s, %s, %s)",
                [(*row[:5], ts(row[5])) for row in STATUS_CHANGES],
            )


def dbt(url: str, tmp: Path, *args: str) -> None:
    run_dbt([*args, "--log-path", str(tmp / "logs")], url, target_path=tmp / "target")


@pytest.fixture(scope="module")
def marts_url(new_migrated_database: Callable[[str], str], tmp_path_factory) -> str:
    url = new_migrated_database("marts_sct")
    insert_fixture(url)
    tmp = tmp_path_factory.mktemp("dbt_marts_sct")
    # cautious: leave out the relationship tests of other marts that merely ref a staging parent.
    dbt(
        url,
        tmp,
        "build",
        "--select",
        "+lead_score_trends +organization_score_trends +agent_coaching +lead_timeline",
        "--indirect-selection",
        "cautious",
    )
    return url


def rows(url: str, query: str, params=()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def d(value: str) -> Decimal:
    return Decimal(value)


# --- lead_score_trends --------------------------------------------------------------------------

TREND_COLUMNS = """
    leads_scored, avg_score, median_score, p90_score,
    avg_qualification, avg_engagement, avg_intent, avg_demographic,
    top_riser_lead_id::text, top_riser_delta, top_faller_lead_id::text, top_faller_delta
"""


def trend(url: str, org: str, source: str, owner: str | None, period: str, start: str):
    found = rows(
        url,
        f"select {TREND_COLUMNS} from analytics.lead_score_trends"
        " where organization_id = %s and source = %s and owner_user_id is not distinct from %s"
        " and period_type = %s and period_start = %s",
        (org, source, owner, period, date.fromisoformat(start)),
    )
    assert len(found) <= 1
    return found[0] if found else None


def test_score_trends_day_in_local_time_with_percentiles_factors_and_movers(marts_url):
    # New York Monday 06-01, last score of each lead that day: L1 50 (its 23:30 local score, UTC
    # Tuesday), L2 70, L3 80, L4 75, L5 40; the soft-deleted L10 is left out.
    # avg 315/5 = 63; sorted 40 50 70 75 80: median 70, p90 at 0.9*4 = 3.6 -> 75 + 0.6*5 = 78.
    # Factors: qualification (25+35+40+35+20)/5 = 31, engagement (12+20+20+20+10)/5 = 16.4,
    # intent (8+10+15+15+5)/5 = 10.6, demographic 5.
    # Movers against the last score before the day: L2 60 -> 70 (+10), L5 30 -> 40 (+10), tie
    # to the smaller lead_id L2; L4 90 (Sunday 22:00 local) -> 75 (-15); L1 and L3 had no
    # earlier score.
    assert trend(marts_url, ORG_NY, "facebook", ALICE, "day", "2026-06-01") == (
        5,
        d("63.00"),
        d("70.00"),
        d("78.00"),
        d("31.00"),
        d("16.40"),
        d("10.60"),
        d("5.00"),
        L2,
        10,
        L4,
        -15,
    )
    # UTC Tuesday 06-02 holds L1's 03:30 score, but in New York that is still Monday.
    assert trend(marts_url, ORG_NY, "facebook", ALICE, "day", "2026-06-02") is None
    # Wednesday: L1 45 after 50 -> a faller, no riser.
    assert trend(marts_url, ORG_NY, "facebook", ALICE, "day", "2026-06-03") == (
        1,
        d("45.00"),
        d("45.00"),
        d("45.00"),
        d("22.00"),
        d("10.00"),
        d("8.00"),
        d("5.00"),
        None,
        None,
        L1,
        -5,
    )
    # L4's 02:00 UTC Monday score is Sunday 05-31 in New York.
    assert trend(marts_url, ORG_NY, "facebook", ALICE, "day", "2026-05-31")[:2] == (1, d("90.00"))


def test_score_trends_weeks_start_on_local_monday(marts_url):
    # Week of Mon 06-01: last scores L1 45, L2 70, L3 80, L4 75, L5 40: avg 310/5 = 62,
    # sorted 40 45 70 75 80: median 70, p90 78; qualification (22+35+40+35+20)/5 = 30.4,
    # engagement (10+20+20+20+10)/5 = 16, intent (8+10+15+15+5)/5 = 10.6.
    # Movers against the previous week: L2 +10 and L5 +10 (tie -> L2), L4 -15; L1 had none.
    assert trend(marts_url, ORG_NY, "facebook", ALICE, "week", "2026-06-01") == (
        5,
        d("62.00"),
        d("70.00"),
        d("78.00"),
        d("30.40"),
        d("16.00"),
        d("10.60"),
        d("5.00"),
        L2,
        10,
        L4,
        -15,
    )
    # Week of Mon 05-25: L2 60, L4 90 (Sunday night local), L5 30: avg 60, median 60,
    # p90 at 1.8 -> 60 + 0.8*30 = 84; qualification (30+40+15)/3 = 28.33; no earlier scores.
    assert trend(marts_url, ORG_NY, "facebook", ALICE, "week", "2026-05-25") == (
        3,
        d("60.00"),
        d("60.00"),
        d("84.00"),
        d("28.33"),
        d("16.00"),
        d("11.33"),
        d("4.33"),
        None,
        None,
        None,
        None,
    )


def test_score_trends_unknown_source_unassigned_owner_and_other_timezone(marts_url):
    # L6: no source, no owner, no demographic factor in its JSONB.
    assert trend(marts_url, ORG_NY, "unknown", None, "day", "2026-06-02") == (
        1,
        d("20.00"),
        d("20.00"),
        d("20.00"),
        d("10.00"),
        d("5.00"),
        d("5.00"),
        None,
        None,
        None,
        None,
        None,
    )
    # Tokyo: 16:00 UTC Mon 06-01 is Tue 06-02 locally; 15:30 UTC Sun 06-07 is Mon 06-08.
    assert trend(marts_url, ORG_TK, "linkedin", DAN, "day", "2026-06-02")[:2] == (1, d("55.00"))
    assert trend(marts_url, ORG_TK, "linkedin", DAN, "week", "2026-06-01")[:2] == (1, d("55.00"))
    week = trend(marts_url, ORG_TK, "linkedin", DAN, "week", "2026-06-08")
    assert week[:2] == (1, d("65.00")) and week[8:] == (L7, 10, None, None)
    assert trend(marts_url, ORG_TK, "linkedin", DAN, "day", "2026-06-07") is None


def test_score_trends_rows_and_keys(marts_url):
    # New York facebook/Alice: days 05-29 05-30 05-31 06-01 06-03, weeks 05-25 06-01;
    # unknown/unassigned: day 06-02, week 06-01; Tokyo: days 06-02 06-08, weeks 06-01 06-08.
    [(count, keys, scored)] = rows(
        marts_url,
        "select count(*), count(distinct trend_key), sum(leads_scored)"
        " from analytics.lead_score_trends",
    )
    assert (count, keys) == (13, 13)
    assert scored == (1 + 1 + 1 + 5 + 1) + (3 + 5) + (1 + 1) + (1 + 1 + 1 + 1)


# --- organization_score_trends -------------------------------------------------------------------


def org_trend(url: str, org: str, period: str, start: str):
    found = rows(
        url,
        "select leads_scored, avg_score, median_score, p90_score"
        " from analytics.organization_score_trends"
        " where organization_id = %s and period_type = %s and period_start = %s",
        (org, period, date.fromisoformat(start)),
    )
    assert len(found) <= 1
    return found[0] if found else None


def test_organization_score_trends_are_percentiles_over_all_the_leads(marts_url):
    # Week of Mon 06-01 in New York: facebook/Alice L1 45, L2 70, L3 80, L4 75, L5 40 and
    # unknown/unassigned L6 20 (06-02); the soft-deleted L10 is left out. Sorted 20 40 45 70 75
    # 80: avg 330/6 = 55, median (45 + 70)/2 = 57.5, p90 at 0.9*5 = 4.5 -> 75 + 0.5*5 = 77.5.
    # Weighting lead_score_trends' two groups (5 leads: median 70, p90 78; 1 lead: 20) by their
    # leads would give (5*70 + 20)/6 = 61.67 and (5*78 + 20)/6 = 68.33 instead.
    assert org_trend(marts_url, ORG_NY, "week", "2026-06-01") == (
        6,
        d("55.00"),
        d("57.50"),
        d("77.50"),
    )
    # Week of Mon 05-25: L2 60, L4 90 (Sunday night local), L5 30, one group: as in
    # lead_score_trends, avg 60, median 60, p90 at 1.8 -> 60 + 0.8*30 = 84.
    assert org_trend(marts_url, ORG_NY, "week", "2026-05-25") == (
        3,
        d("60.00"),
        d("60.00"),
        d("84.00"),
    )
    # Local days as in lead_score_trends: Monday 06-01 holds L1's 23:30 score (50), so 40 50 70
    # 75 80: avg 63, median 70, p90 78; Tuesday 06-02 only L6 (20).
    assert org_trend(marts_url, ORG_NY, "day", "2026-06-01") == (
        5,
        d("63.00"),
        d("70.00"),
        d("78.00"),
    )
    assert org_trend(marts_url, ORG_NY, "day", "2026-06-02") == (
        1,
        d("20.00"),
        d("20.00"),
        d("20.00"),
    )
    # Tokyo: L7 55 on Tue 06-02 (16:00 UTC Mon), 65 in the week of Mon 06-08 (15:30 UTC Sun).
    assert org_trend(marts_url, ORG_TK, "day", "2026-06-02") == (
        1,
        d("55.00"),
        d("55.00"),
        d("55.00"),
    )
    assert org_trend(marts_url, ORG_TK, "week", "2026-06-08") == (
        1,
        d("65.00"),
        d("65.00"),
        d("65.00"),
    )
    assert org_trend(marts_url, ORG_TK, "day", "2026-06-01") is None


def test_organization_score_trends_rows_and_keys(marts_url):
    # New York days 05-29 05-30 05-31 06-01 06-02 06-03 and weeks 05-25 06-01; Tokyo days
    # 06-02 06-08 and weeks 06-01 06-08. The same leads as lead_score_trends, counted once.
    [(count, keys, scored)] = rows(
        marts_url,
        "select count(*), count(distinct trend_key), sum(leads_scored)"
        " from analytics.organization_score_trends",
    )
    assert (count, keys) == (12, 12)
    assert scored == (1 + 1 + 1 + 5 + 1 + 1) + (3 + 6) + (1 + 1) + (1 + 1)
    [(in_groups,)] = rows(marts_url, "select sum(leads_scored) from analytics.lead_score_trends")
    assert scored == in_groups


# --- agent_coaching ------------------------------------------------------------------------------

COACHING_COLUMNS = """
    user_name, leads_assigned, contacted_within_24h, contacted_within_24h_share,
    median_hours_to_first_contact, activities, leads_worked, activities_per_lead, conversions,
    org_avg_leads_assigned, org_avg_contacted_within_24h_share,
    org_avg_median_hours_to_first_contact, org_avg_activities_per_lead, org_avg_conversions
"""


def coaching(url: str) -> dict[tuple[str, date], tuple]:
    found = rows(
        url,
        f"select user_id::text, week_start, organization_id::text, {COACHING_COLUMNS}"
        " from analytics.agent_coaching",
    )
    return {(user, week): (org, *rest) for user, week, org, *rest in found}


def test_agent_coaching_week_figures_beside_the_organization_average(marts_url):
    table = coaching(marts_url)
    # Exactly these users and weeks: Carol only reassigned (no row); Bob's Sunday-night SMS is
    # 06-08 in UTC but week 06-01 in New York; Dan's Sunday 16:00 UTC assignment is Monday 06-01
    # in Tokyo; the soft-deleted lead and the unmatched call count nowhere.
    assert set(table) == {
        (ALICE, date(2026, 5, 25)),
        (ALICE, date(2026, 6, 1)),
        (BOB, date(2026, 6, 1)),
        (DAN, date(2026, 6, 1)),
    }
    # Organization averages of week 06-01 in New York over Alice and Bob: assigned (3+2)/2,
    # share (1/3 + 1)/2 = 0.6667, median hours (16+14)/2, activities per lead (5/3 + 4/3)/2,
    # conversions (0+1)/2.
    ny_week = (d("2.50"), d("0.6667"), d("15.00"), d("1.50"), d("0.50"))
    # Alice: L1 contacted after 2 h, L2 after 30 h (the inbound SMS at 1 h does not count), L3
    # never (Bob's call came before the assignment, the note is no contact): 1 of 3 within 24 h,
    # median of 2 and 30 = 16 h. Activities: 2 calls on L1, inbound SMS and e-mail on L2, note
    # on L3 = 5 on 3 leads.
    assert table[(ALICE, date(2026, 6, 1))] == (
        ORG_NY,
        "Alice Archer",
        3,
        1,
        d("0.3333"),
        d("16.00"),
        5,
        3,
        d("1.67"),
        0,
        *ny_week,
    )
    # Bob: L8 after 4 h, L9 after exactly 24 h (counts): 2 of 2, median 14 h. Activities: call
    # on L3, meeting and Sunday-night SMS on L8, call on L9 = 4 on 3 leads. L8 recruited while
    # his.
    assert table[(BOB, date(2026, 6, 1))] == (
        ORG_NY,
        "Bob Baker",
        2,
        2,
        d("1.0000"),
        d("14.00"),
        4,
        3,
        d("1.33"),
        1,
        *ny_week,
    )
    # Alice's week before: L9 assigned and texted at the same instant (0 h).
    assert table[(ALICE, date(2026, 5, 25))] == (
        ORG_NY,
        "Alice Archer",
        1,
        1,
        d("1.0000"),
        d("0.00"),
        1,
        1,
        d("1.00"),
        0,
        d("1.00"),
        d("1.0000"),
        d("0.00"),
        d("1.00"),
        d("0.00"),
    )
    # Dan: one lead, never contacted, no activity: nulls where there is nothing to divide.
    assert table[(DAN, date(2026, 6, 1))] == (
        ORG_TK,
        "Dan Doe",
        1,
        0,
        d("0.0000"),
        None,
        0,
        0,
        None,
        0,
        d("1.00"),
        d("0.0000"),
        None,
        None,
        d("0.00"),
    )


# --- lead_timeline -------------------------------------------------------------------------------


def timeline(url: str, lead: str) -> list[tuple]:
    return rows(
        url,
        "select event_seq, event_type, event_subtype, actor_user_id::text, summary"
        " from analytics.lead_timeline where lead_id = %s order by event_seq",
        (lead,),
    )


def test_lead_timeline_orders_events_and_summarizes_them(marts_url):
    assert timeline(marts_url, L1) == [
        (1, "status_change", "new", None, "Status new (import)"),
        (2, "assignment", "round_robin", None, "Assigned to Alice Archer (round_robin)"),
        (3, "score_change", None, None, "Score 40 (first score)"),
        # Same instant: event_type breaks the tie, 'activity' before 'status_change'.
        (4, "activity", "call", ALICE, "Outbound call, answered, 3m 20s"),
        (5, "status_change", "contacted", ALICE, "Status new → contacted (manual)"),
        (6, "score_change", None, None, "Score 40 → 50 (+10)"),
        (7, "activity", "call", ALICE, "Outbound call, no answer"),
        (8, "score_change", None, None, "Score 50 → 45 (-5)"),
    ]
    assert timeline(marts_url, L2) == [
        (1, "score_change", None, None, "Score 60 (first score)"),
        (2, "assignment", "round_robin", None, "Assigned to Alice Archer (round_robin)"),
        (3, "activity", "sms", ALICE, "Inbound SMS, replied"),
        (4, "score_change", None, None, "Score 60 → 70 (+10)"),
        (5, "activity", "email", ALICE, "Outbound e-mail, sent"),
    ]
    assert timeline(marts_url, L3)[-1] == (4, "activity", "note", ALICE, "Note")
    assert timeline(marts_url, L8) == [
        (1, "assignment", "territory", None, "Assigned to Bob Baker (territory)"),
        (2, "activity", "meeting", BOB, "Outbound meeting, completed, 1h 5m"),
        (3, "status_change", "recruited", BOB, "Status hot → recruited (manual)"),
        (4, "activity", "sms", BOB, "Outbound SMS, delivered"),
    ]
    assert timeline(marts_url, L9) == [
        (1, "activity", "sms", ALICE, "Outbound SMS, delivered"),
        (2, "assignment", "round_robin", None, "Assigned to Alice Archer (round_robin)"),
        (3, "assignment", "manual", CAROL, "Reassigned from Alice Archer to Bob Baker (manual)"),
        (4, "activity", "call", BOB, "Outbound call, answered, 1m 5s"),
    ]


def test_lead_timeline_covers_every_live_lead_event_once(marts_url):
    found = rows(
        marts_url,
        "select lead_id::text, count(*), count(distinct event_key), max(event_seq),"
        " min(organization_id::text)"
        " from analytics.lead_timeline group by lead_id",
    )
    counts = {lead: (n, keys, top) for lead, n, keys, top, _ in found}
    # Soft-deleted L10 and the unmatched call are absent; seq runs 1..n without gaps.
    assert counts == {
        L1: (8, 8, 8),
        L2: (5, 5, 5),
        L3: (4, 4, 4),
        L4: (2, 2, 2),
        L5: (2, 2, 2),
        L6: (1, 1, 1),
        L7: (3, 3, 3),
        L8: (4, 4, 4),
        L9: (4, 4, 4),
    }
    assert {lead: org for lead, *_, org in found}[L7] == ORG_TK


# --- lead_timeline incremental ---------------------------------------------------------------------


def snapshot(url: str) -> dict[str, tuple]:
    """Every row of lead_timeline by event_key, with the transaction that wrote it (xmin)."""
    found = rows(
        url,
        "select event_key, xmin::text, lead_id::text, organization_id::text, occurred_at,"
        " event_seq, event_type, event_subtype, actor_user_id::text, summary, source_changed_at"
        " from analytics.lead_timeline",
    )
    return {key: (xmin, tuple(rest)) for key, xmin, *rest in found}


def change_crm(url: str) -> None:
    """New and changed input rows, stamped now() (after the fixture's 2026-06 watermark)."""
    with psycopg.connect(url) as conn:
        # L3: an activity loaded now that happened before its other events: every seq shifts.
        conn.execute(
            "insert into lead_activities (source_id, organization_id, lead_id, user_id,"
            " activity_type, direction, outcome, occurred_at, duration_seconds, matched_at)"
            " values ('mongo-late', %s, %s, %s, 'call', 'outbound', 'answered',"
            " '2026-06-01 17:00+00', 15, now())",
            (ORG_NY, L3, BOB),
        )
        # L6: the unmatched call gets matched to it (matched_at moves, loaded_at does not).
        conn.execute(
            "update lead_activities set lead_id = %s, matched_at = now() where lead_id is null",
            (L6,),
        )
        # L1: a score backdated before the watermark; the lead's row update is what shows it.
        conn.execute(
            "insert into lead_score_history (lead_id, score, factors, calculated_at)"
            " values (%s, 35, '{\"total\": 35}', '2026-06-01 12:30+00')",
            (L1,),
        )
        conn.execute("update leads set lead_score = 45 where id = %s", (L1,))
        # L2: a new status change now.
        conn.execute(
            "insert into lead_status_history"
            " (lead_id, from_status, to_status, trigger_type, changed_by)"
            " values (%s, 'new', 'qualified', 'manual', %s)",
            (L2, ALICE),
        )
        conn.execute("update leads set status = 'qualified' where id = %s", (L2,))
        # L5 is soft-deleted; Bob is renamed (his name is in L8's and L9's summaries).
        conn.execute("update leads set deleted_at = now() where id = %s", (L5,))
        conn.execute("update users set last_name = 'Brown' where id = %s", (BOB,))


def test_lead_timeline_incremental_run_equals_full_refresh(make_database, marts_url, tmp_path):
    url = make_database("timeline_sct", template=marts_url)  # a copy: the others keep theirs
    before = snapshot(url)
    assert len(before) == 33

    change_crm(url)
    dbt(url, tmp_path, "run", "--select", "lead_timeline")
    incremental = snapshot(url)
    dbt(url, tmp_path, "run", "--select", "lead_timeline", "--full-refresh")
    full = snapshot(url)

    assert {key: row for key, (_, row) in incremental.items()} == {
        key: row for key, (_, row) in full.items()
    }
    rows_after = [row for _, row in incremental.values()]
    assert not any(row[0] == L5 for row in rows_after)
    # row: lead, organization, occurred_at, seq, type, subtype, actor, summary, source_changed_at
    assert sorted(row[3:8] for row in rows_after if row[0] == L3) == [
        (1, "activity", "call", BOB, "Outbound call, answered, 15s"),
        (2, "score_change", None, None, "Score 80 (first score)"),
        (3, "activity", "call", BOB, "Outbound call, no answer"),
        (4, "assignment", "load_balanced", None, "Assigned to Alice Archer (load_balanced)"),
        (5, "activity", "note", ALICE, "Note"),
    ]
    assert [row[7] for row in sorted(rows_after, key=lambda r: r[3]) if row[0] == L1][:4] == [
        "Status new (import)",
        "Score 35 (first score)",
        "Assigned to Alice Archer (round_robin)",
        "Score 35 → 40 (+5)",
    ]
    assert sorted(row[3:8] for row in rows_after if row[0] == L6) == [
        (1, "activity", "call", ALICE, "Outbound call, answered, 40s"),
        (2, "score_change", None, None, "Score 20 (first score)"),
    ]
    assert "Reassigned from Alice Archer to Bob Brown (manual)" in {row[7] for row in rows_after}
    assert (6, "status_change", "qualified", ALICE, "Status new → qualified (manual)") in {
        row[3:8] for row in rows_after if row[0] == L2
    }
    # Leads without a changed input kept their rows untouched (same writing transaction);
    # the changed ones were rewritten.
    for key, (xmin, row) in before.items():
        if row[0] in (L4, L7):
            assert incremental[key][0] == xmin, key
        elif row[0] in (L1, L2, L3, L6, L8, L9):
            assert incremental[key][0] != xmin, key
