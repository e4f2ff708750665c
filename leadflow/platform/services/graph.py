"""Local Bolt graph server: ArcadeDB (`arcadedb-embedded`) with its Bolt plugin.

The official `neo4j` driver connects to it and sees "Neo4j/5.26.0 compatible". The JVM runs in
its own process (`graph_server.py`) so that a leadflow command can exit while the server goes on.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from leadflow import settings
from leadflow.platform.services.base import (
    LOOPBACK,
    LocalService,
    PortTakenError,
    ServiceError,
    free_port,
    missing_local_extra,
    pid_alive,
    port_accepts,
    wait_for,
)

LOCAL_USER = "root"  # ArcadeDB's administrator; the Bolt plugin authenticates against it
DEFAULT_LOCAL_PASSWORD = "leadflow-local"  # loopback-only development server, not a secret


def graph_auth() -> tuple[str, str]:
    """(user, password) for the graph in use: NEO4J_USER/NEO4J_PASSWORD or the local default."""
    return (
        settings.current().neo4j_user or LOCAL_USER,
        settings.current().neo4j_password or DEFAULT_LOCAL_PASSWORD,
    )


def graph_database() -> str:
    return settings.current().neo4j_database


def create_database(name: str, service: GraphService | None = None) -> str:
    """Create database `name` on the local ArcadeDB server (no-op when it exists); returns it.

    Through ArcadeDB's HTTP API (POST /api/v1/server) with the root credentials: Bolt has no
    CREATE DATABASE there, and a Bolt query against a missing database hangs. An external Neo4j
    (NEO4J_URI) is not managed here: use its configured database.
    """
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,62}", name):
        raise ServiceError(f"graph database name {name!r}: use letters, digits and _")
    service = service or GraphService()
    if service.is_external():
        raise ServiceError("NEO4J_URI is set: databases of an external Neo4j are not created here")
    service.ensure_running()
    state = service.running_state() or {}
    if "http_port" not in state:
        raise ServiceError("the local graph server's state has no http_port; restart it")
    if name in _server_command(state["http_port"], "list databases"):
        return name
    _server_command(state["http_port"], f"create database {name}")
    return name


def drop_database(name: str, service: GraphService | None = None) -> bool:
    """Drop database `name` of the local ArcadeDB server; False when there is nothing to drop
    (absent, server not running, or an external Neo4j, whose databases are not managed here)."""
    service = service or GraphService()
    if service.is_external():
        return False
    state = service.running_state() or {}
    if "http_port" not in state or name not in _server_command(
        state["http_port"], "list databases"
    ):
        return False
    _server_command(state["http_port"], f"drop database {name}")
    return True


def _server_command(http_port: int, command: str) -> Any:
    """The server's JSON `result` of a command."""
    user, password = LOCAL_USER, graph_auth()[1]
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        f"http://{LOOPBACK}:{http_port}/api/v1/server",
        data=json.dumps({"command": command}).encode(),
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"{}").get("result")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        raise ServiceError(f"graph server refused {command!r}: {exc.code} {detail}") from exc
    except OSError as exc:
        raise ServiceError(f"graph server HTTP API unreachable: {exc}") from exc


#: what ArcadeDB (HTTP server) or the JVM (Bolt listener) logs when a port is in use
_PORT_TAKEN = ("Unable to listen", "Address already in use", "BindException")


class GraphService(LocalService):
    name = "graph"
    external_env = ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD")
    port_env = "LEADFLOW_BOLT_PORT"
    preferred_port = 57687

    def _url(self, state: dict) -> str:
        return f"bolt://{LOOPBACK}:{state['port']}"

    def local_env(self, state: dict) -> dict[str, str]:
        user, password = graph_auth()
        return {"NEO4J_URI": self._url(state), "NEO4J_USER": user, "NEO4J_PASSWORD": password}

    def _log_since(self, offset: int) -> str:
        with open(self.log_file, "rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", "replace")

    def _start(self, port: int) -> dict:
        if importlib.util.find_spec("arcadedb_embedded") is None:
            raise missing_local_extra("arcadedb-embedded")
        http_port = settings.current().graph_http_port or free_port(port + 1)
        _, password = graph_auth()
        cmd = [
            sys.executable,
            "-m",
            "leadflow.platform.services.graph_server",
            "--root",
            str(self.home / "databases"),
            "--bolt-port",
            str(port),
            "--http-port",
            str(http_port),
            "--password",
            password,
            "--database",
            graph_database(),
            "--heap",
            settings.current().graph_heap,
        ]
        log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.home,
                start_new_session=True,
            )
        ready = self.home / "ready"
        ready.unlink(missing_ok=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                message = f"graph server exited with {proc.returncode} while starting; see {self.log_file}"
                if any(marker in self._log_since(log_start) for marker in _PORT_TAKEN):
                    raise PortTakenError(f"{message} (bolt {port} or HTTP {http_port} was taken)")
                raise ServiceError(message)
            if ready.exists() and port_accepts(port):
                break
            time.sleep(0.3)
        else:
            proc.terminate()
            raise ServiceError(f"graph server did not become ready in 120s; see {self.log_file}")
        return {"pid": proc.pid, "port": port, "http_port": http_port}

    def _healthy(self, state: dict) -> bool:
        return pid_alive(state.get("pid")) and port_accepts(state["port"])

    def _stop(self, state: dict) -> None:
        super()._stop(state)
        wait_for(lambda: not port_accepts(state["port"]), 20, "the Bolt port to close")
