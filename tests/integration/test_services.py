"""The local servers through the CLI, in a private LEADFLOW_HOME: start, report, reuse, stop."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
import redis
from neo4j import GraphDatabase
from pymongo import MongoClient

from leadflow.platform.services.base import port_accepts, port_is_free
from leadflow.platform.services.graph import graph_auth
from tests.conftest import run_leadflow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXTERNAL_VARS = (
    "POSTGRES_URL",
    "NEO4J_URI",
    "NEO4J_USER",
    "NEO4J_PASSWORD",
    "MONGO_URL",
    "REDIS_URL",
)


def _leadflow(home: Path, *args: str, extra_env: dict[str, str] | None = None):
    """`leadflow ARGS` with a private LEADFLOW_HOME and no external deployment configured."""
    env: dict[str, str | None] = dict.fromkeys(EXTERNAL_VARS)
    env["LEADFLOW_HOME"] = str(home)
    env.update(extra_env or {})
    return run_leadflow(*args, env=env)


@pytest.fixture
def home(tmp_path: Path):
    home = tmp_path / "leadflow-home"
    yield home
    _leadflow(home, "down")  # never leave servers behind, whatever the test did


def test_services_start_from_nothing_report_reuse_and_stop(home: Path):
    first = _leadflow(home, "up")
    assert first.returncode == 0, first.stderr
    status = json.loads(_leadflow(home, "status", "--json").stdout)
    assert {name: st["mode"] for name, st in status.items()} == {
        "postgres": "running",
        "graph": "running",
        "mongo": "running",
        "redis": "running",
    }
    urls = {name: st["url"] for name, st in status.items()}
    pids = {name: st["pid"] for name, st in status.items()}
    assert urls["postgres"].startswith("postgresql://postgres@127.0.0.1:")
    assert urls["graph"].startswith("bolt://127.0.0.1:")
    assert urls["mongo"].startswith("mongodb://127.0.0.1:")
    assert urls["redis"].startswith("redis://127.0.0.1:")
    assert "compatible" in status["graph"]["detail"]["server"]

    # each URL really serves its protocol
    with psycopg.connect(urls["postgres"]) as conn:
        assert conn.execute("select current_database()").fetchone()[0] == "leadflow"
    with GraphDatabase.driver(urls["graph"], auth=graph_auth()) as driver:
        records, _, _ = driver.execute_query("RETURN 41 + 1 AS answer")
        assert records[0]["answer"] == 42
    with MongoClient(urls["mongo"], serverSelectionTimeoutMS=5000) as client:
        client.lf.probe.insert_one({"x": 1})
        assert client.lf.probe.count_documents({"x": 1}) == 1
    cache = redis.Redis.from_url(urls["redis"])
    assert cache.set("probe", "1") and cache.get("probe") == b"1"
    cache.close()

    db_url = _leadflow(home, "db", "url")
    assert db_url.stdout == urls["postgres"] + "\n"

    again = _leadflow(home, "up")
    assert again.returncode == 0, again.stderr
    status_again = json.loads(_leadflow(home, "status", "--json").stdout)
    assert {name: st["pid"] for name, st in status_again.items()} == pids

    stopped = _leadflow(home, "down")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.count("stopped") == 4
    ports = [int(url.rsplit(":", 1)[1].split("/")[0]) for url in urls.values()]
    assert not any(port_accepts(port) for port in ports)
    final = json.loads(_leadflow(home, "status", "--json").stdout)
    assert {st["mode"] for st in final.values()} == {"stopped"}

    # data survives a restart
    _leadflow(home, "up", "mongo")
    url = json.loads(_leadflow(home, "status", "--json").stdout)["mongo"]["url"]
    with MongoClient(url, serverSelectionTimeoutMS=5000) as client:
        assert client.lf.probe.count_documents({"x": 1}) == 1


def test_configured_port_is_used_and_a_taken_one_is_a_clear_error(home: Path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _leadflow(home, "up", "mongo", extra_env={"LEADFLOW_MONGO_PORT": str(port)})
        assert result.returncode == 1
        assert f"port {port}" in result.stderr and "LEADFLOW_MONGO_PORT" in result.stderr
        assert "Traceback" not in result.stderr

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert port_is_free(free)
    result = _leadflow(home, "up", "mongo", extra_env={"LEADFLOW_MONGO_PORT": str(free)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == f"mongodb://127.0.0.1:{free}/"


def test_external_deployment_is_used_and_never_started_or_stopped(home: Path, pg_server_url):
    env = {"POSTGRES_URL": pg_server_url}
    assert _leadflow(home, "db", "url", extra_env=env).stdout.strip() == pg_server_url
    status = json.loads(_leadflow(home, "status", "--json", extra_env=env).stdout)
    assert status["postgres"]["mode"] == "external"
    down = _leadflow(home, "down", "postgres", extra_env=env)
    assert "external, left alone" in down.stdout
    assert not (home / "postgres" / "data").exists()


def test_a_port_taken_while_the_graph_server_starts_is_retried(tmp_path, monkeypatch):
    """Between choosing a free port and the server binding it, another program (any outgoing
    connection's source port) may take it: the start is retried on new ports, not failed."""
    import socket

    from leadflow.platform.services import GraphService
    from leadflow.platform.services import graph as graph_module

    for name in (
        "NEO4J_URI",
        "NEO4J_USER",
        "NEO4J_PASSWORD",
        "LEADFLOW_GRAPH_HTTP_PORT",
        "LEADFLOW_BOLT_PORT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADFLOW_HOME", str(tmp_path / "home"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        occupied = taken.getsockname()[1]
        real_free_port = graph_module.free_port
        handed = []

        def free_port_then_taken(preferred=None):  # the first HTTP port "found free" is taken
            handed.append(occupied if not handed else real_free_port(preferred))
            return handed[-1]

        monkeypatch.setattr(graph_module, "free_port", free_port_then_taken)
        service = GraphService()
        try:
            url = service.ensure_running()
            state = service.read_state()
            assert handed[0] == occupied and len(handed) == 2
            assert state["http_port"] == handed[1] != occupied
            assert port_accepts(int(url.rsplit(":", 1)[1]))
            assert "Unable to listen" in service.log_file.read_text()
        finally:
            service.stop()
