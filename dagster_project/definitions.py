"""The single Dagster entry point: `dagster dev` from the repository root loads `defs`."""

from __future__ import annotations

import dagster as dg

from dagster_project.assets.activities import ACTIVITIES_ASSETS
from dagster_project.assets.crm_scoring import CRM_SCORING_ASSETS
from dagster_project.assets.crm_segments import CRM_SEGMENT_ASSETS
from dagster_project.assets.ingest import INGEST_ASSETS, import_job, landing_dir_sensor
from dagster_project.checks.ingest import INGEST_CHECKS
from dagster_project.resources import MongoResource, Neo4jResource, PostgresResource


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources configured from the environment (see README, "Configuration")."""
    return {
        "postgres": PostgresResource(),
        "neo4j": Neo4jResource(),
        "mongo": MongoResource(),
    }


defs = dg.Definitions(
    assets=[*INGEST_ASSETS, *ACTIVITIES_ASSETS, *CRM_SCORING_ASSETS, *CRM_SEGMENT_ASSETS],
    asset_checks=[*INGEST_CHECKS],
    jobs=[import_job],
    sensors=[landing_dir_sensor],
    resources=build_resources(),
)
