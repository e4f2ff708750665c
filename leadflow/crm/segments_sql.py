"""Segments in PostgreSQL: count every saved segment, and preview a filter for the CLI."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from leadflow.crm.segments import (
    CompiledFilter,
    SegmentFilterError,
    compile_filter,
    segment_count_query,
    segment_query,
)
from leadflow.postgres import one_row, require_organization, set_tenant


@dataclass(frozen=True)
class SegmentCount:
    """One segment's outcome: its count, or why its filter was refused (count left as it was)."""

    segment_id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    lead_count: int | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "segment_id": str(self.segment_id),
            "organization_id": str(self.organization_id),
            "name": self.name,
            "lead_count": self.lead_count,
            **({"error": self.error} if self.error else {}),
        }


def count_segments(conn: psycopg.Connection, as_of: datetime) -> list[SegmentCount]:
    """Count the live leads of every segment, in one transaction.

    Each counted segment gets lead_count and last_counted_at = as_of, and a
    segment_count_history row at as_of (re-running for the same as_of overwrites it). A segment
    whose filter is invalid keeps its previous count and gets no history row. A segment deleted
    meanwhile is skipped by the guarded insert.
    """
    results: list[SegmentCount] = []
    with conn.transaction():
        segments = conn.execute(
            "select id, organization_id, name, filter from segments"
            " order by organization_id, name, id"
        ).fetchall()
        for segment_id, organization_id, name, spec in segments:
            try:
                compiled = compile_filter(spec)
            except SegmentFilterError as exc:
                results.append(SegmentCount(segment_id, organization_id, name, None, str(exc)))
                continue
            query, params = segment_count_query(organization_id, compiled)
            (count,) = one_row(conn.execute(query, params))
            results.append(SegmentCount(segment_id, organization_id, name, count))
        counted = [r for r in results if r.error is None]
        with conn.cursor() as cur:
            cur.executemany(
                "update segments set lead_count = %s, last_counted_at = %s where id = %s",
                [(r.lead_count, as_of, r.segment_id) for r in counted],
            )
            cur.executemany(
                "insert into segment_count_history"
                " (segment_id, organization_id, counted_at, lead_count)"
                " select s.id, s.organization_id, %s, %s from segments s where s.id = %s"
                " on conflict (segment_id, counted_at)"
                " do update set lead_count = excluded.lead_count",
                [(as_of, r.lead_count, r.segment_id) for r in counted],
            )
    return results


@dataclass(frozen=True)
class Preview:
    count: int
    rows: list[dict[str, Any]]


def preview_segment(
    conn: psycopg.Connection, organization_id: uuid.UUID, compiled: CompiledFilter, limit: int
) -> Preview:
    """How many live leads of the organization match, and the first `limit` of them; read with
    the tenant set (a login of the application role sees this organization only)."""
    with conn.transaction():
        set_tenant(conn, organization_id)
        require_organization(conn, organization_id)
        query, params = segment_count_query(organization_id, compiled)
        (count,) = one_row(conn.execute(query, params))
        query, params = segment_query(organization_id, compiled, limit=limit)
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(query, params).fetchall()
    return Preview(count, rows)
