"""`leadflow costs import FILE`: lead source costs from a CSV/XLSX file, with their ledger.

Each row is one user's spend on one source for one month. Rows are upserted into
`lead_source_costs` per (user, source, period); every cost that changes writes one
`budget_transactions` row for the difference: a rise is a 'spend' of -(new - old), a fall a
'refund' of +(old - new) (a new cost counts from 0). The ledger trigger computes
balance_after_usd, so balances stay consistent; an unchanged cost writes nothing, so importing
the same file again is a no-op.

All or nothing: the file is validated first and refused as a whole when any row is bad (with
every problem listed by row), then loaded in one transaction. Costs are money and the ledger is
append-only: a partial load would leave balances that depend on which rows happened to be good,
and the fix (correct the file, import again) is cheap because re-imports are idempotent.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import psycopg

from leadflow.ingest.reading import normalize_header, sniff_delimiter
from leadflow.leads.cleaning import SourceMapper
from leadflow.leads.ids import canonical_uuid

#: numeric(10, 2): the largest cost lead_source_costs can hold
MAX_COST = Decimal("99999999.99")
CENT = Decimal("0.01")

#: canonical column -> accepted headers (compared with core.reading.normalize_header)
_COLUMN_SPELLINGS: dict[str, tuple[str, ...]] = {
    "user": ("user", "user_id", "user_email", "email", "agent", "agent_id", "owner", "owner_id"),
    "source": ("source", "lead_source", "channel", "utm_source"),
    "period": ("period", "month"),
    "cost": ("cost", "cost_usd", "amount", "amount_usd", "spend"),
    "organization_id": ("organization_id", "org_id", "organization", "tenant_id"),
}
COST_HEADER_ALIASES: dict[str, str] = {
    normalize_header(spelling): column
    for column, spellings in _COLUMN_SPELLINGS.items()
    for spelling in spellings
}
REQUIRED_COLUMNS = ("user", "source", "period", "cost")

_PERIOD_RE = re.compile(r"^(\d{4})[-/](\d{1,2})$")
_PLAIN_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")
_GROUPED_NUMBER_RE = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
_CURRENCY_RE = re.compile(r"^(?:us\$|usd|\$)\s*|\s*(?:usd|\$)$", re.IGNORECASE)
_ZIP_MAGIC = b"PK\x03\x04"


class CostFileError(ValueError):
    """The file cannot be read as a cost file at all."""


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


# -- pure parsing -------------------------------------------------------------------------------
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
        if amount.as_tuple().exponent < -2 and amount != amount.quantize(CENT):
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


def _is_blank(cells: Sequence[Any]) -> bool:
    return all(cell is None or str(cell).strip() == "" for cell in cells)


def _csv_cells(path: Path, data: bytes) -> Iterator[tuple[int, list[str]]]:
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if "\x00" in text:
        raise CostFileError(f"{path} is not a CSV or XLSX file (binary content)")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text[:16384]))
    try:
        for cells in reader:
            yield reader.line_num, cells
    except csv.Error as exc:
        raise CostFileError(f"{path}: line {reader.line_num} cannot be read ({exc})") from exc


def _xlsx_cells(path: Path) -> Iterator[tuple[int, list[Any]]]:
    import openpyxl  # deferred: only XLSX imports pay for it

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on a corrupt file
        raise CostFileError(f"{path} is not a readable XLSX file ({exc})") from exc
    try:
        if not workbook.worksheets:
            return
        for number, values in enumerate(workbook.worksheets[0].iter_rows(values_only=True), 1):
            yield number, list(values)
    finally:
        workbook.close()


def read_cost_file(path: Path) -> tuple[list[RawCostRow], list[RowError]]:
    """Rows of a cost file (CSV with any of , ; TAB |, or the first sheet of an XLSX)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CostFileError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if not data.strip():
        raise CostFileError(f"{path} is empty")
    cells_iter = _xlsx_cells(path) if data.startswith(_ZIP_MAGIC) else _csv_cells(path, data)
    mapping: dict[int, str] | None = None
    rows: list[RawCostRow] = []
    errors: list[RowError] = []
    for number, cells in cells_iter:
        if _is_blank(cells):
            continue
        if mapping is None:
            mapping, errors = map_cost_headers(
                [str(c).strip() if c is not None else "" for c in cells]
            )
            if errors:
                return [], errors
            continue
        values = {column: cells[i] if i < len(cells) else None for i, column in mapping.items()}
        rows.append(RawCostRow(number, values))
    if mapping is None:
        raise CostFileError(f"{path} is empty")
    return rows, errors


# -- validation against the database -------------------------------------------------------------
@dataclass
class _Directory:
    """Users, organizations and source aliases, read once per import."""

    users: dict[str, str]  # user id -> organization id
    emails: dict[str, list[tuple[str, str]]]  # lower(email) -> [(user id, organization id)]
    organizations: set[str]
    global_aliases: dict[str, str]
    org_aliases: dict[str, dict[str, str]]
    mappers: dict[str, SourceMapper] = field(default_factory=dict)

    @classmethod
    def read(cls, conn: psycopg.Connection) -> _Directory:
        users: dict[str, str] = {}
        emails: dict[str, list[tuple[str, str]]] = {}
        for user_id, org, email in conn.execute(
            "select id::text, organization_id::text, lower(email) from users"
        ):
            users[user_id] = org
            emails.setdefault(email, []).append((user_id, org))
        organizations = {row[0] for row in conn.execute("select id::text from organizations")}
        global_aliases: dict[str, str] = {}
        org_aliases: dict[str, dict[str, str]] = {}
        for org, value in conn.execute(
            "select organization_id::text, config_value from system_config"
            " where config_key = 'source_aliases'"
        ):
            if isinstance(value, dict):
                if org is None:
                    global_aliases = dict(value)
                else:
                    org_aliases[org] = dict(value)
        return cls(users, emails, organizations, global_aliases, org_aliases)

    def source(self, organization_id: str, value: str) -> str | None:
        """The canonical source as the lead import writes it for this organization."""
        mapper = self.mappers.get(organization_id)
        if mapper is None:
            aliases = {**self.global_aliases, **self.org_aliases.get(organization_id, {})}
            mapper = self.mappers[organization_id] = SourceMapper(aliases or None)
        return mapper.canonical(value)


def _resolve_user(
    directory: _Directory, raw: Any, organization_id: str | None
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


def validate_rows(
    rows: Sequence[RawCostRow], directory: _Directory
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
        try:
            period = parse_period(values.get("period"))
        except ValueError as exc:
            _fail(errors, raw.row, "period", str(exc), values.get("period"))
            period = None
        try:
            cost = parse_cost(values.get("cost"))
        except ValueError as exc:
            _fail(errors, raw.row, "cost", str(exc), values.get("cost"))
            cost = None
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
                lines.append(CostLine(raw.row, user[1], user[0], source, period, cost))
    return lines, errors


# -- loading ------------------------------------------------------------------------------------
def _lock_users(conn: psycopg.Connection, user_ids: Sequence[str]) -> None:
    """Serialise cost imports per user (transaction-scoped; sorted against deadlocks)."""
    for user_id in sorted(set(user_ids)):
        conn.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"lead_source_costs:{user_id}",),
        )


def load_cost_lines(
    conn: psycopg.Connection, lines: Sequence[CostLine], result: CostImportResult
) -> None:
    """Upsert the costs and write the ledger rows for the changes, set-based."""
    _lock_users(conn, [line.user_id for line in lines])
    conn.execute(
        """
        create temp table stg_costs (
            row_number integer not null,
            organization_id uuid not null,
            user_id uuid not null,
            source text not null,
            period text not null,
            cost_usd numeric(10, 2) not null
        ) on commit drop
        """
    )
    with (
        conn.cursor() as cur,
        cur.copy(
            "copy stg_costs (row_number, organization_id, user_id, source, period, cost_usd)"
            " from stdin"
        ) as copy,
    ):
        copy.set_types(["int4", "text", "text", "text", "text", "numeric"])
        for line in lines:
            copy.write_row(
                (
                    line.row,
                    line.organization_id,
                    line.user_id,
                    line.source,
                    line.period,
                    line.cost_usd,
                )
            )
    # the old values must not change under us: lock the existing rows before reading them
    conn.execute(
        """
        select c.id from lead_source_costs c
        join stg_costs s on s.user_id = c.user_id and s.source = c.source and s.period = c.period
        order by c.id
        for update of c
        """
    )
    conn.execute(
        """
        create temp table stg_cost_plan on commit drop as
        select s.*, c.id as cost_id, c.cost_usd as old_cost
        from stg_costs s
        left join lead_source_costs c
          on c.user_id = s.user_id and c.source = s.source and c.period = s.period
        """
    )
    result.updated = conn.execute(
        """
        update lead_source_costs c
        set cost_usd = p.cost_usd
        from stg_cost_plan p
        where c.id = p.cost_id and c.cost_usd <> p.cost_usd
        """
    ).rowcount
    result.inserted = conn.execute(
        """
        insert into lead_source_costs (organization_id, user_id, source, period, cost_usd)
        select organization_id, user_id, source, period, cost_usd
        from stg_cost_plan
        where cost_id is null
        order by row_number
        """
    ).rowcount
    result.unchanged = len(lines) - result.updated - result.inserted
    ledger = conn.execute(
        """
        insert into budget_transactions (
            organization_id, user_id, transaction_type, amount_usd, balance_after_usd,
            description, reference
        )
        select p.organization_id,
               p.user_id,
               case when p.cost_usd > coalesce(p.old_cost, 0) then 'spend' else 'refund' end,
               coalesce(p.old_cost, 0) - p.cost_usd,
               0,
               format('Lead source cost %s %s: %s -> %s USD',
                      p.source, p.period, coalesce(p.old_cost, 0.00), p.cost_usd),
               'lead_source_costs:' || c.id
        from stg_cost_plan p
        join lead_source_costs c
          on c.user_id = p.user_id and c.source = p.source and c.period = p.period
        where p.cost_usd <> coalesce(p.old_cost, 0)
        order by p.user_id, p.period, p.source
        returning transaction_type, amount_usd
        """
    ).fetchall()
    result.ledger_rows = len(ledger)
    result.spend_usd = sum((a for t, a in ledger if t == "spend"), Decimal("0.00"))
    result.refund_usd = sum((a for t, a in ledger if t == "refund"), Decimal("0.00"))
    conn.execute("drop table stg_cost_plan, stg_costs")


def import_costs(conn: psycopg.Connection, path: Path | str) -> CostImportResult:
    """Validate the whole file, then load it in one transaction (or refuse it whole).

    Runs in `conn`'s transaction (a savepoint if one is open; committed by the caller's
    `with psycopg.connect(...)` block). Needs READ COMMITTED or SERIALIZABLE: the ledger
    trigger refuses REPEATABLE READ.
    """
    result = CostImportResult(path=str(path))
    try:
        rows, errors = read_cost_file(Path(path))
    except CostFileError as exc:
        result.errors = [RowError(None, None, str(exc))]
        return result
    result.rows_read = len(rows)
    if errors:
        result.errors = errors
        return result
    with conn.transaction():
        lines, errors = validate_rows(rows, _Directory.read(conn))
        if errors:
            result.errors = errors
            return result
        if lines:
            load_cost_lines(conn, lines, result)
    result.status = "imported" if result.updated or result.inserted else "unchanged"
    return result
