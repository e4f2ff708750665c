"""The single Dagster entry point: `dagster dev` from the repository root loads `defs`."""

from __future__ import annotations

import dagster as dg

from dagster_project.resources import MongoResource, Neo4jResource, PostgresResource


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources configured from the environment (see README, "Configuration")."""
    return {
        "postgres": PostgresResource(),
        "neo4j": Neo4jResource(),
        "mongo": MongoResource(),
    }


defs = dg.Definitions(
    assets=[],
    resources=build_resources(),
)
