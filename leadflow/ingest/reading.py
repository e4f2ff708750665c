"""Reading lead files (CSV or XLSX) into chunks of `RawRow`, streaming.

`inspect_file` looks at a file once (hash, binary check, encoding, delimiter, headers) and says
whether it can be imported at all; `iter_rows` then streams its data rows in chunks, never
holding the file in memory. Row-level problems (ragged rows, giant cells) do not stop the
import: they come out as `RawRow.problem` and end up in quarantine.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from leadflow.leads.records import LEAD_FIELDS, RawRow, RejectReason

#: bytes per read while hashing / validating / streaming
BLOCK_SIZE = 1 << 20
#: how much of the file the delimiter sniffer sees. Not 64 KiB: csv.Sniffer's quote regex is
#: quadratic on hostile input (measured 37 s on 64 KiB of '",' vs 2.3 s on 16 KiB), and the
#: answer is cross-checked against the header line anyway.
SNIFF_BYTES = 16 * 1024
#: candidate CSV delimiters, in order of preference when counts tie
DELIMITERS = ",;\t|"
#: a cell longer than this quarantines its row (no lead field is anywhere near it)
MAX_CELL_CHARS = 65_536
#: how much of an oversized cell is kept in the quarantine record
RAW_KEEP_CHARS = 1_000
#: the csv module's own limit: high enough that it never raises on a merely large cell
CSV_FIELD_SIZE_LIMIT = 256 * 1024 * 1024

_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls / .doc
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
# bytes the cp1252 codec leaves undefined: their presence means "not cp1252" (-> latin-1)
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_HEADER_JUNK_RE = re.compile(r"[\W_]+")


class FileFormatError(ValueError):
    """The file cannot be imported at all; the message is for a human."""


@dataclass(slots=True)
class FileInfo:
    """What `inspect_file` learned about a file; `iter_rows` reads it with exactly this."""

    path: Path
    size: int
    sha256: str  # hex of the file bytes
    kind: str  # "csv" | "xlsx"
    encoding: str | None  # "utf-8", "utf-8-sig", "cp1252" or "latin-1" for csv; None for xlsx
    delimiter: str | None  # sniffed, csv only
    headers: list[str]  # as in the file (stripped)
    mapping: dict[str, str]  # original header -> canonical field (LEAD_FIELDS)
    unmapped: list[str]  # headers that map to nothing (kept in RawRow.raw, otherwise ignored)


# ---------------------------------------------------------------------------------------
# Header mapping
# ---------------------------------------------------------------------------------------

_FIELD_SPELLINGS: dict[str, tuple[str, ...]] = {
    "phone_number": (
        "phone", "phonenumber", "phoneno", "mobile", "mobilephone", "mobilenumber", "mobileno",
        "cell", "cellphone", "cellnumber", "tel", "telephone", "telephonenumber",
        "contactnumber", "whatsapp", "whatsappnumber",
    ),
    "first_name": ("firstname", "fname", "first", "givenname", "forename"),
    "last_name": ("lastname", "lname", "last", "surname", "familyname"),
    "full_name": ("name", "fullname", "contactname", "leadname"),
    "email": ("email", "emailaddress", "e-mail", "mail"),
    "source": ("source", "leadsource", "channel", "utmsource", "origin"),
    "tags": ("tags", "tag", "labels", "label"),
    "status": ("status", "leadstatus", "stage"),
    "organization_id": (
        "organizationid", "orgid", "organization", "organisationid", "tenantid",
    ),
    "user_id": ("userid", "owner", "ownerid", "assignedto", "agentid"),
    "notes": ("notes", "note", "comments", "comment"),
    "referred_by": ("referredby", "referrer", "referral", "referredbyphone"),
}  # fmt: skip


def normalize_header(header: str) -> str:
    """Lower-case, letters and digits only, so "E-mail ", "e_mail" and "EMail" all match."""
    return _HEADER_JUNK_RE.sub("", header.lower())


#: normalized header -> canonical field
HEADER_ALIASES: dict[str, str] = {
    normalize_header(spelling): field
    for field, spellings in _FIELD_SPELLINGS.items()
    for spelling in (field, *spellings)
}


def map_headers(
    headers: list[str], overrides: dict[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """Map file headers to canonical fields: (header -> field, unmapped headers).

    Overrides (a mapping file) win over the built-in aliases; they match a header exactly or,
    failing that, case- and punctuation-insensitively. An override to "" ignores the column.
    When two columns map to the same field (or a header name repeats) the first column wins
    and the others are reported as unmapped: taking the first is predictable, and the
    others' values still reach the quarantine record through `RawRow.raw`.
    """
    exact: dict[str, str] = {}
    loose: dict[str, str] = {}
    for header, field in (overrides or {}).items():
        if field and field not in LEAD_FIELDS:
            raise FileFormatError(
                f"mapping for {header!r}: unknown field {field!r} "
                f"(known fields: {', '.join(LEAD_FIELDS)})"
            )
        exact[header.strip()] = field
        loose[normalize_header(header)] = field

    mapping: dict[str, str] = {}
    unmapped: list[str] = []
    taken: set[str] = set()
    seen: set[str] = set()
    for header in headers:
        if header in seen:
            unmapped.append(header)
            continue
        seen.add(header)
        key = normalize_header(header)
        if header in exact:
            field = exact[header]
        elif key in loose:
            field = loose[key]
        else:
            field = HEADER_ALIASES.get(key, "")
        if not field or field in taken:
            unmapped.append(header)
            continue
        mapping[header] = field
        taken.add(field)
    return mapping, unmapped


def load_mapping_file(path: Path) -> dict[str, str]:
    """Read a JSON mapping file {"File Header": "canonical_field"}; null or "" ignores a column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise FileFormatError(f"mapping file {path}: cannot be read ({_os_reason(exc)})") from exc
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"mapping file {path}: not UTF-8 text") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"mapping file {path}: invalid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise FileFormatError(
            f'mapping file {path}: expected a JSON object like {{"Mobile": "phone_number"}}'
        )
    mapping: dict[str, str] = {}
    for header, field in data.items():
        if field is None:
            field = ""
        if not isinstance(field, str):
            raise FileFormatError(f"mapping file {path}: value for {header!r} must be a string")
        field = field.strip()
        if field and field not in LEAD_FIELDS:
            raise FileFormatError(
                f"mapping file {path}: unknown field {field!r} for {header!r} "
                f"(known fields: {', '.join(LEAD_FIELDS)})"
            )
        mapping[header] = field
    return mapping


# ---------------------------------------------------------------------------------------
# Inspecting
# ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Scan:
    size: int
    sha256: str
    head: bytes  # the first SNIFF_BYTES bytes
    has_content: bool  # something other than whitespace (and a BOM)
    has_nul: bool
    utf8_ok: bool
    cp1252_ok: bool


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _scan(path: Path) -> _Scan:
    """One binary pass: hash, size, a head for sniffing, and what the bytes can be."""
    if path.is_dir():
        raise FileFormatError(f"{path} is a directory, not a file")
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, errors mapped per step
    except FileNotFoundError as exc:
        raise FileFormatError(f"{path}: file not found") from exc
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot be read ({_os_reason(exc)})") from exc
    digest = hashlib.sha256()
    size = 0
    head = b""
    has_content = has_nul = False
    utf8_ok = cp1252_ok = True
    decoder = codecs.getincrementaldecoder("utf-8")()
    text_checks = True
    try:
        with fh:
            while block := fh.read(BLOCK_SIZE):
                if size == 0:
                    head = block[:SNIFF_BYTES]
                    # zips and legacy Excel are judged elsewhere: no point decoding them
                    text_checks = not block.startswith((_ZIP_MAGIC, _OLE2_MAGIC))
                    stripped = block[3:] if block.startswith(codecs.BOM_UTF8) else block
                    has_content = bool(stripped.strip())
                elif not has_content:
                    has_content = bool(block.strip())
                digest.update(block)
                size += len(block)
                has_nul = has_nul or b"\x00" in block
                if text_checks:
                    if cp1252_ok and any(b in block for b in _CP1252_UNDEFINED):
                        cp1252_ok = False
                    if utf8_ok:
                        try:
                            decoder.decode(block)
                        except UnicodeDecodeError:
                            utf8_ok = False
            if utf8_ok:
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    utf8_ok = False
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot be read ({_os_reason(exc)})") from exc
    return _Scan(size, digest.hexdigest(), head, has_content, has_nul, utf8_ok, cp1252_ok)


def _choose_encoding(scan: _Scan) -> str:
    if scan.head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if scan.utf8_ok:
        return "utf-8"
    if scan.cp1252_ok:
        return "cp1252"
    return "latin-1"  # every byte is a character: never fails


def _is_xlsx(path: Path, head: bytes) -> bool:
    if not head.startswith(_ZIP_MAGIC):
        return False
    if path.suffix.lower() in _XLSX_SUFFIXES:
        return True
    try:
        with _workbook(path):
            return True
    except FileFormatError:
        return False


def inspect_file(path: Path, mapping_overrides: dict[str, str] | None = None) -> FileInfo:
    """Decide whether and how a file can be imported; FileFormatError says why not."""
    path = Path(path)
    scan = _scan(path)
    if scan.size == 0 or not scan.has_content:
        raise FileFormatError(f"{path} is empty")
    if scan.head.startswith(_OLE2_MAGIC):
        raise FileFormatError(
            f"{path} is a legacy Excel (.xls) file: save it as .xlsx or CSV (UTF-8) and retry"
        )
    if scan.head.startswith(_UTF16_BOMS):
        raise FileFormatError(f"{path} is UTF-16 text: save it as CSV (UTF-8) and retry")

    if _is_xlsx(path, scan.head):
        kind, encoding, delimiter = "xlsx", None, None
        headers = _xlsx_headers(path)
    else:
        if scan.has_nul:
            raise FileFormatError(f"{path} is not a CSV or XLSX file (binary content)")
        kind, encoding = "csv", _choose_encoding(scan)
        sample = _decode_sample(scan.head, encoding)
        delimiter = sniff_delimiter(sample)
        headers = _csv_headers(path, encoding, delimiter)
    if headers is None:
        raise FileFormatError(f"{path} is empty")

    mapping, unmapped = map_headers(headers, mapping_overrides)
    if "phone_number" not in mapping.values():
        found = ", ".join(repr(h) for h in headers) or "(none)"
        raise FileFormatError(
            f"{path}: no column holds the phone number (headers found: {found}). "
            'Name the column with a mapping file, e.g. {"<header>": "phone_number"}.'
        )
    return FileInfo(
        path=path,
        size=scan.size,
        sha256=scan.sha256,
        kind=kind,
        encoding=encoding,
        delimiter=delimiter,
        headers=headers,
        mapping=mapping,
        unmapped=unmapped,
    )


def _decode_sample(head: bytes, encoding: str) -> str:
    """Decoded head for sniffing, cut at the last line break (no half line, no half char)."""
    text = head.decode(encoding, errors="ignore")
    cut = max(text.rfind("\n"), text.rfind("\r"))
    return text[:cut] if cut > 0 else text


def sniff_delimiter(sample: str) -> str:
    """csv.Sniffer over the sample, checked against the header line; "," if nothing fits.

    The Sniffer can be fooled by delimiters inside data (e.g. "a; b" notes in a comma file),
    so its answer is only kept if the header line contains it; otherwise the candidate that
    occurs most in the header line wins.
    """
    header_line = next((line for line in sample.splitlines() if line.strip()), "")
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed and (sniffed in header_line or not header_line):
        return sniffed
    counts = [(header_line.count(d), -i, d) for i, d in enumerate(DELIMITERS)]
    best = max(counts)
    return best[2] if best[0] > 0 else ","


def _is_blank(cells: Sequence[str]) -> bool:
    """A row with no cells or only whitespace cells: skipped, not counted as a row."""
    return not cells or not "".join(cells).strip()


def _csv_headers(path: Path, encoding: str, delimiter: str) -> list[str] | None:
    _raise_field_limit()
    try:
        with open(path, encoding=encoding, errors="replace", newline="") as fh:
            for cells in csv.reader(fh, delimiter=delimiter):
                if not _is_blank(cells):
                    return [cell.strip() for cell in cells]
    except csv.Error as exc:
        raise FileFormatError(f"{path}: the header row cannot be read as CSV ({exc})") from exc
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot be read ({_os_reason(exc)})") from exc
    return None


def _raise_field_limit() -> None:
    if csv.field_size_limit() < CSV_FIELD_SIZE_LIMIT:
        csv.field_size_limit(CSV_FIELD_SIZE_LIMIT)


# ---------------------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------------------


@contextmanager
def _workbook(path: Path) -> Iterator[Any]:
    """openpyxl workbook in streaming mode; FileFormatError if it is not a readable XLSX.

    Opened from a file object so that the file name's extension does not matter (openpyxl
    refuses a path not ending in .xlsx/.xlsm), and closed with the file on exit.
    """
    import openpyxl  # deferred: only XLSX imports pay for it

    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    except FileNotFoundError as exc:
        raise FileFormatError(f"{path} disappeared while being read") from exc
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot be read ({_os_reason(exc)})") from exc
    try:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "no default style" and friends
                wb = openpyxl.load_workbook(fh, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001
            # openpyxl raises a zoo of exceptions on corrupt files (BadZipFile, KeyError,
            # ValueError, XML errors...): all mean the same to a user
            raise FileFormatError(f"{path} is not a readable XLSX file ({exc})") from exc
        try:
            yield wb
        finally:
            wb.close()
    finally:
        fh.close()


def _cell_text(value: object) -> str:
    """An XLSX cell as the text a CSV export would show (phones typed as numbers included)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))  # 2125551234.0 -> "2125551234", not "2125551234.0"
        return f"{value:.15g}"  # 0.1 + 0.2 -> "0.3", not "0.30000000000000004"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    """Non-blank rows of the first sheet as text, header first; the workbook is closed after."""
    with _workbook(path) as wb:
        if not wb.worksheets:
            return
        try:
            for values in wb.worksheets[0].iter_rows(values_only=True):
                cells = [_cell_text(v) for v in values]
                if not _is_blank(cells):
                    yield cells
        except Exception as exc:  # noqa: BLE001 - a corrupt sheet part surfaces mid-stream
            raise FileFormatError(f"{path} is not a readable XLSX file ({exc})") from exc


def _xlsx_headers(path: Path) -> list[str] | None:
    rows = _xlsx_rows(path)
    try:
        first = next(rows, None)
    finally:
        rows.close()
    if first is None:
        return None
    headers = [cell.strip() for cell in first]
    while headers and not headers[-1]:
        headers.pop()  # read-only sheets often report trailing empty columns
    return headers


# ---------------------------------------------------------------------------------------
# Streaming rows
# ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class RowPlan:
    """How to turn a list of cells into a RawRow, computed once per file (picklable)."""

    keys: list[str]  # unique raw key per column (header, made unique)
    fields: list[tuple[int, str]]  # (column index, canonical field) for mapped columns

    @classmethod
    def for_info(cls, info: FileInfo) -> RowPlan:
        keys: list[str] = []
        used: set[str] = set()
        fields: list[tuple[int, str]] = []
        for index, header in enumerate(info.headers):
            key = header or f"_column_{index + 1}"
            n = 2
            while key in used:  # repeated header: "Phone", "Phone (2)"
                key = f"{header or '_column'} ({n})"
                n += 1
            used.add(key)
            keys.append(key)
            field = info.mapping.get(header)
            if field and header == key:  # only the first column of a repeated header
                fields.append((index, field))
        return cls(keys, fields)

    def make_rows(self, first_row: int, cells: list[list[str]]) -> list[RawRow]:
        return [self.make_row(first_row + i, row) for i, row in enumerate(cells)]

    def make_row(self, row_number: int, cells: list[str]) -> RawRow:
        keys = self.keys
        width, count = len(keys), len(cells)
        raw = dict(zip(keys, cells, strict=False))
        if count > width:
            for extra, cell in enumerate(cells[width:], start=1):
                raw[f"_extra_{extra}"] = cell
        if max(map(len, cells), default=0) > MAX_CELL_CHARS:
            return self._too_large(row_number, cells, raw)
        if count != width:
            detail = f"{count} cells, header has {width}"
            return RawRow(row_number, {}, raw, RejectReason.RAGGED_ROW, detail)
        values = {field: cells[index].strip() for index, field in self.fields}
        return RawRow(row_number, values, raw)

    def _too_large(self, row_number: int, cells: list[str], raw: dict[str, str]) -> RawRow:
        """Quarantine the row and keep only the start of every oversized cell."""
        big: list[str] = []
        for index, cell in enumerate(cells):
            if len(cell) > MAX_CELL_CHARS:
                key = (
                    self.keys[index]
                    if index < len(self.keys)
                    else f"_extra_{index - len(self.keys) + 1}"
                )
                raw[key] = f"{cell[:RAW_KEEP_CHARS]}…[truncated, {len(cell)} chars]"
                big.append(f"column {key!r} has {len(cell)} characters")
        detail = f"{'; '.join(big)} (limit {MAX_CELL_CHARS})"
        return RawRow(row_number, {}, raw, RejectReason.FIELD_TOO_LARGE, detail)


class _HashingReader(io.RawIOBase):
    """Raw stream that hashes what passes through, to detect a file changed mid-import."""

    def __init__(self, fh: io.FileIO) -> None:
        super().__init__()
        self._fh = fh
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = self._fh.readinto(buffer)
        if n:
            self.digest.update(memoryview(buffer)[:n])
            self.size += n
        return n or 0

    def close(self) -> None:
        self._fh.close()
        super().close()


def iter_rows(info: FileInfo, chunk_size: int = 50_000) -> Iterator[list[RawRow]]:
    """Stream the data rows of an inspected file as lists of at most `chunk_size` RawRows.

    Raises FileFormatError if the file disappeared or changed since `inspect_file`; for a CSV
    a change is only certain at the end (hash), so chunks already yielded must be discarded.
    """
    plan = RowPlan.for_info(info)
    for first_row, cells in iter_cell_chunks(info, chunk_size):
        yield plan.make_rows(first_row, cells)


def iter_cell_chunks(
    info: FileInfo, chunk_size: int = 50_000
) -> Iterator[tuple[int, list[list[str]]]]:
    """Like iter_rows, but yields (number of the chunk's first row, raw cell lists).

    Cell lists are cheap to send to a worker process, which turns them into RawRows with
    `RowPlan.for_info(info).make_rows(...)`: the parent only parses.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    rows = _iter_xlsx_cells(info) if info.kind == "xlsx" else _iter_csv_cells(info)
    chunk: list[list[str]] = []
    first_row = 1
    for row_number, cells in enumerate(rows, start=1):
        if not chunk:
            first_row = row_number
        chunk.append(cells)
        if len(chunk) >= chunk_size:
            yield first_row, chunk
            chunk = []
    if chunk:
        yield first_row, chunk


def _open_again(info: FileInfo) -> io.FileIO:
    try:
        fh = io.FileIO(info.path, "r")
    except FileNotFoundError as exc:
        raise FileFormatError(f"{info.path} disappeared while being read") from exc
    except OSError as exc:
        raise FileFormatError(f"{info.path}: cannot be read ({_os_reason(exc)})") from exc
    if os.fstat(fh.fileno()).st_size != info.size:
        fh.close()
        raise FileFormatError(f"{info.path} changed since it was inspected (size differs)")
    return fh


def _changed(info: FileInfo) -> FileFormatError:
    return FileFormatError(f"{info.path} changed while being read (content differs)")


def _iter_csv_cells(info: FileInfo) -> Iterator[list[str]]:
    """Non-blank data rows of a CSV (the header skipped); verifies the hash at the end."""
    _raise_field_limit()
    raw = _HashingReader(_open_again(info))
    text = io.TextIOWrapper(
        io.BufferedReader(raw, BLOCK_SIZE),
        encoding=info.encoding or "utf-8",
        errors="replace",  # validated by inspect_file; a later change is caught by the hash
        newline="",
    )
    with text:
        reader = csv.reader(text, delimiter=info.delimiter or ",")
        header_seen = False
        try:
            for cells in reader:
                if _is_blank(cells):
                    continue
                if not header_seen:
                    header_seen = True
                    continue
                yield cells
        except csv.Error as exc:
            raise FileFormatError(
                f"{info.path}: line {reader.line_num} cannot be read as CSV ({exc})"
            ) from exc
        except FileNotFoundError as exc:
            raise FileFormatError(f"{info.path} disappeared while being read") from exc
        except OSError as exc:
            raise FileFormatError(f"{info.path}: cannot be read ({_os_reason(exc)})") from exc
        if raw.size != info.size or raw.digest.hexdigest() != info.sha256:
            raise _changed(info)


def _iter_xlsx_cells(info: FileInfo) -> Iterator[list[str]]:
    """Data rows of the first sheet, shaped like CSV rows.

    XLSX rows omit trailing empty cells, so a short row is padded, not ragged; a row is ragged
    only if it has non-empty cells beyond the header.
    """
    fh = _open_again(info)
    with fh:
        digest = hashlib.sha256()
        try:
            while block := fh.read(BLOCK_SIZE):
                digest.update(block)
        except OSError as exc:
            raise FileFormatError(f"{info.path}: cannot be read ({_os_reason(exc)})") from exc
    if digest.hexdigest() != info.sha256:
        raise _changed(info)
    width = len(info.headers)
    rows = _xlsx_rows(info.path)
    try:
        next(rows, None)  # the header
        for cells in rows:
            if len(cells) > width:
                if any(cell.strip() for cell in cells[width:]):
                    while not cells[-1].strip():
                        cells.pop()
                else:
                    del cells[width:]
            elif len(cells) < width:
                cells.extend([""] * (width - len(cells)))
            yield cells
    finally:
        rows.close()
