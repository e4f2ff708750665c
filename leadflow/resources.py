"""Dagster resources for the stores, configured from the environment only.

Each resource reads its address from one variable (`POSTGRES_URL`, `NEO4J_URI` with
`NEO4J_USER`/`NEO4J_PASSWORD`, `MONGO_URL`) and starts nothing: a deployment with a variable
missing fails on first use with an error that names the variable, instead of quietly talking to
a server that is not the one it should. Local servers are the platform's business
(`leadflow local up`, `leadflow local env`; see leadflow/platform/).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import dagster as dg
import psycopg
from psycopg_pool import ConnectionPool
from pydantic import Field, PrivateAttr

from leadflow import settings
from leadflow.settings import missing_setting

if TYPE_CHECKING:
    # the drivers load on first use: a run that needs PostgreSQL only (an import) does not
    # wait for neo4j (half a second, with the pandas it loads) or pymongo
    from neo4j import Driver
    from pymongo import MongoClient
    from pymongo.database import Database


def from_env(name: str) -> str | dg.EnvVar | None:
    """`dg.EnvVar(name)` when the variable is set, so Dagster reads it at run time and shows it
    as an environment variable in the UI; None otherwise, and the resource then fails on first
    use with `missing_setting`'s message instead of Dagster's generic one."""
    return dg.EnvVar(name) if settings.current().raw(name) else None


def _setting(value: str | None, variable: str, what: str) -> str:
    resolved = value or settings.current().raw(variable)
    if not resolved:
        raise missing_setting(variable, what)
    return resolved


class PostgresResource(dg.ConfigurableResource):
    """Connections to the CRM database (POSTGRES_URL), pooled during a run."""

    url: str | None = Field(default=None, description="PostgreSQL URL; default POSTGRES_URL.")
    min_size: int = Field(default=1, description="Connections kept open by the pool.")
    max_size: int = Field(default=4, description="Upper bound of the pool.")

    _pool: ConnectionPool | None = PrivateAttr(default=None)

    def resolved_url(self) -> str:
        return _setting(self.url, "POSTGRES_URL", "PostgreSQL")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._pool = ConnectionPool(
            self.resolved_url(),
            min_size=self.min_size,
            max_size=self.max_size,
            open=True,
            name="leadflow",
        )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection; the block runs in one transaction committed on success."""
        if self._pool is None:  # used outside a run (scripts, tests): plain connection
            with psycopg.connect(self.resolved_url()) as conn:
                yield conn
            return
        with self._pool.connection() as conn:
            yield conn


class Neo4jResource(dg.ConfigurableResource):
    """A driver for the graph (NEO4J_URI; NEO4J_USER/NEO4J_PASSWORD when it needs auth)."""

    uri: str | None = Field(default=None, description="bolt:// or neo4j:// URI; default NEO4J_URI.")
    user: str | None = Field(default=None, description="Default NEO4J_USER.")
    password: str | None = Field(default=None, description="Default NEO4J_PASSWORD.")
    database: str | None = Field(default=None, description="Default NEO4J_DATABASE, else neo4j.")

    _driver: Driver | None = PrivateAttr(default=None)

    def resolved_uri(self) -> str:
        return _setting(self.uri, "NEO4J_URI", "Neo4j 5 server")

    def resolved_database(self) -> str:
        return self.database or settings.current().neo4j_database

    def auth(self) -> tuple[str, str] | None:
        user = self.user or settings.current().neo4j_user
        password = self.password or settings.current().neo4j_password
        return (user, password or "") if user else None

    def get_driver(self) -> Driver:
        from neo4j import GraphDatabase

        if self._driver is None:
            self._driver = GraphDatabase.driver(self.resolved_uri(), auth=self.auth())
        return self._driver

    def server_agent(self, timeout: float = 10.0) -> str:
        """The server's agent string as the driver sees it (tells Neo4j from ArcadeDB)."""
        from neo4j import GraphDatabase

        with GraphDatabase.driver(
            self.resolved_uri(), auth=self.auth(), connection_timeout=timeout
        ) as driver:
            return driver.get_server_info().agent

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None


class MongoResource(dg.ConfigurableResource):
    """Where the activity events live (MONGO_URL, database MONGO_DATABASE)."""

    url: str | None = Field(default=None, description="mongodb:// URL; default MONGO_URL.")
    database: str | None = Field(default=None, description="Default MONGO_DATABASE, else leadflow.")

    _client: MongoClient | None = PrivateAttr(default=None)

    def resolved_url(self) -> str:
        return _setting(self.url, "MONGO_URL", "MongoDB")

    def resolved_database(self) -> str:
        return self.database or settings.current().mongo_database

    def get_client(self) -> MongoClient:
        from pymongo import MongoClient

        if self._client is None:
            self._client = MongoClient(
                self.resolved_url(), tz_aware=True, serverSelectionTimeoutMS=10000
            )
        return self._client

    def get_database(self) -> Database:
        return self.get_client()[self.resolved_database()]

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def sealed(resource: dg.ConfigurableResource) -> dg.ResourceDefinition:
    """`resource` as a definition that takes no run config. A run launched from the Dagster UI
    (which has no login) could otherwise set a resource's fields, e.g. point `postgres` at a
    server of its choosing, which would then receive every tenant's leads, or give `dbt` another
    executable to run. Sealed, the values are the deployment's: its code and its environment."""

    @dg.resource(config_schema={}, description=(type(resource).__doc__ or "").strip() or None)
    def _sealed(context: dg.InitResourceContext) -> Iterator[Any]:
        ready = resource.with_replaced_resource_context(context)
        with ready.yield_for_execution(context) as value:
            yield value

    return _sealed


def resources_from_env() -> dict[str, dg.ResourceDefinition]:
    """The store resources as a deployment configures them: from the environment, read when a
    run uses them (never from run config: see `sealed`)."""
    return {
        "postgres": sealed(PostgresResource()),
        "neo4j": sealed(Neo4jResource()),
        "mongo": sealed(MongoResource()),
        "redis": sealed(RedisResource()),
    }


class RedisResource(dg.ConfigurableResource):
    """The recommendation cache (REDIS_URL, any Redis-protocol server). Optional by design: with
    no URL, or the server down, recommendations are written to and read from PostgreSQL only,
    with a warning; nothing fails for want of the cache."""

    url: str | None = Field(default=None, description="redis:// URL; default REDIS_URL.")

    def resolved_url(self) -> str | None:
        return self.url or settings.current().redis_url
