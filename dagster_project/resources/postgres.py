"""PostgreSQL resource: a psycopg 3 connection pool."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg
from psycopg_pool import ConnectionPool
from pydantic import Field, PrivateAttr

from dagster_project.services import PostgresService


class PostgresResource(dg.ConfigurableResource):
    """Connections to the CRM database.

    `url` defaults to POSTGRES_URL, or to the embedded local server (started on demand) when
    that is unset.
    """

    url: str | None = Field(
        default=None, description="PostgreSQL URL; empty means POSTGRES_URL or the local server."
    )
    min_size: int = Field(default=1, description="Connections kept open by the pool.")
    max_size: int = Field(default=4, description="Upper bound of the pool.")

    _pool: ConnectionPool | None = PrivateAttr(default=None)

    def resolved_url(self) -> str:
        return self.url or PostgresService().ensure_running()

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
