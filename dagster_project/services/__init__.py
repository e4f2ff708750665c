"""Embedded local servers: PostgreSQL, a Bolt graph server and a MongoDB-wire server.

Each is started on demand under `.leadflow/` on loopback, reused when already running, and
skipped entirely when its environment variable points at a real deployment.
"""

from dagster_project.services.base import ServiceError, ServiceStatus
from dagster_project.services.graph import GraphService
from dagster_project.services.mongo import MongoService
from dagster_project.services.postgres import PostgresService

ALL_SERVICES = (PostgresService, GraphService, MongoService)

__all__ = [
    "ALL_SERVICES",
    "GraphService",
    "MongoService",
    "PostgresService",
    "ServiceError",
    "ServiceStatus",
]
