"""A connection's sync as operators run it: pull (dlt) then load (the import path), or push.

Each pull and push is recorded in `crm_sync_runs` with its counts, or its error: a failure of
one connection is reported with the connection's name and does not stop the others (the
callers decide: `leadflow crm` exits 1, the Dagster asset fails its partition). Every error
and summary passes the redactor (leadflow.redaction) before it is stored or returned, and every
transaction is scoped to the connection's organization (set_tenant).
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

import psycopg
from psycopg.types.json import Jsonb

from leadflow.crmsync.connections import Connection, CrmError
from leadflow.crmsync.load import load_connection
from leadflow.crmsync.pull import pull
from leadflow.crmsync.push import push_connection
from leadflow.postgres import ConnectionFactory, one_row, set_tenant
from leadflow.redaction import redact, redact_value

log = logging.getLogger(__name__)


def _start_run(connect: ConnectionFactory, connection: Connection, kind: str) -> str:
    with connect() as conn:
        set_tenant(conn, connection.organization_id)
        cursor = conn.execute(
            "insert into crm_sync_runs (connection_id, organization_id, kind) values (%s, %s, %s)"
            " returning id::text",
            (connection.id, connection.organization_id, kind),
        )
        return cast(str, one_row(cursor)[0])


def _finish_run(
    connect: ConnectionFactory,
    connection: Connection,
    run_id: str,
    *,
    status: str,
    error: str | None = None,
    fetched: int = 0,
    batch_id: str | None = None,
    pushed: int = 0,
    push_failed: int = 0,
    details: dict | None = None,
) -> None:
    with connect() as conn:
        set_tenant(conn, connection.organization_id)
        conn.execute(
            """
            update crm_sync_runs set status = %s, error = %s, fetched = %s, batch_id = %s,
                pushed = %s, push_failed = %s, details = %s, finished_at = now()
            where id = %s
            """,
            (
                status,
                redact(error),
                fetched,
                batch_id,
                pushed,
                push_failed,
                Jsonb(redact_value(details or {})),
                run_id,
            ),
        )


def _base(connection: Connection) -> dict[str, Any]:
    return {
        "connection": connection.name,
        "connection_id": connection.id,
        "organization_id": connection.organization_id,
        "organization": connection.organization_slug,
        "vendor": connection.vendor,
    }


def record_pull(
    connect: ConnectionFactory,
    connection: Connection,
    *,
    pulled: Any = None,
    error: str | None = None,
) -> None:
    """Record a pull made elsewhere (the Dagster raw assets) in crm_sync_runs."""
    run_id = _start_run(connect, connection, "pull")
    details = _base(connection) | ({"pull": pulled.as_dict()} if pulled else {})
    _finish_run(
        connect,
        connection,
        run_id,
        status="failed" if error else "succeeded",
        error=error,
        fetched=pulled.fetched if pulled else 0,
        details=details,
    )


def failure_text(connection: Connection, exc: BaseException, doing: str) -> str:
    """One redacted line for a failed step: a CrmError says it all, anything else is named with
    the connection and logged (redacted too) for the operator."""
    if isinstance(exc, CrmError):
        return redact(str(exc))
    if isinstance(exc, psycopg.Error):
        return redact(f"{connection.label}: {doing} in PostgreSQL failed: {exc}")
    text = redact(f"{connection.label}: {doing} failed: {type(exc).__name__}: {exc}")
    log.error(text)
    return text


def _failed(
    connect: ConnectionFactory,
    connection: Connection,
    run_id: str,
    summary: dict[str, Any],
    error: str,
) -> dict[str, Any]:
    summary["error"] = error
    summary = redact_value(summary)
    _finish_run(connect, connection, run_id, status="failed", error=error, details=summary)
    return summary


def sync_connection(
    connect: ConnectionFactory, postgres_url: str, connection: Connection
) -> dict[str, Any]:
    """Pull the connection's changes and load them into leads; the summary of both."""
    summary = _base(connection) | {"kind": "pull", "status": "failed"}
    run_id = _start_run(connect, connection, "pull")
    started = time.perf_counter()
    try:
        pulled = pull(connection, postgres_url)
        summary["pull"] = pulled.as_dict()
        loaded = load_connection(connect, connection)
        summary["load"] = loaded.summary()
    except Exception as exc:  # one connection's failure is its run's error, never a traceback
        return _failed(
            connect, connection, run_id, summary, failure_text(connection, exc, "loading")
        )
    summary["status"] = "succeeded"
    summary["seconds"] = round(time.perf_counter() - started, 3)
    _finish_run(
        connect,
        connection,
        run_id,
        status="succeeded",
        fetched=pulled.fetched,
        batch_id=loaded.batch_id,
        details=summary,
    )
    return summary


def push_back(connect: ConnectionFactory, connection: Connection) -> dict[str, Any]:
    """Push the connection's changed leads; the summary."""
    summary: dict[str, Any] = _base(connection) | {"kind": "push", "status": "failed"}
    run_id = _start_run(connect, connection, "push")
    started = time.perf_counter()
    try:
        result = push_connection(connect, connection)
    except Exception as exc:  # one connection's failure is its run's error, never a traceback
        return _failed(
            connect, connection, run_id, summary, failure_text(connection, exc, "the push")
        )
    summary["push"] = result.as_dict()
    summary["seconds"] = round(time.perf_counter() - started, 3)
    if result.failed:
        summary["error"] = (
            f"{connection.label}: the CRM refused {len(result.failed)} record(s);"
            " they are retried by the next push"
        )
    summary["status"] = "failed" if result.failed else "succeeded"
    summary = redact_value(summary)  # the CRM's own failure texts are in it
    _finish_run(
        connect,
        connection,
        run_id,
        status=summary["status"],
        error=summary.get("error"),
        pushed=result.pushed,
        push_failed=len(result.failed),
        details=summary,
    )
    return summary


def connection_status(conn: psycopg.Connection, connection: Connection) -> dict[str, Any]:
    """What an operator asks of a connection: its settings (no secret), state and last runs;
    read in the caller's transaction, scoped here to the connection's organization (so the
    application role reads it as well)."""
    set_tenant(conn, connection.organization_id)
    state = conn.execute(
        "select last_load_id, pushed_until, last_pull_at, last_push_at from crm_sync_state"
        " where connection_id = %s",
        (connection.id,),
    ).fetchone() or (None, None, None, None)
    linked = one_row(
        conn.execute(
            "select count(*), count(pushed_at) from lead_external_ids where connection_id = %s",
            (connection.id,),
        )
    )
    runs = {}
    for kind in ("pull", "push"):
        row = conn.execute(
            """
            select status, started_at, finished_at, fetched, pushed, push_failed, error
            from crm_sync_runs where connection_id = %s and kind = %s
            order by started_at desc limit 1
            """,
            (connection.id, kind),
        ).fetchone()
        runs[kind] = (
            None
            if row is None
            else {
                "status": row[0],
                "started_at": row[1].isoformat(),
                "finished_at": row[2].isoformat() if row[2] else None,
                "fetched": row[3],
                "pushed": row[4],
                "push_failed": row[5],
                "error": redact(row[6]),
            }
        )
    base: dict[str, Any] = redact_value(_base(connection))
    return base | {
        "base_url": redact(connection.base_url),
        "secret_env": connection.secret_env,
        "pull_enabled": connection.pull_enabled,
        "push_enabled": connection.push_enabled,
        "last_load_id": state[0],
        "pushed_until": state[1].isoformat() if state[1] else None,
        "last_pull_at": state[2].isoformat() if state[2] else None,
        "last_push_at": state[3].isoformat() if state[3] else None,
        "linked_records": linked[0],
        "pushed_records": linked[1],
        "last_pull": runs["pull"],
        "last_push": runs["push"],
    }
