"""dbt marts lead_funnel, funnel_stages, lead_stage_history, source_roi and segment_sizes on a
hand-made CRM.

A fresh migrated database (no seed) holds two organizations in different timezones (New York,
UTC-5 in January and February; Tokyo, UTC+9), three users, eleven leads with hand-written status
histories (one soft-deleted), spend in two months of each organization and four segment counts.
dbt builds the four marts once; every expected value below is computed by hand from LEADS,
COSTS and SEGMENT_COUNTS. Two leads sit on a month boundary that UTC and the organization's
clock disagree on: L4 (2026-02-01 03:00 UTC, still January in New York) and L9 (2026-01-31 16:00
UTC, already February in Tokyo).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from leadflow.analytics.project import funnel_stages, run_dbt
from tests.conftest import run_leadflow

pytestmark = pytest.mark.integration

ORG_NY = "71000000-0000-4000-8000-000000000001"
ORG_TK = "72000000-0000-4000-8000-000000000002"
ANN = "71a00000-0000-4000-8000-000000000001"
BOB = "71a00000-0000-4000-8000-000000000002"
CHO = "72a00000-0000-4000-8000-000000000001"
SEG_HOT = "71c00000-0000-4000-8000-000000000001"
SEG_REF = "72c00000-0000-4000-8000-000000000001"
# L10 is created and sent to dnc in the same instant; its dnc row's id sorts first.
L10_NEW_ROW = "ffffffff-0000-4000-8000-000000000001"
L10_DNC_ROW = "00000000-0000-4000-8000-000000000001"

ORGANIZATIONS = [
    (ORG_NY, "Acme Talent", "acme", "America/New_York"),
    (ORG_TK, "Sakura Staffing", "sakura", "Asia/Tokyo"),
]
USERS = [
    (ANN, ORG_NY, "ann@acme.example", "Ann", "Archer"),
    (BOB, ORG_NY, "bob@acme.example", "Bob", "Baker"),
    (CHO, ORG_TK, "chiyo@sakura.example", "Chiyo", "Sato"),
]


def lead_id(n: int) -> str:
    return f"7b000000-0000-4000-8000-{n:012d}"


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# n: (organization, owner, source, created_at UTC, deleted_at, [(from, to, changed_at UTC)])
LEADS: dict[int, tuple] = {
    # January in New York, Ann, facebook
    1: (
        ORG_NY,
        ANN,
        "facebook",
        "2026-01-05 15:00",
        None,
        [
            (None, "new", "2026-01-05 15:00"),
            ("new", "contacted", "2026-01-07 15:00"),
            ("contacted", "qualified", "2026-01-10 15:00"),
            ("qualified", "hot", "2026-01-15 15:00"),  # skips nurturing
            ("hot", "recruited", "2026-01-20 15:00"),
        ],
    ),
    2: (
        ORG_NY,
        ANN,
        "facebook",
        "2026-01-10 15:00",
        None,
        [
            (None, "new", "2026-01-10 15:00"),
            ("new", "contacted", "2026-01-11 15:00"),
            ("contacted", "qualified", "2026-01-13 15:00"),
            ("qualified", "contacted", "2026-01-14 15:00"),  # goes back
            ("contacted", "qualified", "2026-01-16 15:00"),
            ("qualified", "cold", "2026-01-20 15:00"),
        ],
    ),
    3: (ORG_NY, ANN, "facebook", "2026-01-20 15:00", None, []),  # no history row at all
    4: (
        ORG_NY,
        ANN,
        "facebook",
        "2026-02-01 03:00",
        None,
        [  # 2026-01-31 22:00 in New York
            (None, "new", "2026-02-01 03:00"),
            ("new", "dnc", "2026-02-02 03:00"),
        ],
    ),
    # February in New York, Bob, linkedin
    5: (
        ORG_NY,
        BOB,
        "linkedin",
        "2026-02-10 15:00",
        None,
        [
            (None, "new", "2026-02-10 15:00"),
            ("new", "qualified", "2026-02-12 15:00"),  # skips contacted
            ("qualified", "qualified", "2026-02-13 15:00"),  # repeat: same visit
            ("qualified", "nurturing", "2026-02-15 15:00"),
        ],
    ),
    # February in New York, unassigned, no source
    6: (ORG_NY, None, None, "2026-02-11 15:00", None, [(None, "new", "2026-02-11 15:00")]),
    # soft-deleted: counts nowhere
    7: (
        ORG_NY,
        ANN,
        "facebook",
        "2026-01-06 15:00",
        "2026-01-25 00:00",
        [
            (None, "new", "2026-01-06 15:00"),
            ("new", "recruited", "2026-01-08 15:00"),
        ],
    ),
    8: (
        ORG_NY,
        BOB,
        "linkedin",
        "2026-02-20 15:00",
        None,
        [
            (None, "new", "2026-02-20 15:00"),
            ("new", "contacted", "2026-02-21 03:00"),
            ("contacted", "recruited", "2026-02-25 15:00"),
        ],
    ),
    # February in Tokyo, Chiyo, referral
    9: (
        ORG_TK,
        CHO,
        "referral",
        "2026-01-31 16:00",
        None,
        [  # 2026-02-01 01:00 in Tokyo
            (None, "new", "2026-01-31 16:00"),
            ("new", "contacted", "2026-02-01 16:00"),
        ],
    ),
    10: (
        ORG_TK,
        CHO,
        "referral",
        "2026-02-15 00:00",
        None,
        [
            (None, "new", "2026-02-15 00:00"),
            ("new", "dnc", "2026-02-15 00:00"),
        ],
    ),
    11: (
        ORG_TK,
        CHO,
        "referral",
        "2026-02-20 00:00",
        None,
        [
            (None, "new", "2026-02-20 00:00"),
            ("new", "contacted", "2026-02-22 00:00"),
            ("contacted", "qualified", "2026-02-23 12:00"),
            ("qualified", "cold", "2026-02-25 00:00"),
            ("cold", "nurturing", "2026-02-28 00:00"),  # back from cold
        ],
    ),
}

COSTS = [  # (organization, user, source, period, cost_usd)
    (ORG_NY, ANN, "facebook", "2026-01", "400.00"),
    (ORG_NY, ANN, "facebook", "2026-02", "100.00"),  # no Ann/facebook leads in February
    (ORG_NY, BOB, "linkedin", "2026-02", "90.00"),
    (ORG_NY, BOB, "indeed", "2026-01", "50.00"),  # no indeed leads at all
    (ORG_TK, CHO, "referral", "2026-02", "300.00"),
    (ORG_TK, CHO, "referral", "2026-03", "30.00"),
]

SEGMENTS = [(SEG_HOT, ORG_NY, ANN, "Hot leads"), (SEG_REF, ORG_TK, CHO, "Referrals")]
SEGMENT_COUNTS = [  # (segment, organization, counted_at UTC, lead_count)
    (SEG_HOT, ORG_NY, "2026-02-01 04:00", 5),  # 2026-01-31 23:00 in New York
    (SEG_HOT, ORG_NY, "2026-02-08 15:00", 8),
    (SEG_HOT, ORG_NY, "2026-02-15 15:00", 6),
    (SEG_REF, ORG_TK, "2026-02-28 20:00", 3),  # 2026-03-01 05:00 in Tokyo
]


def insert_lead(cur: psycopg.Cursor, n: int, spec: tuple) -> None:
    """Insert lead n (a LEADS entry); updated_at is its last change, as the pipeline writes it."""
    org, owner, source, created, deleted, history = spec
    status = history[-1][1] if history else "new"
    updated = max([created, *(changed for _, _, changed in history)])
    cur.execute(
        "insert into leads (id, organization_id, user_id, first_name, last_name, phone_number,"
        " status, source, created_at, updated_at, deleted_at)"
        " values (%s, %s, %s, 'Lead', %s, %s, %s, %s, %s, %s, %s)",
        (
            lead_id(n),
            org,
            owner,
            f"L{n}",
            f"+1212555{n:04d}",
            status,
            source,
            ts(created),
            ts(updated),
            ts(deleted) if deleted else None,
        ),
    )
    for from_status, to_status, changed in history:
        row_id = str(uuid.uuid4())
        if n == 10:
            row_id = L10_NEW_ROW if to_status == "new" else L10_DNC_ROW
        cur.execute(
            "insert into lead_status_history"
            " (id, lead_id, from_status, to_status, trigger_type, changed_at)"
            " values (%s, %s, %s, %s, 'manual', %s)",
            (row_id, lead_id(n), from_status, to_status, ts(changed)),
        )


def insert_fixture(url: str) -> None:
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            "insert into organizations (id, name, slug, timezone) values (%s, %s, %s, %s)",
            ORGANIZATIONS,
        )
        cur.executemany(
            "insert into users (id, organization_id, email, first_name, last_name)"
            " values (%s, %s, %s, %s, %s)",
            USERS,
        )
        for n, spec in LEADS.items():
            insert_lead(cur, n, spec)
        cur.executemany(
            "insert into lead_source_costs (organization_id, user_id, source, period, cost_usd)"
            " values (%s, %s, %s, %s, %s)",
            COSTS,
        )
        cur.executemany(
            "insert into segments (id, organization_id, user_id, name) values (%s, %s, %s, %s)",
            SEGMENTS,
        )
        cur.executemany(
            "insert into segment_count_history (segment_id, organization_id, counted_at,"
            " lead_count) values (%s, %s, %s, %s)",
            [(seg, org, ts(at), count) for seg, org, at, count in SEGMENT_COUNTS],
        )


def dbt(url: str, tmp: Path, *args: str) -> None:
    run_dbt([*args, "--log-path", str(tmp / "logs")], url, target_path=tmp / "target")


@pytest.fixture(scope="module")
def dbt_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dbt_marts_funnel_roi")


@pytest.fixture(scope="module")
def marts_url(new_migrated_database: Callable[[str], str], dbt_tmp: Path) -> str:
    url = new_migrated_database("marts_funnel")
    insert_fixture(url)
    # cautious: leave out the tests of other marts that merely share a staging parent.
    dbt(
        url,
        dbt_tmp,
        "build",
        "--select",
        "+lead_funnel +funnel_stages +lead_stage_history +source_roi +segment_sizes",
        "--indirect-selection",
        "cautious",
    )
    return url


def fetch(url: str, query: str, params=()) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def d(value: str) -> Decimal:
    return Decimal(value)


# --- lead_funnel ---------------------------------------------------------------------------------

STAGES = funnel_stages()  # the dbt var funnel_stages, which lead_funnel's columns follow


def funnel_row(reached, exited_cold, exited_dnc, conv, cum, medians) -> dict:
    row = {f"reached_{stage}": n for stage, n in zip(STAGES, reached, strict=True)}
    row["leads_entered"] = reached[0]
    row |= {"exited_cold": exited_cold, "exited_dnc": exited_dnc}
    for prev, stage, value in zip(STAGES[:-1], STAGES[1:], conv, strict=True):
        row[f"conv_{prev}_to_{stage}"] = None if value is None else d(value)
    for stage, value in zip(STAGES[1:], cum, strict=True):
        row[f"cum_conv_to_{stage}"] = d(value)
    for stage, value in zip(STAGES[1:], medians, strict=True):
        row[f"median_days_to_{stage}"] = None if value is None else d(value)
    return row


# Ann/facebook, January (New York): L1 hot -> recruited, L2 back and forth then cold, L3 no
# history, L4 dnc (created 2026-02-01 03:00 UTC = January in New York); L7 is deleted.
# Days to contacted: L1 2, L2 1; qualified: L1 5, L2 3; L1 reached nurturing through hot on day 10.
ANN_JANUARY = funnel_row(
    reached=[4, 2, 2, 1, 1, 1],
    exited_cold=1,
    exited_dnc=1,
    conv=["0.5", "1", "0.5", "1", "1"],
    cum=["0.5", "0.5", "0.25", "0.25", "0.25"],
    medians=["1.5", "4", "10", "10", "15"],
)
# Bob/linkedin, February: L5 skips to qualified on day 2 (contacted with it), nurturing day 5;
# L8 contacted after 0.5 days, recruited on day 5 (qualified, nurturing and hot with it).
BOB_FEBRUARY = funnel_row(
    reached=[2, 2, 2, 2, 1, 1],
    exited_cold=0,
    exited_dnc=0,
    conv=["1", "1", "1", "0.5", "1"],
    cum=["1", "1", "1", "0.5", "0.5"],
    medians=["1.25", "3.5", "5", "5", "5"],
)
# Unassigned/unknown, February: L6 never moved; 0/1 = 0, then 0/0 = null.
UNASSIGNED_FEBRUARY = funnel_row(
    reached=[1, 0, 0, 0, 0, 0],
    exited_cold=0,
    exited_dnc=0,
    conv=["0", None, None, None, None],
    cum=["0", "0", "0", "0", "0"],
    medians=[None, None, None, None, None],
)
# Chiyo/referral, February in Tokyo: L9 (created 2026-01-31 16:00 UTC) contacted on day 1, L10
# dnc at creation, L11 contacted day 2, qualified day 3.5, cold, back to nurturing on day 8.
CHO_FEBRUARY = funnel_row(
    reached=[3, 2, 1, 1, 0, 0],
    exited_cold=1,
    exited_dnc=1,
    conv=["0.6667", "0.5", "1", "0", None],
    cum=["0.6667", "0.3333", "0.3333", "0", "0"],
    medians=["1.5", "3.5", "8", None, None],
)


def test_funnel_stages_mart_lists_the_var_in_order(marts_url):
    got = fetch(marts_url, "select stage, stage_order from analytics.funnel_stages order by 2")
    assert [(row["stage"], row["stage_order"]) for row in got] == [
        (stage, order) for order, stage in enumerate(STAGES, start=1)
    ]
    # lead_funnel has one reached_<stage> column per stage, in that order
    columns = fetch(
        marts_url,
        "select column_name from information_schema.columns where table_schema = 'analytics'"
        " and table_name = 'lead_funnel' and starts_with(column_name, 'reached_')"
        " order by ordinal_position",
    )
    assert [row["column_name"] for row in columns] == [f"reached_{stage}" for stage in STAGES]


def test_lead_funnel_counts_rates_and_medians_by_local_cohort(marts_url):
    got = fetch(
        marts_url,
        "select * from analytics.lead_funnel order by organization_name, cohort_month, owner_name",
    )
    expected = [
        ("Acme Talent", "2026-01-01", "facebook", ANN, "Ann Archer", ANN_JANUARY),
        ("Acme Talent", "2026-02-01", "linkedin", BOB, "Bob Baker", BOB_FEBRUARY),
        ("Acme Talent", "2026-02-01", "unknown", None, "Unassigned", UNASSIGNED_FEBRUARY),
        ("Sakura Staffing", "2026-02-01", "referral", CHO, "Chiyo Sato", CHO_FEBRUARY),
    ]
    assert len(got) == len(expected)
    for row, (org_name, month, source, owner, owner_name, values) in zip(
        got, expected, strict=True
    ):
        key = (row["organization_name"], row["cohort_month"].isoformat(), row["source"])
        assert key == (org_name, month, source)
        assert (row["owner_user_id"] and str(row["owner_user_id"])) == owner
        assert row["owner_name"] == owner_name
        assert {column: row[column] for column in values} == values, key
    assert len({row["funnel_key"] for row in got}) == 4


# --- lead_stage_history ------------------------------------------------------------------------

# n: [(stage, entered_at, days_in_stage)], the last visit current (days None)
VISITS = {
    1: [
        ("new", "2026-01-05 15:00", "2"),
        ("contacted", "2026-01-07 15:00", "3"),
        ("qualified", "2026-01-10 15:00", "5"),
        ("hot", "2026-01-15 15:00", "5"),
        ("recruited", "2026-01-20 15:00", None),
    ],
    2: [
        ("new", "2026-01-10 15:00", "1"),
        ("contacted", "2026-01-11 15:00", "2"),
        ("qualified", "2026-01-13 15:00", "1"),
        ("contacted", "2026-01-14 15:00", "2"),
        ("qualified", "2026-01-16 15:00", "4"),
        ("cold", "2026-01-20 15:00", None),
    ],
    3: [("new", "2026-01-20 15:00", None)],
    4: [("new", "2026-02-01 03:00", "1"), ("dnc", "2026-02-02 03:00", None)],
    5: [
        ("new", "2026-02-10 15:00", "2"),
        ("qualified", "2026-02-12 15:00", "3"),
        ("nurturing", "2026-02-15 15:00", None),
    ],
    6: [("new", "2026-02-11 15:00", None)],
    8: [
        ("new", "2026-02-20 15:00", "0.5"),
        ("contacted", "2026-02-21 03:00", "4.5"),
        ("recruited", "2026-02-25 15:00", None),
    ],
    9: [("new", "2026-01-31 16:00", "1"), ("contacted", "2026-02-01 16:00", None)],
    10: [("new", "2026-02-15 00:00", "0"), ("dnc", "2026-02-15 00:00", None)],
    11: [
        ("new", "2026-02-20 00:00", "2"),
        ("contacted", "2026-02-22 00:00", "1.5"),
        ("qualified", "2026-02-23 12:00", "1.5"),
        ("cold", "2026-02-25 00:00", "3"),
        ("nurturing", "2026-02-28 00:00", None),
    ],
}


def expected_visits(visits: dict[int, list]) -> list[tuple]:
    rows = []
    for n, lead_visits in sorted(visits.items()):
        for number, (stage, entered, days) in enumerate(lead_visits, start=1):
            following = lead_visits[number] if number < len(lead_visits) else None
            rows.append(
                (
                    lead_id(n),
                    number,
                    stage,
                    ts(entered),
                    ts(following[1]) if following else None,
                    following[0] if following else None,
                    None if days is None else d(days),
                    following is None,
                )
            )
    return rows


STAGE_HISTORY_COLUMNS = (
    "lead_id::text, visit_number, stage, entered_at, exited_at, next_stage, days_in_stage,"
    " is_current"
)


def stage_history(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            f"select {STAGE_HISTORY_COLUMNS} from analytics.lead_stage_history"
            " order by lead_id, visit_number"
        ).fetchall()


def test_lead_stage_history_collapses_repeats_and_reopens_on_return(marts_url):
    assert stage_history(marts_url) == expected_visits(VISITS)
    keys = fetch(
        marts_url,
        "select stage_visit_key = md5(lead_id::text || visit_number::text) as key_ok,"
        " organization_id::text as org, source_changed_at"
        " from analytics.lead_stage_history where lead_id = %s order by visit_number",
        (lead_id(11),),
    )
    # the watermark: L11's last change (its lead row was written at the same time)
    assert (
        keys == [{"key_ok": True, "org": ORG_TK, "source_changed_at": ts("2026-02-28 00:00")}] * 5
    )


# --- source_roi --------------------------------------------------------------------------------


def test_source_roi_aggregates_each_side_before_joining(marts_url):
    got = fetch(
        marts_url,
        "select o.name as org, r.owner_name, r.source, r.month::text, r.leads, r.recruited,"
        " r.cost_usd, r.cost_per_lead, r.conversion_rate, r.cost_per_recruit"
        " from analytics.source_roi r join organizations o on o.id = r.organization_id"
        " order by o.name, r.owner_name, r.source, r.month",
    )
    columns = [
        "org",
        "owner_name",
        "source",
        "month",
        "leads",
        "recruited",
        "cost_usd",
        "cost_per_lead",
        "conversion_rate",
        "cost_per_recruit",
    ]
    expected = [
        (
            "Acme Talent",
            "Ann Archer",
            "facebook",
            "2026-01-01",
            4,
            1,
            d("400"),
            d("100"),
            d("0.25"),
            d("400"),
        ),
        ("Acme Talent", "Ann Archer", "facebook", "2026-02-01", 0, 0, d("100"), None, None, None),
        ("Acme Talent", "Bob Baker", "indeed", "2026-01-01", 0, 0, d("50"), None, None, None),
        (
            "Acme Talent",
            "Bob Baker",
            "linkedin",
            "2026-02-01",
            2,
            1,
            d("90"),
            d("45"),
            d("0.5"),
            d("90"),
        ),
        # no spend recorded for it: no cost data (null), not a cost of 0
        ("Acme Talent", "Unassigned", "unknown", "2026-02-01", 1, 0, None, None, d("0"), None),
        (
            "Sakura Staffing",
            "Chiyo Sato",
            "referral",
            "2026-02-01",
            3,
            0,
            d("300"),
            d("100"),
            d("0"),
            None,
        ),
        (
            "Sakura Staffing",
            "Chiyo Sato",
            "referral",
            "2026-03-01",
            0,
            0,
            d("30"),
            None,
            None,
            None,
        ),
    ]
    assert got == [dict(zip(columns, row, strict=True)) for row in expected]
    totals = fetch(
        marts_url,
        "select sum(cost_usd) as cost, sum(leads) as leads, count(distinct roi_key) as keys"
        " from analytics.source_roi",
    )
    assert totals == [{"cost": d("970"), "leads": 10, "keys": 7}]


def test_reference_roi_query_double_counts_what_the_mart_does_not(marts_url):
    """The schema reference's ROI query joins every lead to every cost month of its source."""
    reference = fetch(
        marts_url,
        "select coalesce(sum(c.cost_usd), 0) as total_cost from leads l"
        " left join lead_source_costs c on l.source = c.source and l.user_id = c.user_id"
        " where l.user_id = %s and l.source = 'facebook'",
        (ANN,),
    )
    # five facebook leads of Ann (the deleted one included) x (400 + 100)
    assert reference == [{"total_cost": d("2500")}]
    mart = fetch(
        marts_url,
        "select sum(cost_usd) as total_cost from analytics.source_roi"
        " where owner_user_id = %s and source = 'facebook'",
        (ANN,),
    )
    assert mart == [{"total_cost": d("500")}]


# --- segment_sizes -----------------------------------------------------------------------------


def test_segment_sizes_over_time_in_local_dates(marts_url):
    got = fetch(
        marts_url,
        "select segment_name, counted_at, counted_date::text, lead_count, previous_lead_count,"
        " change_from_previous, is_latest, organization_id::text as org"
        " from analytics.segment_sizes order by segment_name, counted_at",
    )
    columns = [
        "segment_name",
        "counted_at",
        "counted_date",
        "lead_count",
        "previous_lead_count",
        "change_from_previous",
        "is_latest",
        "org",
    ]
    expected = [
        ("Hot leads", ts("2026-02-01 04:00"), "2026-01-31", 5, None, None, False, ORG_NY),
        ("Hot leads", ts("2026-02-08 15:00"), "2026-02-08", 8, 5, 3, False, ORG_NY),
        ("Hot leads", ts("2026-02-15 15:00"), "2026-02-15", 6, 8, -2, True, ORG_NY),
        ("Referrals", ts("2026-02-28 20:00"), "2026-03-01", 3, None, None, True, ORG_TK),
    ]
    assert got == [dict(zip(columns, row, strict=True)) for row in expected]
    keys = fetch(
        marts_url, "select count(distinct segment_size_key) as n from analytics.segment_sizes"
    )
    assert keys == [{"n": 4}]


# --- access ------------------------------------------------------------------------------------


def test_analyst_reads_marts_but_not_crm_or_staging(marts_url):
    """The analyst group of migration 006, granted every organization (per-tenant grants:
    tests/integration/tenant_isolation/test_analysts.py)."""
    granted = run_leadflow(
        "db", "grant-analyst", "analyst", "--all-organizations", env={"POSTGRES_URL": marts_url}
    )
    assert granted.returncode == 0, granted.stderr
    with psycopg.connect(marts_url, autocommit=True) as conn:
        conn.execute("set role analyst")
        for mart, count in [
            ("lead_funnel", 4),
            ("lead_stage_history", 30),
            ("source_roi", 7),
            ("segment_sizes", 4),
            ("funnel_stages", len(STAGES)),
        ]:
            query = sql.SQL("select count(*) from analytics.{}").format(sql.Identifier(mart))
            assert conn.execute(query).fetchone() == (count,)
        for relation in ("public.leads", "analytics_staging.stg_crm__leads"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select 1 from {relation} limit 1")


# --- incremental lead_stage_history ------------------------------------------------------------


@pytest.fixture
def marts_copy_url(make_database, marts_url: str) -> str:
    """A copy of the built database, so changing it leaves the other tests' data alone."""
    return make_database("marts_funnel_incr", template=marts_url)


def row_versions(url: str) -> dict[str, set[str]]:
    """xmin of every visit row by lead: rows rewritten by a run get a new one."""
    versions: dict[str, set[str]] = {}
    for row in fetch(url, "select lead_id::text, xmin::text from analytics.lead_stage_history"):
        versions.setdefault(row["lead_id"], set()).add(row["xmin"])
    return versions


def test_incremental_run_recomputes_only_changed_leads_and_matches_full_refresh(
    marts_copy_url, dbt_tmp
):
    url = marts_copy_url
    before = row_versions(url)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        # L3: a history row only (the lead row untouched) after the watermark (2026-02-28)
        cur.execute(
            "insert into lead_status_history (lead_id, from_status, to_status, trigger_type,"
            " changed_at) values (%s, 'new', 'contacted', 'manual', %s)",
            (lead_id(3), ts("2026-03-02 15:00")),
        )
        # L5: reassigned (lead row only; its visits stay the same)
        cur.execute("update leads set user_id = %s where id = %s", (ANN, lead_id(5)))
        # L6: soft-deleted: its visits must go
        cur.execute("update leads set deleted_at = now() where id = %s", (lead_id(6),))
        # L12: a new lead with its first history row
        l12 = (
            ORG_NY,
            ANN,
            "facebook",
            "2026-03-05 15:00",
            None,
            [(None, "new", "2026-03-05 15:00")],
        )
        insert_lead(cur, 12, l12)

    dbt(url, dbt_tmp, "run", "--select", "lead_stage_history")
    incremental = stage_history(url)
    after = row_versions(url)

    visits = dict(VISITS)
    visits[3] = [("new", "2026-01-20 15:00", "41"), ("contacted", "2026-03-02 15:00", None)]
    del visits[6]
    visits[12] = [("new", "2026-03-05 15:00", None)]
    assert incremental == expected_visits(visits)
    rewritten = {lead for lead in after if after[lead] != before.get(lead)}
    # L11 holds the old watermark itself (changes at >= the watermark are picked up again)
    assert rewritten == {lead_id(3), lead_id(5), lead_id(11), lead_id(12)}
    assert lead_id(6) not in after

    incremental_rows = all_rows(url)
    dbt(url, dbt_tmp, "run", "--select", "lead_stage_history", "--full-refresh")
    assert all_rows(url) == incremental_rows
    assert len(incremental_rows) == 30 + 1 - 1 + 1  # L3 +1 visit, L6 -1, L12 +1


def all_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select * from analytics.lead_stage_history order by stage_visit_key"
        ).fetchall()
