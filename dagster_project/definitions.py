"""The single Dagster entry point: `dagster dev` from the repository root loads `defs`."""

from __future__ import annotations

import dagster as dg

from dagster_project.assets.activities import ACTIVITIES_ASSETS
from dagster_project.assets.analytics import ANALYTICS_ASSETS, dbt_resource
from dagster_project.assets.crm_scoring import CRM_SCORING_ASSETS
from dagster_project.assets.crm_segments import CRM_SEGMENT_ASSETS
from dagster_project.assets.graph import GRAPH_ASSETS, GRAPH_CHECKS
from dagster_project.assets.ingest import INGEST_ASSETS, import_job, landing_dir_sensor
from dagster_project.checks.ingest import INGEST_CHECKS
from dagster_project.nightly import NIGHTLY_JOBS, NIGHTLY_SCHEDULES, NIGHTLY_SENSORS
from dagster_project.resources import MongoResource, Neo4jResource, PostgresResource


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources configured from the environment (see README, "Configuration")."""
    return {
        "postgres": PostgresResource(),
        "neo4j": Neo4jResource(),
        "mongo": MongoResource(),
        "dbt": dbt_resource(),
    }


defs = dg.Definitions(
    assets=[
        *INGEST_ASSETS,
        *ACTIVITIES_ASSETS,
        *CRM_SCORING_ASSETS,
        *CRM_SEGMENT_ASSETS,
        *GRAPH_ASSETS,
        *ANALYTICS_ASSETS,
    ],
    asset_checks=[*INGEST_CHECKS, *GRAPH_CHECKS],
    jobs=[import_job, *NIGHTLY_JOBS],
    schedules=[*NIGHTLY_SCHEDULES],
    sensors=[landing_dir_sensor, *NIGHTLY_SENSORS],
    resources=build_resources(),
)
