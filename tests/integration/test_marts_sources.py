"""Canonical sources, unknown costs and names in the marts (issue 20), on a hand-made CRM.

One organization (UTC), one agent, January 2026. Leads and costs name their sources many ways:
"Job Board – Indeed" and "indeed" (global aliases), "facebook_nurses_q3" (a campaign suffix, a
global prefix alias) beside spend on "facebook", "paid_social" (a global alias to facebook that
the organization's own row maps to instagram), "website" (no spend recorded: no cost data) and
"referral" (a recorded cost of 0). dbt builds every model once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from leadflow.analytics.project import run_dbt
from leadflow.analytics.report import load_report_data
from leadflow.analytics.report.render import render_html

pytestmark = pytest.mark.integration

ORG = "73000000-0000-4000-8000-000000000001"
ANN = "73a00000-0000-4000-8000-000000000001"

LEADS = [  # (n, raw source, recruited?)
    (1, "Job Board – Indeed", True),
    (2, "Job Board – Indeed", False),
    (3, "indeed", False),
    (4, "facebook_nurses_q3", False),
    (5, "Facebook", False),
    (6, "paid_social", False),
    (7, "website", True),
    (8, "referral", True),
]
COSTS = [  # (raw source, cost_usd)
    ("indeed", "300.00"),
    ("Job Board – Indeed", "100.00"),
    ("facebook", "4275.00"),
    ("referral", "0.00"),
]


def lead_id(n: int) -> str:
    return f"7c000000-0000-4000-8000-{n:012d}"


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def insert_fixture(url: str) -> None:
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into organizations (id, name, slug, timezone)"
            " values (%s, 'Harbour Health Staffing', 'harbour', 'UTC')",
            (ORG,),
        )
        cur.execute(
            "insert into users (id, organization_id, email, first_name, last_name)"
            " values (%s, %s, 'ann@harbour.example', 'Ann', 'Archer')",
            (ANN, ORG),
        )
        for n, source, recruited in LEADS:
            created = ts("2026-01-10 15:00")
            cur.execute(
                "insert into leads (id, organization_id, user_id, first_name, last_name,"
                " phone_number, status, source, created_at, updated_at)"
                " values (%s, %s, %s, 'Lead', %s, %s, %s, %s, %s, %s)",
                (
                    lead_id(n),
                    ORG,
                    ANN,
                    f"L{n}",
                    f"+1212556{n:04d}",
                    "recruited" if recruited else "new",
                    source,
                    created,
                    ts("2026-01-20 15:00"),
                ),
            )
            history = [(None, "new", created)]
            if recruited:
                history.append(("new", "recruited", ts("2026-01-20 15:00")))
            for from_status, to_status, changed in history:
                cur.execute(
                    "insert into lead_status_history"
                    " (lead_id, from_status, to_status, trigger_type, changed_at)"
                    " values (%s, %s, %s, 'manual', %s)",
                    (lead_id(n), from_status, to_status, changed),
                )
        for source, cost in COSTS:
            cur.execute(
                "insert into lead_source_costs (organization_id, user_id, source, period, cost_usd)"
                " values (%s, %s, %s, '2026-01', %s)",
                (ORG, ANN, source, cost),
            )
        # the organization's own row wins over the global paid_social -> facebook
        cur.execute(
            "insert into source_aliases (organization_id, alias, canonical_source)"
            " values (%s, 'Paid Social', 'instagram')",
            (ORG,),
        )


@pytest.fixture(scope="module")
def built_url(new_migrated_database: Callable[[str], str], tmp_path_factory) -> str:
    url = new_migrated_database("marts_sources")
    insert_fixture(url)
    tmp: Path = tmp_path_factory.mktemp("dbt_marts_sources")
    run_dbt(["build", "--log-path", str(tmp / "logs")], url, target_path=tmp / "target")
    return url


def fetch(url: str, query: str, params=()) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def test_staging_keeps_the_raw_source_beside_the_canonical_one(built_url):
    got = fetch(
        built_url,
        "select source_raw, source from analytics_staging.stg_crm__leads order by lead_id",
    )
    assert [(row["source_raw"], row["source"]) for row in got] == [
        ("Job Board – Indeed", "indeed"),
        ("Job Board – Indeed", "indeed"),
        ("indeed", "indeed"),
        ("facebook_nurses_q3", "facebook"),
        ("Facebook", "facebook"),
        ("paid_social", "instagram"),
        ("website", "website"),
        ("referral", "referral"),
    ]
    costs = fetch(
        built_url,
        "select source_raw, source from analytics_staging.stg_crm__lead_source_costs"
        " order by source_raw",
    )
    assert {row["source_raw"]: row["source"] for row in costs} == {
        "Job Board – Indeed": "indeed",
        "facebook": "facebook",
        "indeed": "indeed",
        "referral": "referral",
    }


def test_roi_meets_costs_and_leads_on_the_canonical_source(built_url):
    got = fetch(
        built_url,
        "select source, leads, recruited, cost_usd, cost_per_lead, cost_per_recruit,"
        " has_cost_data, organization_name, owner_name"
        " from analytics.source_roi order by source",
    )
    columns = ["source", "leads", "recruited", "cost_usd", "cost_per_lead", "cost_per_recruit"]
    expected = [
        # spend without a recruit: the spend is there, cost per recruit undefined
        ("facebook", 2, 0, Decimal("4275.00"), Decimal("2137.50"), None),
        # "Job Board – Indeed" and "indeed": one row, leads and spend together
        ("indeed", 3, 1, Decimal("400.00"), Decimal("133.33"), Decimal("400.00")),
        ("instagram", 1, 0, None, None, None),
        # a recorded cost of 0 stays 0
        ("referral", 1, 1, Decimal("0.00"), Decimal("0.00"), Decimal("0.00")),
        # no spend recorded: no cost data, not $0.00
        ("website", 1, 1, None, None, None),
    ]
    assert [tuple(row[c] for c in columns) for row in got] == expected
    assert [row["has_cost_data"] for row in got] == [True, True, False, True, False]
    assert {row["organization_name"] for row in got} == {"Harbour Health Staffing"}
    assert {row["owner_name"] for row in got} == {"Ann Archer"}


def test_report_prints_no_cost_data_and_draws_spend_without_recruits(built_url):
    with psycopg.connect(built_url) as conn:
        data = load_report_data(conn, "harbour")
    roi = {row.source: row for row in data.organizations[0].roi}
    assert roi["website"].cost_usd is None and roi["referral"].cost_usd == 0.0
    document = render_html(data)
    table = re.search(r'<table class="roi">.*?</table>', document, re.S)
    assert table
    cells = {
        name: re.findall(r"<td[^>]*>(.*?)</td>", row)
        for name, row in re.findall(r"<tr[^>]*><td>(.*?)</td>(.*?)</tr>", table.group(0))
    }
    assert cells["website"][2:4] == ["no cost data", "—"]
    assert cells["referral"][2:4] == ["$0.00", "$0.00"]
    assert cells["indeed"][:3] == ["3", "1", "$400.00"]
    assert cells["facebook"][2] == "$4,275.00" and cells["facebook"][5] == "—"
    chart = re.search(r'<svg class="chart"[^>]*aria-label="Cost per recruit.*?</svg>', document)
    assert chart
    assert re.search(
        r'data-source="facebook">.*?<rect class="bar-spend" [^>]*width="380.0".*?'
        r"\$4,275.00 spent, no recruits",
        chart.group(0),
    )
    assert re.search(r'data-source="website">.*?width="0.0".*?no cost data', chart.group(0))


def test_every_mart_has_organization_name(built_url):
    got = fetch(
        built_url,
        "select t.table_name, bool_or(c.column_name = 'organization_name') as has_name"
        " from information_schema.tables t"
        " join information_schema.columns c using (table_schema, table_name)"
        " where t.table_schema = 'analytics' and t.table_type = 'BASE TABLE'"
        " group by t.table_name order by t.table_name",
    )
    marts = {row["table_name"]: row["has_name"] for row in got}
    # funnel_stages is the stage order, the same for every organization
    assert marts.pop("funnel_stages") is False
    assert len(marts) >= 9 and all(marts.values()), marts
    named = fetch(
        built_url,
        "select count(*) filter (where organization_name is null) as unnamed, count(*) as total"
        " from analytics.agent_coaching",
    )
    assert named[0]["unnamed"] == 0


def test_persist_docs_puts_descriptions_in_postgresql(built_url):
    got = fetch(
        built_url,
        "select obj_description('analytics.source_roi'::regclass, 'pg_class') as mart,"
        " col_description('analytics.source_roi'::regclass, a.attnum) as column"
        " from pg_attribute a"
        " where a.attrelid = 'analytics.source_roi'::regclass and a.attname = 'cost_usd'",
    )
    assert got[0]["mart"].startswith("Lead source ROI by organization")
    assert "no cost data" in got[0]["column"]
