"""Reading lead files (CSV or XLSX) into chunks of `RawRow`, streaming.

The file mechanics (hash, binary check, encoding, delimiter, header row, streaming cells) are
`leadflow.tabular`'s; this module knows what the columns of a lead file mean. `inspect_file`
says whether a file can be imported at all (it must have a phone column); `iter_rows` then
streams its data rows in chunks, never holding the file in memory. Row-level problems (ragged
rows, giant cells) do not stop the import: they come out as `RawRow.problem` and end up in
quarantine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

from leadflow.leads.records import LEAD_FIELDS, RawRow, RejectReason
from leadflow.tabular import (
    MAX_CELL_CHARS,
    FileFormatError,
    Table,
    cannot_read,
    header_aliases,
    inspect_table,
    iter_table_rows,
    normalize_header,
    sniff_delimiter,
)

# the names other modules import from here (several live in leadflow.tabular)
__all__ = [
    "HEADER_ALIASES",
    "MAX_CELL_CHARS",
    "RAW_KEEP_CHARS",
    "FileFormatError",
    "FileInfo",
    "RowPlan",
    "inspect_file",
    "iter_cell_chunks",
    "iter_rows",
    "load_mapping_file",
    "map_headers",
    "normalize_header",
    "sniff_delimiter",
]

#: how much of an oversized cell (longer than MAX_CELL_CHARS) is kept in the quarantine record
RAW_KEEP_CHARS = 1_000


@dataclass(slots=True)
class FileInfo(Table):
    """What `inspect_file` learned about a lead file; `iter_rows` reads it with exactly this."""

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


#: normalized header -> canonical field
HEADER_ALIASES: dict[str, str] = header_aliases(_FIELD_SPELLINGS)


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
        raise cannot_read(f"mapping file {path}", exc) from exc
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


def inspect_file(path: Path, mapping_overrides: dict[str, str] | None = None) -> FileInfo:
    """Decide whether and how a lead file can be imported; FileFormatError says why not."""
    table = inspect_table(path)
    mapping, unmapped = map_headers(table.headers, mapping_overrides)
    if "phone_number" not in mapping.values():
        found = ", ".join(repr(h) for h in table.headers) or "(none)"
        raise FileFormatError(
            f"{table.path}: no column holds the phone number (headers found: {found}). "
            'Name the column with a mapping file, e.g. {"<header>": "phone_number"}.'
        )
    found_by_table = {f.name: getattr(table, f.name) for f in fields(Table)}
    return FileInfo(**found_by_table, mapping=mapping, unmapped=unmapped)


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

    Rows are numbered 1, 2, ... over the data rows (blank lines do not count). Cell lists are
    cheap to send to a worker process, which turns them into RawRows with
    `RowPlan.for_info(info).make_rows(...)`: the parent only parses.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    chunk: list[list[str]] = []
    first_row = 1
    for _, cells in iter_table_rows(info):
        chunk.append(cells)
        if len(chunk) >= chunk_size:
            yield first_row, chunk
            first_row += len(chunk)
            chunk = []
    if chunk:
        yield first_row, chunk
