"""`leadflow` command line: local services, migrations, seed and the demo."""

from __future__ import annotations

import json
import logging
import sys

import click

from dagster_project.db import migrate as migrations
from dagster_project.db.seed import SeedError, load_seed, table_counts
from dagster_project.services import (
    ALL_SERVICES,
    GraphService,
    PostgresService,
    ServiceError,
    ServiceStatus,
)

log = logging.getLogger("leadflow")

_SERVICE_NAMES = [service.name for service in ALL_SERVICES]


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"leadflow: error: {message}", err=True)
    sys.exit(code)


def _postgres_url() -> str:
    try:
        return PostgresService().ensure_running()
    except ServiceError as exc:
        _fail(str(exc))
        raise  # unreachable; keeps type checkers honest


def _graph_server_agent(status: ServiceStatus) -> str | None:
    """The Bolt server's own name and version (e.g. 'Neo4j/5.26.0 compatible (ArcadeDB …)')."""
    if status.url is None:
        return None
    from dagster_project.resources.neo4j import server_agent

    try:
        return server_agent(status.url)
    except Exception as exc:  # status must report, not crash, whatever the server says
        return f"unreachable: {exc.__class__.__name__}: {exc}"


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


# -- services ---------------------------------------------------------------------------------
def _selected(names: tuple[str, ...]):
    wanted = set(names) or set(_SERVICE_NAMES)
    return [service() for service in ALL_SERVICES if service.name in wanted]


@main.command()
@click.argument("services", nargs=-1, type=click.Choice(_SERVICE_NAMES))
def up(services: tuple[str, ...]) -> None:
    """Start the local servers (all, or the ones named); reuse those already running."""
    for service in _selected(services):
        try:
            url = service.ensure_running()
        except ServiceError as exc:
            _fail(str(exc))
        mode = "external" if service.is_external() else "local"
        click.echo(f"{service.name:<9} {mode:<9} {url}")


@main.command()
@click.argument("services", nargs=-1, type=click.Choice(_SERVICE_NAMES))
def down(services: tuple[str, ...]) -> None:
    """Stop the local servers (external deployments are never touched)."""
    for service in _selected(services):
        if service.is_external():
            click.echo(f"{service.name:<9} external, left alone")
            continue
        try:
            stopped = service.stop()
        except ServiceError as exc:
            _fail(str(exc))
        click.echo(f"{service.name:<9} {'stopped' if stopped else 'was not running'}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(as_json: bool) -> None:
    """What runs where: each server's mode (local/external/stopped) and URL."""
    rows = []
    for service in _selected(()):
        st = service.status()
        if isinstance(service, GraphService) and st.mode != "stopped":
            agent = _graph_server_agent(st)
            if agent:
                st.detail["server"] = agent
        rows.append(st)
    if as_json:
        click.echo(json.dumps({st.name: st.as_dict() for st in rows}, indent=2))
        return
    for st in rows:
        mode = "local" if st.mode == "running" else st.mode
        click.echo(f"{st.name:<9} {mode:<9} {st.url or '-'}")
        for key, value in st.detail.items():
            click.echo(f"{'':<19} {key}: {value}")


@main.group()
def db() -> None:
    """PostgreSQL helpers."""


@db.command("url")
def db_url() -> None:
    """Print the PostgreSQL URL in use (starting the local server if needed), nothing else."""
    click.echo(_postgres_url())


# -- migrations -------------------------------------------------------------------------------
@main.group(invoke_without_command=True)
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Apply (default), revert or list the SQL migrations in migrations/."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(migrate_up_cmd)


@migrate.command("up")
@click.option("--to", type=int, default=None, help="Stop after this version.")
def migrate_up_cmd(to: int | None) -> None:
    """Apply pending migrations in order."""
    url = _postgres_url()
    try:
        applied = migrations.migrate_up(url, to=to)
    except migrations.MigrationError as exc:
        _fail(str(exc))
    if not applied:
        click.echo("migrations: up to date")
    for label in applied:
        click.echo(f"applied  {label}")


@migrate.command("down")
@click.option("--to", type=int, default=None, help="Revert down to this version (0 = all).")
def migrate_down_cmd(to: int | None) -> None:
    """Revert the last migration, or all above --to N."""
    url = _postgres_url()
    try:
        reverted = migrations.migrate_down(url, to=to)
    except migrations.MigrationError as exc:
        _fail(str(exc))
    if not reverted:
        click.echo("migrations: nothing to revert")
    for label in reverted:
        click.echo(f"reverted {label}")


@migrate.command("status")
def migrate_status_cmd() -> None:
    """List migrations: applied, pending, edited (refused) or missing."""
    url = _postgres_url()
    try:
        states = migrations.migration_status(url)
    except migrations.MigrationError as exc:
        _fail(str(exc))
    for st in states:
        click.echo(f"{st.version:03d}_{st.name:<32} {st.state:<8} {st.applied_at or ''}".rstrip())
    if any(st.state in ("edited", "missing") for st in states):
        sys.exit(1)


# -- seed and demo ----------------------------------------------------------------------------
@main.command()
def seed() -> None:
    """Load seeds/002_epic3_seed_data.sql (re-runnable)."""
    url = _postgres_url()
    try:
        load_seed(url)
    except SeedError as exc:
        _fail(str(exc))
    click.echo("seed: loaded seeds/002_epic3_seed_data.sql")


@main.command()
def demo() -> None:
    """Run the pipeline on the bundled sample data and print what is in the database."""
    url = _postgres_url()
    for service in ALL_SERVICES:
        if service is not PostgresService:
            try:
                service().ensure_running()
            except ServiceError as exc:
                _fail(str(exc))
    try:
        migrations.migrate_up(url)
        load_seed(url)
    except (migrations.MigrationError, SeedError) as exc:
        _fail(str(exc))
    counts = table_counts(url)
    click.echo(f"leadflow demo: database {url}")
    click.echo(f"{'table':<32} {'rows':>8}")
    for table, count in counts.items():
        click.echo(f"{table:<32} {count:>8}")


if __name__ == "__main__":
    main()
