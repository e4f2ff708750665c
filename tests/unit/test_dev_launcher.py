"""`make dev`'s launcher: it refuses a port it cannot serve on before it starts anything (a bad
LEADFLOW_UI_PORT and a port in use are bad requests, exit 2, naming how to choose another), and
its supervision, on small real processes in place of `dagster dev`: a signal stops the whole
process group; the same stop delivered twice (a SIGTERM to make's process group reaches the
launcher directly and through make) is not a second request; a group that ignores the signal is
killed after the grace period, or at once at a second signal. With real `dagster dev`
processes: tests/integration/test_dev_launcher.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from leadflow.cli.conventions import BAD_REQUEST
from leadflow.platform.dev import group_members
from leadflow.settings import Settings


def _launch(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "leadflow.platform.dev", *args],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_ui_port_defaults_to_3000_and_is_validated():
    assert Settings({}).ui_port == 3000
    assert Settings({"LEADFLOW_UI_PORT": "3005"}).ui_port == 3005


def test_a_bad_port_setting_is_a_bad_request():
    result = _launch(LEADFLOW_UI_PORT="zero")
    assert result.returncode == BAD_REQUEST
    assert "LEADFLOW_UI_PORT must be a whole number, got 'zero'" in result.stderr
    result = _launch(LEADFLOW_UI_PORT="70000")
    assert result.returncode == BAD_REQUEST
    assert "between 1 and 65535, got 70000" in result.stderr


def test_a_port_in_use_is_a_bad_request_naming_the_choices():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for result in (_launch(LEADFLOW_UI_PORT=str(port)), _launch("--port", str(port))):
            assert result.returncode == BAD_REQUEST, result.stderr
            assert f"port {port} on 127.0.0.1 is in use" in result.stderr
            assert "UI_PORT" in result.stderr and "LEADFLOW_UI_PORT" in result.stderr
            assert "dagster dev started" not in result.stderr


#: stands in for `dagster dev`: a child of its own in the group (as the code server is), a
#: shutdown that takes a moment, or (argv[1] == "stubborn") SIGTERM ignored, or (argv[1] ==
#: "leaves") its own exit the moment the supervisor is told to stop, leaving its child behind
_DAGSTER = """
import os, signal, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
if sys.argv[1] == "leaves":
    time.sleep(1.0)
    os.kill(os.getppid(), signal.SIGTERM)
    sys.exit(0)
def stop(signum, frame):
    time.sleep(0.5)
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if sys.argv[1] == "stubborn" else stop)
time.sleep(300)
"""

_SUPERVISOR = """
import logging, os, sys
from pathlib import Path
from leadflow.platform.dev import supervise
logging.basicConfig(level=logging.INFO, format="%(message)s")
command = [sys.executable, "-c", sys.argv[1], sys.argv[2]]
sys.exit(supervise(command, dict(os.environ), Path.cwd(), float(sys.argv[3])))
"""


def _group(pgid: int) -> list[int]:
    return [proc.pid for proc in group_members(pgid)]


def _supervise(mode: str, grace: float, *signals: tuple[float, int]) -> tuple[int, str, float]:
    """Start the supervisor of a stand-in, send `signals` (seconds after the first, signal) once
    its group has two processes; (exit code, its log, seconds from the first signal)."""
    supervisor = subprocess.Popen(
        [sys.executable, "-c", _SUPERVISOR, _DAGSTER, mode, str(grace)],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert supervisor.stderr is not None
        started = supervisor.stderr.readline()
        pgid = int(started.rsplit(" ", 1)[1].rstrip(")\n"))
        deadline = time.monotonic() + 30
        while len(_group(pgid)) < 2:
            assert time.monotonic() < deadline, "the stand-in's child never started"
            time.sleep(0.05)
        sent = time.monotonic()
        for after, signum in signals:
            time.sleep(max(0.0, sent + after - time.monotonic()))
            supervisor.send_signal(signum)
        code = supervisor.wait(timeout=30)
        elapsed = time.monotonic() - sent
        assert _group(pgid) == []
        return code, started + supervisor.stderr.read(), elapsed
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait()


def test_the_same_stop_twice_is_one_clean_stop():
    code, log, elapsed = _supervise("clean", 20, (0, signal.SIGTERM), (0.1, signal.SIGTERM))
    assert code == 0, log
    assert "SIGTERM received: stopping dagster dev" in log and "dagster dev stopped" in log
    assert "killing" not in log and elapsed < 10


def test_a_group_ignoring_the_signal_is_killed_after_the_grace_period():
    code, log, elapsed = _supervise("stubborn", 1.5, (0, signal.SIGTERM))
    assert code == 1, log
    assert "did not stop within 2 s: killing its processes" in log
    assert 1.5 <= elapsed < 10


def test_a_second_signal_later_kills_at_once():
    # SIGTERM twice: a SIGHUP would be ignored when the tests run under nohup (kept ignored
    # on purpose, see leadflow/platform/dev.py)
    code, log, elapsed = _supervise("stubborn", 20, (0, signal.SIGTERM), (2.5, signal.SIGTERM))
    assert code == 1, log
    assert "second signal: killing dagster dev's processes" in log
    assert 2.5 <= elapsed < 10


def test_a_stop_that_comes_as_dagster_dev_exits_is_still_a_clean_stop():
    """The signal lands as the leader exits: what it left still gets SIGTERM and the grace
    period (it used to be killed at once, exit 1)."""
    code, log, _ = _supervise("leaves", 20)
    assert code == 0, log
    assert "SIGTERM received: stopping dagster dev" in log and "dagster dev stopped" in log
    assert "killing" not in log
