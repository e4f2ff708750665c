"""`leadflow recommend --agent USER | --lead ID [--limit N] [--json]`: who to contact next, how
and why, read from the Redis cache (REDIS_URL, or the running local cache server); a miss, or
no cache, is served from PostgreSQL with the lead's current state. See README,
"Recommendations".
"""

from __future__ import annotations

import json
import logging

import click
import psycopg

from leadflow.cli.common import ensure_schema_current, fail, postgres_url, redis_url
from leadflow.leads.ids import canonical_uuid
from leadflow.recommend import cache

BAD_REQUEST = 2


def _agent(conn: psycopg.Connection, value: str) -> tuple[str, str, str]:
    """(user id, organization id, e-mail) of a user given by id or e-mail."""
    user = canonical_uuid(value)
    row = conn.execute(
        "select id::text, organization_id::text, email from users"
        " where id = %s or lower(email) = lower(%s)",
        (user, value),
    ).fetchone()
    if row is None:
        fail(f"unknown user {value!r} (a user id or e-mail)", code=BAD_REQUEST)
    return row


def _lead_org(conn: psycopg.Connection, value: str) -> tuple[str, str]:
    lead = canonical_uuid(value)
    row = (
        lead
        and conn.execute(
            "select id::text, organization_id::text from leads where id = %s", (lead,)
        ).fetchone()
    )
    if not row:
        fail(f"unknown lead {value!r}", code=BAD_REQUEST)
    return row


def _line(item: dict) -> list[str]:
    when = f" at {item['best_hour']:02d}:00" if item.get("best_hour") is not None else ""
    how = (
        f" by {item['channel']}"
        if item.get("channel") and item["action"] != item["channel"]
        else ""
    )
    head = (f"{item.get('rank') or '-':>3}. {item['name'] or item['lead_id']}  {item['phone_number']}"
            f"  [{item['status']}]  {item['action']}{how}{when}"
            f"  p={item['propensity']:.3f} ({item['ranked_by']})")  # fmt: skip
    return [head] + [f"       - {reason}" for reason in item["reasons"]]


@click.command()
@click.option("--agent", default=None, help="User id or e-mail: the agent's ranked list.")
@click.option("--lead", default=None, help="Lead id: that lead's recommendation.")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object and nothing else.")
def recommend(agent: str | None, lead: str | None, limit: int, as_json: bool) -> None:
    """Who to contact next, on which channel and hour, and why."""
    if bool(agent) == bool(lead):
        fail("give exactly one of --agent USER or --lead ID", code=BAD_REQUEST)
    url = postgres_url()
    ensure_schema_current(url, BAD_REQUEST)
    logging.getLogger("leadflow.recommend.cache").addHandler(_StderrWarnings())
    client = cache.connect(redis_url())
    connect = lambda: psycopg.connect(url)  # noqa: E731
    try:
        with psycopg.connect(url) as conn:
            if agent:
                user_id, org, email = _agent(conn, agent)
            else:
                lead_id, org = _lead_org(conn, lead)
        if agent:
            items, source = cache.agent_list(client, connect, org, user_id, limit)
            payload = {"agent": user_id, "email": email, "organization_id": org,
                       "source": source, "items": items}  # fmt: skip
        else:
            entry, source = cache.lead_entry(client, connect, org, lead_id)
            payload = {"lead": lead_id, "organization_id": org, "source": source, "item": entry}
    finally:
        if client is not None:
            client.close()
    if as_json:
        click.echo(json.dumps(payload, default=str))
        return
    if agent:
        click.echo(f"{email}: {len(items)} lead(s) to contact (from {source})")
        print_items(items)
    elif entry is None:
        click.echo(f"lead {lead_id}: no recommendation (DNC, recruited, deleted, or not scored"
                   f" yet; from {source})")  # fmt: skip
    else:
        click.echo(f"lead {lead_id} (from {source}):")
        for line in _line(entry):
            click.echo(line)


def print_items(items: list[dict], indent: str = "") -> None:
    for item in items:
        for line in _line(item):
            click.echo(indent + line)


class _StderrWarnings(logging.Handler):
    """The cache's warnings (Redis down) as one stderr line each, never a traceback."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"leadflow: warning: {record.getMessage()}", err=True)
