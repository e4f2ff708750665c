"""The conventions every `leadflow` command keeps (STYLE.md, "Command line"): one exit-code table,
one `--json` format, an example in every help text, and old command names kept as hidden
aliases that say what replaced them.

Scripts rely on these: tests/unit/test_cli_contract.py walks every command and checks them.
This module loads nothing heavy.
"""

from __future__ import annotations

import copy
import functools
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

#: the exit-code table, the same for every command
OK = 0
#: the work started and did not finish: a server error, a failed step, a failed check
FAILED = 1
#: refused before any work: a bad argument, an unknown organization or user, a missing setting,
#: an outdated schema. Nothing was changed; the same command fails the same way until the
#: request (or the setup) changes.
BAD_REQUEST = 2
#: the command compared two things and found them different (`graph reconcile`)
DIFFERENCES = 3

EXIT_CODES = {
    OK: "ok",
    FAILED: "failed: the work started and did not finish (server error, failed step or check)",
    BAD_REQUEST: "bad request: refused before any work (argument, organization, user, setting, "
    "schema); nothing changed",
    DIFFERENCES: "differences found (comparisons such as `graph reconcile`)",
}

#: the epilog of every command's --help (click keeps a \b paragraph's lines as written)
EXIT_CODES_HELP = "\b\nExit codes: " + ", ".join(
    f"{code} {text.split(':')[0].split(' (')[0]}" for code, text in EXIT_CODES.items()
)

#: what runs through Dagster, said once for every command's help
DAGSTER_RULE = (
    "\b\nThrough Dagster (in this process; the run, its checks and lineage show in the UI of "
    "`make dev`):\n  the commands that load files or run the nightly: leads import, costs "
    "import, run, demo.\nDirectly (the same domain code the assets run; the command prints "
    "the result):\n  on-demand syncs, lookups and single changes: crm, graph, activities, "
    "sources, segments,\n  recommend, report, leads assign|rejects, orgs, users, db, local."
)


def fail(message: str, code: int = FAILED) -> NoReturn:
    """Print a one-line error (no traceback) on stderr and exit with `code`."""
    click.echo(f"leadflow: error: {message}", err=True)
    sys.exit(code)


#: the one `--json` flag (every leaf command has it; `emit_json` prints what it asks for)
JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object and nothing else."
)


def emit_json(payload: Any) -> None:
    """The one `--json` format: one object on stdout, on one line (so `tail -1`, `jq` and
    line-oriented tools all read it), dates and other values as strings. ASCII only (other
    characters escaped): it prints whatever encoding stdout has."""
    click.echo(json.dumps(payload, default=str, separators=(",", ":")))


def deprecation_notice(old: str, new: str) -> None:
    """The one line an old command line prints on stderr before doing what it always did
    (`old`, `new`: whole command lines, e.g. "leadflow import", "leadflow leads import")."""
    click.echo(f"leadflow: notice: `{old}` is deprecated; use `{new}`", err=True)


def is_terminal() -> bool:
    """Human output (progress lines, tables) for a person at a terminal; quiet when piped."""
    return sys.stderr.isatty()


def deprecated(command: click.Command, old: str, new: str, *, hidden: bool = True) -> click.Command:
    """`command` under its old name: hidden from --help, the same options and output, after
    the one-line notice on stderr. A group's subcommands are aliased the same way (their old
    and new names extended by theirs) and, like `hidden=False`, listed in the old group's own
    --help as they were."""
    alias = copy.copy(command)
    alias.hidden = hidden
    callback = command.callback
    if isinstance(command, click.Group):
        group = alias
        assert isinstance(group, click.Group)
        group.commands = {
            name: deprecated(sub, f"{old} {name}", f"{new} {name}", hidden=False)
            for name, sub in command.commands.items()
        }
        if callback is not None:
            # the group's own line only when it runs alone (invoke_without_command)

            @functools.wraps(callback)
            def group_callback(*args: Any, **kwargs: Any) -> Any:
                if click.get_current_context().invoked_subcommand is None:
                    deprecation_notice(old, new)
                return callback(*args, **kwargs)

            alias.callback = group_callback
        return alias
    if callback is not None:

        @functools.wraps(callback)
        def noticed(*args: Any, **kwargs: Any) -> Any:
            deprecation_notice(old, new)
            return callback(*args, **kwargs)

        alias.callback = noticed
    return alias


class Heartbeat:
    """Progress of a long command on a terminal: a line on stderr every `every` seconds with the
    elapsed time and what `status()` says (e.g. "12,000 leads sent"), and none when stderr is
    not a terminal (piped, cron, --json): scripts read the final output only.

        with Heartbeat("graph sync", lambda: f"{sent:,} leads sent") as beat:
            ...  # the work; beat.note(...) prints a line at once (e.g. an organization done)
    """

    def __init__(
        self,
        label: str,
        status: Callable[[], str] | None = None,
        every: float = 10.0,
        enabled: bool | None = None,
    ) -> None:
        import threading

        self.label = label
        self.status = status
        self.every = every
        self.enabled = is_terminal() if enabled is None else enabled
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
        self.started = 0.0

    def __enter__(self) -> Heartbeat:
        import time

        self.started = time.monotonic()
        if self.enabled:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)

    def note(self, text: str) -> None:
        if self.enabled:
            click.echo(f"  {self._elapsed()}  {self.label}: {text}", err=True)

    def _elapsed(self) -> str:
        import time

        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60:d}:{seconds % 60:02d}"

    def _beat(self) -> None:
        while not self.stop.wait(self.every):
            try:
                text = self.status() if self.status else "working"
            except Exception:  # progress must never fail the command
                text = "working"
            self.note(text)
