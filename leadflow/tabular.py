"""Reading tabular files (CSV or XLSX), shared by every domain that imports files.

`inspect_table` looks at a file once (one binary pass for size, sha256 and what the bytes can
be; then encoding, delimiter and header row) and refuses what cannot be read as a table at all,
with a message for a human. `iter_table_rows` then streams the data rows as cell lists, never
holding the file in memory, and checks that the file did not change since it was inspected.

What the columns mean is the caller's business (lead files: `leadflow.ingest.reading`, cost
files: `leadflow.costs.reading`). XLSX cells come as the text a CSV export would show, so that
both kinds look alike, or typed (numbers, dates) for callers that parse values themselves.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
import warnings
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

#: bytes per read while hashing / validating / streaming
BLOCK_SIZE = 1 << 20
#: how much of the file the delimiter sniffer sees. Not 64 KiB: csv.Sniffer's quote regex is
#: quadratic on hostile input (measured 37 s on 64 KiB of '",' vs 2.3 s on 16 KiB), and the
#: answer is cross-checked against the header line anyway.
SNIFF_BYTES = 16 * 1024
#: candidate CSV delimiters, in order of preference when counts tie
DELIMITERS = ",;\t|"
#: the longest cell a caller accepts as a value; what a longer one means is up to the caller
MAX_CELL_CHARS = 65_536
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


#: how a caller that checks what it opens (leadflow.checked_files) opens the file instead of
#: `open(path, "rb", buffering)`: called with the buffering, returns a binary file object
Opener = Callable[[int], BinaryIO]
#: (line or sheet row number, cells) of a file's rows; a generator, so that a caller that stops
#: early can close it (and the file) at once
Rows = Generator[tuple[int, list[Any]], None, None]


@dataclass(slots=True)
class Table:
    """What `inspect_table` learned about a file; `iter_table_rows` reads it with exactly this."""

    path: Path
    size: int
    sha256: str  # hex of the file bytes
    kind: str  # "csv" | "xlsx"
    encoding: str | None  # "utf-8", "utf-8-sig", "cp1252" or "latin-1" for csv; None for xlsx
    delimiter: str | None  # sniffed, csv only
    headers: list[str]  # as in the file (stripped)
    #: every later open of the file goes through it (None: the path is opened as it is)
    opener: Opener | None = field(default=None, compare=False, repr=False)


def cannot_read(what: object, exc: OSError) -> FileFormatError:
    """The one wording for an OS error on a file: '<what>: cannot be read (<reason>)'."""
    reason = "file not found" if isinstance(exc, FileNotFoundError) else exc.strerror
    return FileFormatError(f"{what}: cannot be read ({reason or type(exc).__name__})")


def normalize_header(header: str) -> str:
    """Lower-case, letters and digits only, so "E-mail ", "e_mail" and "EMail" all match."""
    return _HEADER_JUNK_RE.sub("", header.lower())


def header_aliases(spellings: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Normalized header -> column name, for a column's own name and every other spelling."""
    return {
        normalize_header(spelling): column
        for column, others in spellings.items()
        for spelling in (column, *others)
    }


def is_blank(cells: Sequence[Any]) -> bool:
    """A row with no cells or only empty ones (None or whitespace): skipped, never a row."""
    try:
        return not "".join(cells).strip()  # text cells: the fast path for big CSV files
    except TypeError:  # typed XLSX cells: None, numbers, dates
        return all(cell is None or not str(cell).strip() for cell in cells)


def cell_text(value: object) -> str:
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


def _open(
    path: Path, opener: Opener | None = None, *, inspected: bool = True, buffering: int = -1
) -> Any:
    """Open for reading in binary (through `opener` when given); once a file was seen, its
    absence means it disappeared."""
    try:
        if opener is not None:
            return opener(buffering)
        return open(path, "rb", buffering=buffering)  # noqa: SIM115 - the caller closes it
    except FileNotFoundError as exc:
        if inspected:
            raise FileFormatError(f"{path} disappeared while being read") from exc
        raise cannot_read(path, exc) from exc
    except OSError as exc:
        raise cannot_read(path, exc) from exc


def _scan(path: Path, opener: Opener | None) -> _Scan:
    """One binary pass: hash, size, a head for sniffing, and what the bytes can be."""
    if opener is None and path.is_dir():
        raise FileFormatError(f"{path} is a directory, not a file")
    fh = _open(path, opener, inspected=False)
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
        raise cannot_read(path, exc) from exc
    return _Scan(size, digest.hexdigest(), head, has_content, has_nul, utf8_ok, cp1252_ok)


def _choose_encoding(scan: _Scan) -> str:
    if scan.head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if scan.utf8_ok:
        return "utf-8"
    if scan.cp1252_ok:
        return "cp1252"
    return "latin-1"  # every byte is a character: never fails


def _is_xlsx(path: Path, head: bytes, opener: Opener | None) -> bool:
    """By content, not extension: a zip is an XLSX if named so or if openpyxl can open it."""
    if not head.startswith(_ZIP_MAGIC):
        return False
    if path.suffix.lower() in _XLSX_SUFFIXES:
        return True
    try:
        with _workbook(path, opener):
            return True
    except FileFormatError:
        return False


def inspect_table(path: Path | str, opener: Opener | None = None) -> Table:
    """Decide whether and how a file can be read as a table; FileFormatError says why not.

    With `opener`, every open of the file (now and by `iter_table_rows`) goes through it."""
    path = Path(path)
    scan = _scan(path, opener)
    if scan.size == 0 or not scan.has_content:
        raise FileFormatError(f"{path} is empty")
    if scan.head.startswith(_OLE2_MAGIC):
        raise FileFormatError(
            f"{path} is a legacy Excel (.xls) file: save it as .xlsx or CSV (UTF-8) and retry"
        )
    if scan.head.startswith(_UTF16_BOMS):
        raise FileFormatError(f"{path} is UTF-16 text: save it as CSV (UTF-8) and retry")

    if _is_xlsx(path, scan.head, opener):
        kind, encoding, delimiter = "xlsx", None, None
        headers = _xlsx_headers(path, opener)
    else:
        if scan.has_nul:
            raise FileFormatError(f"{path} is not a CSV or XLSX file (binary content)")
        kind, encoding = "csv", _choose_encoding(scan)
        delimiter = sniff_delimiter(_decode_sample(scan.head, encoding))
        headers = _csv_headers(path, encoding, delimiter, opener)
    if headers is None:
        raise FileFormatError(f"{path} is empty")
    return Table(path, scan.size, scan.sha256, kind, encoding, delimiter, headers, opener)


def _decode_sample(head: bytes, encoding: str) -> str:
    """Decoded head for sniffing, cut at the last line break (no half line, no half char)."""
    text = head.decode(encoding, errors="ignore")
    cut = max(text.rfind("\n"), text.rfind("\r"))
    return text[:cut] if cut > 0 else text


def _csv_headers(
    path: Path, encoding: str, delimiter: str, opener: Opener | None
) -> list[str] | None:
    _raise_field_limit()
    try:
        binary = _open(path, opener)
        with io.TextIOWrapper(binary, encoding=encoding, errors="replace", newline="") as fh:
            for cells in csv.reader(fh, delimiter=delimiter):
                if not is_blank(cells):
                    return [cell.strip() for cell in cells]
    except csv.Error as exc:
        raise FileFormatError(f"{path}: the header row cannot be read as CSV ({exc})") from exc
    except OSError as exc:
        raise cannot_read(path, exc) from exc
    return None


def _raise_field_limit() -> None:
    if csv.field_size_limit() < CSV_FIELD_SIZE_LIMIT:
        csv.field_size_limit(CSV_FIELD_SIZE_LIMIT)


# ---------------------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------------------


@contextmanager
def _workbook(path: Path, opener: Opener | None) -> Iterator[Any]:
    """openpyxl workbook in streaming mode; FileFormatError if it is not a readable XLSX.

    Opened from a file object so that the file name's extension does not matter (openpyxl
    refuses a path not ending in .xlsx/.xlsm), and closed with the file on exit.
    """
    import openpyxl  # deferred: only XLSX imports pay for it

    fh = _open(path, opener)
    try:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "no default style" and friends
                wb = openpyxl.load_workbook(fh, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001
            # openpyxl raises a zoo of exceptions on corrupt files (BadZipFile, KeyError,
            # ValueError, XML errors...): all mean the same to a user
            raise _not_xlsx(path, exc) from exc
        try:
            yield wb
        finally:
            wb.close()
    finally:
        fh.close()


def _not_xlsx(path: Path, exc: Exception) -> FileFormatError:
    """The parser's error class only: its message may quote the file (XML, zip member names)."""
    return FileFormatError(f"{path} is not a readable XLSX file ({type(exc).__name__})")


def _xlsx_rows(path: Path, typed: bool, opener: Opener | None) -> Rows:
    """(sheet row number, cells) of the first sheet's non-blank rows, header first."""
    with _workbook(path, opener) as wb:
        if not wb.worksheets:
            return
        try:
            for number, values in enumerate(wb.worksheets[0].iter_rows(values_only=True), 1):
                cells = list(values) if typed else [cell_text(v) for v in values]
                if not is_blank(cells):
                    yield number, cells
        except Exception as exc:  # noqa: BLE001 - a corrupt sheet part surfaces mid-stream
            raise _not_xlsx(path, exc) from exc


def _xlsx_headers(path: Path, opener: Opener | None) -> list[str] | None:
    rows = _xlsx_rows(path, False, opener)
    try:
        first = next(rows, None)
    finally:
        rows.close()
    if first is None:
        return None
    headers = [cell.strip() for cell in first[1]]
    while headers and not headers[-1]:
        headers.pop()  # read-only sheets often report trailing empty columns
    return headers


def _filled(cell: Any) -> bool:
    return cell is not None and bool(str(cell).strip())


# ---------------------------------------------------------------------------------------
# Streaming rows
# ---------------------------------------------------------------------------------------


def iter_table_rows(table: Table, *, typed: bool = False) -> Rows:
    """(line or sheet row number, cells) for every non-blank data row, the header skipped.

    Cells are text; with `typed`, XLSX cells keep openpyxl's values (None, numbers, dates,
    booleans) instead. Numbers are the file's own, as an editor or a spreadsheet shows them (a
    CSV record's first physical line, a sheet's row number), so a message can point into the
    file. Raises FileFormatError if the file disappeared or changed
    since `inspect_table`; for a CSV a change is only certain at the end (hash), so rows
    already yielded must be discarded.
    """
    if table.kind == "xlsx":
        return _iter_xlsx(table, typed)
    return _iter_csv(table)


class _HashingReader(io.RawIOBase):
    """Raw stream that hashes what passes through, to detect a file changed mid-import."""

    def __init__(self, fh: io.FileIO) -> None:
        super().__init__()
        self._fh = fh
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        n = self._fh.readinto(buffer)
        if n:
            self.digest.update(memoryview(buffer)[:n])
            self.size += n
        return n or 0

    def close(self) -> None:
        self._fh.close()
        super().close()


def _open_again(table: Table, buffering: int = -1) -> Any:
    """Reopen an inspected file, refusing it outright if its size moved."""
    fh = _open(table.path, table.opener, buffering=buffering)
    if os.fstat(fh.fileno()).st_size != table.size:
        fh.close()
        raise FileFormatError(f"{table.path} changed since it was inspected (size differs)")
    return fh


def _changed(table: Table) -> FileFormatError:
    return FileFormatError(f"{table.path} changed while being read (content differs)")


def _iter_csv(table: Table) -> Generator[tuple[int, list[str]], None, None]:
    """Non-blank data rows of a CSV (the header skipped); verifies the hash at the end."""
    _raise_field_limit()
    raw = _HashingReader(_open_again(table, buffering=0))
    text = io.TextIOWrapper(
        io.BufferedReader(raw, BLOCK_SIZE),
        encoding=table.encoding or "utf-8",
        errors="replace",  # validated by inspect_table; a later change is caught by the hash
        newline="",
    )
    with text:
        reader = csv.reader(text, delimiter=table.delimiter or ",")
        header_seen = False
        line = 1  # the physical line the next record starts on (csv yields blank lines too)
        try:
            for cells in reader:
                start, line = line, reader.line_num + 1
                if is_blank(cells):
                    continue
                if not header_seen:
                    header_seen = True
                    continue
                yield start, cells
        except csv.Error as exc:
            raise FileFormatError(
                f"{table.path}: line {reader.line_num} cannot be read as CSV ({exc})"
            ) from exc
        except FileNotFoundError as exc:
            raise FileFormatError(f"{table.path} disappeared while being read") from exc
        except OSError as exc:
            raise cannot_read(table.path, exc) from exc
        if raw.size != table.size or raw.digest.hexdigest() != table.sha256:
            raise _changed(table)


def _iter_xlsx(table: Table, typed: bool) -> Rows:
    """Data rows of the first sheet, shaped like CSV rows.

    XLSX rows omit trailing empty cells, so a short row is padded, not ragged; a row is ragged
    only if it has non-empty cells beyond the header.
    """
    fh = _open_again(table)
    with fh:
        digest = hashlib.sha256()
        try:
            while block := fh.read(BLOCK_SIZE):
                digest.update(block)
        except OSError as exc:
            raise cannot_read(table.path, exc) from exc
    if digest.hexdigest() != table.sha256:
        raise _changed(table)
    width = len(table.headers)
    padding = None if typed else ""
    rows = _xlsx_rows(table.path, typed, table.opener)
    try:
        next(rows, None)  # the header
        for number, cells in rows:
            if len(cells) > width:
                if any(_filled(cell) for cell in cells[width:]):
                    while not _filled(cells[-1]):
                        cells.pop()
                else:
                    del cells[width:]
            elif len(cells) < width:
                cells.extend([padding] * (width - len(cells)))
            yield number, cells
    finally:
        rows.close()
