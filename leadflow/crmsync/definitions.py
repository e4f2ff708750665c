"""The CRM sync domain's Definitions: per-vendor dlt assets, leads, push, job and schedule
(its cron and timezone are the deployment's schedule settings, given by leadflow.definitions)."""

import dagster as dg
from dagster_dlt import DagsterDltResource

from leadflow.crmsync.assets import CRM_SYNC_ASSETS, build_crm_sync_schedule, crm_sync_job
from leadflow.settings import NightlySettings


def build_defs(settings: NightlySettings) -> dg.Definitions:
    return dg.Definitions(
        assets=CRM_SYNC_ASSETS,
        jobs=[crm_sync_job],
        schedules=[build_crm_sync_schedule(settings)],
        resources={"dlt": DagsterDltResource()},
    )
