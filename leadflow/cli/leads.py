"""`leadflow leads …`: manual work on single leads (reassignment)."""

from __future__ import annotations

import uuid

import click
import psycopg

from leadflow.cli.common import fail as _fail
from leadflow.cli.common import invalidate_recommendations, postgres_url
from leadflow.crm.assignment_sql import ReassignError, reassign_lead


@click.group()
def leads() -> None:
    """Work on single leads."""


@leads.command("assign")
@click.argument("lead_id", type=click.UUID)
@click.option("--to", "to_user", type=click.UUID, required=True, help="New owner (user UUID).")
@click.option("--reason", default=None, help="Why; stored in lead_assignments.reason.")
@click.option("--by", "acting_user", type=click.UUID, default=None, help="Acting user (UUID).")
def assign(
    lead_id: uuid.UUID, to_user: uuid.UUID, reason: str | None, acting_user: uuid.UUID | None
) -> None:
    """Give LEAD_ID to another user of its organization (strategy 'manual').

    Refused (exit 1) when the lead or user does not exist, the user is inactive or of another
    organization, or the lead is Do-Not-Call.
    """
    url = postgres_url()
    with psycopg.connect(url) as conn:
        try:
            result = reassign_lead(conn, lead_id, to_user, reason, assigned_by=acting_user)
        except ReassignError as exc:
            conn.rollback()
            _fail(str(exc))
    lead = f"lead {result.lead_id}" + (f" ({result.lead_name})" if result.lead_name else "")
    new = f"{result.to_email} ({result.to_user_id})"
    if not result.changed:
        click.echo(f"{lead}: already owned by {new}; nothing changed")
        return
    old = f"{result.from_email} ({result.from_user_id})" if result.from_user_id else "unassigned"
    suffix = f": {reason}" if reason else ""
    click.echo(f"{lead}: {old} -> {new} (manual{suffix})")
    # both agents' cached recommendation lists change now, not when their TTL runs out
    invalidate_recommendations(url, [result.organization_id])
