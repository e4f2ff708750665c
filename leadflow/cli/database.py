"""`leadflow db migrate|rollback|status|seed`: the schema and the reference data, in the `db`
group beside `db url|roles|grant-analyst|revoke-analyst` (leadflow.cli.services).

The old `leadflow migrate [up|down|status]` and `leadflow seed` stay as hidden aliases."""

from __future__ import annotations

import click

from leadflow.cli.common import ensure_schema_current, postgres_url
from leadflow.cli.conventions import (
    FAILED,
    JSON_OPTION,
    Heartbeat,
    deprecated,
    deprecation_notice,
    emit_json,
    fail,
)
from leadflow.cli.services import db
from leadflow.platform import migrations
from leadflow.platform.seed import SeedError, load_seed, seed_files


@db.command("migrate")
@click.option("--to", type=int, default=None, help="Stop after this version.")
@JSON_OPTION
def db_migrate(to: int | None, as_json: bool) -> None:
    """Apply the pending migrations (migrations/NNN_*.sql) in order, each in its transaction.

    \b
    Examples:
      leadflow db migrate
      leadflow db migrate --to 16
    """
    url = postgres_url()
    notices: list[str] = []
    with Heartbeat("db migrate", lambda: "applying the pending migrations"):
        try:
            applied = migrations.migrate_up(url, to=to, notices=notices)
        except migrations.MigrationError as exc:
            fail(str(exc))
    shown = [notice.removeprefix("leadflow: ") for notice in dict.fromkeys(notices)]
    if as_json:
        emit_json({"applied": applied, "notices": shown})
        return
    if not applied:
        click.echo("migrations: up to date")
    for label in applied:
        click.echo(f"applied  {label}")
    for notice in shown:  # once each, in order
        click.echo(f"notice   {notice}", err=True)


@db.command("rollback")
@click.option("--to", type=int, default=None, help="Revert down to this version (0 = all).")
@JSON_OPTION
def db_rollback(to: int | None, as_json: bool) -> None:
    """Revert the last migration, or all above --to N (their NNN_*_down.sql).

    \b
    Examples:
      leadflow db rollback
      leadflow db rollback --to 20
    """
    url = postgres_url()
    try:
        reverted = migrations.migrate_down(url, to=to)
    except migrations.MigrationError as exc:
        fail(str(exc))
    if as_json:
        emit_json({"reverted": reverted})
        return
    if not reverted:
        click.echo("migrations: nothing to revert")
    for label in reverted:
        click.echo(f"reverted {label}")


@db.command("status")
@JSON_OPTION
def db_status(as_json: bool) -> None:
    """List the migrations: applied, pending, edited (refused) or missing. Exit 1 when one is
    edited or missing.

    \b
    Examples:
      leadflow db status
      leadflow db status --json | jq '.migrations[] | select(.state != "applied")'
    """
    url = postgres_url()
    try:
        states = migrations.migration_status(url)
    except migrations.MigrationError as exc:
        fail(str(exc))
    broken = any(st.state in ("edited", "missing") for st in states)
    if as_json:
        emit_json(
            {
                "migrations": [
                    {
                        "version": st.version,
                        "name": st.name,
                        "state": st.state,
                        "applied_at": st.applied_at,
                    }
                    for st in states
                ],
                "up_to_date": all(st.state == "applied" for st in states),
            }
        )
    else:
        for st in states:
            line = f"{st.version:03d}_{st.name:<32} {st.state:<8} {st.applied_at or ''}"
            click.echo(line.rstrip())
    if broken:
        raise SystemExit(FAILED)


@db.command("seed")
@JSON_OPTION
def db_seed(as_json: bool) -> None:
    """Load seeds/002_epic3_seed_data.sql and the later seeds/NNN_*.sql (re-runnable): the
    sample organizations, users and reference data the demo uses.

    \b
    Examples:
      leadflow db seed
    """
    url = postgres_url()
    ensure_schema_current(url)
    try:
        load_seed(url)
    except SeedError as exc:
        fail(str(exc))
    files = [f"seeds/{p.name}" for p in seed_files()]
    if as_json:
        emit_json({"loaded": files})
        return
    click.echo("seed: loaded " + ", ".join(files))


# -- the old names: hidden, they print a notice and do what they always did --------------------
@click.group(invoke_without_command=True, hidden=True)
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Deprecated: `leadflow db migrate|rollback|status`."""
    if ctx.invoked_subcommand is None:
        deprecation_notice("leadflow migrate", "leadflow db migrate")
        ctx.invoke(db_migrate)


# the group is hidden; its subcommands are listed in `leadflow migrate --help`, as they were
migrate.add_command(
    deprecated(db_migrate, "leadflow migrate up", "leadflow db migrate", hidden=False), "up"
)
migrate.add_command(
    deprecated(db_rollback, "leadflow migrate down", "leadflow db rollback", hidden=False), "down"
)
migrate.add_command(
    deprecated(db_status, "leadflow migrate status", "leadflow db status", hidden=False), "status"
)
seed = deprecated(db_seed, "leadflow seed", "leadflow db seed")
