"""`leadflow`: the command line. Each group lives in its own module of this package."""

from __future__ import annotations

import logging
import sys

import click

from leadflow.cli.activities import activities
from leadflow.cli.bench import bench
from leadflow.cli.costs import costs
from leadflow.cli.database import migrate, seed
from leadflow.cli.dbt import dbt_group
from leadflow.cli.demo import demo
from leadflow.cli.graph import graph
from leadflow.cli.ingest import import_cmd
from leadflow.cli.leads import leads
from leadflow.cli.report import report
from leadflow.cli.run import run
from leadflow.cli.segments import segments
from leadflow.cli.services import db, down, env_cmd, status, up


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


for command in (
    up, down, status, env_cmd, db, migrate, seed, import_cmd, activities, costs, leads,
    segments, graph, run, dbt_group, report, bench, demo,
):  # fmt: skip
    main.add_command(command)


if __name__ == "__main__":
    main()
