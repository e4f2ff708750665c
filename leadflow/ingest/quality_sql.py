"""The row rules of the import's quality gates (leadflow/ingest/checks.py), as SQL over the live
leads of the organizations a run loaded.

Each rule is a predicate that is true for a failing row: PostgreSQL counts the failing rows of
every rule of a check in one scan and returns a sample of them, so a check over a million leads
moves counts and twenty values, never the rows. psycopg only (no Dagster), so the rules can be
run and tested on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from leadflow.leads.records import LEAD_STATUSES
from leadflow.postgres import one_row

E164_REGEX = r"^\+[1-9][0-9]{1,14}$"
#: failing values kept per rule
SAMPLE_SIZE = 20

#: the run's live leads (bind `organizations`: canonical UUIDs)
LIVE_LEADS = (
    "select organization_id, phone_number, status, lead_score from leads"
    " where deleted_at is null and organization_id = any(%(organizations)s::uuid[])"
)
#: the same rows, each with the number of live leads of its organization sharing its phone
LIVE_LEADS_WITH_PHONE_COUNT = (
    "select organization_id, phone_number,"
    " count(*) over (partition by organization_id, phone_number) as leads_with_phone"
    " from leads where deleted_at is null and organization_id = any(%(organizations)s::uuid[])"
)


@dataclass(frozen=True)
class Rule:
    """A predicate over the rows of `source` (SQL text, constants of this module): `fails` is
    true for a row that breaks it; a failing row is shown by its `shown` columns (one: its
    value; more: an object)."""

    name: str
    fails: str
    shown: tuple[str, ...]
    source: str = LIVE_LEADS


@dataclass
class Outcome:
    """One rule over the run's rows: how many were checked, how many failed, a sample."""

    name: str
    rows_checked: int
    failing_count: int
    sample: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failing_count == 0


PHONE_IS_E164 = Rule(
    "phone_number_is_e164",
    "phone_number !~ %(e164)s",
    ("phone_number",),
)
STATUS_IN_ENUM = Rule(
    "status_in_lead_statuses",
    "status <> all(%(statuses)s::text[])",
    ("status",),
)
SCORE_IN_RANGE = Rule(
    "lead_score_between_0_and_100",
    "lead_score not between 0 and 100",
    ("lead_score",),
)
PHONE_UNIQUE_PER_ORGANIZATION = Rule(
    "organization_phone_is_unique",
    "leads_with_phone > 1",
    ("organization_id", "phone_number"),
    LIVE_LEADS_WITH_PHONE_COUNT,
)


def _params(organizations: Sequence[str]) -> dict[str, object]:
    return {
        "organizations": list(organizations),
        "e164": E164_REGEX,
        "statuses": list(LEAD_STATUSES),
    }


def evaluate(
    conn: psycopg.Connection, organizations: Sequence[str], rules: Sequence[Rule]
) -> list[Outcome]:
    """Every rule over the live leads of `organizations`: one counting scan per source, and a
    sample query only for a rule that failed. A NULL value fails no rule."""
    params = _params(organizations)
    outcomes: dict[str, Outcome] = {}
    for source in dict.fromkeys(rule.source for rule in rules):  # in order, once each
        of_source = [rule for rule in rules if rule.source == source]
        counts = sql.SQL("select count(*), {} from ({}) live").format(
            sql.SQL(", ").join(
                sql.SQL("count(*) filter (where {})").format(sql.SQL(rule.fails))
                for rule in of_source
            ),
            sql.SQL(source),
        )
        total, *failing = one_row(conn.execute(counts, params))
        for rule, count in zip(of_source, failing, strict=True):
            outcome = Outcome(rule.name, int(total), int(count))
            if count:
                outcome.sample = _sample(conn, rule, params)
            outcomes[rule.name] = outcome
    return [outcomes[rule.name] for rule in rules]


def _sample(conn: psycopg.Connection, rule: Rule, params: dict[str, object]) -> list:
    query = sql.SQL(
        "select {columns} from ({source}) live where {fails} order by {columns} limit {limit}"
    ).format(
        columns=sql.SQL(", ").join(sql.Identifier(column) for column in rule.shown),
        source=sql.SQL(rule.source),
        fails=sql.SQL(rule.fails),
        limit=sql.Literal(SAMPLE_SIZE),
    )
    rows = conn.execute(query, params).fetchall()
    if len(rule.shown) == 1:
        return [_plain(row[0]) for row in rows]
    return [
        {column: _plain(value) for column, value in zip(rule.shown, row, strict=True)}
        for row in rows
    ]


def _plain(value: object) -> object:
    """A JSON value: numbers and strings as they are, anything else (UUIDs) as text."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
