"""Embedded local servers: PostgreSQL, a Bolt graph server, a MongoDB-wire server and a
Redis-protocol cache (Valkey).

Each is started by `leadflow local up` (or `make demo`, or the tests) under `.leadflow/` on loopback,
reused when already running, and skipped entirely when its environment variable points at a
real deployment. `local_env()` gives the variables that point the product at them.
"""

from leadflow.platform.services.base import ServiceError, ServiceStatus
from leadflow.platform.services.graph import GraphService
from leadflow.platform.services.mongo import MongoService
from leadflow.platform.services.postgres import PostgresService
from leadflow.platform.services.redis import RedisService

ALL_SERVICES = (PostgresService, GraphService, MongoService, RedisService)

__all__ = [
    "ALL_SERVICES",
    "GraphService",
    "MongoService",
    "PostgresService",
    "RedisService",
    "ServiceError",
    "ServiceStatus",
]


def local_env(names: list[str] | tuple[str, ...] | None = None, *, start: bool = False) -> dict:
    """The variables (POSTGRES_URL, NEO4J_URI/USER/PASSWORD, MONGO_URL, REDIS_URL) that point the
    product at the local servers: those running, or, with `start`, all of them started first.
    Servers whose variables name an external deployment are left out."""
    env: dict[str, str] = {}
    for cls in ALL_SERVICES:
        if names is not None and cls.name not in names:
            continue
        service = cls()
        if service.is_external():
            continue
        if start:
            service.ensure_running()
        state = service.running_state()
        if state:
            env.update(service.local_env(state))
    return env
