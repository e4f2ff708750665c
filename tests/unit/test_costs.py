"""Cost files: period and amount parsing, header mapping, CSV/XLSX reading (no servers)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from leadflow.costs.reading import CostFileError, read_cost_file
from leadflow.costs.rules import RowError, map_cost_headers, parse_cost, parse_period
from leadflow.tabular import FileFormatError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-05", "2026-05"),
        (" 2026-5 ", "2026-05"),
        ("2026/12", "2026-12"),
        (datetime(2026, 7, 1), "2026-07"),
        (date(2026, 8, 15), "2026-08"),
    ],
)
def test_period(value, expected):
    assert parse_period(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        (None, "empty"),
        ("2026-13", "01 to 12"),
        ("May 2026", "YYYY-MM"),
        ("2026-05-01", "YYYY-MM"),
        ("26-05", "YYYY-MM"),
    ],
)
def test_bad_period(value, message):
    with pytest.raises(ValueError, match=message):
        parse_period(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("250", "250.00"),
        ("1,234.50", "1234.50"),
        ("$99.9", "99.90"),
        ("USD 12", "12.00"),
        ("12 USD", "12.00"),
        ("0", "0.00"),
        ("12.500", "12.50"),
        (12, "12.00"),
        (12.5, "12.50"),
        (0.1 + 0.2, "0.30"),  # spreadsheet float noise
    ],
)
def test_cost(value, expected):
    assert parse_cost(value) == Decimal(expected)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5", "negative"),
        ("(5.00)", "negative"),
        ("abc", "not a number"),
        ("1.234,50", "not a number"),
        ("12.345", "more than two decimals"),
        (12.345, "more than two decimals"),
        ("", "empty"),
        (None, "empty"),
        (True, "not a number"),
        ("100000000", "larger"),
    ],
)
def test_bad_cost(value, message):
    with pytest.raises(ValueError, match=message):
        parse_cost(value)


def test_headers_map_with_aliases_and_report_missing_columns():
    mapping, errors = map_cost_headers(["User E-mail", "Lead Source", "Month", "Cost (USD)", "x"])
    assert errors == []
    assert mapping == {0: "user", 1: "source", 2: "period", 3: "cost"}

    mapping, errors = map_cost_headers(["user", "source", "amount", "organization_id"])
    assert mapping[3] == "organization_id"
    assert len(errors) == 1 and "period" in errors[0].message

    _, errors = map_cost_headers(["user", "source", "period", "cost", "amount"])
    assert errors[0].message == "two columns hold cost"


def test_row_error_reads_well():
    assert (
        str(RowError(3, "cost", "cost is negative", "-5")) == "row 3 cost: cost is negative ('-5')"
    )
    assert str(RowError(None, None, "x.csv is empty")) == "file: x.csv is empty"


def test_csv_with_semicolons_bom_and_blank_lines(tmp_path: Path):
    path = tmp_path / "costs.csv"
    path.write_bytes(
        "\ufeffUser;Source;Period;Cost\r\n\r\na@x.com;fb;2026-05;1.234,00\r\nb@x.com;li;2026-06;99\r\n".encode()
    )
    rows, errors = read_cost_file(path)
    assert errors == []
    assert [r.row for r in rows] == [3, 4]
    assert rows[0].values == {
        "user": "a@x.com",
        "source": "fb",
        "period": "2026-05",
        "cost": "1.234,00",
    }


def test_xlsx_keeps_typed_cells(tmp_path: Path):
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["user", "source", "period", "cost_usd"])
    sheet.append(["a@x.com", "facebook", datetime(2026, 5, 1), 250.5])
    path = tmp_path / "costs.xlsx"
    workbook.save(path)
    rows, errors = read_cost_file(path)
    assert errors == []
    assert rows[0].row == 2
    assert parse_period(rows[0].values["period"]) == "2026-05"
    assert parse_cost(rows[0].values["cost"]) == Decimal("250.50")


def test_unreadable_files(tmp_path: Path):
    empty = tmp_path / "empty.csv"
    empty.write_text("  \n")
    with pytest.raises(CostFileError, match="empty"):
        read_cost_file(empty)
    with pytest.raises(CostFileError, match="cannot be read"):
        read_cost_file(tmp_path / "missing.csv")
    headers_only = tmp_path / "wrong.csv"
    headers_only.write_text("name,phone\nA,1\n")
    rows, errors = read_cost_file(headers_only)
    assert rows == [] and "missing column" in errors[0].message


def test_cost_files_are_read_by_the_shared_tabular_reader(tmp_path: Path):
    # one error class for files that cannot be read at all, whichever domain reads them
    assert CostFileError is FileFormatError
    utf16 = tmp_path / "u16.csv"
    utf16.write_bytes("user,source,period,cost\n".encode("utf-16"))
    with pytest.raises(CostFileError, match="is UTF-16 text"):
        read_cost_file(utf16)
    legacy = tmp_path / "costs.xls"
    legacy.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64)
    with pytest.raises(CostFileError, match=r"legacy Excel \(\.xls\)"):
        read_cost_file(legacy)
    binary = tmp_path / "costs.csv"
    binary.write_bytes(b"user,source,period,cost\n\x00\x01\n")
    with pytest.raises(CostFileError, match=r"not a CSV or XLSX file \(binary content\)"):
        read_cost_file(binary)
    corrupt = tmp_path / "costs.xlsx"
    corrupt.write_bytes(b"PK\x03\x04" + b"junk" * 64)
    with pytest.raises(CostFileError, match="is not a readable XLSX file"):
        read_cost_file(corrupt)


def test_xlsx_by_content_typed_and_padded(tmp_path: Path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Month", "Amount", "User", "Source", "organization_id"])
    sheet.append([date(2026, 3, 1), 12, "a@x.com"])  # a short row: missing cells are None
    sheet.append([None])
    sheet.append(["2026-04", "$5", "b@x.com", "fb", None])
    path = tmp_path / "costs.xlsx"
    workbook.save(path)
    renamed = path.rename(tmp_path / "costs.export")  # the extension does not matter
    rows, errors = read_cost_file(renamed)
    assert errors == []
    assert [r.row for r in rows] == [2, 4]
    assert rows[0].values == {
        "period": datetime(2026, 3, 1),
        "cost": 12,
        "user": "a@x.com",
        "source": None,
        "organization_id": None,
    }
    assert rows[1].values["cost"] == "$5"


def test_a_giant_cell_refuses_the_file(tmp_path: Path):
    path = tmp_path / "costs.csv"
    path.write_text(f"user,source,period,cost,notes\na@x.com,fb,2026-05,1,{'x' * 70_000}\n")
    with pytest.raises(CostFileError, match=r"row 2 cannot be read \(a cell has 70000 characters"):
        read_cost_file(path)
