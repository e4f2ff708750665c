"""The nightly sync: one job over every unpartitioned asset and its schedule.

activities → scores → assignments → nurture → segments → recommendations (model, then the
ranked lists, cached in Redis) → pending referrals → graph → dbt marts; Dagster orders the
steps by the asset dependencies. Imports are not part of it: they run per file (landing sensor or
`leadflow leads import`).
"""

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from leadflow.ingest.assets import INGEST_ASSETS
from leadflow.settings import NightlySettings

NIGHTLY_GROUPS = (
    "ingest",
    "activities",
    "crm",
    "recommendations",
    "graph",
    "dbt_staging",
    "dbt_intermediate",
    "marts",
)
#: the per-file import runs per file, never nightly; the rest of its group (lead_referrals) does
NIGHTLY_SELECTION = dg.AssetSelection.groups(*NIGHTLY_GROUPS) - dg.AssetSelection.assets(
    *INGEST_ASSETS
)


def build_nightly_job(settings: NightlySettings) -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name="nightly_sync_job",
        selection=NIGHTLY_SELECTION,
        description=(
            "Everything after the imports: activities → scores → assignments → nurture → segments"
            " → recommendations → pending referrals → graph → dbt marts. Failed steps retry with"
            " exponential backoff."
        ),
        op_retry_policy=dg.RetryPolicy(
            max_retries=settings.max_retries,
            delay=settings.retry_delay_seconds,
            backoff=dg.Backoff.EXPONENTIAL,
            jitter=dg.Jitter.PLUS_MINUS,
        ),
        tags={"leadflow/kind": "nightly"},
    )


def build_nightly_schedule(
    job: UnresolvedAssetJobDefinition, settings: NightlySettings
) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="nightly_sync_schedule",
        job=job,
        cron_schedule=settings.cron,
        execution_timezone=settings.timezone,
        default_status=(
            dg.DefaultScheduleStatus.RUNNING
            if settings.schedule_running
            else dg.DefaultScheduleStatus.STOPPED
        ),
        description="Runs nightly_sync_job (LEADFLOW_NIGHTLY_CRON in LEADFLOW_TIMEZONE).",
    )
