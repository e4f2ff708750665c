"""Discovery rules of the migration runner (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadflow.platform.migrations import MigrationError, discover


def _write(directory: Path, *names: str) -> None:
    directory.mkdir(exist_ok=True)
    for name in names:
        (directory / name).write_text("select 1;\n")


def test_shipped_migrations_pair_every_up_with_a_down():
    migrations = discover()
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert migrations[0].version == 1
    assert any(m.up_path.name == "002_epic3_crm_tables.sql" for m in migrations)
    for migration in migrations:
        assert migration.down_path is not None, migration.label
        assert migration.down_path.name == f"{migration.label}_down.sql"


def test_discover_orders_by_version_and_pairs_downs(tmp_path: Path):
    _write(tmp_path, "010_b.sql", "002_a.sql", "002_a_down.sql", "010_b_down.sql")
    labels = [(m.label, m.down_path.name) for m in discover(tmp_path)]
    assert labels == [("002_a", "002_a_down.sql"), ("010_b", "010_b_down.sql")]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["001_a.sql", "001_b.sql"], "share version"),
        (["001_a.sql", "002_b_down.sql"], "without an up"),
        (["1_a.sql"], "unexpected file name"),
        (["001_Has-Caps.sql"], "unexpected file name"),
    ],
)
def test_discover_rejects_bad_layouts(tmp_path: Path, names: list[str], message: str):
    _write(tmp_path, *names)
    with pytest.raises(MigrationError, match=message):
        discover(tmp_path)


def test_checksum_changes_with_content(tmp_path: Path):
    _write(tmp_path, "001_a.sql")
    before = discover(tmp_path)[0].checksum
    (tmp_path / "001_a.sql").write_text("select 2;\n")
    assert discover(tmp_path)[0].checksum != before
