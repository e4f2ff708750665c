"""The CRM sync domain's Definitions: per-vendor dlt assets, leads, push, job and schedule."""

import dagster as dg
from dagster_dlt import DagsterDltResource

from leadflow.crmsync.assets import CRM_SYNC_ASSETS, crm_sync_job, crm_sync_schedule

defs = dg.Definitions(
    assets=CRM_SYNC_ASSETS,
    jobs=[crm_sync_job],
    schedules=[crm_sync_schedule],
    resources={"dlt": DagsterDltResource()},
)
