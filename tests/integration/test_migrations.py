"""The migration runner against the real PostgreSQL: up/down/up, checksums, psql -f."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from leadflow import settings
from leadflow.platform.migrations import (
    TRACKING_TABLE,
    MigrationError,
    discover,
    migrate_down,
    migrate_up,
    migration_status,
)
from leadflow.platform.seed import load_seed, seed_path
from leadflow.platform.services.postgres import client_binary

pytestmark = pytest.mark.integration

# Everything the migrations create, as text, excluding the runner's own tracking table.
CATALOG_QUERIES = {
    "tables": """
        select c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'v', 'm', 'S', 'p')
          and c.relname <> '{tracking}'
        order by 1""",
    "columns": """
        select table_name, column_name, data_type, is_nullable, column_default,
               character_maximum_length, numeric_precision, numeric_scale
        from information_schema.columns
        where table_schema = 'public' and table_name <> '{tracking}'
        order by 1, 2""",
    "constraints": """
        select cl.relname, con.conname, pg_get_constraintdef(con.oid)
        from pg_constraint con join pg_class cl on cl.oid = con.conrelid
        join pg_namespace n on n.oid = cl.relnamespace
        where n.nspname = 'public' and cl.relname <> '{tracking}'
        order by 1, 2""",
    "indexes": """
        select tablename, indexname, indexdef from pg_indexes
        where schemaname = 'public' and tablename <> '{tracking}' order by 1, 2""",
    "triggers": """
        select event_object_table, trigger_name, event_manipulation, action_timing,
               action_statement
        from information_schema.triggers where trigger_schema = 'public' order by 1, 2, 3""",
    "functions": """
        select p.proname, pg_get_function_identity_arguments(p.oid), p.prosecdef,
               md5(pg_get_functiondef(p.oid))
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'public' and p.prokind = 'f'
          and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
        order by 1, 2""",
    "policies": """
        select tablename, policyname, permissive, roles::text, cmd, qual, with_check
        from pg_policies where schemaname = 'public' order by 1, 2""",
    "extensions": "select extname from pg_extension order by 1",
}


def catalog(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        return {
            name: conn.execute(query.format(tracking=TRACKING_TABLE)).fetchall()
            for name, query in CATALOG_QUERIES.items()
        }


def test_up_down_up_leaves_identical_catalog(make_database):
    url = make_database("updownup")
    applied = migrate_up(url)
    assert applied == [m.label for m in discover()]
    first = catalog(url)
    assert len(first["tables"]) >= 14  # organizations, users and the twelve Epic 3 tables

    reverted = migrate_down(url, to=0)
    assert reverted == list(reversed(applied))
    emptied = catalog(url)
    assert emptied["tables"] == [] and emptied["policies"] == [] and emptied["functions"] == []

    assert migrate_up(url) == applied
    assert catalog(url) == first


def test_up_is_idempotent_and_status_reports_each_file(make_database):
    url = make_database("status")
    migrate_up(url)
    assert migrate_up(url) == []
    states = migration_status(url)
    assert [s.state for s in states] == ["applied"] * len(discover())
    assert all(s.applied_at for s in states)


def test_down_without_to_reverts_only_the_last(make_database):
    url = make_database("downone")
    labels = migrate_up(url)
    assert migrate_down(url) == [labels[-1]]
    states = migration_status(url)
    assert states[-1].state == "pending"
    assert all(s.state == "applied" for s in states[:-1])
    assert migrate_up(url) == [labels[-1]]


def test_up_to_version_stops_there(make_database):
    url = make_database("upto")
    first = discover()[0]
    assert migrate_up(url, to=first.version) == [first.label]
    with psycopg.connect(url) as conn:
        assert conn.execute("select to_regclass('public.leads')").fetchone()[0] is None
        assert conn.execute("select to_regclass('public.users')").fetchone()[0] is not None


def test_edited_applied_migration_is_refused(make_database, tmp_path: Path):
    directory = tmp_path / "migrations"
    shutil.copytree(settings.migrations_dir(), directory)
    url = make_database("edited")
    migrate_up(url, directory=directory)

    edited = discover(directory)[0].up_path
    edited.write_text(edited.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(MigrationError, match="edited"):
        migrate_up(url, directory=directory)
    with pytest.raises(MigrationError, match="edited"):
        migrate_down(url, to=0, directory=directory)
    assert "edited" in [s.state for s in migration_status(url, directory=directory)]


def test_failed_migration_rolls_back_whole_file(make_database, tmp_path: Path):
    directory = tmp_path / "migrations"
    shutil.copytree(settings.migrations_dir(), directory)
    last = discover(directory)[-1]
    bad = directory / f"{last.version + 1:03d}_broken.sql"
    bad.write_text("create table half_done (id int);\nselect * from no_such_table;\n")
    (directory / f"{last.version + 1:03d}_broken_down.sql").write_text("drop table half_done;\n")
    url = make_database("broken")
    with pytest.raises(MigrationError, match="no_such_table"):
        migrate_up(url, directory=directory)
    with psycopg.connect(url) as conn:
        assert conn.execute("select to_regclass('public.half_done')").fetchone()[0] is None
    states = {s.name: s.state for s in migration_status(url, directory=directory)}
    assert states["broken"] == "pending"
    assert all(state == "applied" for name, state in states.items() if name != "broken")


def _psql(url: str, path: Path) -> None:
    result = subprocess.run(
        [client_binary("psql"), url, "-v", "ON_ERROR_STOP=1", "-q", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_files_run_with_psql_as_the_reference_shows(make_database, migrated_url):
    url = make_database("psql")
    migrations = discover()
    for migration in migrations:
        _psql(url, migration.up_path)
    assert catalog(url) == catalog(migrated_url)

    _psql(url, seed_path())
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from leads").fetchone()[0] > 0

    for migration in reversed(migrations):
        _psql(url, migration.down_path)
    assert catalog(url)["tables"] == []


def test_seed_needs_a_migrated_database(make_database):
    from leadflow.platform.seed import SeedError

    with pytest.raises(SeedError, match="leadflow db migrate"):
        load_seed(make_database("unmigrated"))
