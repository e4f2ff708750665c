"""Load `seeds/*.sql` (the Epic 3 seed) into a migrated database."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from leadflow import settings

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
        exists = conn.execute("select to_regclass('public.leads') is not null").fetchone()[0]
        if not exists:
            raise SeedError("the database is not migrated (no leads table): run `leadflow migrate`")
        for seed in paths:
            try:
                conn.execute(seed.read_text(encoding="utf-8"))  # type: ignore[arg-type]
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
            counts[table] = conn.execute(query).fetchone()[0]
    return counts
