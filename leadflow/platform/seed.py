"""The seeds: `seeds/*.sql` (the Epic 3 seed) into a migrated database, and the sample data of
the demo (`seeds/sample/`): activity events into MongoDB, DNC numbers into PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from leadflow import settings
from leadflow.postgres import one_row
from leadflow.settings import ACTIVITIES_COLLECTION

if TYPE_CHECKING:  # pymongo loads when MongoDB is seeded, not for `leadflow seed` / `migrate`
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
            raise SeedError("the database is not migrated (no leads table): run `leadflow migrate`")
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
