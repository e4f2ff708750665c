"""Migration runner for the plain-SQL files in `migrations/`.

Files are `NNN_name.sql` with a `NNN_name_down.sql` beside each. The runner records every
applied file with its SHA-256 in `leadflow_schema_migrations`, runs each file in its own
transaction (together with its bookkeeping row), serialises concurrent runners with an advisory
lock, and refuses to go on when a file that was already applied has been edited since: shipped
migrations are append-only, a change is a new file.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from leadflow import settings
from leadflow.postgres import one_row

TRACKING_TABLE = "leadflow_schema_migrations"
#: shipped files amended in place, and the checksums they shipped with: a database that applied
#: the shipped version is not "edited". Only for a file that cannot run where the project must
#: run (006 created a role unconditionally, which a managed PostgreSQL's owner may not do); the
#: amendment is explained in the file's DECISIONS and leaves the schema as the shipped file did.
AMENDED_CHECKSUMS: dict[int, frozenset[str]] = {
    6: frozenset({"5ec8448b41ee658c465f4d27836c00645e3e5a4d38c718a0c4d709f32aee012f"}),
}
#: run after every `migrate up` when the schema has it (migration 011): grants, forced row-level
#: security and policies for the roles that exist now (a DBA may have created them since)
APPLY_TENANCY = "leadflow_apply_tenancy"
LOCK_KEY = 7_253_411_001  # pg_advisory_lock key shared by every leadflow migrator
_FILE_RE = re.compile(r"^(?P<version>\d{3,})_(?P<name>[a-z0-9_]+?)(?P<down>_down)?\.sql$")


class MigrationError(RuntimeError):
    """The migrations cannot be applied as asked; the message says what to do."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up_path: Path
    down_path: Path | None

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.up_path.read_bytes()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:03d}_{self.name}"


@dataclass(frozen=True)
class MigrationState:
    version: int
    name: str
    state: str  # applied | pending | edited | missing (applied but the file is gone)
    applied_at: str | None = None


def discover(directory: Path | None = None) -> list[Migration]:
    directory = directory or settings.migrations_dir()
    if not directory.is_dir():
        raise MigrationError(f"migrations directory not found: {directory}")
    ups: dict[int, tuple[str, Path]] = {}
    downs: dict[int, Path] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if not match:
            raise MigrationError(f"unexpected file name in migrations/: {path.name}")
        version = int(match["version"])
        if match["down"]:
            downs[version] = path
        elif version in ups:
            raise MigrationError(f"two migrations share version {version:03d}: {path.name}")
        else:
            ups[version] = (match["name"], path)
    orphans = set(downs) - set(ups)
    if orphans:
        raise MigrationError(f"down files without an up file: {sorted(orphans)}")
    return [Migration(v, name, path, downs.get(v)) for v, (name, path) in sorted(ups.items())]


@contextmanager
def _locked(url: str) -> Iterator[psycopg.Connection]:
    """A connection holding the migrations' lock, with the tracking table in place."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set client_min_messages = warning")
        conn.execute("select pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            conn.execute(
                f"""
                create table if not exists {TRACKING_TABLE} (
                    version      integer primary key,
                    name         text not null,
                    checksum     text not null,
                    applied_at   timestamptz not null default now(),
                    execution_ms integer not null
                )
                """
            )
            yield conn
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))


def _applied(conn: psycopg.Connection) -> dict[int, tuple[str, str, str]]:
    rows = conn.execute(
        f"select version, name, checksum, applied_at::text from {TRACKING_TABLE} order by version"
    ).fetchall()
    return {v: (name, checksum, applied_at) for v, name, checksum, applied_at in rows}


def _verify(migrations: list[Migration], applied: dict[int, tuple[str, str, str]]) -> None:
    by_version = {m.version: m for m in migrations}
    edited = [
        by_version[v].label
        for v, (_, checksum, _) in applied.items()
        if v in by_version and not _same_file(by_version[v], checksum)
    ]
    if edited:
        raise MigrationError(
            "refusing to continue: applied migration(s) edited since they ran: "
            + ", ".join(edited)
            + ". Restore the original file(s) and put the change in a new migration."
        )
    missing = sorted(set(applied) - set(by_version))
    if missing:
        raise MigrationError(f"applied migration(s) missing from migrations/: {missing}")


def _same_file(migration: Migration, applied_checksum: str) -> bool:
    return applied_checksum == migration.checksum or applied_checksum in AMENDED_CHECKSUMS.get(
        migration.version, frozenset()
    )


def _run_file(conn: psycopg.Connection, path: Path) -> None:
    sql = path.read_text(encoding="utf-8")
    try:
        # no parameters: psycopg sends the whole file as one multi-statement query
        conn.execute(sql)
    except psycopg.Error as exc:
        raise MigrationError(f"{path.name} failed: {exc}".strip()) from exc


def migrate_up(
    url: str,
    directory: Path | None = None,
    to: int | None = None,
    notices: list[str] | None = None,
) -> list[str]:
    """Apply pending migrations in order (up to version `to`); return the labels applied.

    What the server says with `raise notice` (e.g. a role the deploying role may not create)
    is appended to `notices` when given; then the tenancy grants are (re)applied for the roles
    that exist now."""
    migrations = discover(directory)
    done: list[str] = []
    with _locked(url) as conn:
        if notices is not None:
            conn.execute("set client_min_messages = notice")
            conn.add_notice_handler(lambda diag: _keep_notice(diag, notices))
        applied = _applied(conn)
        _verify(migrations, applied)
        for migration in migrations:
            if migration.version in applied or (to is not None and migration.version > to):
                continue
            started = time.perf_counter()
            with conn.transaction():
                _run_file(conn, migration.up_path)
                conn.execute(
                    f"insert into {TRACKING_TABLE} (version, name, checksum, execution_ms)"
                    " values (%s, %s, %s, %s)",
                    (
                        migration.version,
                        migration.name,
                        migration.checksum,
                        int((time.perf_counter() - started) * 1000),
                    ),
                )
            done.append(migration.label)
        tenancy = one_row(
            conn.execute("select to_regprocedure(%s)", (f"public.{APPLY_TENANCY}()",))
        )[0]
        if tenancy:
            with conn.transaction():
                conn.execute(f"select public.{APPLY_TENANCY}()")
    return done


def _keep_notice(diag: psycopg.errors.Diagnostic, notices: list[str]) -> None:
    message = diag.message_primary
    if diag.severity_nonlocalized == "NOTICE" and message and message.startswith("leadflow:"):
        notices.append(message)


def migrate_down(url: str, to: int | None = None, directory: Path | None = None) -> list[str]:
    """Revert applied migrations newest first, down to version `to` (None: only the last one;
    0: all of them); return the labels reverted."""
    migrations = {m.version: m for m in discover(directory)}
    done: list[str] = []
    with _locked(url) as conn:
        applied = _applied(conn)
        _verify(list(migrations.values()), applied)
        versions = sorted(applied, reverse=True)
        versions = versions[:1] if to is None else [v for v in versions if v > to]
        for version in versions:
            migration = migrations[version]
            if migration.down_path is None:
                raise MigrationError(f"{migration.label} has no _down.sql file; cannot revert it")
            with conn.transaction():
                _run_file(conn, migration.down_path)
                conn.execute(f"delete from {TRACKING_TABLE} where version = %s", (version,))
            done.append(migration.label)
    return done


def migration_status(url: str, directory: Path | None = None) -> list[MigrationState]:
    """Each migration's state. Only reads: a role that may not create tables or take the
    migrators' lock (an application role checking the schema before it serves) can ask too."""
    migrations = discover(directory)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            exists = one_row(conn.execute("select to_regclass(%s)", (TRACKING_TABLE,)))[0]
            applied = _applied(conn) if exists else {}  # never migrated
    except psycopg.Error as exc:
        raise MigrationError(f"cannot read the migration state: {exc}".strip()) from exc
    states: list[MigrationState] = []
    for m in migrations:
        if m.version not in applied:
            states.append(MigrationState(m.version, m.name, "pending"))
        else:
            _, checksum, applied_at = applied[m.version]
            state = "applied" if _same_file(m, checksum) else "edited"
            states.append(MigrationState(m.version, m.name, state, applied_at))
    known = {m.version for m in migrations}
    for version, (name, _, applied_at) in applied.items():
        if version not in known:
            states.append(MigrationState(version, name, "missing", applied_at))
    return sorted(states, key=lambda s: s.version)
