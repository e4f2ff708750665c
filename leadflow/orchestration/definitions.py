"""The orchestration domain's Definitions: nightly job, schedule and the failure alert sensor.

The schedule settings (LEADFLOW_NIGHTLY_* / LEADFLOW_TIMEZONE / LEADFLOW_RETRY_*, see
leadflow.settings) are read once, by leadflow.definitions when the code location loads: a bad
value fails the load with a message naming the variable.
"""

import dagster as dg

from leadflow.orchestration.alerts import run_failure_alert_sensor
from leadflow.orchestration.nightly import build_nightly_job, build_nightly_schedule
from leadflow.settings import NightlySettings


def build_defs(settings: NightlySettings) -> dg.Definitions:
    job = build_nightly_job(settings)
    return dg.Definitions(
        jobs=[job],
        schedules=[build_nightly_schedule(job, settings)],
        sensors=[run_failure_alert_sensor],
    )
