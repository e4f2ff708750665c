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

from leadflow.cli.conventions import DAGSTER_RULE, EXIT_CODES_HELP

# The process ends when its command does. Its last act would otherwise be a full cyclic garbage
# collection of everything it loaded (half a second once Dagster is loaded: hundreds of thousands
# of objects), only to return memory the operating system takes back anyway: objects are
# frozen out of the collector's view first (atexit handlers run before that final collection).
atexit.register(gc.freeze)

#: command -> (module, attribute, one-line help shown by `leadflow --help`); noun groups with verbs
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("leadflow.cli.demo", "demo", "The whole pipeline on the bundled sample data."),
    "leads": ("leadflow.cli.leads", "leads", "Import lead files, reassign leads, list rejects."),
    "run": ("leadflow.cli.run", "run", "Run the nightly job (nightly_sync_job) in this process."),
    "orgs": ("leadflow.cli.directory", "orgs", "The organizations (what --org accepts)."),
    "users": ("leadflow.cli.directory", "users", "The users (what --owner/--agent accept)."),
    "activities": (
        "leadflow.cli.activities",
        "activities",
        "Activity events: MongoDB -> lead_activities.",
    ),
    "costs": ("leadflow.cli.costs", "costs", "Lead source costs and the budget ledger."),
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
    "recommend": (
        "leadflow.cli.recommend",
        "recommend",
        "Who to contact next, how and why (Redis cache).",
    ),
    "report": ("leadflow.cli.report", "report", "Write the HTML report built from the marts."),
    "dbt": ("leadflow.cli.dbt", "dbt_group", "The dbt project against the configured PostgreSQL."),
    "db": ("leadflow.cli.database", "db", "Schema, seed data, URL and roles of PostgreSQL."),
    "local": ("leadflow.cli.services", "local", "Start, stop and locate the local servers."),
}

#: the old command names: hidden from --help, they print a one-line notice on stderr and do
#: what they always did (scripts depend on them). old name -> (module, attribute)
ALIASES: dict[str, tuple[str, str]] = {
    "up": ("leadflow.cli.services", "up_alias"),
    "down": ("leadflow.cli.services", "down_alias"),
    "status": ("leadflow.cli.services", "status_alias"),
    "env": ("leadflow.cli.services", "env_alias"),
    "migrate": ("leadflow.cli.database", "migrate"),
    "seed": ("leadflow.cli.database", "seed"),
    "import": ("leadflow.cli.leads", "import_alias"),
    "bench": ("leadflow.cli.bench", "bench"),
}


def with_conventions(command: click.Command) -> click.Command:
    """Every command's help ends with the exit-code table (and, for a group, its commands'
    helps too); set once here rather than in each decorator."""
    if not command.epilog:
        command.epilog = EXIT_CODES_HELP
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            with_conventions(sub)
    return command


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (and listed without importing)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module, attribute, _ = COMMANDS[cmd_name]
        elif cmd_name in ALIASES:
            module, attribute = ALIASES[cmd_name]
        else:
            return None
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module}.{attribute} is not a click command")
        return with_conventions(command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_, _, text) in COMMANDS.items()])


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=f"{EXIT_CODES_HELP}\n\n{DAGSTER_RULE}",
)
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
@click.version_option(package_name="leadflow")
def main(verbose: bool) -> None:
    """leadflow: lead pipeline for a recruiting CRM (PostgreSQL, Neo4j, MongoDB, dbt, Dagster).

    \b
    Examples:
      leadflow local up && leadflow db migrate && leadflow db seed
      leadflow leads import seeds/sample/leads_summit_facebook.csv --org summit
      leadflow run --json
      leadflow <command> --help
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:  # libraries' loggers propagate below WARNING
        handler.setLevel(logging.INFO if verbose else logging.WARNING)


if __name__ == "__main__":
    main()
