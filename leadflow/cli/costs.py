"""`leadflow costs import|list`: lead source costs and the budget ledger from a CSV/XLSX file, through
the costs asset (`lead_source_costs`), in this process."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import click

from leadflow.cli.common import ensure_schema_current
from leadflow.cli.common import postgres_url as _postgres_url
from leadflow.cli.conventions import BAD_REQUEST, FAILED, JSON_OPTION, emit_json, fail
from leadflow.cli.resolve import ALL, org_option, organizations


@click.group()
def costs() -> None:
    """Lead source costs and the budget ledger.

    \b
    Examples:
      leadflow costs import costs-2026-11.csv
      leadflow costs list --org summit --period 2026-11
    """


@costs.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@JSON_OPTION
def costs_import(path: Path, as_json: bool) -> None:
    """Upsert lead_source_costs from a CSV/XLSX file; each change writes a ledger row. Runs
    the `lead_source_costs` asset through Dagster, in this process.

    Columns: user (id or e-mail), source, period (YYYY-MM), cost (or cost_usd, amount),
    optional organization_id. The file is refused as a whole (exit 1) when any row is bad.

    \b
    Examples:
      leadflow costs import costs-2026-11.csv
      leadflow costs import costs.xlsx --json | jq .errors
    """
    url = _postgres_url()
    ensure_schema_current(url, code=BAD_REQUEST)
    result = run_cost_import(str(path), url)
    if as_json:
        emit_json(result)
    elif result["errors"]:
        click.echo(f"costs: {path} refused, nothing imported ({len(result['errors'])} problem(s)):")
        for error in result["errors"]:
            click.echo(f"  {error['text']}")
    else:
        click.echo(
            f"costs: {path}: {result['status']}; rows {result['rows_read']}, inserted "
            f"{result['inserted']}, updated {result['updated']}, unchanged {result['unchanged']}, "
            f"ledger rows {result['ledger_rows']} (spend {result['spend_usd']}, refund "
            f"{result['refund_usd']})"
        )
    if result["errors"]:
        sys.exit(FAILED)


@costs.command("list")
@org_option(allow_all=True, default=ALL)
@click.option("--period", default=None, help="Only this month (YYYY-MM).")
@JSON_OPTION
def costs_list(org: str, period: str | None, as_json: bool) -> None:
    """List the lead source costs: organization, month, source, agent and cost, with the total
    per organization and month (what `source_roi` divides by).

    \b
    Examples:
      leadflow costs list --org summit --period 2026-11
      leadflow costs list --json | jq '.total_usd'
    """
    import re

    import psycopg
    from psycopg.rows import dict_row

    if period is not None and not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", period):
        fail(f"--period {period!r} is not a month (YYYY-MM)", BAD_REQUEST)
    url = _postgres_url()
    ensure_schema_current(url, code=BAD_REQUEST)
    with psycopg.connect(url) as conn:
        chosen = organizations(conn, org)
        ids = [o.id for o in chosen] if chosen else None
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                """
                select c.organization_id::text as organization_id,
                       coalesce(o.slug, o.name) as organization, c.period, c.source,
                       u.email as user_email, c.cost_usd
                from lead_source_costs c
                join organizations o on o.id = c.organization_id
                join users u on u.id = c.user_id
                where (%(ids)s::uuid[] is null or c.organization_id = any(%(ids)s::uuid[]))
                  and (%(period)s::text is null or c.period = %(period)s)
                order by coalesce(o.slug, o.name), c.period, c.source, u.email
                """,
                {"ids": ids, "period": period},
            ).fetchall()
    total = sum((row["cost_usd"] for row in rows), start=Decimal(0))
    if as_json:
        emit_json({"costs": rows, "rows": len(rows), "total_usd": total})
        return
    if not rows:
        click.echo("no source cost")
        return
    click.echo(f"{'organization':<16} {'period':<8} {'source':<20} {'cost USD':>12}  agent")
    for row in rows:
        click.echo(
            f"{row['organization']:<16} {row['period']:<8} {row['source']:<20}"
            f" {row['cost_usd']:>12,.2f}  {row['user_email']}"
        )
    click.echo(f"{'total':<46} {total:>12,.2f}  ({len(rows)} rows)")


def run_cost_import(path: str, url: str) -> dict[str, Any]:
    """Materialize `lead_source_costs` for the operator's file in this process (the run shows in
    the Dagster UI when DAGSTER_HOME is set); the import's result as `--json` prints it."""
    import dagster as dg

    from leadflow.cli.common import dagster_instance
    from leadflow.costs.assets import OperatorCostFiles, lead_source_costs
    from leadflow.resources import PostgresResource

    instance = dagster_instance()  # the instance `make dev`'s UI reads
    run = dg.materialize(
        [lead_source_costs],
        instance=instance,
        resources={"postgres": PostgresResource(url=url), "cost_files": OperatorCostFiles()},
        run_config={
            "ops": {"lead_source_costs": {"config": {"file": path}}},
            "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
        },
        raise_on_error=False,
        tags={"leadflow/trigger": "cli"},
    )
    for materialization in run.asset_materializations_for_node("lead_source_costs"):
        return cast(dict[str, Any], materialization.metadata["result"].value)  # JSON metadata
    for event in run.all_events:
        if event.is_step_failure:
            failure = event.step_failure_data
            metadata = failure.user_failure_data.metadata if failure.user_failure_data else {}
            if "result" in (metadata or {}):
                return cast(dict[str, Any], metadata["result"].value)  # JSON metadata
            fail(failure.error.message.strip() if failure.error else "the cost import failed")
    fail("the cost import run failed")
