"""The nightly sync: one job over every unpartitioned asset, its schedule and the failure alert.

activities → scores → assignments → nurture → segments → graph → dbt marts; Dagster orders the
steps by the asset dependencies. Imports are not part of it: they run per file (landing sensor or
`leadflow import`).
"""

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
from dagster._utils.schedules import is_valid_cron_string

from dagster_project import settings

log = logging.getLogger(__name__)

NIGHTLY_GROUPS = ("activities", "crm", "graph", "dbt_staging", "dbt_intermediate", "marts")
DEFAULT_CRON = "0 2 * * *"
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


def nightly_settings(environ: Mapping[str, str] | None = None) -> NightlySettings:
    """Read and validate the schedule settings; a clear error names the bad variable."""
    environ = os.environ if environ is None else environ

    def get(name: str, default: str) -> str:
        value = (environ.get(name) or "").strip()
        return value or default

    cron = get("LEADFLOW_NIGHTLY_CRON", DEFAULT_CRON)
    if not is_valid_cron_string(cron):
        raise NightlyConfigError(
            f"LEADFLOW_NIGHTLY_CRON={cron!r} is not a cron expression (e.g. {DEFAULT_CRON!r})"
        )
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
    )


SETTINGS = nightly_settings()

NIGHTLY_SELECTION = dg.AssetSelection.groups(*NIGHTLY_GROUPS)

nightly_sync_job = dg.define_asset_job(
    name="nightly_sync_job",
    selection=NIGHTLY_SELECTION,
    description=(
        "Everything after the imports: activities → scores → assignments → nurture → segments"
        " → graph → dbt marts. Failed steps retry with exponential backoff."
    ),
    op_retry_policy=dg.RetryPolicy(
        max_retries=SETTINGS.max_retries,
        delay=SETTINGS.retry_delay_seconds,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    ),
    tags={"leadflow/kind": "nightly"},
)

nightly_sync_schedule = dg.ScheduleDefinition(
    name="nightly_sync_schedule",
    job=nightly_sync_job,
    cron_schedule=SETTINGS.cron,
    execution_timezone=SETTINGS.timezone,
    default_status=(
        dg.DefaultScheduleStatus.RUNNING
        if SETTINGS.schedule_running
        else dg.DefaultScheduleStatus.STOPPED
    ),
    description="Runs nightly_sync_job (LEADFLOW_NIGHTLY_CRON in LEADFLOW_TIMEZONE).",
)


# -- failure alerts --------------------------------------------------------------------------


def failure_payload(
    job_name: str, run_id: str, message: str, failed_steps: list[str], tags: Mapping[str, str]
) -> dict[str, Any]:
    """A webhook body readable by people (Slack/Teams `text`) and by scripts (the other keys)."""
    steps = ", ".join(failed_steps) or "-"
    return {
        "text": f":rotating_light: leadflow run failed: {job_name} (run {run_id[:8]}); "
        f"failed steps: {steps}. {message}".strip(),
        "event": "run_failure",
        "job": job_name,
        "run_id": run_id,
        "failed_steps": failed_steps,
        "error": message,
        "tags": dict(tags),
        "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def post_alert(webhook: str, payload: Mapping[str, Any], timeout: float = 10.0) -> int:
    """POST the payload as JSON; returns the HTTP status. Raises OSError on network errors."""
    body = json.dumps(payload, default=str).encode()
    request = urllib.request.Request(
        webhook,
        data=body,
        headers={"Content-Type": "application/json", "User-Agent": "leadflow-alerts"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (configured URL)
        return response.status


def _failed_steps(context: dg.RunFailureSensorContext) -> list[str]:
    try:
        return sorted({event.step_key for event in context.get_step_failure_events()})
    except Exception:  # the run may have failed before any step started
        return []


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    description="Logs every failed run and posts it to LEADFLOW_ALERT_WEBHOOK when set.",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext) -> None:
    run = context.dagster_run
    message = context.failure_event.message or "run failed"
    steps = _failed_steps(context)
    context.log.error(f"run {run.run_id} of {run.job_name} failed: {message} (steps: {steps})")
    webhook = settings.env("LEADFLOW_ALERT_WEBHOOK")
    if not webhook:
        return
    payload = failure_payload(run.job_name, run.run_id, message, steps, run.tags)
    try:
        status = post_alert(webhook, payload)
        context.log.info(f"alert posted to the webhook (HTTP {status})")
    except (OSError, urllib.error.URLError) as exc:
        # An unreachable webhook must not make the sensor fail forever; the log keeps the alert.
        context.log.error(f"could not post the alert to LEADFLOW_ALERT_WEBHOOK: {exc}")


NIGHTLY_JOBS = [nightly_sync_job]
NIGHTLY_SCHEDULES = [nightly_sync_schedule]
NIGHTLY_SENSORS = [run_failure_alert_sensor]


# -- in-process runs (`leadflow run`, `leadflow demo`) ---------------------------------------


def dagster_instance() -> dg.DagsterInstance:
    """The instance of DAGSTER_HOME (default .leadflow/dagster, SQLite: no server needed), so
    runs started by `leadflow run` show up in `dagster dev`."""
    home = settings.env("DAGSTER_HOME")
    if not home:
        home = str(settings.leadflow_home() / "dagster")
        os.environ["DAGSTER_HOME"] = home
    os.makedirs(home, exist_ok=True)
    config = os.path.join(home, "dagster.yaml")
    if not os.path.exists(config):  # SQLite storage (the default), no telemetry
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(
                "# local instance written by leadflow; see deploy/dagster.yaml for production\n"
                "telemetry:\n  enabled: false\n"
            )
    return dg.DagsterInstance.get()


def run_nightly(
    *,
    full_refresh: bool = False,
    instance: dg.DagsterInstance | None = None,
    alert: bool = True,
) -> dg.ExecuteInProcessResult:
    """Execute nightly_sync_job in this process (same retries); post the failure alert itself,
    since no sensor daemon watches an in-process run."""
    from dagster_project.definitions import defs

    job = defs.resolve_job_def("nightly_sync_job")
    run_config = {
        "ops": {"analytics_models": {"config": {"full_refresh": full_refresh}}},
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }
    result = job.execute_in_process(
        run_config=run_config,
        instance=instance if instance is not None else dagster_instance(),
        raise_on_error=False,
        tags={"leadflow/trigger": "cli"},
    )
    webhook = settings.env("LEADFLOW_ALERT_WEBHOOK")
    if not result.success and alert and webhook:
        failures = [e for e in result.all_events if e.is_step_failure]
        steps = sorted({e.step_key for e in failures if e.step_key})
        message = failures[0].step_failure_data.error.message if failures else "run failed"
        payload = failure_payload(job.name, result.run_id, message.strip(), steps, {})
        try:
            post_alert(webhook, payload)
        except OSError as exc:
            log.error("could not post the alert to LEADFLOW_ALERT_WEBHOOK: %s", exc)
    return result
