"""Where each incremental step stands: sync_watermarks rows, read and written in the step's own
transaction (migration 016).

Shared like `postgres.py`: every domain's nightly step keeps its position here, so "cost follows
change" has one rule (ARCHITECTURE.md):

* a step reads its watermark, does the work for what changed since it, and writes the new
  watermark in the same transaction as the work: a failed or killed step leaves the watermark
  where it was, and the next run redoes that work;
* a step does its full pass (a rebuild, the full comparison, a retrain) when none was done yet,
  when the run asks for it (`leadflow run --full-refresh`) or when the last one is older than
  LEADFLOW_NIGHTLY_FULL_EVERY_DAYS (default 7: weekly); `last_full_at` records it;
* a step that finds its changed rows by their change time reads the rows stamped after its last
  run's change floor (`change_floor`): exact under late commits, so nothing is read twice
  because runs are close together and nothing is missed because a commit was late. The dbt
  marts apply the same rule (dbt/macros/incremental.sql, `leadflow_change_floor`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import psycopg
from psycopg.types.json import Jsonb

from leadflow import settings

#: The change floor and whether a session this role may not inspect is connected. A row is
#: stamped with the start of the transaction that writes it (now(), or a trigger's now()), and a
#: reader sees every transaction committed before its statement. So a row a step cannot see was
#: written by a transaction open now (stamped at or after its start) or by one started later
#: (stamped after this one's start): the floor is the earliest start among the other client
#: transactions open in the database, less a microsecond (a row stamped exactly at it still
#: counts as changed under `>`), or this transaction's start if earlier. The rows this
#: transaction writes carry its start and are not read again. pg_stat_activity is read once per
#: transaction: run this first in the step's transaction, before reading what it works on.
#: A session of another role shows as '<insufficient privilege>' without pg_read_all_stats:
#: its start is unknown, so the caller moves the floor back by its overlap while one is
#: connected to the database.
#: The step's own siblings are left out: the transactions of the same step run for other
#: organizations at the same time (join_siblings: the same session user and the same
#: application_name, a random tag per step run). Each writes only its own organization's rows,
#: which this organization's next run never reads; counted, they would put the floor before
#: this transaction's own writes, and the next run would read them all again. A session of
#: another role is never left out, whatever application_name it sets.
CHANGE_FLOOR_SQL = """
select
    least(now(), min(a.xact_start) filter (
        where a.pid <> pg_backend_pid() and a.backend_type = 'client backend'
          and not (a.usesysid = (select usesysid from pg_catalog.pg_stat_activity
                                 where pid = pg_backend_pid())
                   and a.application_name = current_setting('application_name')
                   and starts_with(a.application_name, 'leadflow siblings '))
    ) - interval '1 microsecond'),
    coalesce(bool_or(a.query = '<insufficient privilege>' and a.usesysid is not null), false)
from pg_catalog.pg_stat_activity as a
where a.datname = current_database()
  and (a.xact_start is not null or a.query = '<insufficient privilege>')
"""

#: application_name of the transactions of one step run, one per organization (join_siblings)
SIBLINGS_PREFIX = "leadflow siblings "


def sibling_tag(step: str) -> str:
    """A new tag for one run of `step`: its per-organization transactions share it. Random, so
    no other session can guess it; at most 63 characters (PostgreSQL's limit)."""
    return f"{SIBLINGS_PREFIX}{secrets.token_hex(8)} {step}"[:63]


def join_siblings(conn: psycopg.Connection, tag: str) -> None:
    """Mark the caller's transaction as one of the step run's `tag` (sibling_tag) until it ends:
    its siblings' change floors leave it out (CHANGE_FLOOR_SQL). Call it first in the
    transaction, before the floor is read."""
    conn.execute("select set_config('application_name', %s, true)", (tag,))


def change_floor(conn: psycopg.Connection, overlap: timedelta) -> datetime:
    """The time a step's next run reads the changed rows after (CHANGE_FLOOR_SQL), moved back
    by `overlap` while a session it may not inspect is connected."""
    row = conn.execute(CHANGE_FLOOR_SQL).fetchone()
    assert row is not None  # an aggregate returns one row
    floor, hidden = cast(datetime, row[0]), bool(row[1])
    return floor - overlap if hidden else floor


def change_overlap() -> timedelta:
    """LEADFLOW_NIGHTLY_CHANGE_OVERLAP_SECONDS: how far the floor moves back while a session the
    pipeline's role may not inspect (pg_stat_activity without pg_read_all_stats) is connected.
    Reading a row twice costs a little; missing one would be wrong."""
    return timedelta(seconds=settings.current().nightly_change_overlap_seconds)


def changes_since(conn: psycopg.Connection) -> datetime:
    """The time a step's next run reads the changed rows after: its change floor
    (CHANGE_FLOOR_SQL) with the configured overlap. A step records it with its work; call it
    first in the step's transaction (after join_siblings, if it runs per organization), before
    reading what it works on."""
    return change_floor(conn, change_overlap())


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
