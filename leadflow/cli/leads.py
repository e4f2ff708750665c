"""`leadflow leads import|assign|rejects`: lead files in, single leads reassigned, and the rows
an import quarantined."""

from __future__ import annotations

import click

from leadflow.cli.common import ensure_schema_current, invalidate_recommendations, postgres_url
from leadflow.cli.conventions import (
    BAD_REQUEST,
    EXIT_CODES_HELP,
    JSON_OPTION,
    deprecated,
    emit_json,
    fail,
)
from leadflow.cli.ingest import import_cmd
from leadflow.cli.resolve import ORG_HELP, USER_HELP, organization, user


@click.group(epilog=EXIT_CODES_HELP)
def leads() -> None:
    """Leads: import files, reassign a lead, list what an import quarantined.

    \b
    Examples:
      leadflow leads import seeds/sample/leads_summit_facebook.csv --org summit
      leadflow leads rejects
      leadflow leads assign LEAD_ID --to maya.chen@summit.example.com
    """


leads.add_command(import_cmd, "import")
#: the old name, `leadflow import`: hidden, prints a notice
import_alias = deprecated(import_cmd, "leadflow import", "leadflow leads import")


@leads.command("assign", epilog=EXIT_CODES_HELP)
@click.argument("lead_id")
@click.option("--to", "to_user", required=True, help=f"New owner: {USER_HELP}.")
@click.option("--reason", default=None, help="Why; stored in lead_assignments.reason.")
@click.option("--by", "acting_user", default=None, help=f"Acting user: {USER_HELP}.")
@JSON_OPTION
def assign(
    lead_id: str, to_user: str, reason: str | None, acting_user: str | None, as_json: bool
) -> None:
    """Give LEAD_ID to another user of its organization (strategy 'manual'). Runs directly,
    not through Dagster.

    Refused (exit 2, nothing changed) when the lead or user does not exist, the user is
    inactive or of another organization, or the lead is Do-Not-Call.

    \b
    Examples:
      leadflow leads assign 0b6f6a52-6c1e-4d5e-9f7a-1c2d3e4f5a6b --to maya.chen@summit.example.com
      leadflow leads assign LEAD_ID --to USER_ID --by daniel.brooks@summit.example.com --reason "holiday"
    """
    import psycopg

    from leadflow.crm.assignment_sql import ReassignError, reassign_lead
    from leadflow.leads.ids import canonical_uuid

    lead = canonical_uuid(lead_id)
    if lead is None:
        fail(f"LEAD_ID {lead_id!r} is not a UUID", BAD_REQUEST)
    url = postgres_url()
    ensure_schema_current(url)
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select organization_id::text from leads where id = %s", (lead,)
        ).fetchone()
        if row is None:
            fail(f"lead {lead} does not exist", BAD_REQUEST)
        org = row[0]
        # a user of another organization is found, and refused by reassign_lead in its words
        target = user(conn, to_user, org=org, option="--to", elsewhere=True)
        actor = (
            user(conn, acting_user, org=org, option="--by", elsewhere=True) if acting_user else None
        )
        try:
            result = reassign_lead(
                conn, lead, target.id, reason, assigned_by=actor.id if actor else None
            )
        except ReassignError as exc:
            conn.rollback()
            fail(str(exc), BAD_REQUEST)
    if result.changed:  # both agents' cached recommendation lists change now, not at their TTL
        invalidate_recommendations(url, [result.organization_id])
    if as_json:
        emit_json(
            {
                "lead_id": str(result.lead_id),
                "organization_id": str(result.organization_id),
                "changed": result.changed,
                "from_user_id": str(result.from_user_id) if result.from_user_id else None,
                "to_user_id": str(result.to_user_id),
                "reason": reason,
            }
        )
        return
    shown = f"lead {result.lead_id}" + (f" ({result.lead_name})" if result.lead_name else "")
    new = f"{result.to_email} ({result.to_user_id})"
    if not result.changed:
        click.echo(f"{shown}: already owned by {new}; nothing changed")
        return
    old = f"{result.from_email} ({result.from_user_id})" if result.from_user_id else "unassigned"
    suffix = f": {reason}" if reason else ""
    click.echo(f"{shown}: {old} -> {new} (manual{suffix})")


@leads.command("rejects", epilog=EXIT_CODES_HELP)
@click.option("--batch", "batch_id", default=None, help="Import batch id (default: the latest).")
@click.option("--org", default=None, help=ORG_HELP + " The latest batch of this organization.")
@click.option("--reason", default=None, help="Only rows quarantined for this reason.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@JSON_OPTION
def rejects(
    batch_id: str | None, org: str | None, reason: str | None, limit: int, as_json: bool
) -> None:
    """List the rows an import quarantined, with the reason: by batch (as `leads import` prints
    it), else the latest batch (of --org). `line` is where the row is in its file as an editor
    or a spreadsheet shows it (a CSV record's first line, the header and blank lines counted; a
    sheet's row number; null for a CRM record or a batch imported before migration 022); `row`
    the data row (1 = the first row after the header); `raw` the row as read.

    \b
    Examples:
      leadflow leads rejects
      leadflow leads rejects --org summit --reason invalid_phone
      leadflow leads rejects --batch BATCH_ID --json | jq '.rejects[].raw'
    """
    import psycopg
    from psycopg.rows import dict_row

    from leadflow.leads.ids import canonical_uuid

    if batch_id is not None and canonical_uuid(batch_id) is None:
        fail(f"--batch {batch_id!r} is not a batch id (a UUID)", BAD_REQUEST)
    url = postgres_url()
    ensure_schema_current(url)
    with psycopg.connect(url) as conn:
        org_id = organization(conn, org).id if org else None
        with conn.cursor(row_factory=dict_row) as cur:
            batch = cur.execute(
                """
                select id::text as batch_id, file_name, organization_id::text as organization_id,
                       status, rows_read, quarantined, started_at
                from import_batches
                where (%(batch)s::uuid is null or id = %(batch)s::uuid)
                  and (%(org)s::uuid is null or organization_id = %(org)s::uuid)
                order by started_at desc, id
                limit 1
                """,
                {"batch": canonical_uuid(batch_id) if batch_id else None, "org": org_id},
            ).fetchone()
            if batch is None:
                what = f"batch {batch_id}" if batch_id else "import batch"
                fail(f"no {what}" + (f" of organization {org}" if org else ""), BAD_REQUEST)
            params = {"batch": batch["batch_id"], "reason": reason, "limit": limit}
            rows = cur.execute(
                """
                select line_number as line, row_number as row, reason, detail, raw_row as raw
                from import_rejects
                where batch_id = %(batch)s and (%(reason)s::text is null or reason = %(reason)s)
                order by row_number, id
                limit %(limit)s
                """,
                params,
            ).fetchall()
            reasons = cur.execute(
                "select reason, count(*) as rows from import_rejects where batch_id = %(batch)s"
                " group by reason order by count(*) desc, reason",
                params,
            ).fetchall()
    if as_json:
        emit_json(
            {
                **batch,
                "reasons": {r["reason"]: r["rows"] for r in reasons},
                "shown": len(rows),
                "rejects": rows,
            }
        )
        return
    click.echo(
        f"batch {batch['batch_id']}  {batch['file_name']}  {batch['status']}  "
        f"read {batch['rows_read']:,}, quarantined {batch['quarantined']:,}"
    )
    if reasons:
        click.echo("  by reason  " + ", ".join(f"{r['reason']} {r['rows']:,}" for r in reasons))
    for row in rows:
        detail = f" ({row['detail']})" if row["detail"] else ""
        where = f"line {row['line']:>7}" if row["line"] is not None else f"row  {row['row']:>7}"
        click.echo(f"  {where}  {row['reason']}{detail}")
    if len(rows) < sum(r["rows"] for r in reasons if reason is None or r["reason"] == reason):
        click.echo(f"  … {len(rows)} shown; --limit N or --json for more")
