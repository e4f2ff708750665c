"""PostgreSQL access every domain shares: connection factories, the tenants (organizations),
system_config values, and COPY of rows into a table.

The domain modules keep their own SQL; what lives here is the small vocabulary several of them
used to write each on their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import Row

#: how code that opens its own transactions gets connections (psycopg.connect bound to a URL,
#: or PostgresResource.connection)
ConnectionFactory = Callable[[], AbstractContextManager[psycopg.Connection]]


class UnknownOrganization(LookupError):
    """An organization id that is not in PostgreSQL."""


#: the one setting every row-level security policy reads (dnc_list's too since migration 011)
TENANT_SETTING = "app.current_tenant_id"


def set_tenant(conn: psycopg.Connection, organization_id: object) -> None:
    """Scope the connection's current transaction to one organization: every policy then shows
    and accepts that organization's rows only (for a role subject to row-level security), so a
    query that forgets its `where organization_id = …` still cannot reach another tenant. The
    setting is transaction-local (`set_config(…, true)`): it ends with the transaction and never
    leaks into the next user of a pooled connection."""
    conn.execute("select set_config(%s, %s, true)", (TENANT_SETTING, str(organization_id)))


def one_row(cursor: psycopg.Cursor[Row]) -> Row:
    """The row of a query that always returns exactly one (an aggregate, `select now()`,
    `to_regclass(…)`, `insert … returning` of one row); an error if it returned none."""
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("the query returned no row where it always returns one")
    return row


def organization_ids(conn: psycopg.Connection) -> list[str]:
    """Every organization (tenant), in id order."""
    return [row[0] for row in conn.execute("select id::text from organizations order by id")]


T = TypeVar("T")


def each_organization(orgs: Sequence[str], work: Callable[[str], T], workers: int) -> list[T]:
    """`work(org)` for every organization, `workers` at a time (LEADFLOW_NIGHTLY_WORKERS), the
    results in the organizations' order. Threads: the per-organization steps wait on
    PostgreSQL, the graph or Redis for much of their time, and organizations share nothing, so
    a second one runs while the first waits (each `work` opens its own connections). When one
    raises, the organizations not yet started are not, and its exception is raised once the
    started ones finished."""
    orgs = list(orgs)
    if workers <= 1 or len(orgs) <= 1:
        return [work(org) for org in orgs]
    with ThreadPoolExecutor(min(workers, len(orgs)), thread_name_prefix="organization") as pool:
        futures = [pool.submit(work, org) for org in orgs]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def require_organization(conn: psycopg.Connection, organization_id: object) -> None:
    """Raise UnknownOrganization when the id names no organization."""
    if not conn.execute("select 1 from organizations where id = %s", (organization_id,)).fetchone():
        raise UnknownOrganization(f"unknown organization {organization_id}")


def find_organization(conn: psycopg.Connection, key: str) -> tuple[str, str | None, str]:
    """(id, slug, name) of the organization whose UUID, slug (any case) or exact name is `key`;
    UnknownOrganization listing the choices otherwise."""
    rows = conn.execute(
        "select id::text, slug, name from organizations order by name, id"
    ).fetchall()
    wanted = key.strip()
    for matches in (
        lambda row: row[0] == wanted.lower(),
        lambda row: row[1] is not None and row[1].lower() == wanted.lower(),
        lambda row: row[2] == wanted,
    ):
        found = [row for row in rows if matches(row)]
        if len(found) == 1:
            return found[0]
    choices = ", ".join(row[1] or row[0] for row in rows) or "none"
    raise UnknownOrganization(
        f"unknown organization {key!r}: give a UUID, a slug or an exact name ({choices})"
    )


def config_value(conn: psycopg.Connection, organization_id: str | None, key: str) -> object | None:
    """The organization's value of a system_config key, else the global one, else None."""
    row = conn.execute(
        """
        select config_value
        from system_config
        where config_key = %s and (organization_id = %s or organization_id is null)
        order by organization_id nulls last
        limit 1
        """,
        (key, organization_id),
    ).fetchone()
    return row[0] if row else None


def config_values(conn: psycopg.Connection, key: str) -> tuple[object, dict[str, object]]:
    """(global value, {organization_id: value}) of one system_config key, in one query."""
    rows = conn.execute(
        "select organization_id::text, config_value from system_config where config_key = %s",
        (key,),
    ).fetchall()
    global_value = next((value for org, value in rows if org is None), None)
    return global_value, {org: value for org, value in rows if org is not None}


def copy_rows(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    types: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> int:
    """COPY `rows` into `table` (`columns`, binary-compatible `types` such as int4, text,
    jsonb); returns how many rows were written."""
    statement = sql.SQL("copy {} ({}) from stdin").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    count = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)
            count += 1
    return count
