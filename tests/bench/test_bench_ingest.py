"""`python -m benchmarks ingest` on a small file: the generated file has the planned mix, both runs
account for every row, and the command prints its figures.

No timing is asserted: speed goals live in the benchmark's printed figures.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.ingest import ORGANIZATIONS, generate_file, run_ingest_bench
from leadflow.cli.main import main

pytestmark = [pytest.mark.bench, pytest.mark.integration, pytest.mark.slow]

ROWS = 2_000
ROOT = Path(__file__).resolve().parents[2]


def test_generated_file_has_the_planned_mix(tmp_path):
    counts = generate_file(tmp_path / "a.csv", ROWS)
    with open(tmp_path / "a.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert counts["rows"] == len(rows) == ROWS
    assert 0.15 * ROWS < counts["duplicates"] < 0.25 * ROWS
    assert 0.005 * ROWS < counts["invalid"] < 0.04 * ROWS
    assert len({row["organization_id"] for row in rows}) == ORGANIZATIONS


def test_every_run_accounts_for_every_row_and_the_floor_is_measured(pg_server_url, tmp_path):
    lines: list[str] = []
    result = run_ingest_bench(pg_server_url, ROWS, tmp_path, workers=2, echo=lines.append)
    initial, merge, reimport = result.initial, result.merge, result.reimport
    for run in (initial, merge):
        [job] = run.jobs
        assert job.status == "succeeded"
        assert job.rows_read == ROWS
        assert job.rows_read == job.inserted + job.merged + job.duplicates_in_file + job.quarantined
        assert run.wall > 0 and run.peak_rss_mb >= run.peak_pss_mb > 0
    assert initial.jobs[0].inserted > 0 and initial.jobs[0].merged == 0
    assert merge.jobs[0].inserted == 0 and merge.jobs[0].merged == initial.jobs[0].inserted
    assert reimport.jobs[0].status == "skipped"
    # the floor copies exactly the leads the import loaded
    assert result.floor_rows == initial.jobs[0].inserted and result.floor_seconds > 0
    assert result.initial_ratio == initial.wall / result.floor_seconds
    assert any(line.lstrip().startswith("ratios to the floor") for line in lines)
    assert any("end-to-end" in line for line in lines)


def _python_m_benchmarks(args: list[str], pg_server_url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        env={**os.environ, "POSTGRES_URL": pg_server_url},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_python_m_benchmarks_prints_the_figures(pg_server_url, tmp_path):
    args = ["ingest", "--rows", "300", "--workers", "1", "--workdir", str(tmp_path)]
    result = _python_m_benchmarks(args, pg_server_url)
    assert result.returncode == 0, result.stderr
    assert "initial load (empty database)" in result.stdout
    assert "incremental merge (same leads, names and e-mails changed)" in result.stdout


def test_json_is_one_object_on_stdout_and_the_report_on_stderr(pg_server_url, tmp_path):
    args = ["ingest", "--rows", "300", "--workers", "1", "--workdir", str(tmp_path), "--json"]
    result = _python_m_benchmarks(args, pg_server_url)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    figures = json.loads(line)
    assert figures["rows"] == 300
    initial = figures["initial"]["jobs"][0]
    assert initial["status"] == "succeeded" and initial["rows_read"] == 300
    assert initial["rows_read"] == sum(
        initial[key] for key in ("inserted", "merged", "duplicates_in_file", "quarantined")
    )
    assert figures["reimport"]["jobs"][0]["status"] == "skipped"
    assert figures["floor_rows"] == initial["inserted"] and figures["initial_ratio"] > 0
    assert "initial load (empty database)" in result.stderr


def test_the_old_name_still_runs_after_its_notice(pg_server_url, tmp_path):
    result = CliRunner().invoke(
        main,
        ["bench", "ingest", "--rows", "300", "--workers", "1", "--workdir", str(tmp_path)],
        env={"POSTGRES_URL": pg_server_url},
    )
    assert result.exit_code == 0, result.output
    assert "`leadflow bench ingest` is deprecated; use `python -m benchmarks ingest`" in (
        result.stderr
    )
    assert "initial load (empty database)" in result.stdout
