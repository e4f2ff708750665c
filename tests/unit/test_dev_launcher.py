"""`make dev`'s launcher refuses a port it cannot serve on before it starts anything: a bad
LEADFLOW_UI_PORT and a port in use are bad requests (exit 2) naming how to choose another.
Its signal handling is tested with real `dagster dev` processes in
tests/integration/test_dev_launcher.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from leadflow.cli.conventions import BAD_REQUEST
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
