"""`leadflow recommend --agent USER | --lead ID [--org ORG] [--limit N] [--json]`: who to contact
next, how and why, read from the Redis cache (REDIS_URL, or the running local cache server); a
miss, or no cache, is served from PostgreSQL with the lead's current state, and a hit only after
PostgreSQL confirmed its leads are still servable (never a DNC lead). Every read runs in one
transaction scoped to the organization, so the command works as an application role under
row-level security. See README, "Recommendations". `--org` (UUID, slug or exact name) and
`--agent` (user id or e-mail) go through leadflow.cli.resolve: unknown ones exit 2.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import psycopg

from leadflow.cli import resolve
from leadflow.cli.common import ensure_schema_current, postgres_url, redis_url
from leadflow.cli.conventions import BAD_REQUEST, EXIT_CODES_HELP, JSON_OPTION, emit_json, fail
from leadflow.leads.ids import canonical_uuid
from leadflow.postgres import one_row, set_tenant
from leadflow.recommend import cache
from leadflow.recommend.hours import hour_window

RLS_HINT = (
    "a role under row-level security sees no user, lead or organization before its tenant is"
    " set: give --org with the organization's UUID"
)


def _agent(conn: psycopg.Connection, value: str, org: str | None) -> resolve.User:
    """The user --agent names (id or e-mail, in `org` when given); exit 2 otherwise. A role
    under row-level security sees no user before its tenant is set: without --org the error
    says so."""
    if (
        org is None
        and not one_row(conn.execute("select exists (select from users)"))[0]
        and one_row(conn.execute("select row_security_active('users')"))[0]
    ):
        fail(f"unknown user --agent {value!r}: {RLS_HINT}", BAD_REQUEST)
    return resolve.user(conn, value, org=org, option="--agent")


def _lead_org(conn: psycopg.Connection, value: str, org: str | None) -> tuple[str, str]:
    lead = canonical_uuid(value)
    row = (
        lead
        and conn.execute(
            "select id::text, organization_id::text from leads"
            " where id = %s and (%s::uuid is null or organization_id = %s::uuid)",
            (lead, org, org),
        ).fetchone()
    )
    if not row:
        fail(f"unknown lead {value!r}" + ("" if org else f" ({RLS_HINT})"), BAD_REQUEST)
    return row


def score_text(item: dict) -> str:
    """A probability only when a model produced it ("p=0.734 (model v3)"); ranked by the rule
    score, the score itself ("rule score 51"): the rule score / 100 is no probability."""
    if item.get("score_kind", item.get("ranked_by")) == "model":
        version = f" v{item['model_version']}" if item.get("model_version") else ""
        return f"p={float(item['propensity']):.3f} (model{version})"
    return f"rule score {item['rule_score']}"


def _line(item: dict) -> list[str]:
    window = item.get("best_window") or hour_window(item.get("best_hour"), item.get("timezone"))
    when = f" {window}" if window else ""
    how = (
        f" by {item['channel']}"
        if item.get("channel") and item["action"] != item["channel"]
        else ""
    )
    head = (
        f"{item.get('rank') or '-':>3}. {item['name'] or item['lead_id']}  {item['phone_number']}"
        f"  [{item['status']}]  {item['action']}{how}{when}  {score_text(item)}"
    )
    return [head] + [f"       - {reason}" for reason in item["reasons"]]


@click.command(epilog=EXIT_CODES_HELP)
@click.option("--agent", default=None, help=f"The agent's ranked list: {resolve.USER_HELP}.")
@click.option("--lead", default=None, help="Lead id: that lead's recommendation.")
@click.option(
    "--org",
    default=None,
    help=resolve.ORG_HELP + " Every read is scoped to it (its tenant set for the"
    " transaction). Needed when POSTGRES_URL is a role under row-level security"
    " (give the UUID); default: the agent's or lead's organization.",
)
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True)
@JSON_OPTION
def recommend(
    agent: str | None, lead: str | None, org: str | None, limit: int, as_json: bool
) -> None:
    """Who to contact next, on which channel and hour, and why.

    \b
    Examples:
      leadflow recommend --agent priya.patel@summit.example.com
      leadflow recommend --org summit --agent priya.patel@summit.example.com --limit 5 --json
      leadflow recommend --lead b1000000-0000-4000-8000-000000000003
    """
    if bool(agent) == bool(lead):
        fail("give exactly one of --agent USER or --lead ID", BAD_REQUEST)
    url = postgres_url()
    ensure_schema_current(url, BAD_REQUEST)
    logging.getLogger("leadflow.recommend.cache").addHandler(_StderrWarnings())
    client = cache.connect(redis_url())
    try:
        # one connection, one transaction scoped to the organization: the lookups, the check of
        # every cached entry and the reads of a miss all run as that tenant
        with psycopg.connect(url) as conn:
            scoped = resolve.organization(conn, org).id if org else None
            if agent:
                found = _agent(conn, agent, scoped)
                user_id, organization, email = found.id, found.organization_id, found.email
            else:
                assert lead is not None  # exactly one of --agent and --lead (checked above)
                lead_id, organization = _lead_org(conn, lead, scoped)
            set_tenant(conn, organization)

            @contextmanager
            def held() -> Iterator[psycopg.Connection]:
                yield conn

            if agent:
                items, source = cache.agent_list(client, held, organization, user_id, limit)
                payload: dict[str, Any] = {
                    "agent": user_id,
                    "email": email,
                    "organization_id": organization,
                    "source": source,
                    "items": items,
                }
            else:
                entry, source = cache.lead_entry(client, held, organization, lead_id)
                payload = {
                    "lead": lead_id,
                    "organization_id": organization,
                    "source": source,
                    "item": entry,
                }
    except psycopg.OperationalError as exc:  # nothing unchecked is served
        fail(f"PostgreSQL unavailable, no recommendation served: {exc}".strip())
    finally:
        if client is not None:
            client.close()
    if as_json:
        emit_json(payload)
        return
    if agent:
        click.echo(f"{email}: {len(items)} lead(s) to contact (from {source})")
        print_items(items)
    elif entry is None:
        click.echo(
            f"lead {lead_id}: no recommendation (DNC, recruited, deleted, or not scored"
            f" yet; from {source})"
        )
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
