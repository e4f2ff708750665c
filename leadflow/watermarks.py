"""Where each incremental step stands: sync_watermarks rows, read and written in the step's own
transaction (migration 016).

Shared like `postgres.py`: every domain's nightly step keeps its position here, so "cost follows
change" has one rule (ARCHITECTURE.md):

* a step reads its watermark, does the work for what changed since it, and writes the new
  watermark in the same transaction as the work: a failed or killed step leaves the watermark
  where it was, and the next run redoes that work;
* a step does its full pass (a rebuild, the full comparison, a retrain) when none was done yet,
  when the run asks for it (`leadflow run --full-refresh`) or when the last one is older than
  LEADFLOW_NIGHTLY_FULL_EVERY_DAYS (default 7: weekly); `last_full_at` records it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from leadflow import settings


@dataclass(frozen=True)
class Watermark:
    """One step's position: `position` = the time up to which its work is done; `state` = what
    it needs beside a time to resume exactly."""

    name: str
    position: datetime | None = None
    detail: str | None = None
    last_full_at: datetime | None = None
    state: dict[str, Any] = field(default_factory=dict)


def read(conn: psycopg.Connection, name: str, *, lock: bool = False) -> Watermark | None:
    """The step's watermark, or None before its first run. `lock` holds the row (FOR UPDATE) to
    the end of the caller's transaction, so two runs of one step do not both advance it."""
    query = (
        "select last_occurred_at, last_source_id, last_full_at, state"
        " from sync_watermarks where name = %s"
    )
    row = conn.execute(query + (" for update" if lock else ""), (name,)).fetchone()
    if row is None:
        return None
    return Watermark(name, row[0], row[1], row[2], dict(row[3] or {}))


def write(
    conn: psycopg.Connection,
    name: str,
    position: datetime | None,
    *,
    detail: str | None = None,
    full: bool = False,
    state: dict[str, Any] | None = None,
) -> None:
    """Advance the step's watermark inside the caller's transaction (committed with the work).
    `full` stamps last_full_at with the position (the full pass covered everything up to it);
    otherwise last_full_at is kept."""
    conn.execute(
        """
        insert into sync_watermarks
            (name, last_occurred_at, last_source_id, last_full_at, state, updated_at)
        values (%(name)s, %(position)s, %(detail)s,
                case when %(full)s then coalesce(%(position)s, now()) end, %(state)s, now())
        on conflict (name) do update
        set last_occurred_at = excluded.last_occurred_at,
            last_source_id = excluded.last_source_id,
            last_full_at = case when %(full)s then excluded.last_full_at
                                else sync_watermarks.last_full_at end,
            state = excluded.state,
            updated_at = now()
        """,
        {
            "name": name,
            "position": position,
            "detail": detail,
            "full": full,
            "state": Jsonb(state) if state is not None else None,
        },
    )


def full_due(
    watermark: Watermark | None,
    now: datetime,
    every: timedelta,
    *,
    requested: bool = False,
) -> str | None:
    """Why the step must do its full pass now, or None (incremental): requested by the run, no
    earlier run, no full pass recorded, or the last one `every` or more ago."""
    if requested:
        return "requested (--full-refresh)"
    if watermark is None or watermark.position is None:
        return "first run"
    if watermark.last_full_at is None:
        return "no full pass recorded"
    if now - watermark.last_full_at >= every:
        days = (now - watermark.last_full_at).total_seconds() / 86400
        return f"last full pass {days:.1f} days ago (every {every.days} days)"
    return None


def full_every() -> timedelta:
    """How often an incremental step does its full pass (LEADFLOW_NIGHTLY_FULL_EVERY_DAYS)."""
    return timedelta(days=settings.current().full_every_days)
