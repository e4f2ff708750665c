"""`leadflow migrate [up|down|status]` and `leadflow seed`: the schema and the reference data."""

from __future__ import annotations

import sys

import click

from leadflow.cli.common import fail, postgres_url
from leadflow.platform import migrations
from leadflow.platform.seed import SeedError, load_seed, seed_files


@click.group(invoke_without_command=True)
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Apply (default), revert or list the SQL migrations in migrations/."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(migrate_up_cmd)


@migrate.command("up")
@click.option("--to", type=int, default=None, help="Stop after this version.")
def migrate_up_cmd(to: int | None) -> None:
    """Apply pending migrations in order."""
    url = postgres_url()
    notices: list[str] = []
    try:
        applied = migrations.migrate_up(url, to=to, notices=notices)
    except migrations.MigrationError as exc:
        fail(str(exc))
    if not applied:
        click.echo("migrations: up to date")
    for label in applied:
        click.echo(f"applied  {label}")
    for notice in dict.fromkeys(notices):  # once each, in order
        click.echo(f"notice   {notice.removeprefix('leadflow: ')}", err=True)


@migrate.command("down")
@click.option("--to", type=int, default=None, help="Revert down to this version (0 = all).")
def migrate_down_cmd(to: int | None) -> None:
    """Revert the last migration, or all above --to N."""
    url = postgres_url()
    try:
        reverted = migrations.migrate_down(url, to=to)
    except migrations.MigrationError as exc:
        fail(str(exc))
    if not reverted:
        click.echo("migrations: nothing to revert")
    for label in reverted:
        click.echo(f"reverted {label}")


@migrate.command("status")
def migrate_status_cmd() -> None:
    """List migrations: applied, pending, edited (refused) or missing."""
    url = postgres_url()
    try:
        states = migrations.migration_status(url)
    except migrations.MigrationError as exc:
        fail(str(exc))
    for st in states:
        click.echo(f"{st.version:03d}_{st.name:<32} {st.state:<8} {st.applied_at or ''}".rstrip())
    if any(st.state in ("edited", "missing") for st in states):
        sys.exit(1)


@click.command()
def seed() -> None:
    """Load seeds/002_epic3_seed_data.sql and the later seeds/NNN_*.sql (re-runnable)."""
    url = postgres_url()
    try:
        load_seed(url)
    except SeedError as exc:
        fail(str(exc))
    click.echo("seed: loaded " + ", ".join(f"seeds/{p.name}" for p in seed_files()))
