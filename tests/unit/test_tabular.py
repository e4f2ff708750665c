"""The shared tabular reader: inspecting a CSV/XLSX file and streaming its rows (no servers)."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from leadflow.tabular import (
    FileFormatError,
    Table,
    cannot_read,
    cell_text,
    header_aliases,
    inspect_table,
    is_blank,
    iter_table_rows,
)


def _xlsx(path: Path, rows: list[list[object]]) -> Path:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    workbook.save(path)
    return path


ROW = [2125550123, 2.5, datetime(2026, 5, 1, 8, 30), date(2026, 6, 2), True, None, " x "]
HEADERS = ["Phone", "Score", "Joined", "Day", "Active", "Empty", "Note"]


def test_xlsx_cells_typed_or_as_csv_text(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "t.xlsx", [[None], HEADERS, ROW, [None, None], [2125550124.0]])
    table = inspect_table(path)
    assert (table.kind, table.encoding, table.delimiter) == ("xlsx", None, None)
    assert table.headers == HEADERS

    typed = list(iter_table_rows(table, typed=True))
    assert [number for number, _ in typed] == [3, 5]  # sheet rows: blank ones skipped
    assert typed[0][1] == [
        2125550123,
        2.5,
        datetime(2026, 5, 1, 8, 30),
        datetime(2026, 6, 2),  # openpyxl stores dates as datetimes
        True,
        None,
        " x ",
    ]
    assert typed[1][1] == [2125550124, None, None, None, None, None, None]  # padded with None

    text = list(iter_table_rows(table))
    assert [number for number, _ in text] == [3, 5]
    assert text[0][1] == [
        "2125550123",
        "2.5",
        "2026-05-01T08:30:00",
        "2026-06-02T00:00:00",
        "TRUE",
        "",
        " x ",
    ]
    assert text[1][1] == ["2125550124", "", "", "", "", "", ""]  # not "2125550124.0"


def test_xlsx_cells_beyond_the_header(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "t.xlsx", [["A", "B"], [1, 2, None, None], [1, 2, None, "x", None]])
    table = inspect_table(path)
    assert [cells for _, cells in iter_table_rows(table, typed=True)] == [
        [1, 2],  # empty cells beyond the header are dropped
        [1, 2, None, "x"],  # filled ones are kept (the caller decides it is ragged)
    ]


def test_csv_cells_are_text_numbered_by_line(tmp_path: Path) -> None:
    content = '\ufeffA;B\r\n\r\n1;"two\r\nlines"\r\n;\r\n3;4;5\r\n'
    path = tmp_path / "t.csv"
    path.write_bytes(content.encode())
    table = inspect_table(path)
    assert table == Table(
        path=path,
        size=len(content.encode()),
        sha256=hashlib.sha256(content.encode()).hexdigest(),
        kind="csv",
        encoding="utf-8-sig",
        delimiter=";",
        headers=["A", "B"],
    )
    # a record is numbered by the line it starts on, as an editor shows it
    expected = [(3, ["1", "two\r\nlines"]), (6, ["3", "4", "5"])]
    assert list(iter_table_rows(table)) == expected
    assert list(iter_table_rows(table, typed=True)) == expected  # CSV cells are always text


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b" \r\n\t", r"empty\.csv is empty"),
        ("bom.csv", b"\xef\xbb\xbf\n", r"bom\.csv is empty"),
        ("binary.csv", b"A,B\n\x00\x01\x02\n", r"not a CSV or XLSX file \(binary content\)"),
        ("u16.csv", "A,B\n1,2\n".encode("utf-16"), r"is UTF-16 text: save it as CSV \(UTF-8\)"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, r"legacy Excel \(\.xls\)"),
        ("bad.xlsx", b"PK\x03\x04" + b"junk" * 64, r"bad\.xlsx is not a readable XLSX file"),
    ],
)
def test_files_that_are_not_tables(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(FileFormatError, match=message):
        inspect_table(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match=r"nope\.csv: cannot be read \(file not found\)"):
        inspect_table(tmp_path / "nope.csv")
    with pytest.raises(FileFormatError, match="is a directory, not a file"):
        inspect_table(tmp_path)
    message = str(cannot_read("mapping file m.json", PermissionError(13, "Permission denied")))
    assert message == "mapping file m.json: cannot be read (Permission denied)"


def test_a_file_changed_after_inspection_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("A\n1\n")
    table = inspect_table(path)
    path.write_text("A\n2\n")
    with pytest.raises(FileFormatError, match="changed while being read"):
        list(iter_table_rows(table))
    path.unlink()
    with pytest.raises(FileFormatError, match="disappeared while being read"):
        list(iter_table_rows(table, typed=True))


def test_blank_rows_and_cell_text() -> None:
    assert is_blank([]) and is_blank(["", "  "]) and is_blank([None, " ", None])
    assert not is_blank([" ", "x"]) and not is_blank([None, 0]) and not is_blank([False])
    assert [cell_text(v) for v in (None, "a", False, 7, 7.0, 0.5)] == [
        "",
        "a",
        "FALSE",
        "7",
        "7",
        "0.5",
    ]


def test_header_aliases_include_the_column_name() -> None:
    aliases = header_aliases({"cost": ("Amount USD", "cost_usd"), "user_id": ("Owner",)})
    assert aliases == {
        "cost": "cost",
        "amountusd": "cost",
        "costusd": "cost",
        "userid": "user_id",
        "owner": "user_id",
    }
