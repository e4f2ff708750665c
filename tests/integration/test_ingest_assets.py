"""The ingest chain as Dagster assets and checks, `leadflow import`, and the landing sensor."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from leadflow.cli.runner import run_import_assets
from leadflow.definitions import defs
from leadflow.ingest.assets import (
    INGEST_ASSETS,
    MULTI_ORG_PARTITION,
    OperatorFiles,
    landing_dir_sensor,
    organization_partitions,
)
from leadflow.ingest.checks import INGEST_CHECKS
from leadflow.ingest.pipeline import ImportRequest
from leadflow.resources import PostgresResource
from tests.conftest import run_leadflow
from tests.integration.conftest import ORG1, ORG2, one

pytestmark = pytest.mark.integration

SUMMARY_KEYS = {
    "batch_id",
    "rows_read",
    "inserted",
    "merged",
    "duplicates_in_file",
    "quarantined",
    "dnc",
    "status",
}


def test_the_import_asset_materializes_with_checks(crm_url, write_csv):
    path = write_csv(
        "assets.csv",
        ["organization_id", "First Name", "Phone"],
        [[ORG1, "A", "2124561001"], [ORG2, "B", "020 7946 0001"], [ORG1, "A2", "212-456-1001"]],
    )
    summaries, result = run_import_assets(
        ImportRequest(files=[str(path)], workers=1), PostgresResource(url=crm_url)
    )
    assert result.success
    materialized = {
        event.asset_key.to_user_string() for event in result.get_asset_materialization_events()
    }
    assert materialized == {"crm_leads"}  # one asset: the rows never leave PostgreSQL between steps
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        check: True
        for check in (
            "leads_phone_is_e164",
            "leads_status_and_score_valid",
            "leads_unique_phone_per_organization",
            "import_quarantine_rate",
            "import_accounting_identity",
        )
    }
    [summary] = summaries
    assert (summary["inserted"], summary["duplicates_in_file"], summary["quarantined"]) == (2, 1, 0)
    crm = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "crm_leads"
    ][0]
    assert crm.materialization.metadata["inserted"].value == 2
    assert crm.materialization.partition == MULTI_ORG_PARTITION


def test_accounting_check_catches_a_tampered_batch(crm_url, write_csv):
    path = write_csv("tamper.csv", ["Phone"], [["2124561101"], ["bad"], ["worse"]])
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(organization_partitions.name, [ORG1])
    # an in-process run of the operator's file, as `leadflow import` makes it
    resources = {"postgres": PostgresResource(url=crm_url), "lead_files": OperatorFiles()}
    config = {"ops": {"crm_leads": {"config": {"files": [str(path)], "org": ORG1}}}}
    first = dg.materialize(
        INGEST_ASSETS, partition_key=ORG1, instance=instance, resources=resources, run_config=config
    )
    [materialization] = first.asset_materializations_for_node("crm_leads")
    batch = materialization.metadata["files"].value[0]["batch_id"]
    with psycopg.connect(crm_url) as conn:  # a reject row lost after the fact
        conn.execute(
            "delete from import_rejects where id = (select min(id) from import_rejects"
            " where batch_id = %s)",
            (batch,),
        )
    # re-run the checks alone: they read the latest crm_leads materialization's batches
    checked = dg.materialize(
        [*INGEST_ASSETS, *INGEST_CHECKS],
        selection=dg.AssetSelection.checks_for_assets(dg.AssetKey("crm_leads")),
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    evaluations = {e.check_name: e for e in checked.get_asset_check_evaluations()}
    accounting = evaluations["import_accounting_identity"]
    assert not accounting.passed
    assert accounting.metadata["failing_count"].value == 1
    assert accounting.metadata["failing_sample"].value[0]["reject_rows"] == 1


def test_quarantine_rate_check_warns(crm_url, write_csv):
    path = write_csv("mostly_bad.csv", ["Phone"], [["2124561201"], ["nope"], ["1"], ["2"]])
    _, result = run_import_assets(
        ImportRequest(files=[str(path)], org=ORG1, workers=1), PostgresResource(url=crm_url)
    )
    rate = {e.check_name: e for e in result.get_asset_check_evaluations()}["import_quarantine_rate"]
    assert not rate.passed and rate.severity == dg.AssetCheckSeverity.WARN
    assert rate.metadata["rates"].value == {"mostly_bad.csv": 0.75}
    assert len(rate.metadata["failing_sample"].value) == 3
    assert result.success  # a warning does not fail the run


def _leadflow(url: str, *args: str):
    return run_leadflow(*args, env={"POSTGRES_URL": url})


def test_cli_import_json_contract_and_exit_codes(crm_url, write_csv):
    path = write_csv("cli.csv", ["Phone", "Name"], [["2124561301", "X Y"], ["oops", "Z"]])
    result = _leadflow(crm_url, "import", str(path), "--org", ORG1, "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)  # one JSON object and nothing else on stdout
    assert set(payload) >= SUMMARY_KEYS
    assert (
        payload["status"],
        payload["rows_read"],
        payload["inserted"],
        payload["quarantined"],
    ) == ("succeeded", 2, 1, 1)
    with psycopg.connect(crm_url) as conn:
        assert one(
            conn, "select status from import_batches where id = %s", (payload["batch_id"],)
        ) == ("succeeded",)

    again = json.loads(_leadflow(crm_url, "import", str(path), "--org", ORG1, "--json").stdout)
    assert again["status"] == "skipped" and again["inserted"] == 0

    human = _leadflow(crm_url, "import", str(path), "--org", ORG2, "--region", "US")
    assert human.returncode == 0 and "accounting   read 2 = inserted 1" in human.stdout

    empty = path.with_name("empty.csv")
    empty.write_text("")
    failed = _leadflow(crm_url, "import", str(empty), "--org", ORG1, "--json")
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["status"] == "failed"
    # the file's failure is said once, in the summary: no run log with stack traces around it
    assert "Stack Trace" not in failed.stderr and "Traceback" not in failed.stderr

    unknown = _leadflow(
        crm_url, "import", str(path), "--org", "99999999-9999-4999-8999-999999999999"
    )
    assert unknown.returncode == 2 and "unknown organization" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_landing_sensor_requests_one_run_per_file_and_files_them_away(
    crm_url, tmp_path: Path, monkeypatch
):
    landing = tmp_path / "landing"
    (landing / ORG1).mkdir(parents=True)
    (landing / ORG1 / "drop.csv").write_text("Phone,First Name\n2124561401,Lan\n")
    (landing / "multi.csv").write_text(f"organization_id,Phone\n{ORG2},02079460002\n")
    (landing / "notes.md").write_text("not a lead file")
    monkeypatch.setenv("LEADFLOW_LANDING_DIR", str(landing))

    instance = dg.DagsterInstance.ephemeral()
    sensor_resources = {"postgres": PostgresResource(url=crm_url)}
    with dg.build_sensor_context(instance=instance, resources=sensor_resources) as context:
        result = landing_dir_sensor(context)
    requests = sorted(result.run_requests, key=lambda r: r.partition_key)
    # the run config names the file and its organization, nothing else (no landing_dir)
    assert {r.partition_key: r.run_config["ops"]["crm_leads"]["config"] for r in requests} == {
        ORG1: {"files": [str(landing.resolve() / ORG1 / "drop.csv")], "org": ORG1},
        MULTI_ORG_PARTITION: {"files": [str(landing.resolve() / "multi.csv")], "org": None},
    }
    assert [r.partition_key for r in requests] == sorted([ORG1, MULTI_ORG_PARTITION])
    assert set(result.dynamic_partitions_requests[0].partition_keys) == {ORG1, MULTI_ORG_PARTITION}

    instance.add_dynamic_partitions(organization_partitions.name, [ORG1, MULTI_ORG_PARTITION])
    job = defs.resolve_job_def("lead_import_job")
    for request in requests:
        run = job.execute_in_process(
            run_config=request.run_config,
            partition_key=request.partition_key,
            instance=instance,
            resources={"postgres": PostgresResource(url=crm_url)},
        )
        assert run.success
    assert sorted(p.name for p in (landing / "processed").iterdir()) == ["drop.csv", "multi.csv"]
    assert not (landing / ORG1 / "drop.csv").exists()
    assert (landing / "notes.md").exists()
    with psycopg.connect(crm_url) as conn:
        assert one(conn, "select count(*) from import_batches where status = 'succeeded'") == (2,)

    # processed files are not picked up again; a broken file lands in failed/
    (landing / ORG1 / "broken.csv").write_bytes(b"\x00\x01\x02garbage\x00")
    with dg.build_sensor_context(instance=instance, resources=sensor_resources) as context:
        [broken] = landing_dir_sensor(context).run_requests
    run = job.execute_in_process(
        run_config=broken.run_config,
        partition_key=broken.partition_key,
        instance=instance,
        resources={"postgres": PostgresResource(url=crm_url)},
        raise_on_error=False,
    )
    assert not run.success
    assert (landing / "failed" / "broken.csv").exists()


def test_definitions_expose_one_import_asset_per_organization_partition():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert "crm_leads" in keys
    assert not keys & {
        "raw_lead_files",
        "normalized_leads",
        "deduplicated_leads",
        "dnc_screened_leads",
    }  # the old steps that handed pickles along
    node = graph.get(dg.AssetKey("crm_leads"))
    assert node.parent_keys == set()
    assert node.partitions_def == organization_partitions
    job = defs.resolve_job_def("lead_import_job")
    assert {key.to_user_string() for key in job.asset_layer.executable_asset_keys} == {"crm_leads"}
    assert defs.resolve_sensor_def("landing_dir_sensor")


def test_cli_import_refuses_an_outdated_schema(new_migrated_database, write_csv):
    url = new_migrated_database("outdated")
    assert _leadflow(url, "migrate", "down", "--to", "7").returncode == 0
    path = write_csv("lead.csv", ["Phone"], [["2124561301"]])
    result = _leadflow(url, "import", str(path), "--org", ORG1)
    assert result.returncode == 2
    assert "008_lead_company_and_crm_status (pending)" in result.stderr
    assert "run `leadflow db migrate` first" in result.stderr and "Traceback" not in result.stderr
