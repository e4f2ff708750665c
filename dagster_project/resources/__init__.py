"""Dagster resources for the three stores, configured from the environment."""

from dagster_project.resources.mongo import MongoResource
from dagster_project.resources.neo4j import Neo4jResource
from dagster_project.resources.postgres import PostgresResource

__all__ = ["MongoResource", "Neo4jResource", "PostgresResource"]
