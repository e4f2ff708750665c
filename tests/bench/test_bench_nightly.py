"""`python -m benchmarks nightly` on 1,500 leads: the seed is generated and copied, the CRM day
changes what it says, and each nightly (a `leadflow run --json` child) reports its steps.

No timing is asserted: speed goals live in the benchmark's printed figures.
"""

from __future__ import annotations

import psycopg
import pytest

from benchmarks.nightly import NightlyBenchResult, run_nightly_bench

pytestmark = [pytest.mark.bench, pytest.mark.integration, pytest.mark.slow]

LEADS = 1_500
DATABASE = "leadflow_test_bench_nightly"


@pytest.fixture(scope="module")
def bench(pg_server_url, tmp_path_factory) -> tuple[NightlyBenchResult, list[str]]:
    lines: list[str] = []
    result = run_nightly_bench(
        pg_server_url,
        LEADS,
        tmp_path_factory.mktemp("bench_nightly"),
        changes=(0.02,),
        echo=lines.append,
        database=DATABASE,
    )
    return result, lines


def test_three_runs_succeed_with_their_steps_timed(bench):
    result, lines = bench
    assert [run.label for run in result.runs] == ["full", "after 2%", "unchanged"]
    assert all(run.success for run in result.runs), [run.failures for run in result.runs]
    for run in result.runs:
        assert {"lead_scores", "crm_graph", "analytics_models", "lead_recommendations"} <= set(
            run.step_seconds
        )
        assert run.peak_rss_mb > 50
    assert set(result.ratios()) == {"after 2%", "unchanged"}
    assert any(line.startswith("analytics_models (dbt build)") for line in lines)
    # the day between two nightlies: its VACUUM (ANALYZE) before each of the later runs
    assert len(result.vacuum_seconds) == 2 and all(s >= 0 for s in result.vacuum_seconds)
    assert sum("the day's autovacuum" in line for line in lines) == 2


def test_the_crm_day_reaches_the_nightly(bench):
    result, _ = bench
    day = result.runs[1].changed
    assert day["stage_moves"] > 0 and day["activities"] == day["stage_moves"]
    # the day's calls are in MongoDB: the nightly after it pulls exactly them, the next none
    assert result.runs[1].assets["lead_activities"]["loaded"] == day["activities"]
    assert result.runs[2].assets["lead_activities"]["read"] == 0
    # new leads are waiting for an agent: the nightly after the day assigns them
    assert result.runs[1].assets["lead_assignments"]["assigned"] >= day["new_leads"] > 0


def test_the_bench_database_holds_the_day(bench, pg_server_url):
    result, _ = bench
    url = psycopg.conninfo.make_conninfo(pg_server_url, dbname=DATABASE)
    day = result.runs[1].changed
    with psycopg.connect(url) as conn:
        dnc = conn.execute("select count(*) from dnc_list where source = 'bench'").fetchone()
        deleted = conn.execute("select count(*) from leads where deleted_at is not null").fetchone()
    assert dnc == (day["dnc_added"],)
    assert deleted == (day["deleted"],)
