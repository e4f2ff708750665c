"""Activity sync: MongoDB `activities` -> PostgreSQL `lead_activities`, incremental by watermark.

    rematch   one transaction: unmatched rows whose E.164 phone now belongs to a live lead of
              their organization get that lead (new leads may have been imported since)
    extract   `find` after the watermark (occurred_at, _id), sorted on that pair, in batches;
              never `aggregate` (nx-27017 gets `$match` on datetimes wrong)
    load      per batch, one transaction: COPY into a staging table, one set-based insert
              `on conflict (source_id) do nothing` that matches leads by id or by phone, moves
              `leads.last_contact_date` forward, and advances the watermark with the rows

A crash re-reads at most the batch in flight, and that re-read loads nothing twice. The
watermark never moves backwards, so overlapping runs are merely redundant. Invalid events (see
`core.activities`) are counted per reason and logged with their ids; they stay in MongoDB, the
system of record, and `full_resync` reads everything again after a fix at the source.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from bson import ObjectId
from psycopg import sql
from pymongo.database import Database

from leadflow.activities.rules import (
    CONTACT_TYPES,
    DEFAULT_BATCH_SIZE,
    EXTRACTION_SORT,
    STAGING_COLUMNS,
    START,
    WATERMARK_NAME,
    ActivityRow,
    InvalidEvent,
    Position,
    as_utc,
    extraction_filter,
    failed_attempt_keys,
    later,
    parse_event,
    position_after,
)
from leadflow.postgres import ConnectionFactory, one_row
from leadflow.settings import ACTIVITIES_COLLECTION

log = logging.getLogger(__name__)


#: invalid events kept (ids, reason) in the result for the metadata and the log
INVALID_SAMPLE_SIZE = 20


class SyncError(RuntimeError):
    """The source returned something the sync cannot make progress on; the message says what."""


#: the counts of a sync, in the order the asset's metadata and the CLI show them
SYNC_COUNTS = (
    "read",
    "loaded",
    "duplicates_skipped",
    "matched",
    "unmatched",
    "rematched",
    "invalid",
    "fields_nulled",
    "unknown_users",
    "last_contact_updates",
    "batches",
)


@dataclass
class SyncResult:
    """Counts of one sync run (the asset's metadata and the CLI's output)."""

    as_of: datetime
    read: int = 0
    loaded: int = 0
    duplicates_skipped: int = 0
    matched: int = 0
    unmatched: int = 0
    rematched: int = 0
    invalid: int = 0
    invalid_reasons: Counter = field(default_factory=Counter)
    invalid_sample: list[dict[str, str | None]] = field(default_factory=list)
    fields_nulled: int = 0
    unknown_users: int = 0
    last_contact_updates: int = 0
    batches: int = 0
    watermark: Position | None = None
    first_run: bool = False  # no watermark was stored: read from the beginning

    def watermark_dict(self) -> dict[str, str | None] | None:
        if self.watermark is None:
            return None
        return {
            "last_occurred_at": self.watermark.occurred_at.isoformat(),
            "last_source_id": None
            if self.watermark.last_id is None
            else str(self.watermark.last_id),
        }

    def counts(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in SYNC_COUNTS}

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            **self.counts(),
            "invalid_reasons": dict(sorted(self.invalid_reasons.items())),
            "invalid_sample": self.invalid_sample,
            "watermark": self.watermark_dict(),
        }


# -- PostgreSQL side ----------------------------------------------------------------------------
def organization_regions(conn: psycopg.Connection) -> tuple[dict[str, str], str]:
    """({organization: phone region}, global region): the org's default_region, else the
    global one, else US, as the lead import reads them."""
    row = conn.execute(
        "select config_value #>> '{}' from system_config"
        " where organization_id is null and config_key = 'default_region'"
    ).fetchone()
    default = str(row[0] if row and row[0] else "US").upper()
    rows = conn.execute(
        "select o.id::text, c.config_value #>> '{}' from organizations o"
        " left join system_config c"
        "   on c.organization_id = o.id and c.config_key = 'default_region'"
    ).fetchall()
    return {org: str(region or default).upper() for org, region in rows}, default


def _mongo_id(text: str | None) -> Any:
    """A stored source id back to the _id to compare with: ObjectIds are 24 hex digits."""
    if text and len(text) == 24 and ObjectId.is_valid(text):
        return ObjectId(text)
    return text


def read_watermark(conn: psycopg.Connection, name: str = WATERMARK_NAME) -> Position | None:
    row = conn.execute(
        "select last_occurred_at, last_source_id from sync_watermarks where name = %s", (name,)
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return Position(as_utc(row[0]), _mongo_id(row[1]))


def save_watermark(
    conn: psycopg.Connection, position: Position, name: str = WATERMARK_NAME
) -> None:
    """Upsert the position; never moves it backwards (source ids compare as ObjectId hex)."""
    conn.execute(
        """
        insert into sync_watermarks as w (name, last_occurred_at, last_source_id, updated_at)
        values (%(name)s, %(t)s, %(id)s, now())
        on conflict (name) do update
        set last_occurred_at = excluded.last_occurred_at,
            last_source_id = excluded.last_source_id,
            updated_at = excluded.updated_at
        where w.last_occurred_at is null
           or w.last_occurred_at < excluded.last_occurred_at
           or (w.last_occurred_at = excluded.last_occurred_at
               and coalesce(w.last_source_id, '') collate "C"
                   < coalesce(excluded.last_source_id, '') collate "C")
        """,
        {
            "name": name,
            "t": position.occurred_at,
            "id": None if position.last_id is None else str(position.last_id),
        },
    )


def contact_predicate() -> sql.Composed:
    """core.activities.is_contact in SQL, over columns activity_type, direction, outcome."""
    return sql.SQL(
        "activity_type = any({types}::text[]) and (direction = 'inbound'"
        " or not (activity_type || ':' || coalesce(outcome, '')) = any({failed}::text[]))"
    ).format(
        types=sql.Literal(sorted(CONTACT_TYPES)),
        failed=sql.Literal(failed_attempt_keys()),
    )


def _last_contact_ctes(source: str) -> sql.Composed:
    """CTEs `newest` and `touched`: move last_contact_date of the leads of `source`'s rows
    forward to their newest contact (greatest(existing, newest): never backwards)."""
    return sql.SQL(
        """
        newest as (
            select lead_id, max(occurred_at) as occurred_at
            from {source}
            where lead_id is not null and {contact}
            group by lead_id
        ),
        touched as (
            update leads l
            set last_contact_date = n.occurred_at
            from newest n
            where l.id = n.lead_id
              and (l.last_contact_date is null or l.last_contact_date < n.occurred_at)
            returning l.id
        )
        """
    ).format(source=sql.Identifier(source), contact=contact_predicate())


def rematch_unmatched(conn: psycopg.Connection) -> tuple[int, int]:
    """Match unmatched rows to live leads by (organization, E.164 phone), set-based.

    Returns (rows matched, leads whose last_contact_date moved).
    """
    query = sql.SQL(
        """
        with rematched as (
            update lead_activities a
            set lead_id = l.id, matched_at = now()
            from leads l
            where a.lead_id is null
              and a.lead_phone is not null
              and l.organization_id = a.organization_id
              and l.phone_number = a.lead_phone
              and l.deleted_at is null
            returning a.lead_id, a.occurred_at, a.activity_type, a.direction, a.outcome
        ),
        {ctes}
        select (select count(*) from rematched), (select count(*) from touched)
        """
    ).format(ctes=_last_contact_ctes("rematched"))
    rematched, touched = one_row(conn.execute(query))
    return rematched, touched


_STAGING_DDL = """
    create temp table stg_activities (
        source_id text not null,
        event_id text,
        organization_id text not null,
        ref_lead_id text,
        lead_phone text,
        lead_ref text,
        user_id text,
        activity_type text not null,
        direction text,
        outcome text,
        occurred_at timestamptz not null,
        duration_seconds integer,
        subject text,
        body text
    ) on commit drop
"""
_STAGING_TYPES = ["text"] * 10 + ["timestamptz", "int4", "text", "text"]


@dataclass(slots=True)
class BatchCounts:
    loaded: int
    matched: int
    unknown_users: int
    last_contact_updates: int


def load_batch(conn: psycopg.Connection, rows: Iterable[ActivityRow]) -> BatchCounts:
    """Stage rows and insert the new ones, matched, in the caller's transaction.

    A lead matches by id only within the event's organization (any row: a soft-deleted lead
    still is the lead the event names), by phone only among the organization's live leads
    (one at most: idx_leads_phone_unique); the id wins when both are given. A user_id that is
    not a user of the organization is stored as null (counted).
    """
    conn.execute(_STAGING_DDL)
    with (
        conn.cursor() as cur,
        cur.copy(
            sql.SQL("copy stg_activities ({}) from stdin").format(
                sql.SQL(", ").join(map(sql.Identifier, STAGING_COLUMNS))
            )
        ) as copy,
    ):
        copy.set_types(_STAGING_TYPES)
        for row in rows:
            copy.write_row(row.staging_tuple())
    query = sql.SQL(
        """
        with src as (
            select s.source_id, s.event_id, s.organization_id::uuid as organization_id,
                   coalesce(by_id.id, by_phone.id) as lead_id, s.lead_phone, s.lead_ref,
                   u.id as user_id, (s.user_id is not null and u.id is null) as unknown_user,
                   s.activity_type, s.direction, s.outcome, s.occurred_at,
                   s.duration_seconds, s.subject, s.body
            from stg_activities s
            left join leads by_id
              on by_id.id = s.ref_lead_id::uuid
             and by_id.organization_id = s.organization_id::uuid
            left join leads by_phone
              on by_phone.phone_number = s.lead_phone
             and by_phone.organization_id = s.organization_id::uuid
             and by_phone.deleted_at is null
            left join users u
              on u.id = s.user_id::uuid and u.organization_id = s.organization_id::uuid
        ),
        inserted as (
            insert into lead_activities (
                source_id, event_id, organization_id, lead_id, lead_phone, lead_ref, user_id,
                activity_type, direction, outcome, occurred_at, duration_seconds, subject, body,
                matched_at
            )
            select source_id, event_id, organization_id, lead_id, lead_phone, lead_ref, user_id,
                   activity_type, direction, outcome, occurred_at, duration_seconds, subject,
                   body, case when lead_id is not null then now() end
            from src
            order by occurred_at, source_id
            on conflict (source_id) do nothing
            returning source_id, lead_id, occurred_at, activity_type, direction, outcome
        ),
        {ctes}
        select
            (select count(*) from inserted),
            (select count(*) from inserted where lead_id is not null),
            (select count(*) from inserted join src using (source_id) where src.unknown_user),
            (select count(*) from touched)
        """
    ).format(ctes=_last_contact_ctes("inserted"))
    loaded, matched, unknown_users, touched = one_row(conn.execute(query))
    return BatchCounts(loaded, matched, unknown_users, touched)


# -- the sync -----------------------------------------------------------------------------------
def _record_invalid(result: SyncResult, events: list[InvalidEvent], logger: Any) -> None:
    for event in events:
        result.invalid += 1
        result.invalid_reasons[event.reason] += 1
        if len(result.invalid_sample) < INVALID_SAMPLE_SIZE:
            result.invalid_sample.append(
                {
                    "source_id": event.source_id,
                    "event_id": event.event_id,
                    "reason": event.reason,
                    "detail": event.detail,
                }
            )
    if events:
        logger.warning(
            "activities sync: %d invalid event(s) not loaded: %s",
            len(events),
            "; ".join(f"{e.source_id} ({e.event_id}): {e.detail}" for e in events[:5]),
        )


def sync_activities(
    db: Database,
    connect: ConnectionFactory,
    *,
    as_of: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    full_resync: bool = False,
    logger: Any = None,
) -> SyncResult:
    """Re-match, then copy every event after the watermark and not after `as_of`.

    `connect()` must give a connection whose block is one transaction committed on exit
    (PostgresResource.connection, psycopg.connect). `full_resync` reads from the beginning
    (idempotent: only events missing in PostgreSQL load); the watermark still only moves
    forward. `logger` is a logging.Logger or Dagster's context.log.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    logger = logger or log
    as_of = as_utc(as_of)
    result = SyncResult(as_of=as_of)
    with connect() as conn:
        if one_row(conn.execute("select to_regclass('lead_activities')"))[0] is None:
            raise SyncError("table lead_activities does not exist: run `leadflow db migrate`")
        result.rematched, touched = rematch_unmatched(conn)
        result.last_contact_updates += touched
        stored = read_watermark(conn)
    result.watermark = stored
    result.first_run = stored is None
    position = START if full_resync or stored is None else stored
    collection = db[ACTIVITIES_COLLECTION]
    seen_invalid: set[str] = set()
    while True:
        docs = list(
            collection.find(extraction_filter(position, as_of))
            .sort(EXTRACTION_SORT)
            .limit(batch_size)
        )
        if not docs:
            break
        end = position_after(docs)
        if end is None or end.key() <= position.key():
            raise SyncError(
                f"MongoDB returned {len(docs)} event(s) that do not advance the sync past "
                f"{position.key()} (occurred_at must be a BSON datetime); fix them at the source"
            )
        with connect() as conn:
            regions, default_region = organization_regions(conn)
            rows: list[ActivityRow] = []
            invalid: list[InvalidEvent] = []
            for doc in docs:
                parsed = parse_event(doc, regions, default_region)
                if isinstance(parsed, ActivityRow):
                    rows.append(parsed)
                elif parsed.source_id not in seen_invalid:
                    seen_invalid.add(parsed.source_id)
                    invalid.append(parsed)
            counts = load_batch(conn, rows) if rows else BatchCounts(0, 0, 0, 0)
            save_watermark(conn, end)
        # committed: only now do the counts describe what is in PostgreSQL
        result.batches += 1
        result.read += len(docs)
        result.loaded += counts.loaded
        result.matched += counts.matched
        result.unmatched += counts.loaded - counts.matched
        result.duplicates_skipped += len(rows) - counts.loaded
        result.unknown_users += counts.unknown_users
        result.last_contact_updates += counts.last_contact_updates
        result.fields_nulled += sum(1 for row in rows if row.fields_nulled)
        _record_invalid(result, invalid, logger)
        result.watermark = later(result.watermark, end)
        position = end
        logger.info(
            "activities sync: batch %d read %d, loaded %d (matched %d), watermark %s",
            result.batches,
            len(docs),
            counts.loaded,
            counts.matched,
            end.key(),
        )
        if len(docs) < batch_size:
            break
    return result
