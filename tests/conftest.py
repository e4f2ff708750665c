"""Session fixtures: real PostgreSQL, Bolt graph, MongoDB-wire and Redis servers, and the CLI.

With no configuration the embedded local servers are started (or reused) under `.leadflow/`;
POSTGRES_URL / NEO4J_URI+NEO4J_USER+NEO4J_PASSWORD / MONGO_URL / REDIS_URL point the suite at
real ones.
Every PostgreSQL test database is created fresh for the session and dropped at its end; a
database that needs the schema (and the seed) is cloned from a template migrated (and seeded)
once per session, which is several times faster than migrating each one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from leadflow.cli.main import main as leadflow_main
from leadflow.platform.migrations import migrate_up
from leadflow.platform.seed import load_seed
from leadflow.platform.services import GraphService, MongoService, PostgresService, RedisService
from leadflow.platform.services.base import LocalService
from leadflow.platform.services.managed_postgres import ManagedPostgresService, installed_bin_dir


def _with_database(url: str, database: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = database
    return psycopg.conninfo.make_conninfo(**info)


#: servers found stopped when the run began: the run stops them again at its end
_STOPPED_AT_START: list[LocalService] = []
_STARTING: list[threading.Thread] = []


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


_DAGSTER_HOMES: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Every test process records the Dagster runs the commands start (they use the instance of
    DAGSTER_HOME) in an instance of its own, removed at the end, never in the developer's
    `.leadflow/dagster` (a test that reads the instance sets DAGSTER_HOME itself).

    The run's owner parses the dbt project once, before any test module loads the
    definitions (the dbt assets are built from its manifest; see
    leadflow/analytics/dbt_project.py); pytest-xdist's workers start after it."""
    if not os.environ.get("DAGSTER_HOME"):
        _DAGSTER_HOMES.append(tempfile.mkdtemp(prefix="leadflow-test-dagster-"))
        os.environ["DAGSTER_HOME"] = _DAGSTER_HOMES[-1]
    if _is_xdist_worker(config):
        return
    from leadflow.analytics.dbt_project import prepare

    prepare()


def pytest_unconfigure(config: pytest.Config) -> None:
    for home in _DAGSTER_HOMES:
        shutil.rmtree(home, ignore_errors=True)


def pytest_sessionstart(session: pytest.Session) -> None:
    """The run's owner (the only process, or pytest-xdist's controller) notes which local
    servers are stopped now; workers share the servers and never stop them."""
    if _is_xdist_worker(session.config) or os.environ.get("LEADFLOW_KEEP_SERVICES"):
        return
    for service in _servers():
        if not service.is_external() and service.running_state() is None:
            _STOPPED_AT_START.append(service)


def _servers() -> list[LocalService]:
    """The servers integration tests use: the embedded ones, and Debian's PostgreSQL as a
    managed service hands it over (the hostile-tenant and deployment tests) when installed."""
    servers: list[LocalService] = [
        PostgresService(),
        GraphService(),
        MongoService(),
        RedisService(),
    ]
    if installed_bin_dir() is not None:
        servers.append(ManagedPostgresService())
    return servers


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist turns the marks into groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With pytest-xdist (`--dist loadgroup`) a test file is one unit of work unless its tests
    name a wider group: module-scoped fixtures (a built mart database, a synced graph) are then
    made once, and the files sharing the `pipeline` fixture run on one worker."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


def pytest_collection_finish(session: pytest.Session) -> None:
    """When integration tests will run, boot the servers in the background right away, so the
    graph server's JVM starts while the first tests run instead of in front of them. (Several
    starters at once are serialised by each server's lock: one starts, the others reuse it.)"""
    if any(item.get_closest_marker("integration") for item in session.items):
        for service in _servers():
            thread = threading.Thread(target=service.ensure_running, daemon=True)
            thread.start()
            _STARTING.append(thread)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop (in parallel) the servers the run started, after every fixture's teardown and, with
    pytest-xdist, after every worker finished."""
    for thread in _STARTING:
        thread.join()
    stoppers = [
        threading.Thread(target=service.stop)
        for service in _STOPPED_AT_START
        if service.running_state() is not None
    ]
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join()


def _session_service(service: LocalService, export: bool = False) -> str:
    """Start (or reuse) a server for the session (stopped at the end of the run if it was not
    running when the run began).

    With `export`, the product's variables (NEO4J_URI/USER/PASSWORD, MONGO_URL, REDIS_URL) point
    at the local server for the session, as `eval "$(leadflow env)"` does for a developer.
    """
    url = service.ensure_running()
    if export and not service.is_external():
        for key, value in service.local_env(service.running_state()).items():
            os.environ.setdefault(key, value)
    return url


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    return _session_service(PostgresService())


@pytest.fixture(scope="session")
def make_database(pg_server_url: str) -> Iterator[Callable[..., str]]:
    """`make_database(prefix, template=None)`: a new database (a copy of `template`, a database
    name or URL, when given); its URL."""
    created: list[str] = []
    admin = _with_database(pg_server_url, "postgres")

    def factory(prefix: str, template: str | None = None) -> str:
        name = f"lf_test_{prefix}_{uuid.uuid4().hex[:8]}"
        statement = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            source = psycopg.conninfo.conninfo_to_dict(template).get("dbname") or template
            statement += sql.SQL(" template {}").format(sql.Identifier(source))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(statement)
        created.append(name)
        return _with_database(pg_server_url, name)

    yield factory
    if os.environ.get("LEADFLOW_KEEP_TEST_DBS"):
        return
    # in parallel: every DROP DATABASE waits for a checkpoint, and concurrent requests share one
    # (one by one, a worker's ~100 databases took ~20 s at the end of the run)

    def drop(name: str) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(drop, created))


#: serialises the templates' migrations of all pytest-xdist workers (see _migrate_template)
_TEMPLATE_LOCK = 7_253_411_002


def _migrate_template(url: str) -> None:
    """Migrate a template database while holding a lock every worker takes in the server's
    `postgres` database. The migrator's own lock is per database (PostgreSQL scopes advisory
    locks to one), but a migration also creates cluster-wide objects (migration 006's role
    `analyst`): on a fresh server two workers migrating their templates at once could both
    find the role missing and one fail on the other's `create role`."""
    admin = _with_database(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as lock:
        lock.execute("select pg_advisory_lock(%s)", (_TEMPLATE_LOCK,))
        try:
            migrate_up(url)
        finally:
            lock.execute("select pg_advisory_unlock(%s)", (_TEMPLATE_LOCK,))


@pytest.fixture(scope="session")
def migrated_template(make_database: Callable[..., str]) -> str:
    """A migrated, empty database that tests clone (never use it directly: a connection to it
    blocks the copies)."""
    url = make_database("tpl_migrated")
    _migrate_template(url)
    return url


@pytest.fixture(scope="session")
def seeded_template(make_database: Callable[..., str]) -> str:
    """A migrated and seeded database that tests clone (never connect to it)."""
    url = make_database("tpl_seeded")
    _migrate_template(url)
    load_seed(url)
    return url


@pytest.fixture(scope="session")
def new_migrated_database(make_database, migrated_template) -> Callable[[str], str]:
    """`new_migrated_database(prefix)`: a fresh copy of the migrated template; its URL."""
    return lambda prefix: make_database(prefix, template=migrated_template)


@pytest.fixture(scope="session")
def new_seeded_database(make_database, seeded_template) -> Callable[[str], str]:
    """`new_seeded_database(prefix)`: a fresh copy of the seeded template; its URL."""
    return lambda prefix: make_database(prefix, template=seeded_template)


@pytest.fixture(scope="session")
def migrated_url(new_migrated_database) -> str:
    """One migrated database shared by the read-only tests of the session."""
    return new_migrated_database("migrated")


@pytest.fixture(scope="session")
def seeded_url(new_seeded_database) -> str:
    """One seeded database shared by the read-only tests of the session."""
    return new_seeded_database("seeded")


@pytest.fixture(scope="session")
def bolt_url() -> str:
    return _session_service(GraphService(), export=True)


@pytest.fixture(scope="session")
def mongo_url() -> str:
    return _session_service(MongoService(), export=True)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _session_service(RedisService(), export=True)


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_leadflow(*args: str, env: Mapping[str, str | None] | None = None) -> CliResult:
    """`leadflow ARGS` in this process (click's CliRunner): the same command, options and exit
    codes as the console script, without a Python start-up per call. `env` sets (or, with
    None, unsets) variables for the call only. An exception the command did not turn into a
    clean exit is re-raised, so "no traceback" stays a real assertion."""
    result = CliRunner().invoke(leadflow_main, list(args), env=dict(env or {}))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliResult(result.exit_code, result.stdout, result.stderr)
