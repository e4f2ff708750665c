"""`make dev`: `dagster dev` on leadflow's definitions, stopped cleanly by Ctrl-C or SIGTERM.

`dagster dev` runs the UI, the daemon and a code server as child processes, and maps SIGTERM to
whatever SIGINT does. Started without a terminal (a background job, an IDE task, a supervisor)
it inherits SIGINT *ignored*, so neither signal stopped it, and stopping `make` left all of them
running on the port. This launcher restores the signals, starts `dagster dev` in a process group
of its own, forwards SIGINT (SIGTERM and SIGHUP as SIGTERM) to that whole group, waits for every
process of it to end, and kills what is left after a grace period or at a second signal.
Without a terminal, stop `make dev` with SIGTERM (make passes it on) or any of the three to its
process group; a SIGINT to make alone is lost when make started with it ignored.

    python -m leadflow.platform.dev [--port N] [--host H] [--module M]
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import NoReturn

import click
import psutil

from leadflow import settings
from leadflow.platform.services import local_env
from leadflow.platform.services.base import LOOPBACK, port_is_free

log = logging.getLogger("leadflow.dev")

#: the command line's exit codes (leadflow.cli.conventions; the platform does not import the CLI)
OK, FAILED, BAD_REQUEST = 0, 1, 2
EXIT_CODES_HELP = "\b\nExit codes: 0 ok, 1 failed (something had to be killed), 2 bad request"
#: seconds `dagster dev` and its children get to shut down before they are killed
GRACE_SECONDS = 20.0
#: a signal this long after the first is a second request (kill now), not the same one twice
#: (a SIGTERM to make's process group reaches the launcher directly and through make)
REPEAT_SECONDS = 2.0
#: the signals that stop the launcher, and the one each is passed on to the group as
FORWARDED = {
    signal.SIGINT: signal.SIGINT,
    signal.SIGTERM: signal.SIGTERM,
    signal.SIGHUP: signal.SIGTERM,
}
DEFAULT_MODULE = "leadflow.definitions"


def dagster_command(port: int, host: str, module: str) -> list[str]:
    return [
        sys.executable,
        *("-m", "dagster", "dev", "-m", module),
        *("--host", host, "--port", str(port)),
    ]


def dagster_environment() -> dict[str, str]:
    """This environment, plus what `eval "$(leadflow local env)"` would add (the running local
    servers), DAGSTER_HOME (the instance the CLI's runs are recorded in, so the UI shows them)
    and this interpreter's bin/ first on PATH (dagster-dbt runs the `dbt` it finds there)."""
    current = settings.current()
    env = {**current.environ, **local_env()}
    home = current.dagster_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():  # as leadflow.cli.common.dagster_instance() writes it
        config.write_text(
            "# local instance written by leadflow; see deploy/dagster.yaml for production\n"
            "telemetry:\n  enabled: false\n",
            encoding="utf-8",
        )
    env["DAGSTER_HOME"] = str(home)
    env["PATH"] = os.pathsep.join(
        part for part in (str(Path(sys.executable).parent), env.get("PATH")) if part
    )
    return env


def group_members(pgid: int) -> list[psutil.Process]:
    """The live processes of process group `pgid` (zombies waiting to be reaped excluded)."""
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (OSError, psutil.Error):
            continue
    return members


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"leadflow dev: error: {message}", err=True)
    sys.exit(code)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group has ended already
        os.killpg(pgid, sig)


def supervise(command: list[str], env: dict[str, str], cwd: Path, grace: float) -> int:
    """Run `command` in a new session (its own process group) until it ends on its own or a
    signal stops it; returns the exit code: the command's own, OK after a clean stop, FAILED
    when something had to be killed."""
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    # Installed before the child starts: a signal that arrives meanwhile is passed on as soon as
    # the group exists, and the child starts with default dispositions (exec resets handled
    # signals; an inherited "ignored" SIGINT would have stayed ignored). An ignored SIGHUP is
    # `nohup`'s: left ignored.
    for sig in FORWARDED:
        if not (sig == signal.SIGHUP and signal.getsignal(sig) == signal.SIG_IGN):
            signal.signal(sig, on_signal)

    proc = subprocess.Popen(command, env=env, cwd=cwd, start_new_session=True)
    pgid = proc.pid
    log.info("dagster dev started (process group %s)", pgid)
    handled = 0
    first = 0.0
    deadline: float | None = None
    killed = False

    def handle_signals() -> None:
        """The signals not handled yet: the first is forwarded to the group and starts the
        grace period; a repeat after REPEAT_SECONDS kills (one keypress often sends two)."""
        nonlocal handled, first, deadline, killed
        while handled < len(received):
            signum = received[handled]
            handled += 1
            if handled == 1:
                name = signal.Signals(signum).name
                log.info("%s received: stopping dagster dev (up to %.0f s)", name, grace)
                _signal_group(pgid, FORWARDED[signal.Signals(signum)])
                first = time.monotonic()
                deadline = first + grace
            elif not killed and time.monotonic() - first > REPEAT_SECONDS:
                log.warning("second signal: killing dagster dev's processes")
                _signal_group(pgid, signal.SIGKILL)
                killed = True

    while True:
        try:
            code = proc.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            pass
        handle_signals()
        if deadline is not None and not killed and time.monotonic() > deadline:
            log.warning("dagster dev did not stop within %.0f s: killing its processes", grace)
            _signal_group(pgid, signal.SIGKILL)
            killed = True

    # a signal that came as `dagster dev` ended is still a clean stop of what it left
    handle_signals()
    # `dagster dev` has ended; the children it left (a code server, a dbt parse) end with it.
    if not received:
        log.info("dagster dev exited with %s", code)
        _signal_group(pgid, signal.SIGTERM)
    # what is left gets the rest of the grace period (a few seconds at least)
    now = time.monotonic()
    if killed:
        until = now + 5.0
    elif deadline is not None:
        until = max(deadline, now + 5.0)
    else:
        until = now + grace
    while (left := group_members(pgid)) and time.monotonic() < until:
        handle_signals()  # a repeat (not the same keypress twice) kills at once
        if killed:
            break
        time.sleep(0.2)
    if left:
        log.warning("killing what dagster dev left: %s", ", ".join(str(p.pid) for p in left))
        _signal_group(pgid, signal.SIGKILL)
        killed = True
    if killed:
        return FAILED
    if received:
        log.info("dagster dev stopped")
        return OK
    return code


@click.command(
    epilog=EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port of the UI (default: LEADFLOW_UI_PORT, else 3000).",
)
@click.option("--host", default=LOOPBACK, show_default=True, help="Address the UI listens on.")
@click.option(
    "-m",
    "--module",
    default=DEFAULT_MODULE,
    show_default=True,
    help="Python module holding the Definitions to load.",
)
def main(port: int | None, host: str, module: str) -> None:
    """`dagster dev` (UI, daemon, code server) that Ctrl-C, SIGTERM or SIGHUP stop with all
    of its processes, with or without a terminal. A second signal (2 s or more later) kills them
    at once.

    \b
    Examples:
      make dev
      make dev UI_PORT=3001
      LEADFLOW_UI_PORT=3001 python -m leadflow.platform.dev
    """
    logging.basicConfig(level=logging.INFO, format="leadflow dev: %(message)s")
    try:
        chosen = port if port is not None else settings.current().ui_port
    except settings.SettingError as exc:
        fail(str(exc), BAD_REQUEST)
    if not 1 <= chosen <= 65535:
        fail(f"LEADFLOW_UI_PORT must be a port between 1 and 65535, got {chosen}", BAD_REQUEST)
    if not port_is_free(chosen, host):
        fail(
            f"port {chosen} on {host} is in use: choose another with "
            "`make dev UI_PORT=…` or LEADFLOW_UI_PORT",
            BAD_REQUEST,
        )
    log.info("Dagster UI on http://%s:%s", host, chosen)
    code = supervise(
        dagster_command(chosen, host, module),
        dagster_environment(),
        settings.project_root(),
        GRACE_SECONDS,
    )
    sys.exit(code)


if __name__ == "__main__":
    main()
