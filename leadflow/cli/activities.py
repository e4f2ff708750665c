"""`leadflow activities seed|sync`: MongoDB activity events.

The sync runs in-process (no Dagster run) with the same code as the `lead_activities` asset.
The MongoDB client loads when a command talks to MongoDB, not for `--help` or a bad option.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

import click

from leadflow.activities.rules import DEFAULT_BATCH_SIZE, parse_iso_datetime
from leadflow.cli.common import ensure_schema_current
from leadflow.cli.common import mongo_resource as _mongo
from leadflow.cli.common import postgres_url as _postgres_url
from leadflow.cli.conventions import BAD_REQUEST, JSON_OPTION, Heartbeat, emit_json
from leadflow.cli.conventions import fail as _fail

#: what the text output shows (the rest is in --json)
_HIDDEN = {"fields_nulled", "unknown_users", "batches"}


@click.group()
def activities() -> None:
    """Activity events: MongoDB -> lead_activities.

    \b
    Examples:
      leadflow activities seed
      leadflow activities sync --json
    """


@activities.command("seed")
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON array of events (default: seeds/sample/activities.json).",
)
@JSON_OPTION
def activities_seed(path: Path | None, as_json: bool) -> None:
    """Insert the sample activity events into MongoDB (idempotent, by event_id).

    \b
    Examples:
      leadflow activities seed
      leadflow activities seed --file events.json
    """
    from leadflow.platform.seed import seed_mongo_activities

    mongo = _mongo()
    database = mongo.get_database()
    inserted = seed_mongo_activities(database, path)
    if as_json:
        emit_json({"inserted": inserted, "collection": f"{database.name}.activities"})
        return
    click.echo(f"activities: {inserted} event(s) inserted into {database.name}.activities")


@activities.command("sync")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Events per find() and per transaction.",
)
@click.option("--as-of", help="ISO timestamp: read events up to it (default: now).")
@click.option("--full", is_flag=True, help="Read from the beginning, not from the watermark.")
@JSON_OPTION
def activities_sync(batch_size: int, as_of: str | None, full: bool, as_json: bool) -> None:
    """Copy new activity events into lead_activities and match them to leads. Runs directly
    with the code of the `lead_activities` asset, not through Dagster.

    \b
    Examples:
      leadflow activities sync
      leadflow activities sync --full --as-of 2026-12-01T00:00:00Z --json
    """
    try:
        when = parse_iso_datetime(as_of) or datetime.now(UTC)
    except ValueError:
        _fail(f"--as-of {as_of!r} is not an ISO timestamp", BAD_REQUEST)
    import psycopg

    from leadflow.activities.sql import SYNC_COUNTS, SyncError, sync_activities

    url = _postgres_url()
    ensure_schema_current(url, code=BAD_REQUEST)
    mongo = _mongo()
    with Heartbeat("activities sync"):
        try:
            result = sync_activities(
                mongo.get_database(),
                functools.partial(psycopg.connect, url),
                as_of=when,
                batch_size=batch_size,
                full_resync=full,
            )
        except SyncError as exc:
            _fail(str(exc))
        finally:
            mongo.get_client().close()
    if as_json:
        emit_json(result.as_dict())
        return
    data = result.as_dict()
    for key in [key for key in SYNC_COUNTS if key not in _HIDDEN]:
        click.echo(f"{key:<22} {data[key]:>8}")
    if data["invalid_reasons"]:
        reasons = ", ".join(f"{k} {v}" for k, v in data["invalid_reasons"].items())
        click.echo(f"{'invalid by reason':<22} {reasons}")
    watermark = data["watermark"] or {}
    click.echo(
        f"{'watermark':<22} {watermark.get('last_occurred_at')} {watermark.get('last_source_id')}"
    )
