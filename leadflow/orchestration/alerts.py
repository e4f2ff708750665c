"""Failure alerts: every failed run is logged and, with LEADFLOW_ALERT_WEBHOOK set, posted as
JSON (Slack/Teams `text` plus fields for scripts).

The sensor covers runs the daemon sees; `alert_in_process_failure` covers in-process runs
(`leadflow run`), which no daemon watches. Every alert's text passes the redactor
(leadflow.redaction): a step's error may quote a URL, a header or a connection string, and a
webhook is a chat channel.
"""

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import dagster as dg

from leadflow import settings
from leadflow.redaction import redact, redact_value

log = logging.getLogger(__name__)


def failure_payload(
    job_name: str, run_id: str, message: str, failed_steps: list[str], tags: Mapping[str, str]
) -> dict[str, Any]:
    """A webhook body readable by people (Slack/Teams `text`) and by scripts (the other keys);
    redacted."""
    steps = ", ".join(failed_steps) or "-"
    message = redact(message)
    return {
        "text": f":rotating_light: leadflow run failed: {job_name} (run {run_id[:8]}); "
        f"failed steps: {steps}. {message}".strip(),
        "event": "run_failure",
        "job": job_name,
        "run_id": run_id,
        "failed_steps": failed_steps,
        "error": message,
        "tags": redact_value(dict(tags)),
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
        return cast(int, response.status)


def _failed_steps(context: dg.RunFailureSensorContext) -> list[str]:
    try:
        events = context.get_step_failure_events()
        return sorted({event.step_key for event in events if event.step_key})
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
    message = redact(context.failure_event.message or "run failed")
    steps = _failed_steps(context)
    context.log.error(f"run {run.run_id} of {run.job_name} failed: {message} (steps: {steps})")
    webhook = settings.current().alert_webhook
    if not webhook:
        return
    payload = failure_payload(run.job_name, run.run_id, message, steps, run.tags)
    try:
        status = post_alert(webhook, payload)
        context.log.info(f"alert posted to the webhook (HTTP {status})")
    except (OSError, urllib.error.URLError) as exc:
        # An unreachable webhook must not make the sensor fail forever; the log keeps the alert.
        context.log.error(redact(f"could not post the alert to LEADFLOW_ALERT_WEBHOOK: {exc}"))


def alert_in_process_failure(job_name: str, result: dg.ExecuteInProcessResult) -> None:
    """Post the alert for a failed in-process run (when LEADFLOW_ALERT_WEBHOOK is set)."""
    webhook = settings.current().alert_webhook
    if result.success or not webhook:
        return
    failures = [e for e in result.all_events if e.is_step_failure]
    steps = sorted({e.step_key for e in failures if e.step_key})
    error = failures[0].step_failure_data.error if failures else None
    message = error.message if error else "run failed"
    payload = failure_payload(job_name, result.run_id, message.strip(), steps, {})
    try:
        post_alert(webhook, payload)
    except OSError as exc:
        log.error("could not post the alert to LEADFLOW_ALERT_WEBHOOK: %s", redact(str(exc)))
