"""A connection's sync as operators run it: pull (dlt) then load (the import path), or push.

Each pull and push is recorded in `crm_sync_runs` with its counts, or its error: a failure of
one connection is reported with the connection's name and does not stop the others (the
callers decide: `leadflow crm` exits 1, the Dagster asset fails its partition).
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from leadflow.crmsync.connections import Connection, CrmError
from leadflow.crmsync.load import load_connection
from leadflow.crmsync.pull import pull
from leadflow.crmsync.push import push_connection
from leadflow.postgres import ConnectionFactory
from leadflow.recommend.cache import invalidate_changed


def _start_run(connect: ConnectionFactory, connection: Connection, kind: str) -> str:
    with connect() as conn:
        return conn.execute(
            "insert into crm_sync_runs (connection_id, organization_id, kind) values (%s, %s, %s)"
            " returning id::text",
            (connection.id, connection.organization_id, kind),
        ).fetchone()[0]


def _finish_run(connect: ConnectionFactory, run_id: str, *, status: str, error: str | None = None,
                fetched: int = 0, batch_id: str | None = None, pushed: int = 0,
                push_failed: int = 0, details: dict | None = None) -> None:  # fmt: skip
    with connect() as conn:
        conn.execute(
            """
            update crm_sync_runs set status = %s, error = %s, fetched = %s, batch_id = %s,
                pushed = %s, push_failed = %s, details = %s, finished_at = now()
            where id = %s
            """,
            (status, error, fetched, batch_id, pushed, push_failed, Jsonb(details or {}), run_id),
        )


def _base(connection: Connection) -> dict[str, Any]:
    return {
        "connection": connection.name,
        "connection_id": connection.id,
        "organization_id": connection.organization_id,
        "organization": connection.organization_slug,
        "vendor": connection.vendor,
    }


def record_pull(connect: ConnectionFactory, connection: Connection, *, pulled: Any = None,
                error: str | None = None) -> None:  # fmt: skip
    """Record a pull made elsewhere (the Dagster raw assets) in crm_sync_runs."""
    run_id = _start_run(connect, connection, "pull")
    details = _base(connection) | ({"pull": pulled.as_dict()} if pulled else {})
    _finish_run(connect, run_id, status="failed" if error else "succeeded", error=error,
                fetched=pulled.fetched if pulled else 0, details=details)  # fmt: skip


def sync_connection(connect: ConnectionFactory, postgres_url: str,
                    connection: Connection) -> dict[str, Any]:  # fmt: skip
    """Pull the connection's changes and load them into leads; the summary of both."""
    summary = _base(connection) | {"kind": "pull", "status": "failed"}
    run_id = _start_run(connect, connection, "pull")
    started = time.perf_counter()
    try:
        pulled = pull(connection, postgres_url)
        summary["pull"] = pulled.as_dict()
        loaded = load_connection(connect, connection)
        summary["load"] = loaded.summary()
        if loaded.rows_read:
            invalidate_changed(connect, [connection.organization_id])
    except CrmError as exc:
        summary["error"] = str(exc)
        _finish_run(connect, run_id, status="failed", error=str(exc), details=summary)
        return summary
    except psycopg.Error as exc:
        summary["error"] = f"{connection.label}: loading into PostgreSQL failed: {exc}"
        _finish_run(connect, run_id, status="failed", error=summary["error"], details=summary)
        return summary
    summary["status"] = "succeeded"
    summary["seconds"] = round(time.perf_counter() - started, 3)
    _finish_run(connect, run_id, status="succeeded", fetched=pulled.fetched,
                batch_id=loaded.batch_id, details=summary)  # fmt: skip
    return summary


def push_back(connect: ConnectionFactory, connection: Connection) -> dict[str, Any]:
    """Push the connection's changed leads; the summary."""
    summary = _base(connection) | {"kind": "push", "status": "failed"}
    run_id = _start_run(connect, connection, "push")
    started = time.perf_counter()
    try:
        result = push_connection(connect, connection)
    except CrmError as exc:
        summary["error"] = str(exc)
        _finish_run(connect, run_id, status="failed", error=str(exc), details=summary)
        return summary
    summary["push"] = result.as_dict()
    summary["seconds"] = round(time.perf_counter() - started, 3)
    if result.failed:
        summary["error"] = (
            f"{connection.label}: the CRM refused {len(result.failed)} record(s);"
            " they are retried by the next push"
        )
    summary["status"] = "failed" if result.failed else "succeeded"
    _finish_run(connect, run_id, status=summary["status"], error=summary.get("error"),
                pushed=result.pushed, push_failed=len(result.failed), details=summary)  # fmt: skip
    return summary


def connection_status(conn: psycopg.Connection, connection: Connection) -> dict[str, Any]:
    """What an operator asks of a connection: its settings (no secret), state and last runs."""
    state = conn.execute(
        "select last_load_id, pushed_until, last_pull_at, last_push_at from crm_sync_state"
        " where connection_id = %s",
        (connection.id,),
    ).fetchone() or (None, None, None, None)
    linked = conn.execute(
        "select count(*), count(pushed_at) from lead_external_ids where connection_id = %s",
        (connection.id,),
    ).fetchone()
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
        runs[kind] = None if row is None else {
            "status": row[0],
            "started_at": row[1].isoformat(),
            "finished_at": row[2].isoformat() if row[2] else None,
            "fetched": row[3],
            "pushed": row[4],
            "push_failed": row[5],
            "error": row[6],
        }  # fmt: skip
    return _base(connection) | {
        "base_url": connection.base_url,
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
