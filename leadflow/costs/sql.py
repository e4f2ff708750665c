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

Reading the file is `costs.reading`'s, parsing and validating the rows `costs.rules`'; this
module reads what rows are validated against and writes the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import psycopg

from leadflow.costs.reading import CostFileError, read_cost_file
from leadflow.costs.rules import CostImportResult, CostLine, Directory, RowError, validate_rows
from leadflow.postgres import config_values, copy_rows, organization_ids
from leadflow.tabular import Opener


# -- what rows are validated against ------------------------------------------------------------
def read_directory(conn: psycopg.Connection) -> Directory:
    """Users (by id and e-mail), organizations and source aliases, read once per import."""
    users: dict[str, str] = {}
    emails: dict[str, list[tuple[str, str]]] = {}
    for user_id, org, email in conn.execute(
        "select id::text, organization_id::text, lower(email) from users"
    ):
        users[user_id] = org
        emails.setdefault(email, []).append((user_id, org))
    organizations = set(organization_ids(conn))
    global_value, by_org = config_values(conn, "source_aliases")
    global_aliases = dict(global_value) if isinstance(global_value, dict) else {}
    org_aliases = {org: dict(value) for org, value in by_org.items() if isinstance(value, dict)}
    return Directory(users, emails, organizations, global_aliases, org_aliases)


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
            cost_usd numeric(10, 2) not null,
            source_raw text
        ) on commit drop
        """
    )
    copy_rows(
        conn,
        "stg_costs",
        ("row_number", "organization_id", "user_id", "source", "period", "cost_usd", "source_raw"),
        ("int4", "text", "text", "text", "text", "numeric", "text"),
        (
            (
                line.row,
                line.organization_id,
                line.user_id,
                line.source,
                line.period,
                line.cost_usd,
                line.source_raw,
            )
            for line in lines
        ),
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
        set cost_usd = p.cost_usd, source_raw = coalesce(p.source_raw, c.source_raw)
        from stg_cost_plan p
        where c.id = p.cost_id and c.cost_usd <> p.cost_usd
        """
    ).rowcount
    result.inserted = conn.execute(
        """
        insert into lead_source_costs (
            organization_id, user_id, source, period, cost_usd, source_raw
        )
        select organization_id, user_id, source, period, cost_usd, source_raw
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


def import_costs(
    conn: psycopg.Connection, path: Path | str, opener: Opener | None = None
) -> CostImportResult:
    """Validate the whole file, then load it in one transaction (or refuse it whole).

    `opener`: how the file is opened (a checked file's `open`, see leadflow.checked_files);
    by default `path` is opened as it is.

    Runs in `conn`'s transaction (a savepoint if one is open; committed by the caller's
    `with psycopg.connect(...)` block). Needs READ COMMITTED or SERIALIZABLE: the ledger
    trigger refuses REPEATABLE READ.
    """
    result = CostImportResult(path=str(path))
    try:
        rows, errors = read_cost_file(Path(path), opener)
    except CostFileError as exc:
        result.errors = [RowError(None, None, str(exc))]
        return result
    result.rows_read = len(rows)
    if errors:
        result.errors = errors
        return result
    with conn.transaction():
        lines, errors = validate_rows(rows, read_directory(conn))
        if errors:
            result.errors = errors
            return result
        if lines:
            load_cost_lines(conn, lines, result)
    result.status = "imported" if result.updated or result.inserted else "unchanged"
    return result
