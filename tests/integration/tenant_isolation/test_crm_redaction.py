"""No token in any error the CRM sync stores or prints (issue 18, item 2): crm_sync_runs,
`leadflow crm sync/status --json`, the Dagster failure of the crmsync assets and the alert
webhook, for a Pipedrive 500, a refused connection and a timeout; and migration 013 scrubs
the rows written before it."""

from __future__ import annotations

import json
import socket

import dagster as dg
import psycopg
import pytest
from dagster_dlt import DagsterDltResource
from psycopg.types.json import Jsonb

from leadflow.crmsync.assets import CRM_SYNC_ASSETS, raw_asset_key
from leadflow.crmsync.connections import save_connection
from leadflow.crmsync.sync import sync_connection
from leadflow.dagster_vocab import organization_partitions
from leadflow.orchestration.alerts import alert_in_process_failure
from leadflow.platform.crm_sandbox import generate_records, sandbox
from leadflow.platform.migrations import migrate_down, migrate_up
from leadflow.resources import PostgresResource
from tests.conftest import run_leadflow
from tests.integration.tenant_isolation.conftest import ORG_A
from tests.integration.tenant_isolation.crm_support import allow, webhook_receiver

pytestmark = pytest.mark.integration

TOKEN = "pd-secret-token-6a4e0b9d"
VARIABLE = "PIPEDRIVE_TOKEN_SUMMIT"


@pytest.fixture
def fast_failures(monkeypatch) -> None:
    monkeypatch.setenv(VARIABLE, TOKEN)
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.1")


def _connection(crm_url: str, base_url: str):
    with psycopg.connect(crm_url) as conn:
        return save_connection(
            conn,
            organization=ORG_A,
            vendor="pipedrive",
            name="summit-pd",
            base_url=base_url,
            secret_env=VARIABLE,
        )


def _stored(crm_url: str) -> str:
    with psycopg.connect(crm_url) as conn:
        rows = conn.execute("select error, details::text from crm_sync_runs").fetchall()
    assert rows, "no crm_sync_runs row was written"
    return json.dumps(rows)


def _everywhere_but_the_token(crm_url: str, summary: dict) -> None:
    """The summary, the stored runs and both commands' output hold no token."""
    env = {"POSTGRES_URL": crm_url}
    synced = run_leadflow("crm", "sync", "--org", ORG_A, "--json", env=env)
    status = run_leadflow("crm", "status", "--org", ORG_A, "--json", env=env)
    text = run_leadflow("crm", "status", "--org", ORG_A, env=env)
    places = {
        "crm_sync_runs": _stored(crm_url),
        "sync summary": json.dumps(summary, default=str),
        "crm sync --json": synced.stdout + synced.stderr,
        "crm status --json": status.stdout + status.stderr,
        "crm status": text.stdout + text.stderr,
    }
    leaked = {place: value for place, value in places.items() if TOKEN in value}
    assert leaked == {}
    assert synced.returncode == 1 and json.loads(synced.stdout)["failed"] == 1
    assert "Traceback" not in synced.stdout + synced.stderr


def test_a_pipedrive_500_leaves_no_token_anywhere(crm_url, connect, fast_failures, monkeypatch):
    with sandbox("pipedrive", token=TOKEN) as server:
        allow(monkeypatch, server)
        server.add(generate_records("pipedrive", 20, seed=1))
        connection = _connection(crm_url, server.base_url)
        server.fail_next(500, count=50)
        summary = sync_connection(connect, crm_url, connection)
        assert summary["status"] == "failed" and "HTTP 500" in summary["error"]
        _everywhere_but_the_token(crm_url, summary)


def test_a_refused_connection_leaves_no_token_anywhere(
    crm_url, connect, fast_failures, monkeypatch
):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("LEADFLOW_CRM_ALLOWED_HOSTS", f"127.0.0.1:{port}")
    connection = _connection(crm_url, f"http://127.0.0.1:{port}")
    summary = sync_connection(connect, crm_url, connection)
    assert summary["status"] == "failed"
    _everywhere_but_the_token(crm_url, summary)


def test_a_pipedrive_timeout_leaves_no_token_anywhere(crm_url, connect, fast_failures, monkeypatch):
    monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", "1")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "1")
    with sandbox("pipedrive", token=TOKEN) as server:
        allow(monkeypatch, server)
        server.add(generate_records("pipedrive", 20, seed=1))
        connection = _connection(crm_url, server.base_url)
        server.hold_after(0)
        summary = sync_connection(connect, crm_url, connection)
        server.release.set()
        assert summary["status"] == "failed" and "timed out" in summary["error"].lower()
        server.hold_after(0)  # the CLI's sync times out the same way
        _everywhere_but_the_token(crm_url, summary)
        server.release.set()


def test_the_dagster_failure_and_the_alert_webhook_carry_no_token(
    crm_url, fast_failures, monkeypatch
):
    with sandbox("pipedrive", token=TOKEN) as server, webhook_receiver() as (hook, received):
        allow(monkeypatch, server)
        monkeypatch.setenv("LEADFLOW_ALERT_WEBHOOK", hook)
        server.add(generate_records("pipedrive", 20, seed=1))
        _connection(crm_url, server.base_url)
        server.fail_next(500, count=50)
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions(organization_partitions.name, [ORG_A])
        result = dg.materialize(
            CRM_SYNC_ASSETS,
            selection=[raw_asset_key("pipedrive")],
            partition_key=ORG_A,
            instance=instance,
            raise_on_error=False,
            resources={"postgres": PostgresResource(url=crm_url), "dlt": DagsterDltResource()},
        )
        assert not result.success
        [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        error = failure.step_failure_data.error
        assert "summit-pd" in error.message
        events = [dg.serialize_value(entry) for entry in instance.all_logs(result.run_id)]
        assert events and not [event for event in events if TOKEN in event]
        assert TOKEN not in error.to_string()
        alert_in_process_failure("crm_sync_job", result)
        assert len(received) == 1
        body = received[0].decode()
        assert "summit-pd" in body and TOKEN not in body


HOSTILE_ERROR = (
    "pipedrive connection 'summit-pd' of organization summit: HTTP 500 from"
    " http://127.0.0.1:5000 after retries: 500 Server Error: Internal Server Error for url:"
    " http://127.0.0.1:5000/v1/persons?sort=update_time+ASC&api_token=old-pd-token-1234abcd&start=0"
)


def test_migration_013_scrubs_tokens_stored_before_it(crm_url):
    """Rows written by the code before 013 (api_token=… in a URL of an error text, in the
    details' JSON too, a Bearer header, a URL password) are scrubbed by 013's up."""
    reverted = migrate_down(crm_url, to=12)  # 013 and the migrations after it
    assert reverted[-1] == "013_crm_secrets_and_raw"
    with psycopg.connect(crm_url) as conn:
        connection_id = conn.execute(
            "insert into crm_connections (organization_id, vendor, name, base_url, secret_env)"
            " values (%s, 'pipedrive', 'summit-pd', 'http://127.0.0.1:5000', 'ANY_OLD_NAME')"
            " returning id::text",
            (ORG_A,),
        ).fetchone()[0]
        details = {
            "error": HOSTILE_ERROR,
            "headers": "Authorization: Bearer hs-old-token-99",
            "dsn": "postgresql://leadflow:db-pass-77@db:5432/leadflow",
        }
        conn.execute(
            "insert into crm_sync_runs (connection_id, organization_id, kind, status, error,"
            " details) values (%s, %s, 'pull', 'failed', %s, %s)",
            (connection_id, ORG_A, HOSTILE_ERROR, Jsonb(details)),
        )
    assert migrate_up(crm_url) == reverted[::-1]
    with psycopg.connect(crm_url) as conn:
        error, scrubbed = conn.execute("select error, details from crm_sync_runs").fetchone()
    text = json.dumps([error, scrubbed])
    for secret in ("old-pd-token-1234abcd", "hs-old-token-99", "db-pass-77"):
        assert secret not in text
    assert "api_token=[REDACTED]" in error and "&start=0" in error
    assert scrubbed["headers"] == "Authorization: Bearer [REDACTED]"
    assert scrubbed["dsn"] == "postgresql://leadflow:[REDACTED]@db:5432/leadflow"
