"""A quarantined row points where an editor or a spreadsheet shows it (issue 22): the file's own
line (a CSV record's first line, the header and blank lines counted) or sheet row, beside the
data row number scripts already read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadflow.ingest import pipeline
from tests.conftest import run_leadflow
from tests.integration.conftest import ORG1

pytestmark = pytest.mark.integration

#: line 1 the header, 2 blank, 3 a lead, 4-5 one record (a quoted note spans two lines), 6
#: blank, 7 a bad phone, 8 a ragged row, 9 a lead, 10 a formula
CSV = (
    "Phone,First Name,Notes\n"
    "\n"
    "2124563001,Ann,plain\n"
    '2124563002,Ben,"first line\nsecond line"\n'
    "\n"
    "not a phone,Cy,x\n"
    "2124563004,Di\n"
    "2124563005,Ed,y\n"
    "2124563006,=HYPERLINK(1),z\n"
)
#: (data row, file line, reason) of the rejects above
EXPECTED = [(3, 7, "invalid_phone"), (4, 8, "ragged_row"), (6, 10, "formula_in_cell")]


def _rejects(connect, batch_id: str) -> list[tuple[int, int | None, str]]:
    with connect() as conn:
        return conn.execute(
            "select row_number, line_number, reason from import_rejects where batch_id = %s"
            " order by row_number",
            (batch_id,),
        ).fetchall()


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "lines.csv"
    path.write_text(CSV, encoding="utf-8", newline="")
    return path


def test_csv_rejects_keep_the_line_an_editor_shows(tmp_path, do_import, connect):
    [job] = do_import(_write(tmp_path), org=ORG1)
    assert (job.rows_read, job.inserted, job.quarantined) == (6, 3, 3)
    assert _rejects(connect, job.batch_id) == EXPECTED


def test_line_numbers_survive_chunks_and_worker_processes(tmp_path, connect, crm_url, monkeypatch):
    """Chunks of 2 rows through 2 worker processes: each chunk carries its own lines."""
    monkeypatch.setattr(pipeline, "CHUNK_SIZE", 2)
    request = pipeline.ImportRequest(files=[str(_write(tmp_path))], workers=2, org=ORG1)
    [job] = pipeline.run_import(request, connect)
    assert job.status == "succeeded", job.message
    assert _rejects(connect, job.batch_id) == EXPECTED


def test_xlsx_rejects_keep_the_sheet_row(tmp_path, do_import, connect):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Phone", "First Name"])  # sheet row 1
    sheet.append([2124563101, "Ann"])  # 2
    sheet.append([None, None])  # 3: blank, skipped
    sheet.append(["12", "Short"])  # 4: too short a phone
    path = tmp_path / "lines.xlsx"
    workbook.save(path)
    [job] = do_import(path, org=ORG1)
    assert (job.rows_read, job.inserted, job.quarantined) == (2, 1, 1)
    assert _rejects(connect, job.batch_id) == [(2, 4, "invalid_phone")]


def test_leads_rejects_prints_the_line(tmp_path, do_import, crm_url):
    [job] = do_import(_write(tmp_path), org=ORG1)
    env = {"POSTGRES_URL": crm_url}
    result = run_leadflow("leads", "rejects", "--batch", job.batch_id, "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    payload = json.loads(result.stdout)
    assert [(r["row"], r["line"], r["reason"]) for r in payload["rejects"]] == EXPECTED
    text = run_leadflow("leads", "rejects", "--batch", job.batch_id, env=env)
    assert text.returncode == 0, text.stdout + text.stderr
    assert "line       7  invalid_phone" in text.stdout
    assert "line      10  formula_in_cell" in text.stdout


def test_a_reject_without_a_file_line_shows_its_row(tmp_path, do_import, connect, crm_url):
    """A batch quarantined before migration 022 (or a CRM record) has no line: its row is shown."""
    [job] = do_import(_write(tmp_path), org=ORG1)
    with connect() as conn:
        conn.execute(
            "update import_rejects set line_number = null where batch_id = %s", (job.batch_id,)
        )
    text = run_leadflow("leads", "rejects", "--batch", job.batch_id, env={"POSTGRES_URL": crm_url})
    assert text.returncode == 0, text.stdout + text.stderr
    assert "row        3  invalid_phone" in text.stdout


def test_leads_rejects_by_reason_says_more_only_when_there_are_more(tmp_path, do_import, crm_url):
    [job] = do_import(_write(tmp_path), org=ORG1)
    env = {"POSTGRES_URL": crm_url}
    every = run_leadflow(
        "leads", "rejects", "--batch", job.batch_id, "--reason", "ragged_row", env=env
    )
    assert every.returncode == 0 and "line       8  ragged_row" in every.stdout
    assert "shown" not in every.stdout  # its only row is listed
    some = run_leadflow("leads", "rejects", "--batch", job.batch_id, "--limit", "2", env=env)
    assert "… 2 shown; --limit N or --json for more" in some.stdout
