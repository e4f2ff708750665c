"""The CRM sync's Dagster assets materialized against real loopback vendor servers and a real
PostgreSQL: the dlt assets (dagster-dlt), the leads they feed and the push, per organization
partition; and the schedule's run requests."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import psycopg
import pytest
from dagster_dlt import DagsterDltResource

from leadflow.crmsync.assets import (
    CRM_SYNC_ASSETS,
    crm_api_leads,
    crm_pushback,
    raw_asset_key,
)
from leadflow.crmsync.connections import save_connection
from leadflow.dagster_vocab import organization_partitions as CRM_PARTITIONS  # one key space
from leadflow.definitions import defs
from leadflow.platform.crm_sandbox import generate_records, sandbox
from leadflow.resources import PostgresResource
from tests.integration.conftest import ORG1, ORG2, one

pytestmark = pytest.mark.integration

#: built with the definitions from the deployment's schedule settings
crm_sync_schedule = defs.resolve_schedule_def("crm_sync_schedule")


def _materialized(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {
        event.asset_key.to_user_string(): event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }


@pytest.fixture(autouse=True)
def loopback_crm(monkeypatch) -> None:
    """The contract servers are on loopback: listed, as a deployment lists its own servers."""
    monkeypatch.setenv("LEADFLOW_CRM_ALLOWED_HOSTS", "127.0.0.1")


def test_one_partition_pulls_loads_and_pushes(crm_url, monkeypatch):
    monkeypatch.setenv("HUBSPOT_TOKEN_SUMMIT", "hs-token")
    monkeypatch.setenv("PIPEDRIVE_TOKEN_SUMMIT", "pd-token")
    with (
        sandbox("hubspot", token="hs-token") as hubspot,
        sandbox("pipedrive", token="pd-token") as pipedrive,
    ):
        hubspot.add(generate_records("hubspot", 300, seed=1))
        pipedrive.add(generate_records("pipedrive", 200, seed=2))
        with psycopg.connect(crm_url) as conn:
            for server, env in (
                (hubspot, "HUBSPOT_TOKEN_SUMMIT"),
                (pipedrive, "PIPEDRIVE_TOKEN_SUMMIT"),
            ):
                save_connection(
                    conn,
                    organization=ORG1,
                    vendor=server.vendor,
                    base_url=server.base_url,
                    secret_env=env,
                )
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions(CRM_PARTITIONS.name, [ORG1])
        resources = {"postgres": PostgresResource(url=crm_url), "dlt": DagsterDltResource()}
        selection = [
            raw_asset_key("hubspot"),
            raw_asset_key("pipedrive"),
            crm_api_leads.key,
            crm_pushback.key,
        ]
        result = dg.materialize(
            CRM_SYNC_ASSETS,
            selection=selection,
            partition_key=ORG1,
            instance=instance,
            resources=resources,
        )
        assert result.success
        materialized = _materialized(result)
        assert set(materialized) == {
            "raw_hubspot/contacts",
            "raw_pipedrive/persons",
            "crm_api_leads",
            "crm_pushback",
        }
        assert materialized["raw_hubspot/contacts"]["fetched"].value == 300
        assert materialized["raw_pipedrive/persons"]["fetched"].value == 200
        leads = materialized["crm_api_leads"]
        assert leads["rows_read"].value == 500
        assert leads["rows_read"].value == sum(
            leads[k].value for k in ("inserted", "merged", "duplicates_in_file", "quarantined")
        )
        with psycopg.connect(crm_url) as conn:
            linked = one(conn, "select count(*) from lead_external_ids")[0]
            assert materialized["crm_pushback"]["pushed"].value == linked
            runs = conn.execute(
                "select kind, status, fetched from crm_sync_runs order by kind, fetched"
            ).fetchall()
            assert runs == [
                ("pull", "succeeded", 200),
                ("pull", "succeeded", 300),
                ("push", "succeeded", 0),
                ("push", "succeeded", 0),
            ]
        assert len(hubspot.updates) + len(pipedrive.updates) == linked

        # a second run of the partition: the CRM changed only by the push, whose writes come
        # back as changes (the echo): they merge without changing any lead, nothing is pushed
        echoed = {u["id"] for u in hubspot.updates}
        hubspot.reset_log()
        again = dg.materialize(
            CRM_SYNC_ASSETS,
            selection=selection,
            partition_key=ORG1,
            instance=instance,
            resources=resources,
        )
        metadata = _materialized(again)
        assert metadata["raw_hubspot/contacts"]["fetched"].value == len(echoed)
        assert metadata["crm_api_leads"]["inserted"].value == 0
        assert metadata["crm_pushback"]["pushed"].value == 0
        assert {r["path"] for r in hubspot.requests} == {"/crm/v3/objects/contacts/search"}
        with psycopg.connect(crm_url) as conn:
            batches = [load["batch_id"] for load in metadata["crm_api_leads"]["loads"].value]
            # only a lead two CRM records share may change: the newest non-empty value wins,
            # and the push made the other record the newest
            changed = conn.execute(
                "select distinct lead_id from lead_audit_log where import_batch_id = any(%s::uuid[])",
                (batches,),
            ).fetchall()
            shared = conn.execute(
                "select lead_id from lead_external_ids group by lead_id having count(*) > 1"
            ).fetchall()
            assert set(changed) <= set(shared)


def test_a_refused_token_fails_the_partition_naming_the_connection(crm_url, monkeypatch):
    monkeypatch.setenv("SF_TOKEN", "wrong")
    with sandbox("salesforce", token="right") as salesforce:
        with psycopg.connect(crm_url) as conn:
            save_connection(
                conn,
                organization=ORG2,
                vendor="salesforce",
                name="nw-sf",
                base_url=salesforce.base_url,
                secret_env="SF_TOKEN",
            )
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions(CRM_PARTITIONS.name, [ORG2])
        result = dg.materialize(
            CRM_SYNC_ASSETS,
            selection=[raw_asset_key("salesforce")],
            partition_key=ORG2,
            instance=instance,
            raise_on_error=False,
            resources={"postgres": PostgresResource(url=crm_url), "dlt": DagsterDltResource()},
        )
        assert not result.success
        [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        message = failure.step_failure_data.error.message
        assert "salesforce connection 'nw-sf'" in message and "SF_TOKEN (HTTP 401" in message


def test_the_schedule_requests_one_run_per_connected_organization(crm_url):
    with psycopg.connect(crm_url) as conn:
        save_connection(
            conn,
            organization=ORG1,
            vendor="hubspot",
            base_url="https://api.hubapi.com",
            secret_env="HUBSPOT_TOKEN_SUMMIT",
        )
        save_connection(
            conn,
            organization=ORG1,
            vendor="salesforce",
            base_url="https://summit.my.salesforce.com",
            secret_env="SF_TOKEN_SUMMIT",
        )
        save_connection(
            conn,
            organization=ORG2,
            vendor="pipedrive",
            base_url="https://northwind.pipedrive.com/api",
            secret_env="PIPEDRIVE_TOKEN_NORTHWIND",
            pull_enabled=False,
        )
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(
            instance=instance,
            resources={"postgres": PostgresResource(url=crm_url)},
            repository_def=defs.get_repository_def(),
            scheduled_execution_time=datetime(2026, 12, 3, 1, 30, tzinfo=UTC),
        ) as context,
    ):
        requests = crm_sync_schedule.evaluate_tick(context).run_requests
        assert {r.run_key for r in requests} == {
            f"crm_sync:{org}:2026-12-03T01:30:00+00:00" for org in (ORG1, ORG2)
        }
        assert sorted(instance.get_dynamic_partitions(CRM_PARTITIONS.name)) == sorted([ORG1, ORG2])
        by_org = {
            r.partition_key: {k.to_user_string() for k in r.asset_selection} for r in requests
        }
    assert by_org == {
        ORG1: {"raw_hubspot/contacts", "raw_salesforce/leads", "crm_api_leads", "crm_pushback"},
        ORG2: {"crm_api_leads", "crm_pushback"},  # push only
    }


def test_the_job_and_schedule_are_in_the_definitions():
    job = defs.resolve_job_def("crm_sync_job")
    assert job.partitions_def == CRM_PARTITIONS
    assert defs.resolve_schedule_def("crm_sync_schedule").cron_schedule == "30 1 * * *"
    graph = defs.resolve_asset_graph()
    assert graph.get(crm_pushback.key).parent_keys >= {
        crm_api_leads.key,
        dg.AssetKey("lead_scores"),
    }
