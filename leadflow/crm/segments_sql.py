"""Segments in PostgreSQL: count every saved segment, and preview a filter for the CLI.

Counting is incremental (watermark `segment_counts`, written in the counting transaction): a
segment's count depends only on its filter and its organization's live leads (filters have no
time relative to as_of: `created`/`contacted` bounds are absolute), so a segment is recounted
only when its organization has a lead changed since the last run (`leads.updated_at`, see
`changes`), its filter changed (a hash of it is kept in the watermark's state), or it has no
count yet; every other segment carries its count, which cannot have changed. Every valid segment
still gets lead_count, last_counted_at and its history row at as_of, so the result is row for
row that of counting everything, which the full pass does on the first run, on --full-refresh,
weekly (LEADFLOW_NIGHTLY_FULL_EVERY_DAYS) and when as_of is before the last run's.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from leadflow import watermarks
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
    recounted: bool = True  # False: the count was carried (nothing it depends on changed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "segment_id": str(self.segment_id),
            "organization_id": str(self.organization_id),
            "name": self.name,
            "lead_count": self.lead_count,
            **({"error": self.error} if self.error else {}),
        }


WATERMARK = "segment_counts"


@dataclass
class CountRun:
    """What one counting run did."""

    segments: list[SegmentCount] = field(default_factory=list)
    mode: str = "full"
    reason: str | None = None
    organizations_changed: int = 0


def filter_hash(spec: object) -> str:
    """A stable digest of a filter (key order does not matter)."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _changed_organizations(conn: psycopg.Connection, since: datetime) -> set[uuid.UUID]:
    """Organizations with a lead changed after `since`: one probe of
    idx_leads_org_updated_at per organization that has segments."""
    rows = conn.execute(
        """
        select o.organization_id
        from (select distinct organization_id from segments) o
        where exists (
            select 1 from leads l
            where l.organization_id = o.organization_id and l.updated_at > %s
        )
        """,
        (since,),
    )
    return {org for (org,) in rows}


def count_segments(
    conn: psycopg.Connection, as_of: datetime, *, full_requested: bool = False
) -> CountRun:
    """Count the live leads of every segment that may have changed, in one transaction.

    Each valid segment gets lead_count and last_counted_at = as_of, and a
    segment_count_history row at as_of (re-running for the same as_of overwrites it). A segment
    whose filter is invalid keeps its previous count and gets no history row. A segment deleted
    meanwhile is skipped by the guarded insert.
    """
    run = CountRun()
    results = run.segments
    with conn.transaction():
        mark = watermarks.read(conn, WATERMARK, lock=True)
        since = watermarks.changes_since(conn)
        reason = watermarks.full_due(mark, as_of, watermarks.full_every(), requested=full_requested)
        if reason is None and mark is not None and mark.position is not None:
            if as_of < mark.position:
                reason = f"as_of before the last run's ({mark.position.isoformat()})"
            elif "changes_since" not in mark.state:
                reason = "no change position recorded"
        known: dict[str, str] = {}
        changed_orgs: set[uuid.UUID] = set()
        if reason is None:
            assert mark is not None
            known = dict(mark.state.get("filters") or {})
            changed_orgs = _changed_organizations(
                conn, datetime.fromisoformat(mark.state["changes_since"])
            )
        run.reason = reason
        run.mode = "full" if reason else "incremental"
        run.organizations_changed = len(changed_orgs)
        segments = conn.execute(
            "select id, organization_id, name, filter, lead_count from segments"
            " order by organization_id, name, id"
        ).fetchall()
        hashes: dict[str, str] = {}
        for segment_id, organization_id, name, spec, previous in segments:
            hashes[str(segment_id)] = filter_hash(spec)
            try:
                compiled = compile_filter(spec)
            except SegmentFilterError as exc:
                results.append(SegmentCount(segment_id, organization_id, name, None, str(exc)))
                continue
            carry = (
                reason is None
                and previous is not None
                and organization_id not in changed_orgs
                and known.get(str(segment_id)) == hashes[str(segment_id)]
            )
            if carry:
                results.append(
                    SegmentCount(segment_id, organization_id, name, previous, recounted=False)
                )
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
        # an invalid filter's hash is kept too: it is recounted once its filter changes
        watermarks.write(
            conn,
            WATERMARK,
            as_of,
            full=reason is not None,
            state={"changes_since": since.isoformat(), "filters": hashes},
        )
    return run


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
