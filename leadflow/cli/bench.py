"""`leadflow bench …`: the old name of `python -m benchmarks …`, kept working for scripts.

The benchmarks are development tools of the checkout (its top-level benchmarks/), not part of
the installed product, so they moved out of this CLI. Each old command line prints a one-line
deprecation notice on stderr, then runs the same command (benchmarks/cli.py) with the same
options and figures. One deliberate change, as in `python -m benchmarks`: with --json the human
report goes to stderr, so stdout is the one JSON object (`nightly` and `recommend` used to print
the report before it on stdout). Only this alias puts the checkout on sys.path to find them;
outside a checkout (an installed wheel) it says so and exits 2 (a bad request: nothing ran).
"""

from __future__ import annotations

import importlib
import sys

import click

from leadflow import settings
from leadflow.cli.conventions import BAD_REQUEST, EXIT_CODES_HELP, deprecation_notice, fail

#: the commands of `python -m benchmarks`, listed without importing them
COMMANDS = ("ingest", "dbt", "graph", "nightly", "recommend")


def benchmarks_cli() -> click.Group:
    """The `python -m benchmarks` group of the checkout (LEADFLOW_PROJECT_DIR, default the
    package's parent), or exit 2 when there is none."""
    root = settings.project_root()
    if not (root / "benchmarks" / "cli.py").exists():
        fail(
            f"benchmarks/ not found in {root}: the benchmarks run from a source checkout, "
            "as `python -m benchmarks …` in its root (set LEADFLOW_PROJECT_DIR to use another)",
            BAD_REQUEST,
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    group: click.Group = importlib.import_module("benchmarks.cli").cli
    return group


class DeprecatedBench(click.Group):
    """Each subcommand is `python -m benchmarks`'s command of that name, run after the notice."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        return benchmarks_cli().commands.get(cmd_name)


@click.group(cls=DeprecatedBench, epilog=EXIT_CODES_HELP, hidden=True)
@click.pass_context
def bench(ctx: click.Context) -> None:
    """Deprecated: the benchmarks are `python -m benchmarks …` (in the checkout's root).

    \b
    Examples:
      python -m benchmarks nightly --leads 1000 --json
      leadflow bench nightly --leads 1000 --json   (old name: a notice, then the same)
    """
    command = ctx.invoked_subcommand
    deprecation_notice(f"leadflow bench {command}", f"python -m benchmarks {command}")
