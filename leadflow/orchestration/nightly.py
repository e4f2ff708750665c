"""The nightly sync: one job over every unpartitioned asset and its schedule.

activities → scores → assignments → nurture → segments → recommendations (model, then the
ranked lists, cached in Redis) → graph → dbt marts; Dagster orders the
steps by the asset dependencies. Imports are not part of it: they run per file (landing sensor or
`leadflow import`).
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from dagster._utils.schedules import is_valid_cron_string

NIGHTLY_GROUPS = (
    "activities", "crm", "recommendations", "graph", "dbt_staging", "dbt_intermediate", "marts",
)  # fmt: skip
DEFAULT_CRON = "0 2 * * *"
#: the CRM sync (crm_sync_schedule) runs half an hour before the nightly job
DEFAULT_CRM_CRON = "30 1 * * *"
DEFAULT_TIMEZONE = "UTC"


class NightlyConfigError(ValueError):
    """LEADFLOW_NIGHTLY_CRON / LEADFLOW_TIMEZONE / retry settings are invalid."""


@dataclass(frozen=True)
class NightlySettings:
    cron: str
    timezone: str
    max_retries: int
    retry_delay_seconds: int
    schedule_running: bool
    crm_cron: str = DEFAULT_CRM_CRON


def nightly_settings(environ: Mapping[str, str] | None = None) -> NightlySettings:
    """Read and validate the schedule settings; a clear error names the bad variable."""
    environ = os.environ if environ is None else environ

    def get(name: str, default: str) -> str:
        value = (environ.get(name) or "").strip()
        return value or default

    crons = {}
    for name, default in (("LEADFLOW_NIGHTLY_CRON", DEFAULT_CRON),
                          ("LEADFLOW_CRM_CRON", DEFAULT_CRM_CRON)):  # fmt: skip
        crons[name] = get(name, default)
        if not is_valid_cron_string(crons[name]):
            raise NightlyConfigError(
                f"{name}={crons[name]!r} is not a cron expression (e.g. {default!r})"
            )
    cron = crons["LEADFLOW_NIGHTLY_CRON"]
    timezone = get("LEADFLOW_TIMEZONE", DEFAULT_TIMEZONE)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise NightlyConfigError(
            f"LEADFLOW_TIMEZONE={timezone!r} is not an IANA timezone (e.g. 'Europe/London')"
        ) from exc
    numbers = {}
    for name, default in (("LEADFLOW_RETRY_MAX", "3"), ("LEADFLOW_RETRY_DELAY_SECONDS", "30")):
        raw = get(name, default)
        if not raw.isdigit():
            raise NightlyConfigError(f"{name}={raw!r} must be a whole number >= 0")
        numbers[name] = int(raw)
    enabled = get("LEADFLOW_NIGHTLY_ENABLED", "true").lower()
    if enabled not in {"true", "false", "1", "0", "yes", "no"}:
        raise NightlyConfigError(f"LEADFLOW_NIGHTLY_ENABLED={enabled!r} must be true or false")
    return NightlySettings(
        cron=cron,
        timezone=timezone,
        max_retries=numbers["LEADFLOW_RETRY_MAX"],
        retry_delay_seconds=numbers["LEADFLOW_RETRY_DELAY_SECONDS"],
        schedule_running=enabled in {"true", "1", "yes"},
        crm_cron=crons["LEADFLOW_CRM_CRON"],
    )


NIGHTLY_SELECTION = dg.AssetSelection.groups(*NIGHTLY_GROUPS)


def build_nightly_job(settings: NightlySettings) -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name="nightly_sync_job",
        selection=NIGHTLY_SELECTION,
        description=(
            "Everything after the imports: activities → scores → assignments → nurture → segments"
            " → graph → dbt marts. Failed steps retry with exponential backoff."
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
