"""The seeds: `seeds/*.sql` (the Epic 3 seed) into a migrated database, and the sample data of
the demo (`seeds/sample/`): activity events into MongoDB, DNC numbers into PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from leadflow import settings
from leadflow.postgres import one_row
from leadflow.settings import ACTIVITIES_COLLECTION

if TYPE_CHECKING:  # pymongo loads when MongoDB is seeded, not for `leadflow db seed` / `db migrate`
    from pymongo.collection import Collection
    from pymongo.database import Database

#: MongoDB's duplicate-key error code
DUPLICATE_KEY = 11000

SEED_FILE = "002_epic3_seed_data.sql"


class SeedError(RuntimeError):
    pass


def seed_path() -> Path:
    return settings.seeds_dir() / SEED_FILE


def seed_files() -> list[Path]:
    """The Epic 3 seed, then the later `NNN_*.sql` seeds that fill what later migrations add."""
    return sorted(p for p in settings.seeds_dir().glob("[0-9][0-9][0-9]_*.sql"))


def load_seed(url: str, path: Path | None = None) -> None:
    """Run the seed file(s) in one transaction; they are written to be re-runnable."""
    paths = [path] if path else seed_files()
    if not paths or not all(p.exists() for p in paths):
        raise SeedError(f"seed file not found: {path or seed_path()}")
    with psycopg.connect(url) as conn:
        exists = one_row(conn.execute("select to_regclass('public.leads') is not null"))[0]
        if not exists:
            raise SeedError(
                "the database is not migrated (no leads table): run `leadflow db migrate`"
            )
        for seed in paths:
            try:
                conn.execute(seed.read_text(encoding="utf-8"))
            except psycopg.Error as exc:
                raise SeedError(f"{seed.name} failed: {exc}") from exc


def table_counts(url: str) -> dict[str, int]:
    """Row count of every base table in the public schema, by name."""
    with psycopg.connect(url) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "select table_name from information_schema.tables"
                " where table_schema = 'public' and table_type = 'BASE TABLE' order by 1"
            )
        ]
        counts = {}
        for table in tables:
            query = sql.SQL("select count(*) from {}").format(sql.Identifier(table))
            counts[table] = one_row(conn.execute(query))[0]
    return counts


# -- sample data of the demo ----------------------------------------------------------------------
def sample_activities_path() -> Path:
    return settings.seeds_dir() / "sample" / "activities.json"


def ensure_indexes(collection: Collection) -> None:
    """Unique event_id (idempotent seeding) and occurred_at (the extraction range).

    Not the compound (occurred_at, _id) a production MongoDB should have for the sort: on
    nx-27017 that create_index fails AND leaves a broken index that makes every later insert
    fail, so it is left to whoever runs the real collection.
    """
    from pymongo import ASCENDING

    collection.create_index([("event_id", ASCENDING)], unique=True)
    collection.create_index([("occurred_at", ASCENDING)])


def _utc(text: str) -> datetime:
    """'2026-06-01T08:14:18Z' -> an aware UTC datetime (no offset means UTC, as in BSON)."""
    parsed = datetime.fromisoformat(text)
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def load_sample_events(path: Path) -> list[dict[str, Any]]:
    """The sample events with `occurred_at` as aware datetimes (BSON dates once inserted)."""
    events: list[dict[str, Any]] = json.loads(Path(path).read_text(encoding="utf-8"))
    for event in events:
        event["occurred_at"] = _utc(event["occurred_at"])
    return events


def insert_events(collection: Collection, events: Sequence[Mapping[str, Any]]) -> int:
    """Insert the events whose event_id is not in the collection yet; returns how many."""
    from pymongo.errors import BulkWriteError

    ids = [event["event_id"] for event in events]
    existing = {
        doc["event_id"]
        for doc in collection.find({"event_id": {"$in": ids}}, {"event_id": 1, "_id": 0})
    }
    new = [dict(event) for event in events if event["event_id"] not in existing]
    if not new:
        return 0
    try:
        return len(collection.insert_many(new, ordered=False).inserted_ids)
    except BulkWriteError as exc:  # a concurrent seeder got there first: fine
        if any(error.get("code") != DUPLICATE_KEY for error in exc.details["writeErrors"]):
            raise
        return int(exc.details["nInserted"])


def seed_mongo_activities(db: Database, path: Path | None = None) -> int:
    """Put the sample activity events into `db.activities`, idempotently (by event_id).

    Returns the number of events inserted (0 when the collection already holds them all).
    """
    collection = db[ACTIVITIES_COLLECTION]
    ensure_indexes(collection)
    return insert_events(collection, load_sample_events(path or sample_activities_path()))


def sample_dnc_path() -> Path:
    return settings.seeds_dir() / "sample" / "dnc_phones.json"


def load_sample_dnc(url: str, path: Path | None = None) -> int:
    """Put the sample DNC numbers on their organizations' lists (idempotent); how many were new."""
    entries = json.loads((path or sample_dnc_path()).read_text())
    added = 0
    with psycopg.connect(url) as conn:
        for org, phones in entries.items():
            for phone in phones:
                added += conn.execute(
                    "insert into dnc_list (organization_id, phone_number, reason, source)"
                    " values (%s, %s, 'sample data: asked not to be called', 'demo')"
                    " on conflict (organization_id, phone_number) do nothing",
                    (org, phone),
                ).rowcount
    return added


# -- a year of CRM history (seeds/sample/history.json) --------------------------------------------
#: the namespace of the ids derived for history rows (uuid5 of the lead's id and the row number)
HISTORY_NAMESPACE = uuid.UUID("5d6f1c1e-0b7a-4c55-9a59-6c6561646877")


def sample_history_path() -> Path:
    return settings.seeds_dir() / "sample" / "history.json"


def _months_back(anchor: datetime, months: int) -> tuple[str, datetime]:
    """The calendar month `months` before the anchor's, as YYYY-MM, and when its spend is
    recorded (the first day of the next month, or the anchor for the current month)."""
    index = anchor.year * 12 + anchor.month - 1 - months
    year, month = divmod(index, 12)
    following = datetime(year + (month + 1) // 12, (month + 1) % 12 + 1, 1, tzinfo=UTC)
    return f"{year:04d}-{month + 1:02d}", min(following, anchor)


def load_sample_history(
    url: str, path: Path | None = None, anchor: datetime | None = None
) -> dict[str, int]:
    """Load the sample year of CRM history, its times counted back from `anchor` (now): leads,
    status changes, scores, assignments, activities and spend. A lead's `updated_at` is the
    load time (its last event is `updated_ago`, read by nobody): the rows are new to the
    database, whatever their history says. Idempotent (fixed and derived ids, `on conflict do
    nothing`); returns the rows added per table."""
    data = json.loads((path or sample_history_path()).read_text(encoding="utf-8"))
    at = (anchor or datetime.now(UTC)).replace(second=0, microsecond=0)

    def ago(minutes: int | None) -> datetime | None:
        return None if minutes is None else at - timedelta(minutes=minutes)

    def rows(table: str) -> list[dict[str, Any]]:
        columns = data[table]["columns"]
        return [dict(zip(columns, row, strict=True)) for row in data[table]["rows"]]

    def derived(kind: str, lead: dict[str, Any], number: int) -> uuid.UUID:
        return uuid.uuid5(HISTORY_NAMESPACE, f"{kind}:{lead['id']}:{number}")

    leads = rows("leads")
    added: dict[str, int] = {}
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        # "written now" is the transaction's start, as now() stamps it: incremental readers
        # read the rows stamped after their last run's change floor, and a clock reading taken
        # in Python (or cut to the minute, like `at`) can fall before it
        written = cast(datetime, one_row(conn.execute("select now()"))[0])

        def count(table: str) -> int:
            query = sql.SQL("select count(*) from {}").format(sql.Identifier(table))
            return int(one_row(conn.execute(query))[0])

        before = count("leads")
        cur.executemany(
            "insert into leads (id, organization_id, user_id, first_name, last_name,"
            " phone_number, email, status, lead_score, source, last_contact_date, created_at,"
            " updated_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " on conflict do nothing",
            [
                (
                    *(lead[c] for c in HISTORY_LEAD_COLUMNS),
                    ago(lead["last_contact_ago"]),
                    ago(lead["created_ago"]),
                    # the row is written now: incremental readers (the graph sync, dbt's
                    # incremental marts) watch updated_at and must see it, even after a run
                    written,
                )
                for lead in leads
            ],
        )
        ids = [lead["id"] for lead in leads]
        present = {
            str(row[0])
            for row in conn.execute("select id from leads where id = any(%s::uuid[])", [ids])
        }
        added["leads"] = count("leads") - before

        def insert(table: str, statement: str, make: Any) -> None:
            values = [
                make(row, leads[row["lead"]], number)
                for number, row in enumerate(rows(table))
                if leads[row["lead"]]["id"] in present
            ]
            before = count(table)
            cur.executemany(statement + " on conflict do nothing", values)
            added[table] = count(table) - before

        insert(
            "lead_status_history",
            "insert into lead_status_history (id, lead_id, from_status, to_status, trigger_type,"
            " changed_by, changed_at) values (%s, %s, %s, %s, %s, %s, %s)",
            lambda r, lead, n: (
                derived("status", lead, n),
                lead["id"],
                r["from_status"],
                r["to_status"],
                "import" if r["from_status"] is None else "manual",
                None if r["from_status"] is None else lead["user_id"],
                ago(r["changed_ago"]),
            ),
        )
        insert(
            "lead_score_history",
            "insert into lead_score_history (id, lead_id, score, factors, calculated_at)"
            " values (%s, %s, %s, %s, %s)",
            lambda r, lead, n: (
                derived("score", lead, n),
                lead["id"],
                r["score"],
                Jsonb({k: r[k] for k in SCORE_FACTORS} | {"total": r["score"]}),
                ago(r["calculated_ago"]),
            ),
        )
        insert(
            "lead_assignments",
            "insert into lead_assignments (id, lead_id, to_user_id, strategy, reason, assigned_at)"
            " values (%s, %s, %s, 'round_robin', 'sample history', %s)",
            lambda r, lead, n: (
                derived("assignment", lead, n),
                lead["id"],
                lead["user_id"],
                ago(r["assigned_ago"]),
            ),
        )
        insert(
            "lead_activities",
            "insert into lead_activities (source_id, event_id, organization_id, lead_id,"
            " lead_phone, user_id, activity_type, direction, outcome, occurred_at,"
            " duration_seconds, matched_at) values"
            " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            lambda r, lead, n: (
                f"history-{n:06d}",
                f"history-{n:06d}",
                lead["organization_id"],
                lead["id"],
                lead["phone_number"],
                lead["user_id"],
                r["activity_type"],
                r["direction"],
                r["outcome"],
                ago(r["occurred_ago"]),
                r["duration_seconds"],
                ago(r["occurred_ago"]),
            ),
        )
        costs = []
        for cost in rows("lead_source_costs"):
            period, recorded = _months_back(at, cost["months_ago"])
            costs.append(
                (
                    cost["id"],
                    cost["organization_id"],
                    cost["user_id"],
                    cost["source"],
                    period,
                    cost["cost_usd"],
                    recorded,
                    # written now, like the leads: the incremental marts find changed cost
                    # rows by updated_at (source_roi), whatever month the spend was recorded in
                    written,
                )
            )
        added["lead_source_costs"] = 0
        for values in costs:
            cur.execute(
                "insert into lead_source_costs (id, organization_id, user_id, source, period,"
                " cost_usd, created_at, updated_at) values (%s, %s, %s, %s, %s, %s, %s, %s)"
                " on conflict do nothing",
                values,
            )
            added["lead_source_costs"] += cur.rowcount
    return added


#: the lead columns history.json gives as they are, in the insert's order
HISTORY_LEAD_COLUMNS = (
    "id",
    "organization_id",
    "user_id",
    "first_name",
    "last_name",
    "phone_number",
    "email",
    "status",
    "lead_score",
    "source",
)
SCORE_FACTORS = ("qualification", "engagement", "intent", "demographic")
