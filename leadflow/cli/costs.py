"""`leadflow costs import`: lead source costs and the budget ledger from a CSV/XLSX file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import psycopg

from leadflow.cli.common import postgres_url as _postgres_url
from leadflow.costs.sql import import_costs


@click.group()
def costs() -> None:
    """Lead source costs and the budget ledger."""


@costs.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def costs_import(path: Path, as_json: bool) -> None:
    """Upsert lead_source_costs from a CSV/XLSX file; each change writes a ledger row.

    Columns: user (id or e-mail), source, period (YYYY-MM), cost (or cost_usd, amount),
    optional organization_id. The file is refused as a whole (exit 1) when any row is bad.
    """
    url = _postgres_url()
    with psycopg.connect(url) as conn:
        result = import_costs(conn, path)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    elif result.errors:
        click.echo(f"costs: {path} refused, nothing imported ({len(result.errors)} problem(s)):")
        for error in result.errors:
            click.echo(f"  {error}")
    else:
        click.echo(
            f"costs: {path}: {result.status}; rows {result.rows_read}, inserted "
            f"{result.inserted}, updated {result.updated}, unchanged {result.unchanged}, "
            f"ledger rows {result.ledger_rows} (spend {result.spend_usd}, refund "
            f"{result.refund_usd})"
        )
    if result.errors:
        sys.exit(1)
