"""`leadflow`: the command line. Each group lives in its own module of this package.

The modules are imported only when their command runs, and each loads Dagster, dbt or a
database driver only once its arguments are checked and its work needs it: `--help` and a
refused argument cost a tenth of a second (tests/unit/test_cli_import_budget.py).
"""

from __future__ import annotations

import atexit
import gc
import importlib
import logging
import sys

import click

# The process ends when its command does. Its last act would otherwise be a full cyclic garbage
# collection of everything it loaded (half a second once Dagster is loaded: hundreds of thousands
# of objects), only to return memory the operating system takes back anyway: objects are
# frozen out of the collector's view first (atexit handlers run before that final collection).
atexit.register(gc.freeze)

#: command -> (module, attribute, one-line help shown by `leadflow --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "up": ("leadflow.cli.services", "up", "Start the local servers (all, or the ones named)."),
    "down": ("leadflow.cli.services", "down", "Stop the local servers."),
    "status": ("leadflow.cli.services", "status", "What runs where: mode and URL of each server."),
    "env": (
        "leadflow.cli.services",
        "env_cmd",
        "Print export lines for the running local servers.",
    ),
    "db": ("leadflow.cli.services", "db", "PostgreSQL helpers."),
    "migrate": ("leadflow.cli.database", "migrate", "Apply, revert or list the SQL migrations."),
    "seed": ("leadflow.cli.database", "seed", "Load the seed SQL files (re-runnable)."),
    "import": ("leadflow.cli.ingest", "import_cmd", "Import lead files through the ingest assets."),
    "activities": (
        "leadflow.cli.activities",
        "activities",
        "Activity events: MongoDB -> lead_activities.",
    ),
    "costs": ("leadflow.cli.costs", "costs", "Lead source costs and the budget ledger."),
    "leads": ("leadflow.cli.leads", "leads", "Work on single leads."),
    "sources": (
        "leadflow.cli.sources",
        "sources",
        "Canonical sources: the aliases of source names.",
    ),
    "segments": ("leadflow.cli.segments", "segments", "Segments: saved lead filters."),
    "graph": ("leadflow.cli.graph", "graph", "The CRM graph in Neo4j / the local Bolt server."),
    "crm": (
        "leadflow.cli.crm",
        "crm",
        "Sync leads with HubSpot, Salesforce, Pipedrive over their APIs.",
    ),
    "run": ("leadflow.cli.run", "run", "Run nightly_sync_job in this process."),
    "dbt": ("leadflow.cli.dbt", "dbt_group", "The dbt project against the configured PostgreSQL."),
    "recommend": (
        "leadflow.cli.recommend",
        "recommend",
        "Who to contact next, how and why (Redis cache).",
    ),
    "report": ("leadflow.cli.report", "report", "Write the HTML report built from the marts."),
    "bench": ("leadflow.cli.bench", "bench", "Benchmarks (figures printed, nothing asserted)."),
    "demo": ("leadflow.cli.demo", "demo", "The whole pipeline on the bundled sample data."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (and listed without importing)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module}.{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_, _, text) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
@click.version_option(package_name="leadflow")
def main(verbose: bool) -> None:
    """leadflow: lead pipeline for a recruiting CRM (PostgreSQL, Neo4j, MongoDB, dbt, Dagster)."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:  # libraries' loggers propagate below WARNING
        handler.setLevel(logging.INFO if verbose else logging.WARNING)


if __name__ == "__main__":
    main()
