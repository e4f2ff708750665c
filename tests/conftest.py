"""Session fixtures: real PostgreSQL, Bolt graph and MongoDB-wire servers.

With no configuration the embedded local servers are started (or reused) under `.leadflow/`;
POSTGRES_URL / NEO4J_URI+NEO4J_USER+NEO4J_PASSWORD / MONGO_URL point the suite at real ones.
Every PostgreSQL test database is created fresh for the session and dropped at its end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from leadflow.platform.migrations import migrate_up
from leadflow.platform.seed import load_seed
from leadflow.platform.services import GraphService, MongoService, PostgresService


def _with_database(url: str, database: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = database
    return psycopg.conninfo.make_conninfo(**info)


def _session_service(service, export: bool = False) -> Iterator[str]:
    """Start (or reuse) a server for the session; stop it at the end only if we started it.

    With `export`, the product's variables (NEO4J_URI/USER/PASSWORD, MONGO_URL) point at the
    local server for the session, as `eval "$(leadflow env)"` does for a developer.
    """
    started_here = not service.is_external() and service.running_state() is None
    url = service.ensure_running()
    if export and not service.is_external():
        for key, value in service.local_env(service.running_state()).items():
            os.environ.setdefault(key, value)
    yield url
    if started_here and not os.environ.get("LEADFLOW_KEEP_SERVICES"):
        service.stop()


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    yield from _session_service(PostgresService())


@pytest.fixture(scope="session")
def make_database(pg_server_url: str) -> Iterator[Callable[[str], str]]:
    created: list[str] = []
    admin = _with_database(pg_server_url, "postgres")

    def factory(prefix: str) -> str:
        name = f"lf_test_{prefix}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        created.append(name)
        return _with_database(pg_server_url, name)

    yield factory
    if os.environ.get("LEADFLOW_KEEP_TEST_DBS"):
        return
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in created:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def migrated_url(make_database: Callable[[str], str]) -> str:
    url = make_database("migrated")
    migrate_up(url)
    return url


@pytest.fixture(scope="session")
def seeded_url(make_database: Callable[[str], str]) -> str:
    url = make_database("seeded")
    migrate_up(url)
    load_seed(url)
    return url


@pytest.fixture(scope="session")
def bolt_url() -> Iterator[str]:
    yield from _session_service(GraphService(), export=True)


@pytest.fixture(scope="session")
def mongo_url() -> Iterator[str]:
    yield from _session_service(MongoService(), export=True)
