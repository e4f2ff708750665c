"""Helpers every `leadflow` command module shares: errors, where the stores are, and the
Dagster instance the commands' runs are recorded in.

Commands find PostgreSQL, the graph and MongoDB through the same variables as the Dagster
resources (POSTGRES_URL, NEO4J_URI/NEO4J_USER/NEO4J_PASSWORD, MONGO_URL). When a variable is
unset and the platform's local server runs (`leadflow local up`), that server is used, so a developer
needs no exports. Nothing here starts a server or changes the environment: the resources are
built with explicit addresses instead.

This module loads nothing heavy (Dagster, the drivers): `--help` and a refused argument are
answered without them; each helper imports what it needs when called.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from leadflow import settings
from leadflow.cli.conventions import BAD_REQUEST, FAILED, fail
from leadflow.settings import missing_setting

if TYPE_CHECKING:  # the resources import Dagster: only the commands that run it pay for that
    from dagster import ConfigurableResource, DagsterInstance

    from leadflow.resources import MongoResource, Neo4jResource


def ensure_schema_current(url: str, code: int = BAD_REQUEST) -> None:
    """Refuse to work on an outdated schema (pending or edited migrations), naming them: a bad
    request (exit 2), nothing was done. An unreachable server is a failure (exit 1)."""
    import psycopg

    from leadflow.platform import migrations

    try:
        pending = [s for s in migrations.migration_status(url) if s.state != "applied"]
    except migrations.MigrationError as exc:
        # an unreachable server is a failure (exit 1), not a refused request
        unreachable = isinstance(exc.__cause__, psycopg.OperationalError)
        fail(str(exc), FAILED if unreachable else code)
    if pending:
        names = ", ".join(f"{s.version:03d}_{s.name} ({s.state})" for s in pending)
        fail(
            f"the database schema is not up to date: {names}; run `leadflow db migrate` first",
            code,
        )


def _local(service: str, variable: str, what: str) -> dict[str, str]:
    """The running local server's variables, or exit naming the variable to set."""
    from leadflow.platform.services import local_env

    env = local_env([service])
    if variable not in env:
        fail(str(missing_setting(variable, what)), BAD_REQUEST)
    return env


def postgres_url() -> str:
    """POSTGRES_URL, or the running local server's URL."""
    return (
        settings.current().postgres_url
        or _local("postgres", "POSTGRES_URL", "PostgreSQL")["POSTGRES_URL"]
    )


def neo4j_resource() -> Neo4jResource:
    """The graph of NEO4J_URI (with NEO4J_USER/NEO4J_PASSWORD), or the running local server."""
    from leadflow.resources import Neo4jResource

    if settings.current().neo4j_uri:
        return Neo4jResource()
    env = _local("graph", "NEO4J_URI", "Neo4j 5 server")
    return Neo4jResource(
        uri=env["NEO4J_URI"], user=env["NEO4J_USER"], password=env["NEO4J_PASSWORD"]
    )


def mongo_resource() -> MongoResource:
    """MONGO_URL (database MONGO_DATABASE), or the running local server."""
    from leadflow.resources import MongoResource

    if settings.current().mongo_url:
        return MongoResource()
    return MongoResource(url=_local("mongo", "MONGO_URL", "MongoDB")["MONGO_URL"])


def redis_url() -> str | None:
    """REDIS_URL, or the running local cache server's URL, or None (no cache: the commands
    work from PostgreSQL). The commands' `redis` resource and their own cache clients (reads,
    invalidation) are all built from it."""
    url = settings.current().redis_url
    if not url:
        from leadflow.platform.services import local_env

        url = local_env(["redis"]).get("REDIS_URL")
    return url


def invalidate_recommendations(postgres_url: str, organizations: Iterable[str] | None) -> None:
    """After a command changed leads outside Dagster (`leads assign`, `crm sync`, `import`):
    the recommendations domain deletes their cached entries now (recommend.cache), in the cache
    `redis_url()` names, as the asset recommendation_cache_invalidation does in a Dagster run.
    Never fails the command: a problem is a warning. With no cache, nothing to do (and the
    Redis client is not even loaded)."""
    url = redis_url()
    if not url:
        return
    import psycopg

    from leadflow.recommend import cache

    client = cache.connect(url)
    if client is None:
        return
    try:
        cache.invalidate_changed(client, lambda: psycopg.connect(postgres_url), organizations)
    finally:
        client.close()


def store_resources() -> dict[str, ConfigurableResource]:
    """The store resources for an in-process Dagster run (`leadflow run`, the demo)."""
    from leadflow.resources import PostgresResource, RedisResource

    return {
        "postgres": PostgresResource(url=postgres_url()),
        "neo4j": neo4j_resource(),
        "mongo": mongo_resource(),
        "redis": RedisResource(url=redis_url()),
    }


def dagster_instance() -> DagsterInstance:
    """The Dagster instance every run the command line starts is recorded in (`import`, `run`,
    `costs import`, the demo's runs), so that `make dev`'s UI shows them: DAGSTER_HOME, default
    <LEADFLOW_HOME>/dagster (SQLite storage: no server needed). The directory is made when
    missing, and a dagster.yaml with telemetry off when it has none (deploy/dagster.yaml is the
    production one)."""
    import dagster as dg

    home = settings.current().dagster_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(
            "# local instance written by leadflow; see deploy/dagster.yaml for production\n"
            "telemetry:\n  enabled: false\n",
            encoding="utf-8",
        )
    return dg.DagsterInstance.from_config(str(home))
