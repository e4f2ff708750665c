"""Helpers every `leadflow` command module shares: errors, and where the stores are.

Commands find PostgreSQL, the graph and MongoDB through the same variables as the Dagster
resources (POSTGRES_URL, NEO4J_URI/NEO4J_USER/NEO4J_PASSWORD, MONGO_URL). A variable left
unset is filled in from the local server of the platform when one is running (`leadflow up`),
so a developer needs no exports; nothing here ever starts a server.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import click

from leadflow.resources import MissingSettingError, MongoResource, Neo4jResource, PostgresResource

#: local server name -> the variable that names its production counterpart
SERVICE_VARIABLES = {"postgres": "POSTGRES_URL", "graph": "NEO4J_URI", "mongo": "MONGO_URL"}


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error (no traceback) and exit with `code`."""
    click.echo(f"leadflow: error: {message}", err=True)
    sys.exit(code)


def use_local_servers(*names: str) -> None:
    """Point this process at the running local servers for the variables that are unset."""
    from leadflow.platform.services import local_env

    wanted = [n for n in (names or SERVICE_VARIABLES) if not os.environ.get(SERVICE_VARIABLES[n])]
    if wanted:
        for key, value in local_env(wanted).items():
            os.environ.setdefault(key, value)


def _resolved(resource, method: str):
    try:
        getattr(resource, method)()
    except MissingSettingError as exc:
        fail(str(exc))
    return resource


def postgres_url() -> str:
    """POSTGRES_URL, or the running local server's; a clear error when there is neither."""
    use_local_servers("postgres")
    return _resolved(PostgresResource(), "resolved_url").resolved_url()


def neo4j_resource() -> Neo4jResource:
    use_local_servers("graph")
    return _resolved(Neo4jResource(), "resolved_uri")


def mongo_resource() -> MongoResource:
    use_local_servers("mongo")
    return _resolved(MongoResource(), "resolved_url")
