"""The orchestration domain's Definitions: nightly job, schedule and the failure alert sensor.

Reading the LEADFLOW_NIGHTLY_* / LEADFLOW_TIMEZONE / LEADFLOW_RETRY_* settings happens here, when
the code location loads: a bad value fails the load with a message naming the variable.
"""

import dagster as dg

from leadflow.orchestration.alerts import run_failure_alert_sensor
from leadflow.orchestration.nightly import (
    NightlySettings,
    build_nightly_job,
    build_nightly_schedule,
    nightly_settings,
)


def build_defs(settings: NightlySettings | None = None) -> dg.Definitions:
    settings = settings or nightly_settings()
    job = build_nightly_job(settings)
    return dg.Definitions(
        jobs=[job],
        schedules=[build_nightly_schedule(job, settings)],
        sensors=[run_failure_alert_sensor],
    )
