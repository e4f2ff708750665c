"""Cost file rules, pure: header mapping, period and amount parsing, row validation.

Each row is one user's spend on one source for one month. Validation reports every problem by
row, not just the first, because a refused file is fixed and imported again as a whole (see
`leadflow.costs.sql`). The users, organizations and source aliases rows are checked against
come in a `Directory`, read from the database by `leadflow.costs.sql.read_directory`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from leadflow.leads.cleaning import SourceMapper
from leadflow.leads.ids import canonical_uuid
from leadflow.tabular import header_aliases, normalize_header

#: numeric(10, 2): the largest cost lead_source_costs can hold
MAX_COST = Decimal("99999999.99")
CENT = Decimal("0.01")

#: canonical column -> other accepted headers (compared with tabular.normalize_header)
_COLUMN_SPELLINGS: dict[str, tuple[str, ...]] = {
    "user": ("user", "user_id", "user_email", "email", "agent", "agent_id", "owner", "owner_id"),
    "source": ("source", "lead_source", "channel", "utm_source"),
    "period": ("period", "month"),
    "cost": ("cost", "cost_usd", "amount", "amount_usd", "spend"),
    "organization_id": ("organization_id", "org_id", "organization", "tenant_id"),
}
COST_HEADER_ALIASES: dict[str, str] = header_aliases(_COLUMN_SPELLINGS)
REQUIRED_COLUMNS = ("user", "source", "period", "cost")

_PERIOD_RE = re.compile(r"^(\d{4})[-/](\d{1,2})$")
_PLAIN_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")
_GROUPED_NUMBER_RE = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
_CURRENCY_RE = re.compile(r"^(?:us\$|usd|\$)\s*|\s*(?:usd|\$)$", re.IGNORECASE)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem, by file row (1 = the header row); row None for the whole file."""

    row: int | None
    column: str | None
    message: str
    value: str | None = None

    def __str__(self) -> str:
        where = "file" if self.row is None else f"row {self.row}"
        column = f" {self.column}" if self.column else ""
        value = f" ({self.value!r})" if self.value not in (None, "") else ""
        return f"{where}{column}: {self.message}{value}"


@dataclass(frozen=True, slots=True)
class RawCostRow:
    row: int
    values: dict[str, Any]  # canonical column -> cell value (str for CSV, typed for XLSX)


@dataclass(frozen=True, slots=True)
class CostLine:
    """A validated row, ready to load."""

    row: int
    organization_id: str
    user_id: str
    source: str
    period: str
    cost_usd: Decimal
    source_raw: str | None = None  # as the file wrote it; `source` is the cleaned name


@dataclass
class CostImportResult:
    path: str
    status: str = "refused"  # imported | unchanged | refused
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    ledger_rows: int = 0
    spend_usd: Decimal = Decimal("0.00")  # sum of the spend amounts written (<= 0)
    refund_usd: Decimal = Decimal("0.00")  # sum of the refund amounts written (>= 0)
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["spend_usd"] = str(self.spend_usd)
        data["refund_usd"] = str(self.refund_usd)
        data["errors"] = [{**asdict(e), "text": str(e)} for e in self.errors]
        return data


# -- parsing ------------------------------------------------------------------------------------
def parse_period(value: Any) -> str:
    """'2026-05', '2026/5' or a spreadsheet date -> '2026-05'; ValueError says what is wrong."""
    if isinstance(value, datetime | date):
        return f"{value.year:04d}-{value.month:02d}"
    text = str(value if value is not None else "").strip()
    if not text:
        raise ValueError("period is empty")
    match = _PERIOD_RE.match(text)
    if not match:
        raise ValueError("period must be a month written YYYY-MM")
    month = int(match.group(2))
    if not 1 <= month <= 12:
        raise ValueError("period month must be 01 to 12")
    return f"{match.group(1)}-{month:02d}"


def parse_cost(value: Any) -> Decimal:
    """A cost in USD with at most two decimals: '1,234.50', '$99', 'USD 12', 12.5 (a cell).

    Refuses negative, empty, unparsable, more precise (silent rounding would change a ledger)
    and too large values, with a message for the user.
    """
    if isinstance(value, bool):
        raise ValueError("cost is not a number")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        exact = Decimal(repr(value))
        amount = exact.quantize(CENT)
        # spreadsheet arithmetic leaves 0.30000000000000004: within a billionth is a cent value
        if abs(amount - exact) > Decimal("1e-9"):
            raise ValueError("cost has more than two decimals")
    else:
        text = str(value if value is not None else "").strip()
        if not text:
            raise ValueError("cost is empty")
        text = _CURRENCY_RE.sub("", text).strip()
        negative = text.startswith("(") and text.endswith(")")
        if negative:
            text = "-" + text[1:-1].strip()
        if _GROUPED_NUMBER_RE.match(text):
            text = text.replace(",", "")
        if not _PLAIN_NUMBER_RE.match(text):
            raise ValueError("cost is not a number")
        try:
            amount = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only numbers
            raise ValueError("cost is not a number") from exc
        exponent = amount.as_tuple().exponent
        assert isinstance(exponent, int)  # 'n', 'N', 'F' only for NaN and infinity
        if exponent < -2 and amount != amount.quantize(CENT):
            raise ValueError("cost has more than two decimals")
    if amount < 0:
        raise ValueError("cost is negative")
    if amount > MAX_COST:
        raise ValueError(f"cost is larger than {MAX_COST}")
    return amount.quantize(CENT)


def map_cost_headers(headers: Sequence[str]) -> tuple[dict[int, str], list[RowError]]:
    """Column index -> canonical column; errors for missing or repeated columns."""
    mapping: dict[int, str] = {}
    errors: list[RowError] = []
    for index, header in enumerate(headers):
        column = COST_HEADER_ALIASES.get(normalize_header(str(header or "")))
        if column is None:
            continue
        if column in mapping.values():
            errors.append(RowError(1, column, f"two columns hold {column}", str(header)))
            continue
        mapping[index] = column
    missing = [c for c in REQUIRED_COLUMNS if c not in mapping.values()]
    if missing:
        found = ", ".join(repr(str(h)) for h in headers) or "(none)"
        errors.append(
            RowError(
                1,
                None,
                f"missing column(s) {', '.join(missing)} (headers found: {found}); expected "
                "user (id or e-mail), source, period (YYYY-MM), cost (or cost_usd, amount)",
            )
        )
    return mapping, errors


# -- validation ---------------------------------------------------------------------------------
@dataclass
class Directory:
    """Users, organizations and source aliases a file is validated against, read once."""

    users: dict[str, str]  # user id -> organization id
    emails: dict[str, list[tuple[str, str]]]  # lower(email) -> [(user id, organization id)]
    organizations: set[str]
    global_aliases: dict[str, str]
    org_aliases: dict[str, dict[str, str]]
    mappers: dict[str, SourceMapper] = field(default_factory=dict)

    def source(self, organization_id: str, value: str) -> str | None:
        """The canonical source as the lead import writes it for this organization."""
        mapper = self.mappers.get(organization_id)
        if mapper is None:
            aliases = {**self.global_aliases, **self.org_aliases.get(organization_id, {})}
            mapper = self.mappers[organization_id] = SourceMapper(aliases or None)
        return mapper.canonical(value)


def _resolve_user(
    directory: Directory, raw: Any, organization_id: str | None
) -> tuple[str, str] | str:
    """(user id, organization id), or an error message."""
    text = str(raw if raw is not None else "").strip()
    if not text:
        return "user is empty"
    user_id = canonical_uuid(text)
    if user_id is not None:
        org = directory.users.get(user_id)
        if org is None:
            return "unknown user"
        if organization_id and org != organization_id:
            return "user does not belong to organization_id"
        return user_id, org
    if "@" not in text:
        return "unknown user (give a user id or e-mail)"
    candidates = directory.emails.get(text.lower(), [])
    if organization_id:
        candidates = [c for c in candidates if c[1] == organization_id]
    if not candidates:
        return "unknown user e-mail" + (" in organization_id" if organization_id else "")
    if len(candidates) > 1:
        return "e-mail belongs to users of several organizations: add an organization_id column"
    return candidates[0]


def _fail(errors: list[RowError], row: int, column: str | None, message: str, value: Any) -> None:
    errors.append(RowError(row, column, message, None if value is None else str(value)))


def _parsed(
    parse: Callable[[Any], T], raw: RawCostRow, column: str, errors: list[RowError]
) -> T | None:
    """The column's value parsed, or None with the parser's message added to `errors`."""
    value = raw.values.get(column)
    try:
        return parse(value)
    except ValueError as exc:
        _fail(errors, raw.row, column, str(exc), value)
        return None


def validate_rows(
    rows: Sequence[RawCostRow], directory: Directory
) -> tuple[list[CostLine], list[RowError]]:
    """Every row checked; all problems reported, not just the first."""
    lines: list[CostLine] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, str, str], int] = {}
    for raw in rows:
        values = raw.values
        errors_before = len(errors)
        organization_id: str | None = None
        raw_org = values.get("organization_id")
        if raw_org is not None and str(raw_org).strip():
            organization_id = canonical_uuid(raw_org)
            if organization_id is None or organization_id not in directory.organizations:
                _fail(errors, raw.row, "organization_id", "unknown organization", raw_org)
                organization_id = None
        user = _resolve_user(directory, values.get("user"), organization_id)
        if isinstance(user, str):
            _fail(errors, raw.row, "user", user, values.get("user"))
        period = _parsed(parse_period, raw, "period", errors)
        cost = _parsed(parse_cost, raw, "cost", errors)
        source = None
        raw_source = str(values.get("source") or "").strip()
        if not raw_source:
            _fail(errors, raw.row, "source", "source is empty", None)
        elif not isinstance(user, str):
            source = directory.source(user[1], raw_source)
            if source is None:
                _fail(errors, raw.row, "source", "source has no letters or digits", raw_source)

        valid = len(errors) == errors_before
        if valid and not isinstance(user, str) and source and period and cost is not None:
            key = (user[0], source, period)
            if key in seen:
                _fail(
                    errors,
                    raw.row,
                    None,
                    f"same user, source ({source}) and period as row {seen[key]}",
                    None,
                )
            else:
                seen[key] = raw.row
                lines.append(CostLine(raw.row, user[1], user[0], source, period, cost, raw_source))
    return lines, errors
