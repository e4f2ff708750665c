"""Canonical acquisition sources: the aliases of migration 015 (table `source_aliases`).

The same job board or ad channel arrives under many names ("Job Board – Indeed", `indeed`,
`facebook_nurses_q3`, `paid_social`). An alias maps a name to one canonical source, for one
organization or for all (organization_id null). The dbt staging models apply them to leads and
costs at every build (macro `join_source_alias`); this module holds the same matching in Python
for the command line (`leadflow sources`), so `unmapped` answers what the next build will do.

Matching compares keys: lower case, every run of characters other than a-z and 0-9 one "_",
trimmed (`source_key`, the database's `leadflow_source_key`). An `exact` alias matches a source
whose key is its key; a `prefix` alias also matches its key followed by "_" and more. The most
specific alias wins: the organization's before the global ones, an equal key before a prefix,
the longest prefix first. A source no alias matches keeps its key.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

MATCH_TYPES = ("exact", "prefix")
UNKNOWN = "unknown"
_NOT_KEY = re.compile(r"[^a-z0-9]+")


class SourceAliasError(ValueError):
    """A request the alias table refuses (bad alias, unknown organization); one line."""


def source_key(value: str | None) -> str | None:
    """'Job Board – Indeed' -> 'job_board_indeed'; None when no letter or digit is left."""
    if value is None:
        return None
    return _NOT_KEY.sub("_", value.lower()).strip("_") or None


@dataclass(frozen=True)
class Alias:
    alias: str
    canonical_source: str
    organization_id: str | None = None
    match_type: str = "exact"
    note: str | None = None
    id: str | None = None
    organization: str | None = None  # the organization's slug or name, for display

    @property
    def key(self) -> str | None:
        return source_key(self.alias)

    def matches(self, key: str | None) -> bool:
        mine = self.key
        if key is None or mine is None:
            return False
        return key == mine or (self.match_type == "prefix" and key.startswith(mine + "_"))

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "organization_id": self.organization_id,
            "organization": self.organization,
            "alias": self.alias,
            "alias_key": self.key,
            "match_type": self.match_type,
            "canonical_source": self.canonical_source,
            "note": self.note,
        }


def best_alias(
    aliases: Iterable[Alias], organization_id: str | None, raw: str | None
) -> Alias | None:
    """The alias the staging models apply to `raw` in this organization, or None."""
    key = source_key(raw)
    candidates = [
        alias
        for alias in aliases
        if (alias.organization_id is None or alias.organization_id == organization_id)
        and alias.matches(key)
    ]
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda a: (a.organization_id is None, a.key != key, -len(a.key or "")),
    )


def canonical_source(aliases: Iterable[Alias], organization_id: str | None, raw: str | None) -> str:
    """The canonical source of `raw`: its alias's, else its key, else 'unknown'."""
    alias = best_alias(aliases, organization_id, raw)
    if alias is not None:
        return alias.canonical_source
    return source_key(raw) or UNKNOWN


def validate(alias: str, canonical: str, match_type: str) -> tuple[str, str]:
    """(alias stripped, canonical as a key), or SourceAliasError."""
    if match_type not in MATCH_TYPES:
        raise SourceAliasError(f"match type must be one of {', '.join(MATCH_TYPES)}")
    if source_key(alias) is None:
        raise SourceAliasError(f"alias {alias!r} has no letter or digit")
    key = source_key(canonical)
    if key is None:
        raise SourceAliasError(f"canonical source {canonical!r} has no letter or digit")
    return alias.strip(), key


# -- PostgreSQL ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Organization:
    id: str
    slug: str | None
    name: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "slug": self.slug, "name": self.name}


def resolve_organization(conn: psycopg.Connection, key: str) -> Organization:
    """The organization whose UUID, slug (any case) or exact name is `key`; the error lists
    the slugs."""
    rows = conn.execute("select id::text, slug, name from organizations order by name").fetchall()
    organizations = [Organization(*row) for row in rows]
    wanted = key.strip()
    try:
        as_uuid: str | None = str(uuid.UUID(wanted))
    except ValueError:
        as_uuid = None
    for found in (
        [o for o in organizations if as_uuid is not None and o.id == as_uuid],
        [o for o in organizations if o.slug is not None and o.slug.lower() == wanted.lower()],
        [o for o in organizations if o.name == wanted],
    ):
        if len(found) == 1:
            return found[0]
    slugs = ", ".join(sorted(o.slug or o.id for o in organizations)) or "none"
    raise SourceAliasError(
        f"unknown organization {key!r}: give a UUID, an exact name or one of the slugs: {slugs}"
    )


def list_aliases(conn: psycopg.Connection, organization_id: str | None = None) -> list[Alias]:
    """Global aliases and the organization's (every organization's when None), most specific
    first: organization, then key."""
    query = """
        select a.id::text as id, a.organization_id::text as organization_id, a.alias,
               a.match_type, a.canonical_source, a.note, coalesce(o.slug, o.name) as organization
        from source_aliases a left join organizations o on o.id = a.organization_id
        where %(org)s::uuid is null or a.organization_id is null or a.organization_id = %(org)s
        order by a.organization_id is null, o.name, a.alias_key
    """
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, {"org": organization_id}).fetchall()
    return [Alias(**row) for row in rows]


def add_alias(
    conn: psycopg.Connection,
    alias: str,
    canonical: str,
    *,
    organization_id: str | None = None,
    match_type: str = "exact",
    note: str | None = None,
) -> tuple[Alias, bool]:
    """Insert the alias or update the one with the same key and scope; (alias, created)."""
    alias, canonical = validate(alias, canonical, match_type)
    target = (
        "(organization_id, alias_key) where organization_id is not null"
        if organization_id is not None
        else "(alias_key) where organization_id is null"
    )
    row = conn.execute(
        "insert into source_aliases (organization_id, alias, match_type, canonical_source, note)"
        " values (%s, %s, %s, %s, %s)"
        f" on conflict {target} do update set alias = excluded.alias,"
        " match_type = excluded.match_type, canonical_source = excluded.canonical_source,"
        " note = coalesce(excluded.note, source_aliases.note)"
        " returning id::text, (xmax = 0) as created",
        (organization_id, alias, match_type, canonical, note),
    ).fetchone()
    assert row is not None
    saved = Alias(alias, canonical, organization_id, match_type, note, id=row[0])
    return saved, bool(row[1])


def remove_alias(
    conn: psycopg.Connection, alias: str, *, organization_id: str | None = None
) -> list[Alias]:
    """Delete the alias with this key in this scope (global when organization_id is None)."""
    key = source_key(alias)
    if key is None:
        raise SourceAliasError(f"alias {alias!r} has no letter or digit")
    rows = conn.execute(
        "delete from source_aliases where alias_key = %s"
        " and organization_id is not distinct from %s::uuid"
        " returning id::text, organization_id::text, alias, match_type, canonical_source, note",
        (key, organization_id),
    ).fetchall()
    return [
        Alias(r[2], r[4], r[1], r[3], r[5], id=r[0])  # alias, canonical, org, type, note
        for r in rows
    ]


@dataclass(frozen=True)
class SeenSource:
    organization_id: str
    organization: str
    source: str
    leads: int
    cost_rows: int
    cost_usd: Decimal | None

    @property
    def key(self) -> str | None:
        return source_key(self.source)

    def as_json(self) -> dict[str, Any]:
        return {
            "organization_id": self.organization_id,
            "organization": self.organization,
            "source": self.source,
            "source_key": self.key,
            "leads": self.leads,
            "cost_rows": self.cost_rows,
            "cost_usd": None if self.cost_usd is None else str(self.cost_usd),
        }


def seen_sources(conn: psycopg.Connection, organization_id: str | None = None) -> list[SeenSource]:
    """Every source value of live leads and of costs, per organization, with its counts."""
    query = """
        with lead_sources as (
            select organization_id, source, count(*) as leads
            from leads
            where deleted_at is null and coalesce(source, '') <> ''
              and (%(org)s::uuid is null or organization_id = %(org)s)
            group by 1, 2
        ),
        cost_sources as (
            select organization_id, source, count(*) as cost_rows, sum(cost_usd) as cost_usd
            from lead_source_costs
            where %(org)s::uuid is null or organization_id = %(org)s
            group by 1, 2
        )
        select s.organization_id::text, coalesce(o.slug, o.name), s.source,
               coalesce(l.leads, 0), coalesce(c.cost_rows, 0), c.cost_usd
        from (select organization_id, source from lead_sources
              union select organization_id, source from cost_sources) as s
        join organizations o on o.id = s.organization_id
        left join lead_sources l using (organization_id, source)
        left join cost_sources c using (organization_id, source)
        order by o.name, s.source
    """
    rows = conn.execute(query, {"org": organization_id}).fetchall()
    return [SeenSource(r[0], r[1], r[2], int(r[3]), int(r[4]), r[5]) for r in rows]


def unmapped(seen: Sequence[SeenSource], aliases: Sequence[Alias]) -> list[SeenSource]:
    """Sources no alias maps and that are not already a canonical name of an alias in scope."""
    result = []
    for source in seen:
        if best_alias(aliases, source.organization_id, source.source) is not None:
            continue
        canonical = {
            a.canonical_source
            for a in aliases
            if a.organization_id is None or a.organization_id == source.organization_id
        }
        if source.key not in canonical:
            result.append(source)
    return result
