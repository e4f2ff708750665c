"""`leadflow db migrate|rollback|status|seed` (and their old names) and `demo` end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import psycopg
import pytest

from leadflow import settings
from tests.conftest import run_leadflow
from tests.integration.conftest import Pipeline

#: the tests reading the shared `pipeline` run share one pytest-xdist worker
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("pipeline")]


def _leadflow(url: str, *args: str):
    return run_leadflow(*args, env={"POSTGRES_URL": url})


def test_migrate_status_down_up_seed(make_database):
    url = make_database("cli")
    status = _leadflow(url, "migrate", "status")
    assert status.returncode == 0 and "pending" in status.stdout

    up = _leadflow(url, "migrate")
    assert up.returncode == 0, up.stderr
    assert "applied  002_epic3_crm_tables" in up.stdout
    assert _leadflow(url, "migrate").stdout.strip() == "migrations: up to date"

    down = _leadflow(url, "migrate", "down", "--to", "0")
    assert down.returncode == 0, down.stderr
    assert down.stdout.splitlines()[-1] == "reverted 001_organizations_users"
    assert _leadflow(url, "migrate", "up").returncode == 0

    seed = _leadflow(url, "seed")
    assert seed.returncode == 0, seed.stderr
    assert seed.stdout.startswith("seed: loaded seeds/002_epic3_seed_data.sql")


def test_demo_runs_the_whole_pipeline_and_prints_what_it_built(pipeline: Pipeline):
    demo = pipeline.demo
    assert demo.returncode == 0, demo.stdout + demo.stderr
    lines = demo.stdout.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("table "))) + 1
    table = lines[start : lines.index("", start)]  # up to the blank line before the marts
    counts = {
        name: int(rows) for name, rows in (line.split() for line in table if len(line.split()) == 2)
    }
    assert counts["leads"] > 60 and counts["dnc_list"] > 9  # seed plus the imported samples
    # the 4 sample files and the 2 pulls of the CRM sync (full, then incremental)
    assert counts["import_batches"] == 6 and counts["import_rejects"] > 0
    # --json: the same figures in the one object on stdout, the walk-through on stderr
    summary = pipeline.demo_summary
    assert summary["success"] is True and summary["tables"] == counts
    assert {"summit", "northwind"} <= set(summary["organizations"])
    assert summary["report"].endswith(".html")
    assert f"leadflow demo: database {summary['database']}" in demo.stdout
    assert demo.stdout.count("status       succeeded") == 4
    for asset in (
        "lead_activities",
        "lead_scores",
        "lead_assignments",
        "nurture_enrollments",
        "segment_counts",
    ):
        assert f"  {asset} " in demo.stdout
    assert "checks_failed 0" in demo.stdout
    # the CRM sync against the local HubSpot contract server: full, incremental, push
    pulls = re.findall(
        r"summit/demo-hubspot \(hubspot\): (full|incremental) pull fetched (\d+); read (\d+) ="
        r" inserted (\d+) \+ merged (\d+) \+ duplicates (\d+) \+ quarantined (\d+)",
        demo.stdout,
    )
    assert [(mode, int(fetched)) for mode, fetched, *_ in pulls] == [
        ("full", 400),
        ("incremental", 12),
    ]
    for _, _, read, *parts in pulls:
        assert int(read) == sum(map(int, parts))
    pushed = re.search(r"demo-hubspot \(hubspot\): pushed (\d+) of", demo.stdout)
    assert pushed and int(pushed.group(1)) > 0
    assert f"the server received {pushed.group(1)} record updates" in demo.stdout
    for mart in (
        "lead_funnel",
        "source_roi",
        "lead_score_trends",
        "agent_coaching",
        "lead_timeline",
        "lead_stage_history",
        "segment_sizes",
    ):
        assert f"\n  {mart}\n" in demo.stdout
    report = pipeline.home / "report.html"
    assert f"report: {report} (" in demo.stdout
    assert "<svg" in report.read_text(encoding="utf-8")
    # the MongoDB sample events plus the year of history the demo loads (seeds/sample)
    manifest = json.loads((settings.seeds_dir() / "sample" / "manifest.json").read_text())
    history = manifest["history"]["rows"]
    assert counts["lead_activities"] == 2600 + history["lead_activities"]
    assert counts["nurture_touches"] > 0
    assert f"lead_activities +{history['lead_activities']}" in demo.stdout
    # names where people read them: organizations by slug, and what to do next
    graph = demo.stdout[demo.stdout.index("\ngraph (Bolt):") :]
    for slug in ("summit", "northwind", "southern-cross"):
        assert f"\n  {slug} " in graph
    assert "Updated" not in demo.stdout
    tail = demo.stdout[demo.stdout.index("what next") :]
    for hint in (str(report), "make dev", "leadflow db url", "make down", "southern-cross"):
        assert hint in tail
    # every server was named by a variable: the demo started none in its home
    assert not any(
        (pipeline.home / name / "state.json").exists()
        for name in ("postgres", "graph", "mongo", "redis")
    )


def test_demo_shows_every_feature_with_real_figures(pipeline: Pipeline):
    """The demo's year of history makes each part of the report say something: agents'
    contact delays, a served propensity model, and three organizations that are not copies."""
    assert pipeline.demo.returncode == 0
    with psycopg.connect(pipeline.url) as conn:
        coaching = conn.execute(
            "select organization_id::text, sum(leads_assigned), sum(contacted_within_24h),"
            " count(median_hours_to_first_contact)"
            " from analytics.agent_coaching group by 1"
        ).fetchall()
        models = conn.execute(
            "select distinct on (organization_id) organization_id::text, status,"
            " (metrics ->> 'auc')::float, (baseline ->> 'auc')::float, (metrics ->> 'min_gain')::float"
            " from lead_conversion_models order by organization_id, version desc"
        ).fetchall()
        costs = dict(
            conn.execute(
                "select organization_id::text, sum(cost_usd) from lead_source_costs group by 1"
            ).fetchall()
        )
        funnels = conn.execute(
            "select organization_id::text, count(distinct cohort_month),"
            " sum(leads_entered), sum(reached_contacted), sum(reached_qualified),"
            " sum(reached_recruited), sum(exited_cold)"
            " from analytics.lead_funnel group by 1"
        ).fetchall()
        sources = conn.execute(
            "select organization_id::text, array_agg(distinct source order by source)"
            " from leads where source is not null group by 1"
        ).fetchall()
    assert len(coaching) == 3
    for org, assigned, contacted, medians in coaching:
        assert assigned > 0 and 0 < contacted < assigned and medians > 0, org
    served = [m for m in models if m[1] == "active"]
    assert served, models
    for _, _, auc, rule_auc, min_gain in served:
        assert auc >= rule_auc + min_gain
    assert len(costs) == 3 and len(set(costs.values())) == 3
    assert len(funnels) == 3
    for org, months, *_ in funnels:
        assert months >= 12, org  # cohorts over a year
    assert len({tuple(row[2:]) for row in funnels}) == 3
    assert len({tuple(row[1]) for row in sources}) == 3
    assert re.search(r"model v\d+ active \(AUC", pipeline.demo.stdout)


def test_seed_on_unmigrated_database_is_a_clear_error(make_database):
    """Through the console script (a real process): the command's own entry point."""
    result = subprocess.run(
        [sys.executable, "-m", "leadflow.cli", "seed"],
        env=dict(os.environ, POSTGRES_URL=make_database("cliseed")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2  # refused before any work: the schema is not there
    assert "leadflow db migrate" in result.stderr and "Traceback" not in result.stderr
