"""`make dev`'s launcher (leadflow/platform/dev.py) as a script or an IDE starts it: in the
background, without a terminal (stdin /dev/null, output to files, SIGINT ignored as a shell
leaves it for a background job). On the port LEADFLOW_UI_PORT names the UI answers with the
definitions loaded; then SIGTERM, or SIGINT, to the launcher alone stops `dagster dev` and every
process it started (webserver, daemon, code server) within 30 s, and frees the port.

Before the launcher, `make dev` ran `dagster dev` itself, which inherits the ignored SIGINT and
maps SIGTERM onto it: neither signal stopped it (issue 22: six processes needed SIGKILL).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from leadflow.platform.dev import group_members
from leadflow.platform.services.base import free_port, port_is_free

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
#: the bound the issue sets for a clean stop
STOP_SECONDS = 30
START_SECONDS = 120

_WORKSPACE = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def _locations(port: int) -> list[dict]:
    """The UI's code locations, or [] while the UI does not answer yet."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": _WORKSPACE}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            body = json.load(response)
    except OSError:
        return []
    return body["data"]["workspaceOrError"].get("locationEntries") or []


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _in_group(pgid: int) -> list[int]:
    return [proc.pid for proc in group_members(pgid)]


def _ignore_sigint() -> None:  # what `cmd &` in a non-interactive shell does to the job
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_every_process_and_frees_the_port(stop, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "LEADFLOW_UI_PORT": str(port),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "LEADFLOW_NIGHTLY_ENABLED": "false",
    }
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "leadflow.platform.dev"],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            cwd=ROOT,
            env=env,
            start_new_session=True,  # no controlling terminal
            preexec_fn=_ignore_sigint,
        )
    started: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + START_SECONDS
        while not (entries := _locations(port)) or entries[0]["loadStatus"] != "LOADED":
            assert launcher.poll() is None, err.read_text()[-3000:]
            assert time.monotonic() < deadline, f"no UI on {port}: {err.read_text()[-3000:]}"
            time.sleep(0.5)
        [entry] = entries
        assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
        # dagster dev, its webserver, daemon and code server (and the code server's process)
        started = psutil.Process(launcher.pid).children(recursive=True)
        assert len(started) >= 4, [p.cmdline() for p in started]
        groups = {os.getpgid(p.pid) for p in started}

        sent = time.monotonic()
        launcher.send_signal(stop)
        assert launcher.wait(timeout=STOP_SECONDS) == 0, err.read_text()[-3000:]
        assert time.monotonic() - sent < STOP_SECONDS

        assert [p.pid for p in started if _alive(p)] == []
        assert [pid for pgid in groups for pid in _in_group(pgid)] == []
        assert port_is_free(port)
        log = err.read_text()
        assert f"{signal.Signals(stop).name} received: stopping dagster dev" in log
        assert "dagster dev stopped" in log
    finally:  # nothing left behind, whatever failed
        if launcher.poll() is None:
            started.append(psutil.Process(launcher.pid))
        for proc in started:
            if _alive(proc):
                proc.kill()
        launcher.wait(timeout=10)
