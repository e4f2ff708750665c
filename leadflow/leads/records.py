"""Records that flow through the ingestion chain, and the vocabulary they share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: every status a lead may have (the reference's CHECK enum)
LEAD_STATUSES = (
    "new",
    "contacted",
    "qualified",
    "nurturing",
    "hot",
    "cold",
    "recruited",
    "dnc",
)

#: how far along the funnel each status is; an import never lowers it (see leadflow/ingest/dedupe.py).
#: `cold` is an exit after first contact; `dnc` is terminal and outranks everything.
STATUS_RANK = {
    "new": 0,
    "cold": 1,
    "contacted": 2,
    "qualified": 3,
    "nurturing": 4,
    "hot": 5,
    "recruited": 6,
    "dnc": 99,
}

#: the canonical fields a lead file can carry (after header mapping)
LEAD_FIELDS = (
    "organization_id",
    "user_id",
    "first_name",
    "last_name",
    "full_name",
    "phone_number",
    "email",
    "status",
    "tags",
    "source",
    "notes",
    "referred_by",
    # what CRM exports carry besides (see leadflow/ingest/reading.py): the mobile number is
    # the phone's fallback, the company is the lead's employer (never the tenant), the
    # lifecycle stage is read like the status when the status says nothing clear
    "mobile_phone",
    "company",
    "lifecycle_stage",
)


class RejectReason:
    """Quarantine reasons written to `import_rejects.reason`."""

    INVALID_PHONE = "invalid_phone"
    MISSING_PHONE = "missing_phone"
    MISSING_ORGANIZATION = "missing_organization"
    UNKNOWN_ORGANIZATION = "unknown_organization"
    RAGGED_ROW = "ragged_row"
    FIELD_TOO_LARGE = "field_too_large"
    FORMULA_IN_CELL = "formula_in_cell"


@dataclass(slots=True)
class RawRow:
    """One data row of a lead file, as read."""

    row_number: int  # 1-based number of the data row (the header is row 0)
    values: dict[str, str]  # canonical field -> raw cell text (mapped columns only)
    # original header -> cell text, for the quarantine record (JSON); a CRM record's own
    # fields, whose values may also be lists and objects
    raw: dict[str, Any]
    problem: str | None = None  # a reading problem (RejectReason) that quarantines the row
    detail: str | None = None
    # canonical field -> the file's header for it: one mapping shared by every row of a file
    # (a pointer per row), so a lead can say which column its phone came from
    headers: Mapping[str, str] | None = None
    # what the row carries besides the mapped fields (a file's other columns, a CRM record's
    # other properties): key -> value, kept on the lead as extra fields (capped, see extras.py)
    extra: Mapping[str, Any] | None = None
    # what the reader already noted on the row ("code: detail"), e.g. a CRM owner not mapped
    notes: list[str] | None = None
    # where the row is in its file as an editor or a spreadsheet shows it (a CSV record's
    # first physical line, a sheet's row number); None for a CRM record
    line_number: int | None = None


@dataclass(slots=True)
class CleanLead:
    """A row that passed normalization: ready for dedupe, DNC screening and loading."""

    row_number: int
    organization_id: str
    phone_number: str  # E.164
    phone_type: str | None = None  # mobile, fixed_line, fixed_line_or_mobile, voip, ...
    user_id: str | None = None
    first_name: str = ""
    last_name: str = ""
    email: str | None = None
    status: str | None = None  # None: the file said nothing (new leads start as 'new')
    tags: list[str] = field(default_factory=list)
    source: str | None = None
    referred_by: str | None = None
    notes: list[str] = field(default_factory=list)  # e.g. "invalid_email: john@"
    company: str | None = None  # the lead's employer, as a CRM export's company column says
    crm_status: str | None = None  # the source CRM's status when it does not map to ours
    phone_source: str | None = None  # header of the column the phone came from, if not the main
    note: str | None = None  # the row's own note (a Notes column): kept in lead_notes
    owner_email: str | None = None  # an owner given by e-mail: resolved in its organization
    extra_fields: dict[str, str] | None = None  # the row's other columns, capped (extras.py)


#: CleanLead's fields in declaration order (normalize builds leads positionally, in this order)
CLEAN_LEAD_FIELDS = (
    "row_number",
    "organization_id",
    "phone_number",
    "phone_type",
    "user_id",
    "first_name",
    "last_name",
    "email",
    "status",
    "tags",
    "source",
    "referred_by",
    "notes",
    "company",
    "crm_status",
    "phone_source",
    "note",
    "owner_email",
    "extra_fields",
)


@dataclass(slots=True)
class Reject:
    """A quarantined row: nothing of it is loaded; the reason says why."""

    row_number: int
    reason: str
    detail: str
    raw: dict[str, Any]  # the row's RawRow.raw
    line_number: int | None = None  # the row's RawRow.line_number
