"""The landing folder's rules and the checked opening of files: pure path checks, and what
the file system operations refuse (links, hard links, swapped files)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leadflow.checked_files import RefusedFile, check_beneath, check_path
from leadflow.ingest.landing import (
    LandingPath,
    check_landing_file,
    file_away,
    is_organization_folder,
    landing_path,
    landing_root,
    list_landing,
)
from leadflow.tabular import inspect_table, iter_table_rows

ORG_A = "11111111-1111-4111-8111-111111111111"
ORG_B = "22222222-2222-4222-8222-222222222222"
ORG_C = "c0ffee00-0000-4000-8000-00000000abcd"
ROOT = Path("/srv/landing")


# -- the layout, on the text alone -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        (f"/srv/landing/{ORG_A}/leads.csv", (ORG_A, "leads.csv")),
        ("/srv/landing/multi.xlsx", ("multi.xlsx",)),
        (f"/srv/landing//{ORG_A}/./Leads.CSV", (ORG_A, "Leads.CSV")),
    ],
)
def test_landing_paths(raw: str, parts: tuple[str, ...]) -> None:
    assert landing_path(ROOT, raw) == LandingPath(ROOT, parts)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("/etc/passwd", "not below the landing root"),
        ("/srv/landing-other/x.csv", "not below the landing root"),
        (f"/srv/landing/{ORG_A}/../../../etc/passwd", "not an absolute path below"),
        (f"/srv/landing/{ORG_A}/../{ORG_B}/x.csv", "not an absolute path below"),
        ("relative/x.csv", "not an absolute path below"),
        ("/srv/landing", "not a landing file"),
        (f"/srv/landing/{ORG_A}/deeper/x.csv", "not a landing file"),
        ("/srv/landing/processed/x.csv", "not a landing file"),
        ("/srv/landing/failed/x.csv", "not a landing file"),
        ("/srv/landing/acme/x.csv", "not named by an organization's UUID"),
        (f"/srv/landing/{ORG_C.upper()}/x.csv", "not named by an organization's UUID"),
        (f"/srv/landing/{ORG_A}/.hidden.csv", "not a lead file"),
        (f"/srv/landing/{ORG_A}/notes.md", "not a lead file"),
    ],
)
def test_paths_outside_the_layout_are_refused(raw: str, why: str) -> None:
    with pytest.raises(RefusedFile, match=why):
        landing_path(ROOT, raw)


def test_organization_folders_are_canonical_uuids() -> None:
    assert is_organization_folder(ORG_A)
    assert not is_organization_folder(ORG_A.replace("-", ""))
    assert not is_organization_folder("not-a-uuid")


def test_a_file_belongs_to_the_organization_of_its_folder(tmp_path: Path) -> None:
    (tmp_path / ORG_A).mkdir()
    (tmp_path / ORG_A / "a.csv").write_text("Phone\n1\n")
    (tmp_path / "multi.csv").write_text("organization_id,Phone\n")
    assert check_landing_file(str(tmp_path / ORG_A / "a.csv"), ORG_A, tmp_path).size == 8
    with pytest.raises(RefusedFile, match=f"in organization {ORG_A}'s folder"):
        check_landing_file(str(tmp_path / ORG_A / "a.csv"), ORG_B, tmp_path)
    with pytest.raises(RefusedFile, match=f"in organization {ORG_A}'s folder"):
        check_landing_file(str(tmp_path / ORG_A / "a.csv"), None, tmp_path)
    with pytest.raises(RefusedFile, match="top of the landing folder"):
        check_landing_file(str(tmp_path / "multi.csv"), ORG_A, tmp_path)
    assert check_landing_file(str(tmp_path / "multi.csv"), None, tmp_path).parts == ("multi.csv",)


def test_landing_root_comes_from_the_settings(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LEADFLOW_LANDING_DIR", str(tmp_path / "in"))
    assert landing_root() == (tmp_path / "in").resolve()
    monkeypatch.delenv("LEADFLOW_LANDING_DIR")
    monkeypatch.setenv("LEADFLOW_HOME", str(tmp_path / "home"))
    assert landing_root() == (tmp_path / "home" / "landing").resolve()


# -- checked files ----------------------------------------------------------------------------------


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    (root / ORG_A).mkdir(parents=True)
    (root / ORG_B).mkdir()
    (root / ORG_A / "upload.csv").write_text("Phone,Name\n+12125550101,A\n")
    return root


def test_links_on_the_way_are_refused(landing: Path, tmp_path: Path) -> None:
    (landing / ORG_B / "link.csv").symlink_to(landing / ORG_A / "upload.csv")
    with pytest.raises(RefusedFile, match="link.csv is a symbolic link"):
        check_beneath(landing, (ORG_B, "link.csv"))
    (landing / "c0ffee00-0000-4000-8000-000000000000").symlink_to(landing / ORG_A)
    with pytest.raises(RefusedFile, match="c0ffee00-0000-4000-8000-000000000000 is a symbolic"):
        check_beneath(landing, ("c0ffee00-0000-4000-8000-000000000000", "upload.csv"))
    dangling = landing / ORG_B / "dangling.csv"
    dangling.symlink_to(tmp_path / "nowhere.csv")
    with pytest.raises(RefusedFile, match="symbolic link"):
        check_beneath(landing, (ORG_B, "dangling.csv"))


def test_hard_links_and_other_file_types_are_refused(landing: Path) -> None:
    os.link(landing / ORG_A / "upload.csv", landing / ORG_B / "hard.csv")
    for parts in ((ORG_B, "hard.csv"), (ORG_A, "upload.csv")):
        with pytest.raises(RefusedFile, match="2 hard links"):
            check_beneath(landing, parts)
    os.mkfifo(landing / ORG_B / "pipe.csv")  # would block a plain open
    with pytest.raises(RefusedFile, match="not a regular file"):
        check_beneath(landing, (ORG_B, "pipe.csv"))
    with pytest.raises(RefusedFile, match="not a regular file"):
        check_beneath(landing, (ORG_B,))


def test_a_file_swapped_after_the_check_is_not_read(landing: Path) -> None:
    checked = check_beneath(landing, (ORG_A, "upload.csv"))
    with checked.open() as handle:
        assert handle.read().startswith(b"Phone")
    path = landing / ORG_A / "upload.csv"
    path.rename(landing / ORG_A / "aside.csv")  # kept alive: its inode cannot be reused
    path.symlink_to(landing / ORG_A / "aside.csv")
    with pytest.raises(RefusedFile, match="symbolic link"):
        checked.open()
    path.unlink()
    path.write_text("Phone,Name\n+12125550101,A\n")  # same name and bytes, another file
    with pytest.raises(RefusedFile, match="replaced by another file"):
        checked.open()


def test_tables_are_read_through_the_checked_file_only(landing: Path) -> None:
    checked = check_beneath(landing, (ORG_A, "upload.csv"))
    table = inspect_table(checked.path, checked.open)
    path = landing / ORG_A / "upload.csv"
    path.rename(landing / ORG_A / "moved.csv")
    path.symlink_to(landing / ORG_A / "moved.csv")  # the same bytes, through a link
    with pytest.raises(RefusedFile, match="symbolic link"):
        list(iter_table_rows(table))


def test_the_operator_may_name_any_regular_file(tmp_path: Path) -> None:
    target = tmp_path / "exports" / "leads.csv"
    target.parent.mkdir()
    target.write_text("Phone\n")
    (tmp_path / "link.csv").symlink_to(target)
    os.link(target, tmp_path / "second-name.csv")
    for path in (target, tmp_path / "link.csv", tmp_path / "second-name.csv"):
        checked = check_path(path)
        with checked.open() as handle:
            assert handle.read() == b"Phone\n"
    with pytest.raises(RefusedFile, match="not a regular file"):
        check_path(tmp_path)


# -- the sensor's listing and filing away ------------------------------------------------------------


def test_listing_passes_over_links_and_unknown_folders(landing: Path) -> None:
    (landing / ORG_B / "link.csv").symlink_to(landing / ORG_A / "upload.csv")
    (landing / ORG_B / "own.xlsx").write_bytes(b"PK")
    (landing / ORG_B / "notes.md").write_text("ignored silently")
    (landing / "33333333-3333-4333-8333-333333333333").symlink_to(landing / ORG_A)
    (landing / "acme").mkdir()
    (landing / "44444444-4444-4444-8444-444444444444").mkdir()
    (landing / "processed").mkdir()
    (landing / "processed" / "old.csv").write_text("x")
    (landing / "multi.csv").write_text("x")
    files, passed = list_landing(landing.resolve(), {ORG_A, ORG_B})
    assert [f.where.relative for f in files] == [
        f"{ORG_A}/upload.csv",
        f"{ORG_B}/own.xlsx",
        "multi.csv",
    ]
    assert sorted(passed) == sorted(
        [
            "33333333-3333-4333-8333-333333333333: a symbolic link, not followed",
            "44444444-4444-4444-8444-444444444444/: no organization has this id",
            "acme/: not named by an organization's UUID",
            f"{ORG_B}/link.csv: a symbolic link, not followed",
        ]
    )
    assert list_landing(landing / "missing") == ([], [])


def test_filing_away_moves_the_listed_name_only(landing: Path) -> None:
    checked = check_beneath(landing, (ORG_A, "upload.csv"))
    assert file_away(checked, failed=False, batch_id="b1") == landing / "processed" / "upload.csv"
    assert not (landing / ORG_A / "upload.csv").exists()

    (landing / ORG_A / "upload.csv").write_text("again")
    again = check_beneath(landing, (ORG_A, "upload.csv"))
    moved = file_away(again, failed=True, batch_id=None)
    assert moved == landing / "failed" / "upload.csv"
    (landing / ORG_A / "upload.csv").write_text("third")
    third = check_beneath(landing, (ORG_A, "upload.csv"))
    assert file_away(third, failed=True, batch_id="b3") == landing / "failed" / "upload.b3.csv"


def test_a_name_swapped_for_a_link_is_not_filed_away(landing: Path) -> None:
    (landing / ORG_B / "mine.csv").write_text("Phone\n")
    checked = check_beneath(landing, (ORG_B, "mine.csv"))
    (landing / ORG_B / "mine.csv").unlink()
    (landing / ORG_B / "mine.csv").symlink_to(landing / ORG_A / "upload.csv")
    assert file_away(checked, failed=False, batch_id="b") is None
    assert (landing / ORG_B / "mine.csv").is_symlink()
    assert (landing / ORG_A / "upload.csv").exists()
    assert not (landing / "processed").exists()


def test_filed_folders_that_are_links_are_refused(landing: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (landing / "processed").symlink_to(elsewhere)
    checked = check_beneath(landing, (ORG_A, "upload.csv"))
    with pytest.raises(RefusedFile, match="processed is a symbolic link"):
        file_away(checked, failed=False, batch_id="b")
    assert (landing / ORG_A / "upload.csv").exists() and not any(elsewhere.iterdir())
