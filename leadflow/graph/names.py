"""Names for the graph's answers. The graph holds no names (docs/graph.md: no names, phones or
e-mails in it), so the queries users run get them from PostgreSQL afterwards, by id, within the
organization the answer belongs to (its transaction scoped to that tenant)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from leadflow.leads.ids import canonical_uuid
from leadflow.postgres import set_tenant


def person_name(first: str | None, last: str | None) -> str | None:
    """ "First Last", or None when neither is known."""
    name = " ".join(part.strip() for part in (first, last) if part and part.strip())
    return name or None


def _names(
    conn: psycopg.Connection, table: str, organization_id: str | None, ids: Iterable[str | None]
) -> dict[str, str | None]:
    wanted = sorted({canonical for canonical in map(_uuid, ids) if canonical})
    if not wanted or not canonical_uuid(organization_id or ""):
        return {}
    set_tenant(conn, organization_id)
    rows = conn.execute(
        f"select id::text, first_name, last_name from {table}"  # noqa: S608 - a constant table
        " where organization_id = %s and id = any(%s::uuid[])",
        (organization_id, wanted),
    ).fetchall()
    return {row[0]: person_name(row[1], row[2]) for row in rows}


def _uuid(value: str | None) -> str | None:
    return canonical_uuid(value) if value else None


def lead_names(
    conn: psycopg.Connection, organization_id: str, ids: Iterable[str | None]
) -> dict[str, str | None]:
    """{lead id: "First Last" or None} of those of the ids that are leads of the organization."""
    return _names(conn, "leads", organization_id, ids)


def user_names(
    conn: psycopg.Connection, organization_id: str, ids: Iterable[str | None]
) -> dict[str, str | None]:
    """{user id: "First Last" or None} of those of the ids that are users of the organization."""
    return _names(conn, "users", organization_id, ids)


def name_rows(
    conn: psycopg.Connection, organization_id: str, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The rows (each with a lead `id` and its `owner_id`) with `name` and `owner_name` added."""
    leads = lead_names(conn, organization_id, (row["id"] for row in rows))
    owners = user_names(conn, organization_id, (row.get("owner_id") for row in rows))
    for row in rows:
        row["name"] = leads.get(row["id"])
        row["owner_name"] = owners.get(row["owner_id"]) if row.get("owner_id") else None
    return rows
