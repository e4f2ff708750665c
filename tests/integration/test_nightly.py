"""The nightly job end to end (`leadflow run`), dbt as Dagster assets, the failure alert."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from leadflow.analytics.assets import analytics_models, dbt_resource
from leadflow.orchestration.alerts import run_failure_alert_sensor
from leadflow.resources import PostgresResource
from tests.conftest import CliResult, run_leadflow
from tests.integration.conftest import Pipeline

#: the tests reading the shared `pipeline` run share one pytest-xdist worker
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("pipeline")]

MARTS = [
    "lead_funnel",
    "lead_stage_history",
    "source_roi",
    "lead_score_trends",
    "agent_coaching",
    "lead_timeline",
    "segment_sizes",
]


def _leadflow(env: dict[str, str], *args: str) -> CliResult:
    return run_leadflow(*args, env=env)


@pytest.fixture(scope="module")
def nightly(pipeline: Pipeline) -> dict:
    """The shared pipeline database: seeded, then one `leadflow run --json` (the whole nightly
    job, dbt build included), then the demo's imports and second nightly run."""
    return {"url": pipeline.url, "env": pipeline.env, "result": pipeline.run}


def test_leadflow_run_materializes_everything_and_every_dbt_test_passes(nightly):
    result = nightly["result"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["success"] is True and summary["failures"] == []
    assert {"lead_activities", "lead_scores", "lead_assignments"} <= set(summary["assets"])
    assert {"nurture_enrollments", "segment_counts", "crm_graph"} <= set(summary["assets"])
    assert summary["assets"]["lead_activities"]["loaded"] == 2600
    assert "graph_matches_postgres" not in summary["failed_checks"]
    assert summary["dbt_models_built"] >= 11 + len(MARTS)
    assert summary["checks"]["failed"] == 0 and summary["checks"]["passed"] >= 60
    # each step's wall seconds, from the run's own events (what the nightly benchmark reports)
    steps = summary["step_seconds"]
    assert {"lead_scores", "crm_graph", "analytics_models"} <= set(steps)
    assert all(0 <= seconds <= summary["seconds"] for seconds in steps.values())


def test_every_mart_is_built_and_agrees_with_the_crm_tables(nightly):
    with psycopg.connect(nightly["url"]) as conn:
        for mart in MARTS:
            rows = conn.execute(f"select count(*) from analytics.{mart}").fetchone()[0]
            assert rows > 0, mart
        live = conn.execute("select count(*) from leads where deleted_at is null").fetchone()[0]
        entered = conn.execute("select sum(leads_entered) from analytics.lead_funnel").fetchone()
        assert entered[0] == live
        raw_cost = conn.execute("select sum(cost_usd) from lead_source_costs").fetchone()[0]
        mart_cost = conn.execute("select sum(cost_usd) from analytics.source_roi").fetchone()[0]
        assert mart_cost == raw_cost
        scored = conn.execute(
            "select count(*) from analytics.lead_timeline where event_type = 'score_change'"
        ).fetchone()[0]
        history = conn.execute(
            "select count(*) from lead_score_history h join leads l on l.id = h.lead_id"
            " where l.deleted_at is null"
        ).fetchone()[0]
        assert scored == history


def test_the_run_is_recorded_in_the_dagster_instance(nightly):
    summary = json.loads(nightly["result"].stdout)
    instance = dg.DagsterInstance.from_config(nightly["env"]["DAGSTER_HOME"])
    run = instance.get_run_by_id(summary["run_id"])
    assert run is not None and run.job_name == "nightly_sync_job"
    assert run.status == dg.DagsterRunStatus.SUCCESS


def test_the_marts_the_nightly_builds_are_protected(nightly):
    """Row-level security on every mart; no role reads one without `leadflow db grant-analyst`
    (tests/integration/tenant_isolation/test_analysts.py grants and reads)."""
    with psycopg.connect(nightly["url"]) as conn:
        marts = conn.execute(
            "select relname, relrowsecurity from pg_class"
            " where relnamespace = 'analytics'::regnamespace and relkind = 'r'"
        ).fetchall()
        assert len(marts) >= 10 and all(protected for _, protected in marts), marts
        conn.execute("set role analyst")  # the all-tenant group of migration 006
        for table in (
            "analytics.source_roi",
            "public.leads",
            "public.dnc_list",
            "analytics_staging.stg_crm__leads",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(f"select 1 from {table} limit 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("create table analytics.scratch (x int)")


def test_dbt_docs_generate(nightly, tmp_path):
    result = _leadflow(nightly["env"], "dbt", "docs", "--out", str(tmp_path / "docs"), "--json")
    assert result.returncode == 0, result.stderr
    written = json.loads(result.stdout)
    assert written["static_index"] == str(tmp_path / "docs" / "static_index.html")
    catalog = json.loads((tmp_path / "docs" / "catalog.json").read_text())
    nodes = {node["metadata"]["name"] for node in catalog["nodes"].values()}
    assert set(MARTS) <= nodes
    assert (tmp_path / "docs" / "index.html").stat().st_size > 10_000
    # one file with the manifest and catalog inside: works opened from disk
    static = (tmp_path / "docs" / "static_index.html").read_text(encoding="utf-8")
    assert "source_roi" in static and "organization_name" in static


def test_run_refuses_an_unmigrated_database(make_database, tmp_path):
    url = make_database("nightly_nomig")
    result = _leadflow({"POSTGRES_URL": url, "DAGSTER_HOME": str(tmp_path)}, "run")
    assert result.returncode == 2  # a bad request: refused before any work
    assert "leadflow db migrate" in result.stderr and "Traceback" not in result.stderr


def test_a_failing_error_test_blocks_the_marts_downstream(new_seeded_database, tmp_path):
    """A status outside the accepted values fails stg_crm__leads' accepted_values test:
    the marts built on it are skipped and the step fails without retrying."""
    url = new_seeded_database("nightly_block")
    with psycopg.connect(url) as conn:
        conn.execute("alter table leads drop constraint leads_status_check")
        conn.execute(
            "update leads set status = 'bogus'"
            " where id = (select id from leads order by id limit 1)"
        )
    result = dg.materialize(
        [analytics_models],
        resources={"postgres": PostgresResource(url=url), "dbt": dbt_resource()},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    failed = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed
    ]
    assert any(
        c.asset_key.to_user_string() == "analytics_staging/stg_crm__leads"
        and "accepted_values" in c.check_name
        for c in failed
    )
    built = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert "lead_funnel" not in built and "source_roi" not in built
    with psycopg.connect(url) as conn:
        exists = conn.execute("select to_regclass('analytics.lead_funnel')").fetchone()[0]
    assert exists is None
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "test(s) failed" in failure.step_failure_data.error.message


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []
    status = 204

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(_Hook.status)
        self.end_headers()

    def log_message(self, *args) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[str]:
    _Hook.received = []
    _Hook.status = 204
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts"
    server.shutdown()


@dg.op
def _explode() -> None:
    raise RuntimeError("lead_scores exploded on purpose")


@dg.job
def _failing_job() -> None:
    _explode()


def _failed_run_context(instance: dg.DagsterInstance) -> dg.RunFailureSensorContext:
    result = _failing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    event = next(
        r.dagster_event
        for r in instance.all_logs(result.run_id)
        if r.dagster_event and r.dagster_event.event_type_value == "PIPELINE_FAILURE"
    )
    return dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=event,
    ).for_run_failure()


def test_failure_sensor_posts_to_the_webhook(webhook, monkeypatch):
    monkeypatch.setenv("LEADFLOW_ALERT_WEBHOOK", webhook)
    with dg.instance_for_test() as instance:
        run_failure_alert_sensor(_failed_run_context(instance))
    assert len(_Hook.received) == 1
    payload = _Hook.received[0]
    assert payload["event"] == "run_failure" and payload["job"] == "_failing_job"
    assert payload["failed_steps"] == ["_explode"]
    assert "_failing_job" in payload["text"]


def test_failure_sensor_without_webhook_only_logs(webhook, monkeypatch):
    monkeypatch.delenv("LEADFLOW_ALERT_WEBHOOK", raising=False)
    with dg.instance_for_test() as instance:
        run_failure_alert_sensor(_failed_run_context(instance))
    assert _Hook.received == []


def test_failing_webhook_does_not_break_the_sensor(webhook, monkeypatch):
    """The webhook answers 500: the alert was attempted once, the sensor logs and returns."""
    _Hook.status = 500
    monkeypatch.setenv("LEADFLOW_ALERT_WEBHOOK", webhook)
    with dg.instance_for_test() as instance:
        assert run_failure_alert_sensor(_failed_run_context(instance)) is None
    assert len(_Hook.received) == 1


def test_unreachable_webhook_does_not_break_the_sensor(monkeypatch):
    monkeypatch.setenv("LEADFLOW_ALERT_WEBHOOK", "http://127.0.0.1:9/nothing-listens-here")
    with dg.instance_for_test() as instance:
        assert run_failure_alert_sensor(_failed_run_context(instance)) is None


def test_definitions_validate_with_the_dbt_assets(tmp_path):
    """The code location loads with no connection variable set: resources start nothing and
    only need their variables when a run uses them."""
    unset = {"POSTGRES_URL", "NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "MONGO_URL"}
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "definitions",
            "validate",
            "-m",
            "leadflow.definitions",
        ],
        env={
            **{k: v for k, v in os.environ.items() if k not in unset},
            "DAGSTER_HOME": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_documented_postgres_instance_config_stores_runs_in_postgresql(
    make_database, tmp_path, monkeypatch
):
    """deploy/dagster.yaml works as documented: runs land in the PostgreSQL it points at."""
    from leadflow import settings

    info = psycopg.conninfo.conninfo_to_dict(make_database("dagster_storage"))
    url = f"postgresql://{info['user']}@{info['host']}:{info['port']}/{info['dbname']}"
    (tmp_path / "dagster.yaml").write_text(
        (settings.project_root() / "deploy" / "dagster.yaml").read_text()
    )
    monkeypatch.setenv("DAGSTER_PG_URL", url)
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    try:
        result = _failing_job.execute_in_process(instance=instance, raise_on_error=False)
    finally:
        instance.dispose()
    with psycopg.connect(url) as conn:
        stored = conn.execute(
            "select pipeline_name, status from runs where run_id = %s", (result.run_id,)
        ).fetchone()
    assert stored == ("_failing_job", "FAILURE")
