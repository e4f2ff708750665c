"""Bad input end to end: a clear error, or a quarantine row with a reason; nothing lost."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import psycopg
import pytest

from leadflow.ingest import pipeline
from leadflow.ingest.pipeline import ImportRequest
from tests.integration.conftest import ORG1, one

pytestmark = pytest.mark.integration


def _reasons(connect, job) -> list[tuple[int, str]]:
    with connect() as conn:
        return conn.execute(
            "select row_number, reason from import_rejects where batch_id = %s order by 1",
            (job.batch_id,),
        ).fetchall()


def _holds(job) -> bool:
    return job.rows_read == job.inserted + job.merged + job.duplicates_in_file + job.quarantined


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8", newline="")
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n\n  ", "empty"),
        ("First Name,Email\nAnn,ann@example.com\n", "no column holds the phone number"),
        (os.urandom(2048) + b"\x00\x00" + os.urandom(2048), "binary"),
    ],
    ids=["empty", "whitespace-only", "no-phone-column", "binary-garbage"],
)
def test_file_that_cannot_be_imported_fails_clearly(tmp_path, do_import, connect, data, message):
    [job] = do_import(_write(tmp_path, "bad.csv", data), org=ORG1)
    assert job.status == "failed"
    assert message in job.message.lower()
    with connect() as conn:
        assert one(conn, "select count(*) from import_rejects") == (0,)
        if job.batch_id:  # a batch row records the failure when the file could be hashed
            assert one(
                conn, "select status, error from import_batches where id = %s", (job.batch_id,)
            ) == ("failed", job.message)


def test_header_only_imports_nothing_successfully(tmp_path, do_import):
    [job] = do_import(_write(tmp_path, "header.csv", "Phone,First Name\n"), org=ORG1)
    assert (job.status, job.rows_read, job.inserted) == ("succeeded", 0, 0)


def test_unknown_columns_are_ignored_but_recorded(tmp_path, do_import, connect):
    path = _write(tmp_path, "extra.csv", "Phone,Favourite Colour,Shoe Size\n2124562001,blue,9\n")
    [job] = do_import(path, org=ORG1)
    assert job.inserted == 1 and set(job.unmapped) == {"Favourite Colour", "Shoe Size"}
    with connect() as conn:
        options = one(conn, "select options from import_batches where id = %s", (job.batch_id,))
        assert set(options[0]["unmapped"]) == {"Favourite Colour", "Shoe Size"}


def test_ragged_rows_are_quarantined(tmp_path, do_import, connect):
    text = "Phone,First Name,Last Name\n2124562101,A,B\n2124562102,C\n2124562103,D,E,F,G\n"
    [job] = do_import(_write(tmp_path, "ragged.csv", text), org=ORG1)
    assert (job.rows_read, job.inserted, job.quarantined) == (3, 1, 2) and _holds(job)
    assert _reasons(connect, job) == [(2, "ragged_row"), (3, "ragged_row")]


def test_embedded_newlines_quotes_and_delimiters_survive(tmp_path, do_import, connect):
    text = (
        "Phone,First Name,Notes,Tags\n"
        '2124562201,"Smith, ""Jr""","line one\nline two","a;b"\n'
        '2124562202,"Multi\nLine",x,c\n'
    )
    [job] = do_import(_write(tmp_path, "quoted.csv", text), org=ORG1)
    assert (job.rows_read, job.inserted) == (2, 2)
    with connect() as conn:
        assert one(
            conn, "select first_name, tags from leads where phone_number = '+12124562201'"
        ) == ('Smith, "Jr"', ["a", "b"])
        assert one(conn, "select first_name from leads where phone_number = '+12124562202'") == (
            "Multi Line",
        )


def test_a_10mb_field_is_quarantined_not_a_crash(tmp_path, do_import, connect):
    huge = "x" * (10 * 1024 * 1024)
    text = f"Phone,First Name,Notes\n2124562301,Big,{huge}\n2124562302,Small,ok\n"
    [job] = do_import(_write(tmp_path, "huge.csv", text), org=ORG1)
    assert (job.inserted, job.quarantined) == (1, 1) and _holds(job)
    with connect() as conn:
        reason, raw_len = one(
            conn,
            "select reason, length(raw_row::text) from import_rejects where batch_id = %s",
            (job.batch_id,),
        )
    assert reason == "field_too_large" and raw_len < 5000


def test_invalid_utf8_falls_back_to_cp1252(tmp_path, do_import, connect):
    data = "Phone;First Name;Last Name\n2124562401;José;Müller\n".encode("cp1252")
    [job] = do_import(_write(tmp_path, "latin.csv", data), org=ORG1)
    assert job.encoding == "cp1252" and job.inserted == 1
    with connect() as conn:
        assert one(
            conn, "select first_name, last_name from leads where phone_number = '+12124562401'"
        ) == ("José", "Müller")


def test_formulas_in_cells_are_quarantined(tmp_path, do_import, connect):
    text = (
        "Phone,First Name,Last Name\n"
        "2124562501,=cmd|' /C calc'!A0,Evil\n"
        "2124562502,@SUM(1+1)*cmd|' /C calc'!A0,Evil\n"
        "2124562503,Plain,Person\n"
    )
    [job] = do_import(_write(tmp_path, "formula.csv", text), org=ORG1)
    assert (job.inserted, job.quarantined) == (1, 2)
    assert [reason for _, reason in _reasons(connect, job)] == ["formula_in_cell"] * 2


@pytest.mark.parametrize(
    ("phone", "detail"),
    [("1-800-FLOWERS", "letters"), ("020 7946 0958", "GB"), ("", None), ("+1 212", None)],
    ids=["letters", "other-region-only", "empty", "too-short"],
)
def test_bad_phones_are_quarantined_with_a_reason(tmp_path, do_import, connect, phone, detail):
    path = _write(tmp_path, "phones.csv", f"Phone,First Name\n{phone},X\n2124562601,Y\n")
    [job] = do_import(path, org=ORG1)
    assert (job.inserted, job.quarantined) == (1, 1)
    with connect() as conn:
        reason, text = one(
            conn, "select reason, detail from import_rejects where batch_id = %s", (job.batch_id,)
        )
    assert reason in ("invalid_phone", "missing_phone")
    if detail:
        assert detail in text


def test_unknown_organization_in_a_column_is_quarantined(tmp_path, do_import, connect):
    text = (
        "organization_id,Phone\n"
        f"{ORG1},2124562701\n"
        "99999999-9999-4999-8999-999999999999,2124562702\n"
        "not-an-org,2124562703\n"
    )
    [job] = do_import(_write(tmp_path, "orgs.csv", text))
    assert (job.inserted, job.quarantined) == (1, 2)
    assert {reason for _, reason in _reasons(connect, job)} <= {
        "unknown_organization",
        "missing_organization",
    }


def test_a_file_that_disappears_mid_run_fails_cleanly(tmp_path, connect):
    path = _write(tmp_path, "vanish.csv", "Phone\n2124562801\n")
    request = ImportRequest(files=[str(path)], org=ORG1, workers=1)
    jobs = pipeline.prepare(request, connect)
    path.unlink()  # gone between inspection and reading
    jobs = pipeline.load(jobs, request, connect)
    [job] = jobs
    assert job.status == "failed" and "disappeared" in job.message
    with connect() as conn:
        assert one(conn, "select status from import_batches where id = %s", (job.batch_id,)) == (
            "failed",
        )
        assert one(conn, "select count(*) from leads where phone_number = '+12124562801'") == (0,)


def test_missing_file_is_a_clear_failure(tmp_path, do_import):
    [job] = do_import(tmp_path / "nope.csv", org=ORG1)
    assert job.status == "failed" and "nope.csv" in job.message and job.batch_id is None


def test_xlsx_with_numeric_phones(tmp_path, do_import, connect):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Cell", "First Name"])
    sheet.append([2124562901, "Num"])
    sheet.append(["(212) 456-2902", "Text"])
    path = tmp_path / "phones.xlsx"
    workbook.save(path)
    [job] = do_import(path, org=ORG1)
    assert (job.kind, job.inserted) == ("xlsx", 2)


def test_parallel_imports_of_different_organizations(crm_url, tmp_path):
    from functools import partial

    from tests.integration.conftest import ORG2

    connect = partial(psycopg.connect, crm_url)
    a = _write(tmp_path, "a.csv", "Phone\n" + "".join(f"21245630{n:02d}\n" for n in range(50)))
    b = _write(tmp_path, "b.csv", "Phone\n" + "".join(f"+121245630{n:02d}\n" for n in range(50)))
    results = {}

    def run(org, path):
        results[org] = pipeline.run_import(
            ImportRequest(files=[str(path)], org=org, workers=1), connect
        )[0]

    threads = [threading.Thread(target=run, args=args) for args in ((ORG1, a), (ORG2, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[ORG1].inserted == 50 and results[ORG2].inserted == 50
