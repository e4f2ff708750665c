"""Helpers of the CRM hostile-tenant tests (the folder's conftest.py is shared: these live here).

`hostile_connection` writes a `crm_connections` row straight into the table as the database
owner, bypassing `leadflow crm connect`'s checks: a row a tenant could write before the fix, or
a compromised row (a future tenant-writable UI, a restored dump) after it. Every defence is
then proven where it has to hold: when the sync reads the row.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from leadflow.crmsync.connections import Connection, get_connection
from leadflow.platform.crm_sandbox import ContractServer

ALLOWED_HOSTS = "LEADFLOW_CRM_ALLOWED_HOSTS"


def hostport(server: ContractServer) -> str:
    """`127.0.0.1:PORT` of a running contract server."""
    return server.base_url.removeprefix("http://")


def allow(monkeypatch, *servers: ContractServer) -> None:
    """List the servers' host:port in LEADFLOW_CRM_ALLOWED_HOSTS, as the demo and tests do."""
    monkeypatch.setenv(ALLOWED_HOSTS, ",".join(hostport(server) for server in servers))


def hostile_connection(
    url: str,
    *,
    org: str,
    vendor: str,
    base_url: str,
    secret_env: str,
    name: str,
    options: dict[str, Any] | None = None,
) -> Connection:
    """A connection row written as the owner, without any of the CLI's checks."""
    with psycopg.connect(url) as conn:
        connection_id = conn.execute(
            "insert into crm_connections (organization_id, vendor, name, base_url, secret_env,"
            " options) values (%s, %s, %s, %s, %s, %s) returning id::text",
            (org, vendor, name, base_url, secret_env, Jsonb(options or {})),
        ).fetchone()[0]
        conn.execute(
            "insert into crm_sync_state (connection_id, organization_id) values (%s, %s)",
            (connection_id, org),
        )
        return get_connection(conn, connection_id)


def tenant_cannot_write(
    tenant: psycopg.Connection, *, org: str, vendor: str, base_url: str, secret_env: str, name: str
) -> None:
    """The hostile row, written by the tenant itself (the application role, its tenant set):
    refused by row-level security, as crm_connections is the operator's."""
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        tenant.execute(
            "insert into crm_connections (organization_id, vendor, name, base_url, secret_env)"
            " values (%s, %s, %s, %s, %s)",
            (org, vendor, name, base_url, secret_env),
        )


def tokens_seen(server: ContractServer, *tokens: str) -> list[str]:
    """Every place of the server's request log (path, query, headers, body) holding a token."""
    found = []
    for request in server.requests:
        text = json.dumps(request, default=str)
        found += [f"{request['method']} {request['path']}: {t}" for t in tokens if t in text]
    return found


class _Receiver(BaseHTTPRequestHandler):
    received: list[bytes]

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.received.append(self.rfile.read(length))
        self.send_response(204)
        self.end_headers()


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[bytes]]]:
    """(URL, bodies received): a local HTTP receiver for LEADFLOW_ALERT_WEBHOOK."""
    handler = type("Receiver", (_Receiver,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/alerts", handler.received
    finally:
        server.shutdown()
        server.server_close()
