"""Segment filter language: a JSON object over one organization's live leads, compiled to SQL.

`segments.filter` and `nurture_sequences.entry_filter` hold a filter; `compile_filter` validates
it and turns it into a boolean SQL expression over the leads alias `l`, with every value passed
as a parameter (never pasted into the SQL text), so a filter is data whatever it contains.
The scope (one organization, live leads: `deleted_at is null`) is added by `segment_query` /
`segment_count_query`, never by the filter.

A filter is a JSON object; several keys in one object must all hold (AND). `{}` matches every
live lead.

- `status`: list of statuses (new, contacted, qualified, nurturing, hot, cold, recruited, dnc);
  the lead's status is one of them.
- `score`: `{"min": n, "max": n}` (either or both): lead_score within [min, max], inclusive.
- `tags_any`: list of tags; the lead has at least one of them (`tags && array`).
- `tags_all`: list of tags; the lead has all of them (`tags @> array`).
- `sources` (alias `source`): list of sources; the lead's source is one of them.
- `owners`: list of user UUIDs and/or `"unassigned"`; the owner is one of them (or none).
- `created`: `{"from": t, "to": t}` (either or both): created_at within the range.
- `contacted`: `{"from": t, "to": t}`: last_contact_date within the range (never contacted:
  no match).
- `has_email`: `true` (email present and non-empty) or `false` (missing or empty).
- `name`: string; "first_name last_name" contains it, case-insensitively, `%` and `_` literal.
- `all`: list of filters, every one matches (`[]` matches everything).
- `any`: non-empty list of filters, at least one matches.
- `not`: a filter that must not match.

Times `t` are a date `YYYY-MM-DD` (a UTC day: `from` starts at its 00:00, `to` includes the whole
day) or an ISO 8601 datetime (`2026-11-01T09:30:00+01:00`; without an offset it is UTC; `to` is
inclusive). Values are compared exactly as stored: the import stores tags lower-case and sources
canonical (`facebook`, `linkedin`, ...). `source` is the seed's spelling of `sources`.
`{"status": ["hot", "qualified"], "score": {"min": 70}}` is the seed's "Hot prospects".
Example: `{"any": [{"tags_all": ["nurse", "referral"]}, {"not": {"owners": ["unassigned"]}}]}`.

Limits (each violation is a `SegmentFilterError` naming the path, e.g.
`filter.any[1].score.min: expected a number, got "abc"`): unknown keys, wrong types, unknown
statuses, bad dates and empty ranges, empty lists, nesting deeper than 10 filter objects, lists
longer than 1000 items, strings longer than 200 characters, more than 1000 conditions in
total, JSON text longer than 1,000,000 characters, NaN/Infinity.

`name` compiles to `(l.first_name || ' ' || l.last_name) ilike %s`, the expression of the
trigram index idx_leads_search_name (gin_trgm_ops), which serves ILIKE for terms of three or more
characters. `not` treats an unknown (null) inner result as "no match", so `not` of a condition on
a missing value (no source, never contacted) matches the lead.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from psycopg import sql

from leadflow.leads.records import LEAD_STATUSES

MAX_DEPTH = 10
MAX_ITEMS = 1000
MAX_STRING = 200
MAX_CONDITIONS = 1000
MAX_JSON_CHARS = 1_000_000
UNASSIGNED = "unassigned"

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAME_EXPR = sql.SQL("(l.first_name || ' ' || l.last_name)")


class SegmentFilterError(ValueError):
    """The filter is not valid; the message names the offending path."""


@dataclass(frozen=True)
class CompiledFilter:
    """A boolean expression over the leads alias `l` with `%s` placeholders, and their values."""

    where: sql.Composable
    params: list[Any] = field(default_factory=list)


def load_filter(spec: dict | str) -> dict:
    """The filter as a dict: JSON text is decoded (NaN/Infinity refused), an object required."""
    if isinstance(spec, str):
        if len(spec) > MAX_JSON_CHARS:
            raise SegmentFilterError(f"filter: JSON text longer than {MAX_JSON_CHARS} characters")
        try:
            spec = json.loads(spec, parse_constant=_refuse_constant)
        except RecursionError:
            raise SegmentFilterError(f"filter: nested deeper than {MAX_DEPTH} levels") from None
        except ValueError as exc:  # JSONDecodeError, and _refuse_constant's
            raise SegmentFilterError(f"filter: invalid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise SegmentFilterError(f"filter: expected an object, got {_describe(spec)}")
    return spec


def compile_filter(spec: dict | str) -> CompiledFilter:
    """Validate a filter and compile it; raises SegmentFilterError naming the bad path."""
    compiler = _Compiler()
    where = compiler.filter(load_filter(spec), "filter", 1)
    return CompiledFilter(where, compiler.params)


def segment_query(
    organization_id: uuid.UUID | str, compiled: CompiledFilter, limit: int | None = None
) -> tuple[sql.Composed, list[Any]]:
    """Matching live leads of one organization (id, name, phone, status, score, tags), best
    score first, then newest, then id, so a preview is stable."""
    query = (
        sql.SQL(
            "select l.id, trim(l.first_name || ' ' || l.last_name) as name,"
            " l.phone_number as phone, l.status, l.lead_score as score, l.tags"
        )
        + _scope(compiled)
        + sql.SQL(" order by l.lead_score desc, l.created_at desc, l.id")
    )
    params = [_organization(organization_id), *compiled.params]
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"limit must be a non-negative integer, got {limit!r}")
        query += sql.SQL(" limit %s")
        params.append(limit)
    return query, params


def segment_count_query(
    organization_id: uuid.UUID | str, compiled: CompiledFilter
) -> tuple[sql.Composed, list[Any]]:
    """`select count(*)` of the matching live leads of one organization."""
    query = sql.SQL("select count(*)") + _scope(compiled)
    return query, [_organization(organization_id), *compiled.params]


def _scope(compiled: CompiledFilter) -> sql.Composable:
    return sql.SQL(
        " from leads l where l.organization_id = %s and l.deleted_at is null and ({})"
    ).format(compiled.where)


def _organization(organization_id: uuid.UUID | str) -> uuid.UUID:
    return organization_id if isinstance(organization_id, uuid.UUID) else uuid.UUID(organization_id)


# -- compiler -----------------------------------------------------------------------------------


class _Compiler:
    """Walks the filter once, validating each node and appending its values to `params`."""

    def __init__(self) -> None:
        self.params: list[Any] = []
        self.conditions = 0

    def filter(self, node: Any, path: str, depth: int) -> sql.Composable:
        if depth > MAX_DEPTH:
            raise SegmentFilterError(f"{path}: nested deeper than {MAX_DEPTH} levels")
        if not isinstance(node, dict):
            raise SegmentFilterError(f"{path}: expected an object, got {_describe(node)}")
        parts = []
        for key, value in node.items():
            handler = _HANDLERS.get(key) if isinstance(key, str) else None
            if handler is None:
                raise SegmentFilterError(
                    f"{path}: unknown key {_describe(key)}; expected one of {', '.join(_HANDLERS)}"
                )
            parts.append(handler(self, value, f"{path}.{key}", depth))
        return _join(parts, "and", empty="true")

    def condition(self, expression: str | sql.Composable, *values: Any) -> sql.Composable:
        """One leaf predicate: counted against MAX_CONDITIONS, its values appended in order."""
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise SegmentFilterError(f"filter: more than {MAX_CONDITIONS} conditions")
        self.params.extend(values)
        return sql.SQL(expression) if isinstance(expression, str) else expression

    # combinators
    def all_(self, value: Any, path: str, depth: int) -> sql.Composable:
        items = _list(value, path, "a list of filters", allow_empty=True)
        return _join(
            [self.filter(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(items)],
            "and",
            empty="true",
        )

    def any_(self, value: Any, path: str, depth: int) -> sql.Composable:
        items = _list(value, path, "a list of filters")
        return _join(
            [self.filter(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(items)], "or"
        )

    def not_(self, value: Any, path: str, depth: int) -> sql.Composable:
        inner = self.filter(value, path, depth + 1)
        return sql.SQL("(not coalesce({}, false))").format(inner)

    # conditions
    def status(self, value: Any, path: str, depth: int) -> sql.Composable:
        statuses = _strings(value, path, "a list of statuses")
        for i, status in enumerate(statuses):
            if status not in LEAD_STATUSES:
                raise SegmentFilterError(
                    f"{path}[{i}]: unknown status {_describe(status)};"
                    f" expected one of {', '.join(LEAD_STATUSES)}"
                )
        return self.condition("l.status = any(%s::text[])", statuses)

    def score(self, value: Any, path: str, depth: int) -> sql.Composable:
        bounds = _object(value, path, ("min", "max"))
        for key, bound in bounds.items():
            if isinstance(bound, bool) or not isinstance(bound, int | float):
                raise SegmentFilterError(f"{path}.{key}: expected a number, got {_describe(bound)}")
            if not math.isfinite(bound):
                raise SegmentFilterError(f"{path}.{key}: expected a finite number")
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise SegmentFilterError(f"{path}: min {bounds['min']} is above max {bounds['max']}")
        parts = []
        if "min" in bounds:
            parts.append(self.condition("l.lead_score >= %s", bounds["min"]))
        if "max" in bounds:
            parts.append(self.condition("l.lead_score <= %s", bounds["max"]))
        return _join(parts, "and")

    def tags_any(self, value: Any, path: str, depth: int) -> sql.Composable:
        return self.condition("l.tags && %s::text[]", _strings(value, path, "a list of tags"))

    def tags_all(self, value: Any, path: str, depth: int) -> sql.Composable:
        return self.condition("l.tags @> %s::text[]", _strings(value, path, "a list of tags"))

    def sources(self, value: Any, path: str, depth: int) -> sql.Composable:
        return self.condition(
            "l.source = any(%s::text[])", _strings(value, path, "a list of sources")
        )

    def owners(self, value: Any, path: str, depth: int) -> sql.Composable:
        owners = _strings(value, path, f'a list of user UUIDs or "{UNASSIGNED}"')
        ids: list[uuid.UUID] = []
        unassigned = False
        for i, owner in enumerate(owners):
            if owner == UNASSIGNED:
                unassigned = True
                continue
            try:
                ids.append(uuid.UUID(owner))
            except ValueError:
                raise SegmentFilterError(
                    f'{path}[{i}]: expected a user UUID or "{UNASSIGNED}", got {_describe(owner)}'
                ) from None
        parts = []
        if ids:
            parts.append(self.condition("l.user_id = any(%s::uuid[])", ids))
        if unassigned:
            parts.append(self.condition("l.user_id is null"))
        return _join(parts, "or")

    def created(self, value: Any, path: str, depth: int) -> sql.Composable:
        return self._range(value, path, sql.SQL("l.created_at"))

    def contacted(self, value: Any, path: str, depth: int) -> sql.Composable:
        return self._range(value, path, sql.SQL("l.last_contact_date"))

    def _range(self, value: Any, path: str, column: sql.Composable) -> sql.Composable:
        bounds = _object(value, path, ("from", "to"))
        parts = []
        start = end = None
        if "from" in bounds:
            start, _ = _instant(bounds["from"], f"{path}.from", upper=False)
            parts.append(self.condition(sql.SQL("{} >= %s::timestamptz").format(column), start))
        if "to" in bounds:
            end, inclusive = _instant(bounds["to"], f"{path}.to", upper=True)
            operator = sql.SQL("<=" if inclusive else "<")
            parts.append(
                self.condition(sql.SQL("{} {} %s::timestamptz").format(column, operator), end)
            )
            if start is not None and (start > end or (start == end and not inclusive)):
                raise SegmentFilterError(f"{path}: from is after to")
        return _join(parts, "and")

    def has_email(self, value: Any, path: str, depth: int) -> sql.Composable:
        if not isinstance(value, bool):
            raise SegmentFilterError(f"{path}: expected true or false, got {_describe(value)}")
        if value:
            return self.condition("(l.email is not null and l.email <> '')")
        return self.condition("(l.email is null or l.email = '')")

    def name(self, value: Any, path: str, depth: int) -> sql.Composable:
        term = " ".join(_string(value, path).split())
        if not term:
            raise SegmentFilterError(f"{path}: expected a non-empty name")
        return self.condition(_NAME_EXPR + sql.SQL(" ilike %s"), "%" + _escape_like(term) + "%")


_HANDLERS: dict[str, Callable[[_Compiler, Any, str, int], sql.Composable]] = {
    "status": _Compiler.status,
    "score": _Compiler.score,
    "tags_any": _Compiler.tags_any,
    "tags_all": _Compiler.tags_all,
    "sources": _Compiler.sources,
    "source": _Compiler.sources,
    "owners": _Compiler.owners,
    "created": _Compiler.created,
    "contacted": _Compiler.contacted,
    "has_email": _Compiler.has_email,
    "name": _Compiler.name,
    "all": _Compiler.all_,
    "any": _Compiler.any_,
    "not": _Compiler.not_,
}


# -- value helpers ------------------------------------------------------------------------------


def _join(parts: list[sql.Composable], operator: str, empty: str | None = None) -> sql.Composable:
    if not parts:
        assert empty is not None  # callers that may produce no part say what it means
        return sql.SQL(empty)
    if len(parts) == 1:
        return parts[0]
    return sql.SQL("(") + sql.SQL(f" {operator} ").join(parts) + sql.SQL(")")


def _list(value: Any, path: str, what: str, allow_empty: bool = False) -> list:
    if not isinstance(value, list):
        raise SegmentFilterError(f"{path}: expected {what}, got {_describe(value)}")
    if not value and not allow_empty:
        raise SegmentFilterError(f"{path}: expected {what}, got an empty list")
    if len(value) > MAX_ITEMS:
        raise SegmentFilterError(f"{path}: {len(value)} items, at most {MAX_ITEMS} allowed")
    return value


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise SegmentFilterError(f"{path}: expected a string, got {_describe(value)}")
    if len(value) > MAX_STRING:
        raise SegmentFilterError(
            f"{path}: string of {len(value)} characters, at most {MAX_STRING} allowed"
        )
    return value


def _strings(value: Any, path: str, what: str) -> list[str]:
    return [_string(item, f"{path}[{i}]") for i, item in enumerate(_list(value, path, what))]


def _object(value: Any, path: str, keys: tuple[str, ...]) -> dict:
    expected = " and/or ".join(f'"{key}"' for key in keys)
    if not isinstance(value, dict):
        raise SegmentFilterError(
            f"{path}: expected an object with {expected}, got {_describe(value)}"
        )
    for key in value:
        if key not in keys:
            raise SegmentFilterError(f"{path}: unknown key {_describe(key)}; expected {expected}")
    if not value:
        raise SegmentFilterError(f"{path}: expected {expected}, got an empty object")
    return value


def _instant(value: Any, path: str, upper: bool) -> tuple[datetime, bool]:
    """A bound as an aware datetime, and whether it is inclusive: a date's `to` is the next day's
    midnight, exclusive; every other bound is inclusive."""
    text = _string(value, path)
    try:
        if _DATE_RE.match(text):
            day = date.fromisoformat(text)
            if upper:
                return datetime.combine(day + timedelta(days=1), time(), UTC), False
            return datetime.combine(day, time(), UTC), True
        if len(text) < 11 or text[10] not in "T ":
            raise ValueError(text)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise SegmentFilterError(
            f"{path}: expected a date YYYY-MM-DD or an ISO datetime, got {_describe(value)}"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), True


def _escape_like(term: str) -> str:
    """LIKE metacharacters as literals (PostgreSQL's default escape character is backslash)."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


def _describe(value: Any) -> str:
    """A short rendering of a bad value for an error message."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if value is None or isinstance(value, bool | int | float | str):
        text = json.dumps(value)
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:56] + '..."'
