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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, fields, replace
from dataclasses import field as dataclass_field
from pathlib import Path

from leadflow.leads.ids import canonical_uuid
from leadflow.leads.records import LEAD_FIELDS, RawRow, RejectReason
from leadflow.tabular import (
    MAX_CELL_CHARS,
    FileFormatError,
    Opener,
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
    "AMBIGUOUS_TENANT_HEADERS",
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
    "settle_tenant",
    "sniff_delimiter",
]

#: how much of an oversized cell (longer than MAX_CELL_CHARS) is kept in the quarantine record
RAW_KEEP_CHARS = 1_000

#: normalized headers that may hold the tenant or the lead's employer (see settle_tenant)
AMBIGUOUS_TENANT_HEADERS = frozenset({"organization", "organisation"})


@dataclass(slots=True)
class FileInfo(Table):
    """What `inspect_file` learned about a lead file; `iter_rows` reads it with exactly this."""

    # original header -> canonical field (LEAD_FIELDS); defaults only because Table's last
    # field (opener) has one: inspect_file always sets both
    mapping: dict[str, str] = dataclass_field(default_factory=dict)
    #: headers that map to nothing (kept in RawRow.raw, otherwise ignored)
    unmapped: list[str] = dataclass_field(default_factory=list)
    pinned: list[str] = dataclass_field(default_factory=list)  # decided by the mapping file


# ---------------------------------------------------------------------------------------
# Header mapping
# ---------------------------------------------------------------------------------------

# Built-in header spellings, matched with normalize_header (case and punctuation ignored, so
# "Person - Phone - Work" is "personphonework"). Besides the generic ones, the headers the CRMs
# write into their exports, so that an export imports as-is:
#   HubSpot contacts: Record ID, First Name, Last Name, Email, Phone Number, Mobile Phone
#     Number, Contact owner, Lifecycle Stage, Lead Status, Company Name, Associated Company,
#     Original Source
#   Salesforce leads report (labels): Lead Owner, First Name, Last Name, Company / Account,
#     Email, Phone, Mobile, Lead Source, Lead Status
#   Salesforce Data Loader (API names, written upper-case): Id, FirstName, LastName, Name,
#     Company, Email, Phone, MobilePhone, LeadSource, Status, OwnerId
#   Pipedrive people: Name, Organization, Email, Phone, Label, Owner; newer exports prefix the
#     entity: Person - Name, Person - Email - Work, Person - Phone - Work, Person - Phone -
#     Mobile, Person - Organization, Person - Labels, Person - Owner
#   Zoho CRM leads / contacts: Record Id, Lead Owner / Contact Owner, Company / Account Name,
#     First Name, Last Name, Full Name, Email, Phone, Mobile, Lead Source, Lead Status, Tag
# Record ids and the other columns map to nothing: they reach quarantine through RawRow.raw.
_FIELD_SPELLINGS: dict[str, tuple[str, ...]] = {
    "phone_number": (
        "phone",
        "phonenumber",
        "phoneno",
        "tel",
        "telephone",
        "telephonenumber",
        "contactnumber",
        "workphone",
        "businessphone",
        "officephone",
        "primaryphone",
        "personphone",
        "personphonework",
    ),
    # a mobile column is the phone's fallback when the file also has a main phone column
    # before it, and the phone itself when it comes first (see map_headers)
    "mobile_phone": (
        "mobile",
        "mobilephone",
        "mobilenumber",
        "mobileno",
        "mobilephonenumber",
        "cell",
        "cellphone",
        "cellnumber",
        "whatsapp",
        "whatsappnumber",
        "personphonemobile",
        "personmobile",
    ),
    "first_name": (
        "firstname",
        "fname",
        "first",
        "givenname",
        "forename",
        "personfirstname",
    ),
    "last_name": (
        "lastname",
        "lname",
        "last",
        "surname",
        "familyname",
        "personlastname",
    ),
    "full_name": ("name", "fullname", "contactname", "leadname", "personname"),
    "email": (
        "email",
        "emailaddress",
        "e-mail",
        "mail",
        "personemail",
        "personemailwork",
    ),
    "source": (
        "source",
        "leadsource",
        "channel",
        "utmsource",
        "origin",
        "originalsource",
        "originalsourcetype",
        "sourcechannel",
        "personsource",
    ),
    "tags": ("tags", "tag", "labels", "label", "personlabels", "personlabel"),
    "status": ("status", "leadstatus", "stage", "hsleadstatus"),
    "lifecycle_stage": ("lifecyclestage", "lifecycle"),
    "organization_id": (
        "organizationid",
        "orgid",
        "organisationid",
        "tenantid",
        # ambiguous: a tenant id or slug column, or a CRM's employer column (Pipedrive
        # "Organization"); settle_tenant decides which, from the --org and the values
        *sorted(AMBIGUOUS_TENANT_HEADERS),
    ),
    "company": (
        "company",
        "companyname",
        "companyaccount",
        "account",
        "accountname",
        "associatedcompany",
        "primarycompany",
        "employer",
        "currentemployer",
        "organizationname",
        "organisationname",
        "personorganization",
        "personorganisation",
    ),
    "user_id": (
        "userid",
        "owner",
        "ownerid",
        "assignedto",
        "agentid",
        "contactowner",
        "leadowner",
        "personowner",
        "recordowner",
        "ownername",
        "hubspotowner",
        "hubspotownerid",
    ),
    "notes": ("notes", "note", "comments", "comment"),
    "referred_by": ("referredby", "referrer", "referral", "referredbyphone"),
}


#: normalized header -> canonical field
HEADER_ALIASES: dict[str, str] = header_aliases(_FIELD_SPELLINGS)


def map_headers(
    headers: list[str], overrides: dict[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """Map file headers to canonical fields: (header -> field, unmapped headers).

    Overrides (a mapping file) win over the built-in aliases; they match a header exactly or,
    failing that, case- and punctuation-insensitively, and a field they give a column is not
    given to another column by an alias. An override to "" ignores the column.
    When two columns map to the same field (or a header name repeats) the first column wins
    and the others are reported as unmapped: taking the first is predictable, and the
    others' values still reach the quarantine record through `RawRow.raw`.

    Phone columns follow the same rule, with one addition for CRM exports, which carry a main
    phone and a mobile: the first phone-like column is the phone, as it always was (so a
    file's leads keep their phone, and their dedupe key, from one import to the next); when
    it is a main phone column ("Phone", "Phone Number"), the first mobile column ("Mobile",
    "Mobile Phone Number") becomes `mobile_phone`, the number used when the phone cell is
    empty. A mobile column that comes first is the phone, and later phone columns map to
    nothing, as before. The column "Organization" maps to organization_id here; whether it
    really is the tenant is `settle_tenant`'s decision.
    """
    mapping, unmapped, _ = _map_headers(headers, overrides)
    return mapping, unmapped


def _map_headers(
    headers: list[str], overrides: dict[str, str] | None
) -> tuple[dict[str, str], list[str], list[str]]:
    """map_headers, plus the headers whose field the overrides decided (in file order)."""
    exact: dict[str, str] = {}
    loose: dict[str, str] = {}
    field: str | None  # the field a column maps to ("": none); None: no override names it
    for header, field in (overrides or {}).items():
        if field and field not in LEAD_FIELDS:
            raise FileFormatError(
                f"mapping for {header!r}: unknown field {field!r} "
                f"(known fields: {', '.join(LEAD_FIELDS)})"
            )
        exact[header.strip()] = field
        loose[normalize_header(header)] = field

    def override(header: str) -> str | None:
        return exact[header] if header in exact else loose.get(normalize_header(header))

    # a field the mapping file gives a column is that column's, wherever it is in the file
    reserved = {field for header in headers if (field := override(header))}
    mapping: dict[str, str] = {}
    unmapped: list[str] = []
    pinned: list[str] = []
    taken: set[str] = set()
    seen: set[str] = set()
    phone_is_mobile = False  # the phone column is a mobile column (it came first)
    for header in headers:
        if header in seen:
            unmapped.append(header)
            continue
        seen.add(header)
        field = override(header)
        if field is not None:
            pinned.append(header)
        else:
            field = HEADER_ALIASES.get(normalize_header(header), "")
            if field == "mobile_phone":
                if "phone_number" not in taken and "phone_number" not in reserved:
                    field, phone_is_mobile = "phone_number", True
                elif phone_is_mobile:
                    field = ""  # a second mobile column after a mobile phone: as before
            if field in reserved:
                field = ""
        if not field or field in taken:
            unmapped.append(header)
            continue
        mapping[header] = field
        taken.add(field)
    return mapping, unmapped, pinned


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


def inspect_file(
    path: Path, mapping_overrides: dict[str, str] | None = None, opener: Opener | None = None
) -> FileInfo:
    """Decide whether and how a lead file can be imported; FileFormatError says why not.

    A file needs a phone column: a main phone or a mobile one (which is then the phone). The
    message does not quote the header row: it is the file's content, and the file may not be
    a lead file at all (the first line of /etc/passwd once ended up in import_batches.error).
    With `opener`, every open of the file goes through it (leadflow.checked_files).
    """
    table = inspect_table(path, opener)
    mapping, unmapped, pinned = _map_headers(table.headers, mapping_overrides)
    if not {"phone_number", "mobile_phone"} & set(mapping.values()):
        raise FileFormatError(
            f"{table.path}: no column holds the phone number (none of its "
            f"{len(table.headers)} header(s) is a phone header such as Phone, Mobile or "
            'Telephone). Name the column with a mapping file, e.g. {"<header>": "phone_number"}.'
        )
    found_by_table = {f.name: getattr(table, f.name) for f in fields(Table)}
    return FileInfo(**found_by_table, mapping=mapping, unmapped=unmapped, pinned=pinned)


# ---------------------------------------------------------------------------------------
# The tenant column
# ---------------------------------------------------------------------------------------

#: an ambiguous column is sampled over at most this many rows per sampled value wanted, so a
#: nearly empty column cannot make the sample a read of the whole file
_SAMPLE_ROWS_PER_VALUE = 10


def settle_tenant(
    info: FileInfo,
    known_ids: frozenset[str],
    slugs: Mapping[str, str],
    explicit_org: str | None,
    sample_size: int = 1000,
) -> FileInfo:
    """Decide which column, if any, names the tenant: `info` with its mapping adjusted.

    The tenant column decides whose data a row becomes, so it is trusted only where it can
    mean nothing else. A CRM's "Organization" column (Pipedrive) is the person's employer;
    taken for the tenant, every row of the file was quarantined as an unknown organization.

    * `explicit_org` (--org) always wins: no column is the tenant. A tenant id column
      (organization_id, org_id, tenant_id, organisation id) maps to nothing, and an
      "Organization"/"Organisation" column is the lead's `company`.
    * Without it, a tenant id column stays the tenant column (a row naming an unknown
      organization is quarantined, as before). An "Organization" column is the tenant only
      when at least half of its first `sample_size` non-empty values are ids (`known_ids`,
      lower-case) or slugs (`slugs`: lower-case slug -> id) of this database's
      organizations; otherwise it holds employers and becomes `company`.

    Columns the mapping file named keep their field, except a tenant column under --org.
    The sample is read through the streaming reader, at most `sample_size` values from at
    most 10 * `sample_size` rows, never the whole file; FileFormatError as for iter_rows.
    """
    if sample_size < 1:
        raise ValueError("sample_size must be at least 1")
    pinned = set(info.pinned)
    first_index: dict[str, int] = {}
    for index, header in enumerate(info.headers):
        first_index.setdefault(header, index)
    ids: list[str] = []  # tenant id columns, in file order
    ambiguous: list[str] = []  # "Organization" columns
    for header in first_index:
        if header in pinned:
            continue
        key = normalize_header(header)
        if key in AMBIGUOUS_TENANT_HEADERS:
            ambiguous.append(header)
        elif HEADER_ALIASES.get(key) == "organization_id":
            ids.append(header)
    pinned_tenant = [h for h in info.pinned if info.mapping.get(h) == "organization_id"]
    if not ids and not ambiguous and not (explicit_org and pinned_tenant):
        return info

    tenant: str | None = None
    if not explicit_org:
        if pinned_tenant:
            tenant = pinned_tenant[0]
        elif ids:
            tenant = ids[0]
        elif ambiguous:
            header = ambiguous[0]
            if _names_organizations(info, first_index[header], known_ids, slugs, sample_size):
                tenant = header

    wanted: dict[str, str] = {}  # header -> field, before "first column wins"
    for header in first_index:
        field = info.mapping.get(header, "")
        if header in pinned:
            if field == "organization_id" and explicit_org:
                field = ""
        elif header == tenant:
            field = "organization_id"
        elif header in ambiguous:
            field = "company"
        elif header in ids:
            field = ""
        wanted[header] = field
    taken = {field for header, field in wanted.items() if header in pinned and field}
    mapping: dict[str, str] = {}
    unmapped: list[str] = []
    seen: set[str] = set()
    for header in info.headers:
        field = "" if header in seen else wanted[header]
        seen.add(header)
        if field and (header in pinned or field not in taken):
            mapping[header] = field
            taken.add(field)
        else:
            unmapped.append(header)
    return replace(info, mapping=mapping, unmapped=unmapped)


def _names_organizations(
    info: FileInfo,
    index: int,
    known_ids: frozenset[str],
    slugs: Mapping[str, str],
    sample_size: int,
) -> bool:
    """Whether at least half of the column's first non-empty values name organizations."""
    values = known = 0
    max_rows = sample_size * _SAMPLE_ROWS_PER_VALUE
    with closing(iter_table_rows(info)) as rows:
        for scanned, (_, cells) in enumerate(rows, start=1):
            value = cells[index].strip() if index < len(cells) else ""
            if value:
                values += 1
                if canonical_uuid(value) in known_ids or value.lower() in slugs:
                    known += 1
                if values >= sample_size:
                    break
            if scanned >= max_rows:
                break
    return values > 0 and 2 * known >= values


# ---------------------------------------------------------------------------------------
# Streaming rows
# ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class RowPlan:
    """How to turn a list of cells into a RawRow, computed once per file (picklable)."""

    keys: list[str]  # unique raw key per column (header, made unique)
    fields: list[tuple[int, str]]  # (column index, canonical field) for mapped columns
    headers: dict[str, str] = dataclass_field(default_factory=dict)  # field -> its header
    # (column index, key) of the columns no field takes: kept as the lead's extra fields
    # (a mapping file's "" ignores a column: it is not kept)
    extras: list[tuple[int, str]] = dataclass_field(default_factory=list)

    @classmethod
    def for_info(cls, info: FileInfo) -> RowPlan:
        keys: list[str] = []
        used: set[str] = set()
        fields: list[tuple[int, str]] = []
        extras: list[tuple[int, str]] = []
        ignored = {header for header in info.pinned if not info.mapping.get(header)}
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
            elif header not in ignored:
                extras.append((index, key))
        headers = {field: info.headers[index] for index, field in fields}
        return cls(keys, fields, headers, extras)

    def make_rows(
        self, first_row: int, cells: list[list[str]], lines: Sequence[int] | None = None
    ) -> list[RawRow]:
        """RawRows numbered from `first_row`; `lines` (one per row) are the file's own line
        or sheet row numbers, kept so that a reject points where an editor shows the row."""
        if lines is None:
            return [self.make_row(first_row + i, row) for i, row in enumerate(cells)]
        if len(lines) != len(cells):
            raise ValueError(f"{len(lines)} lines for {len(cells)} rows")
        return [
            self.make_row(first_row + i, row, line)
            for i, (row, line) in enumerate(zip(cells, lines, strict=True))
        ]

    def make_row(self, row_number: int, cells: list[str], line: int | None = None) -> RawRow:
        keys = self.keys
        width, count = len(keys), len(cells)
        raw = dict(zip(keys, cells, strict=False))
        if count > width:
            for extra, cell in enumerate(cells[width:], start=1):
                raw[f"_extra_{extra}"] = cell
        if max(map(len, cells), default=0) > MAX_CELL_CHARS:
            return self._too_large(row_number, cells, raw, line)
        if count != width:
            detail = f"{count} cells, header has {width}"
            return RawRow(row_number, {}, raw, RejectReason.RAGGED_ROW, detail, line_number=line)
        values = {field: cells[index].strip() for index, field in self.fields}
        others = {key: cell for index, key in self.extras if (cell := cells[index].strip())}
        return RawRow(
            row_number, values, raw, None, None, self.headers, others or None, line_number=line
        )

    def _too_large(
        self, row_number: int, cells: list[str], raw: dict[str, str], line: int | None
    ) -> RawRow:
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
        return RawRow(row_number, {}, raw, RejectReason.FIELD_TOO_LARGE, detail, line_number=line)


def iter_rows(info: FileInfo, chunk_size: int = 50_000) -> Iterator[list[RawRow]]:
    """Stream the data rows of an inspected file as lists of at most `chunk_size` RawRows.

    Raises FileFormatError if the file disappeared or changed since `inspect_file`; for a CSV
    a change is only certain at the end (hash), so chunks already yielded must be discarded.
    """
    plan = RowPlan.for_info(info)
    for first_row, cells, lines in iter_cell_chunks(info, chunk_size):
        yield plan.make_rows(first_row, cells, lines)


def iter_cell_chunks(
    info: FileInfo, chunk_size: int = 50_000
) -> Iterator[tuple[int, list[list[str]], list[int]]]:
    """Like iter_rows, but yields (number of the chunk's first row, raw cell lists, the file's
    line or sheet row number of each).

    Rows are numbered 1, 2, ... over the data rows (blank lines do not count); the line numbers
    are the file's own (header and blank lines count, a record spanning lines has its first).
    Cell lists are cheap to send to a worker process, which turns them into RawRows with
    `RowPlan.for_info(info).make_rows(...)`: the parent only parses.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    chunk: list[list[str]] = []
    lines: list[int] = []
    first_row = 1
    for line, cells in iter_table_rows(info):
        chunk.append(cells)
        lines.append(line)
        if len(chunk) >= chunk_size:
            yield first_row, chunk, lines
            first_row += len(chunk)
            chunk, lines = [], []
    if chunk:
        yield first_row, chunk, lines
