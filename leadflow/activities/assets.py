"""Activities assets (group `activities`): MongoDB activity events copied into PostgreSQL.

A thin wrapper over `leadflow.activities.sql.sync_activities`: incremental by watermark,
idempotent, matched to leads by id or E.164 phone, `leads.last_contact_date` kept current.
"""

from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from leadflow.activities.rules import DEFAULT_BATCH_SIZE, parse_iso_datetime
from leadflow.activities.sql import SyncError, SyncResult, sync_activities
from leadflow.dagster_vocab import full_refresh_requested
from leadflow.resources import MongoResource, PostgresResource

GROUP = "activities"


class ActivitySyncConfig(dg.Config):
    """How far and how to read; the defaults are what a scheduled run wants."""

    as_of: str | None = Field(
        default=None,
        description="ISO timestamp: only events that occurred at or before it are read "
        "(default: now). Fixes the run's result for tests and replays.",
    )
    batch_size: int = Field(
        default=DEFAULT_BATCH_SIZE, ge=1, description="Events per find() and per transaction."
    )
    full_resync: bool = Field(
        default=False,
        description="Read from the beginning instead of the watermark (idempotent: only events "
        "missing in PostgreSQL load), e.g. after invalid events were fixed in MongoDB.",
    )


def sync_metadata(
    result: SyncResult, full_reason: str | None = None
) -> dict[str, dg.MetadataValue]:
    """The counts (`read` = events read from MongoDB, `loaded` = rows written), and `mode`:
    full when it read from the beginning (why in `full_reason`), else incremental."""
    if full_reason is None and result.first_run:
        full_reason = "first run"
    return {
        "mode": dg.MetadataValue.text("full" if full_reason else "incremental"),
        "full_reason": dg.MetadataValue.text(full_reason or ""),
        **{key: dg.MetadataValue.int(value) for key, value in result.counts().items()},
        "invalid_reasons": dg.MetadataValue.json(dict(sorted(result.invalid_reasons.items()))),
        "invalid_sample": dg.MetadataValue.json(result.invalid_sample),
        # the class itself: MetadataValue.json is typed without the None it accepts
        "watermark": dg.JsonMetadataValue(result.watermark_dict()),
        "as_of": dg.MetadataValue.text(result.as_of.isoformat()),
    }


@dg.asset(
    group_name=GROUP,
    kinds={"mongodb", "postgres"},
    description="Activity events (calls, SMS, e-mails, meetings, notes) from MongoDB in "
    "lead_activities: read incrementally after the (occurred_at, _id) watermark, loaded "
    "idempotently on the Mongo _id, matched to leads by id or E.164 phone within the "
    "organization (earlier unmatched rows are re-matched first), leads.last_contact_date moved "
    "to the newest contact. Invalid events are counted and reported, not loaded. Incremental "
    "(reads only events after the watermark); full (from the beginning, idempotent) with "
    "full_resync or --full-refresh.",
)
def lead_activities(
    context: dg.AssetExecutionContext,
    config: ActivitySyncConfig,
    postgres: PostgresResource,
    mongo: MongoResource,
) -> dg.MaterializeResult:
    try:
        as_of = parse_iso_datetime(config.as_of) or datetime.now(UTC)
    except ValueError as exc:
        raise dg.Failure(f"as_of {config.as_of!r} is not an ISO timestamp") from exc
    full_reason = None
    if config.full_resync:
        full_reason = "full_resync"
    elif full_refresh_requested(context):
        full_reason = "requested (--full-refresh)"
    try:
        result = sync_activities(
            mongo.get_database(),
            postgres.connection,
            as_of=as_of,
            batch_size=config.batch_size,
            full_resync=full_reason is not None,
            logger=context.log,
        )
    except SyncError as exc:
        raise dg.Failure(str(exc)) from exc
    context.log.info(f"lead_activities: {result.as_dict()}")
    return dg.MaterializeResult(metadata=sync_metadata(result, full_reason))


ACTIVITIES_ASSETS = [lead_activities]
