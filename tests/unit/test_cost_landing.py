"""The landing folder's costs/: which files the cost sensor lists and a launched cost import
may read (landing-file rules: no link, one hard link, the checked file only), and filing away."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from leadflow.checked_files import RefusedFile
from leadflow.costs.assets import LandingCostFiles, OperatorCostFiles, cost_landing_sensor
from leadflow.costs.landing import check_cost_landing_file, file_away, list_cost_files
from leadflow.ingest.landing import list_landing

ORG_A = "11111111-1111-4111-8111-111111111111"


@pytest.fixture
def landing(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "landing"
    (root / "costs").mkdir(parents=True)
    monkeypatch.setenv("LEADFLOW_LANDING_DIR", str(root))
    return root


def _write(path: Path, text: str = "user,source,period,cost\n") -> Path:
    path.write_text(text)
    return path


def test_cost_files_are_listed_without_links_or_hard_links(landing: Path, tmp_path: Path):
    _write(landing / "costs" / "may.csv")
    _write(landing / "costs" / "june.xlsx")
    _write(landing / "costs" / ".uploading.csv")
    _write(landing / "costs" / "notes.md")
    secret = _write(tmp_path / "secret.csv")
    (landing / "costs" / "link.csv").symlink_to(secret)
    os.link(secret, landing / "costs" / "hard.csv")
    (landing / "costs" / "processed").mkdir()
    _write(landing / "costs" / "processed" / "old.csv")
    files, passed = list_cost_files(landing)
    assert [f.relative for f in files] == ["costs/june.xlsx", "costs/may.csv"]
    assert sorted(passed) == [
        "costs/hard.csv: 2 hard links, a landing file has one",
        "costs/link.csv: a symbolic link, not followed",
    ]


def test_a_costs_folder_that_is_a_link_is_not_listed(tmp_path: Path):
    root = tmp_path / "landing"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    _write(tmp_path / "elsewhere" / "x.csv")
    (root / "costs").symlink_to(tmp_path / "elsewhere")
    files, passed = list_cost_files(root)
    assert files == [] and "symbolic link" in passed[0]


def test_no_costs_folder_lists_nothing(tmp_path: Path):
    assert list_cost_files(tmp_path) == ([], [])


def test_the_lead_sensor_passes_over_the_costs_folder_silently(landing: Path):
    _write(landing / "costs" / "may.csv")
    assert list_landing(landing) == ([], [])


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("/etc/passwd", "not a landing cost file"),
        ("{root}/may.csv", "not a landing cost file"),
        (f"{{root}}/{ORG_A}/may.csv", "not a landing cost file"),
        ("{root}/costs/processed/may.csv", "not a landing cost file"),
        ("{root}/costs/../costs/may.csv", "not an absolute path"),
        ("costs/may.csv", "not an absolute path"),
        ("{root}/costs/.may.csv", "not a cost file"),
        ("{root}/costs/may.md", "not a cost file"),
    ],
)
def test_launched_runs_read_landing_cost_files_only(landing: Path, raw: str, why: str):
    with pytest.raises(RefusedFile, match=why):
        check_cost_landing_file(raw.format(root=landing), landing)


def test_a_linked_cost_file_is_refused_before_it_is_read(landing: Path, tmp_path: Path):
    secret = _write(tmp_path / "secret.csv")
    (landing / "costs" / "link.csv").symlink_to(secret)
    with pytest.raises(RefusedFile, match="symbolic link"):
        LandingCostFiles().check(str(landing / "costs" / "link.csv"))
    os.link(secret, landing / "costs" / "hard.csv")
    with pytest.raises(RefusedFile, match="hard links"):
        LandingCostFiles().check(str(landing / "costs" / "hard.csv"))


def test_filed_away_into_processed_or_failed_of_costs(landing: Path):
    for name, failed, folder in (("a.csv", False, "processed"), ("b.csv", True, "failed")):
        checked = check_cost_landing_file(str(_write(landing / "costs" / name)), landing)
        assert file_away(checked, failed, "run1") == landing / "costs" / folder / name
    again = check_cost_landing_file(str(_write(landing / "costs" / "a.csv")), landing)
    assert file_away(again, False, "run2") == landing / "costs" / "processed" / "a.run2.csv"


def test_a_replaced_file_is_left_where_it_is(landing: Path):
    path = _write(landing / "costs" / "a.csv")
    checked = check_cost_landing_file(str(path), landing)
    path.rename(landing / "costs" / "kept.txt")  # still in use: the new file gets another inode
    _write(path, "other\n")
    assert file_away(checked, False, "run1") is None and path.exists()


def test_operator_files_may_be_anywhere_and_missing_ones_cannot_be_read(tmp_path: Path):
    assert OperatorCostFiles().check(str(_write(tmp_path / "x.csv"))).name == "x.csv"
    with pytest.raises(ValueError, match="cannot be read \\(file not found\\)"):
        OperatorCostFiles().check(str(tmp_path / "nope.csv"))


def test_the_sensor_requests_one_run_per_new_file(landing: Path):
    _write(landing / "costs" / "may.csv")
    _write(landing / "costs" / "june.csv")
    result = cost_landing_sensor(dg.build_sensor_context())
    files = [
        r.run_config["ops"]["lead_source_costs"]["config"]["file"] for r in result.run_requests
    ]
    assert files == [str(landing / "costs" / "june.csv"), str(landing / "costs" / "may.csv")]
    assert len({r.run_key for r in result.run_requests}) == 2
