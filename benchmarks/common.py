"""What the benchmarks share: scratch databases on the server under test, and output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from leadflow.platform.migrations import migrate_up

#: where a benchmark prints its figures (click.echo from the CLI, a list's append in tests)
Echo = Callable[[str], Any]


def with_dbname(url: str, dbname: str) -> str:
    """The same server URL with another database name."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = dbname
    return psycopg.conninfo.make_conninfo("", **info)


def database_exists(server_url: str, database: str) -> bool:
    with psycopg.connect(with_dbname(server_url, "postgres"), autocommit=True) as conn:
        row = conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone()
    return row is not None


def recreate_database(server_url: str, database: str) -> str:
    """Drop and create a benchmark database on the server, migrated; returns its URL."""
    with psycopg.connect(with_dbname(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database))
        )
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
    url = with_dbname(server_url, database)
    migrate_up(url)
    return url
