"""`leadflow graph …`: sync the CRM graph, reconcile it, and the queries users ask of it.

The graph in use is NEO4J_URI (or the running local Bolt server) and NEO4J_DATABASE (default
`neo4j`). See README, "Graph". Every command checks the PostgreSQL schema and resolves its
organization (`--org`: UUID, slug or exact name) or user (id or e-mail) there first
(leadflow.cli.resolve): an unknown one exits 2 before the graph is touched.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import click
import psycopg

from leadflow.cli import resolve
from leadflow.cli.common import ensure_schema_current, neo4j_resource
from leadflow.cli.common import postgres_url as _postgres_url
from leadflow.cli.conventions import (
    BAD_REQUEST,
    DIFFERENCES,
    EXIT_CODES_HELP,
    JSON_OPTION,
    Heartbeat,
    emit_json,
)
from leadflow.cli.conventions import fail as _fail
from leadflow.graph.model import DEFAULT_BATCH_SIZE
from leadflow.graph.names import lead_names, name_rows, user_names
from leadflow.ingest.referrals_sql import resolve_pending_referrals
from leadflow.leads.ids import canonical_uuid
from leadflow.postgres import UnknownOrganization, organization_ids, set_tenant

if TYPE_CHECKING:  # the Bolt driver loads when a command talks to the graph
    from neo4j import Driver

    from leadflow.graph.sync import GraphReconciliation, OrgGraphSync

T = TypeVar("T")


@click.group(epilog=EXIT_CODES_HELP)
def graph() -> None:
    """The CRM graph in Neo4j / the local Bolt server (see README, "Graph").

    \b
    Examples:
      leadflow graph sync
      leadflow graph reconcile --org summit
      leadflow graph top-referrers --org summit --limit 5
    """


def _uuid(value: str, what: str) -> str:
    canonical = canonical_uuid(value)
    if canonical is None:
        _fail(f"{what}: not a UUID: {value!r}", BAD_REQUEST)
    return canonical


def _checked_url() -> str:
    """POSTGRES_URL, its schema checked (exit 2 when outdated)."""
    url = _postgres_url()
    ensure_schema_current(url, BAD_REQUEST)
    return url


def _graph_db() -> ModuleType:
    """leadflow.graph.sync, loaded with the Bolt driver once a command talks to the graph."""
    from leadflow.graph import sync

    return sync


def _with_graph(action: Callable[[Any, str], T]) -> T:
    """Run `action(driver, database)`, turning connection problems into one-line errors. The
    Bolt driver loads here, once the arguments are checked."""
    from neo4j.exceptions import Neo4jError, ServiceUnavailable

    resource = neo4j_resource()
    try:
        driver = resource.get_driver()
        database = resource.resolved_database()
        try:
            return action(driver, database)
        finally:
            driver.close()
    except ServiceUnavailable as exc:
        _fail(f"graph server unreachable: {exc}")
    except Neo4jError as exc:
        _fail(f"graph query failed: {exc.message or exc}")
    except UnknownOrganization as exc:
        _fail(str(exc), BAD_REQUEST)
    except psycopg.errors.UndefinedTable:
        _fail("the database is not migrated: run `leadflow db migrate`", BAD_REQUEST)
    except psycopg.Error as exc:
        _fail(f"PostgreSQL: {str(exc).strip().splitlines()[0]}")
    raise AssertionError("unreachable")


def _resolve_referrals(url: str, orgs: list[str] | None) -> dict[str, int]:
    """Pending referrals linked first, one transaction per organization, as the nightly's
    `lead_referrals` step does before the graph sync (which only reads PostgreSQL)."""
    resolved = {}
    with psycopg.connect(url) as conn:
        targets = orgs if orgs is not None else organization_ids(conn)
        conn.commit()
        for org in targets:
            set_tenant(conn, org)
            resolved[org] = resolve_pending_referrals(conn, org)
            conn.commit()
    return resolved


@graph.command("sync", epilog=EXIT_CODES_HELP)
@resolve.org_option(allow_all=True, default=resolve.ALL)
@click.option(
    "--full", is_flag=True, help="Full resync instead of the changes since the watermark."
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Rows per graph transaction.",
)
@JSON_OPTION
def sync(org: str, full: bool, batch_size: int, as_json: bool) -> None:
    """Sync organizations, users, leads, assignments and referrals into the graph. Runs
    directly, not through Dagster (the nightly job runs the same sync as its graph step).

    \b
    Examples:
      leadflow graph sync
      leadflow graph sync --org summit --full
      leadflow graph sync --json | jq '.organizations[].nodes_merged'
    """
    url = _checked_url()
    orgs = resolve.organization_ids(url, org)

    batches = {"sent": 0}

    def counted(org: str, phase: str, done: int) -> None:
        batches["sent"] += 1

    def action(driver: Driver, database: str) -> list[OrgGraphSync]:
        resolved = _resolve_referrals(url, orgs)
        with (
            psycopg.connect(url) as conn,
            Heartbeat("graph sync", lambda: f"{batches['sent']:,} batches written"),
        ):
            results: list[OrgGraphSync] = _graph_db().sync_graph(
                conn, driver, database, orgs, full=full, batch_size=batch_size, on_batch=counted
            )
        for result in results:
            result.referrals_resolved = resolved.get(result.organization_id, 0)
        return results

    results = _with_graph(action)
    if as_json:
        emit_json({"organizations": [r.as_dict() for r in results]})
        return
    for r in results:
        click.echo(
            f"{r.organization_id} {r.mode:<11} nodes {r.nodes_merged}, edges {r.edges_merged}, "
            f"leads removed {r.leads_removed}, edges removed {r.edges_removed}, "
            f"{r.batches} batches, {r.seconds:.2f}s"
        )


@graph.command("reconcile", epilog=EXIT_CODES_HELP)
@resolve.org_option(allow_all=True)
@click.option(
    "--full",
    is_flag=True,
    help="The full comparison (every identity, every lead) instead of the counts and the leads "
    "changed since the last passing one; it also runs weekly on its own.",
)
@JSON_OPTION
def reconcile(org: str | None, full: bool, as_json: bool) -> None:
    """Compare the graph per organization with PostgreSQL (every organization without --org):
    exit 3 when they differ, 1 when the graph cannot be read.

    \b
    Examples:
      leadflow graph reconcile
      leadflow graph reconcile --org summit --full
      leadflow graph reconcile --json || echo "graph differs (3) or unreachable (1)"
    """
    url = _checked_url()
    selected = resolve.organization_ids(url, org)
    requested = "requested (--full)" if full else None

    def action(driver: Driver, database: str) -> list[GraphReconciliation]:
        with psycopg.connect(url) as conn:
            orgs = selected if selected is not None else organization_ids(conn)
            conn.commit()
            return [
                _graph_db().reconcile_graph(conn, driver, database, o, full_requested=requested)
                for o in orgs
            ]

    results = _with_graph(action)
    ok = all(r.ok for r in results)
    if as_json:
        emit_json({"ok": ok, "organizations": [r.as_dict() for r in results]})
    else:
        for r in results:
            if r.ok:
                click.echo(
                    f"{r.organization_id} ok ({_counts(r.actual)}); {r.mode}, "
                    f"{r.rows_compared} leads compared"
                )
                continue
            click.echo(f"{r.organization_id} DIFFERS")
            for key, (expected, actual) in r.differences.items():
                sample = ", ".join(r.samples.get(key, []))
                click.echo(f"  {key}: postgres {expected}, graph {actual}  {sample}")
            if r.rows_differing:
                click.echo(f"  leads: {r.rows_differing} of {r.rows_compared} differ")
                for line in r.row_samples:
                    click.echo(f"    {line}")
    if not ok:
        raise SystemExit(DIFFERENCES)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items())


@graph.command("referral-chain", epilog=EXIT_CODES_HELP)
@click.argument("lead_id")
@click.option(
    "--depth",
    type=click.IntRange(min=0, max=100),
    default=10,
    show_default=True,
    help="Hops to follow.",
)
@JSON_OPTION
def referral_chain(lead_id: str, depth: int, as_json: bool) -> None:
    """Who referred LEAD_ID, who referred them, and so on. Exit 2 if the lead is not in the
    graph.

    \b
    Examples:
      leadflow graph referral-chain b1000000-0000-4000-8000-000000000003
      leadflow graph referral-chain LEAD_ID --depth 2 --json
    """
    lead = _uuid(lead_id, "LEAD_ID")
    url = _checked_url()

    def action(driver: Driver, database: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = _graph_db().referral_chain(
            driver, database, lead, max_depth=depth
        )
        if rows:
            with psycopg.connect(url) as conn:
                name_rows(conn, rows[0]["organization_id"], rows)
        return rows

    chain = _with_graph(action)
    if not chain:
        _fail(f"lead {lead} is not in the graph (run `leadflow graph sync`)", BAD_REQUEST)
    if as_json:
        emit_json({"lead_id": lead, "chain": chain})
        return
    for row in chain:
        label = "lead" if row["depth"] == 0 else f"referrer {row['depth']}"
        click.echo(
            f"{label:<11} {row['id']}  {row['status'] or '':<10} {_name(row['name']):<24}"
            f"  score {row['score']}  source {row['source'] or '-'}"
            f"  owner {_owner(row)}"
        )
    if len(chain) == 1:
        click.echo("no known referrer")


@graph.command("top-referrers", epilog=EXIT_CODES_HELP)
@resolve.org_option(required=True)
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True)
@JSON_OPTION
def top_referrers(org: str, limit: int, as_json: bool) -> None:
    """Leads of an organization that referred the most other leads.

    \b
    Examples:
      leadflow graph top-referrers --org summit
      leadflow graph top-referrers --org "Northwind Recruiting" --limit 3 --json
    """
    url = _checked_url()
    with psycopg.connect(url) as conn:
        organization = resolve.organization(conn, org).id

    def action(driver: Driver, database: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = _graph_db().top_referrers(
            driver, database, organization, limit=limit
        )
        with psycopg.connect(url) as conn:
            return name_rows(conn, organization, found)

    rows = _with_graph(action)
    if as_json:
        emit_json({"organization_id": organization, "referrers": rows})
        return
    if not rows:
        click.echo(f"no referrals in organization {organization}")
        return
    click.echo(f"{'lead':<36}  {'referrals':>9}  {'status':<10} {'score':>5}  {'name':<24}  owner")
    for row in rows:
        click.echo(
            f"{row['id']:<36}  {row['referrals']:>9}  {row['status'] or '':<10}"
            f" {row['score']:>5}  {_name(row['name']):<24}  {_owner(row)}"
        )


@graph.command("agent-reach", epilog=EXIT_CODES_HELP)
@click.argument("user_id", metavar="USER")
@click.option(
    "--depth",
    type=click.IntRange(min=1, max=100),
    default=3,
    show_default=True,
    help="Referral hops to follow from the agent's leads.",
)
@resolve.org_option()
@JSON_OPTION
def agent_reach(user_id: str, depth: int, org: str | None, as_json: bool) -> None:
    """An agent's leads and the leads those referred, per depth. USER: a user id or e-mail
    (`leadflow users list`); --org when the e-mail is a user's in several organizations. Exit 2
    for an unknown user.

    \b
    Examples:
      leadflow graph agent-reach daniel.brooks@summit.example.com
      leadflow graph agent-reach a1000000-0000-4000-8000-000000000002 --depth 2 --json
    """
    url = _checked_url()
    with psycopg.connect(url) as conn:
        scope = resolve.organization(conn, org).id if org else None
        user = resolve.user(conn, user_id, org=scope, option="USER").id

    def action(driver: Driver, database: str) -> dict[str, Any]:
        found: dict[str, Any] = _graph_db().agent_reach(driver, database, user, max_depth=depth)
        found["name"], found["lead_names"] = None, {}
        if found["found"] and found["organization_id"]:
            org = found["organization_id"]
            shown = [item["id"] for item in found["lead_sample"] + found["reach_sample"]]
            with psycopg.connect(url) as conn:
                found["name"] = user_names(conn, org, [user]).get(user)
                found["lead_names"] = lead_names(conn, org, shown)
        return found

    reach = _with_graph(action)
    if not reach["found"]:
        _fail(f"user {user} is not in the graph (run `leadflow graph sync`)", BAD_REQUEST)
    if as_json:
        emit_json(reach)
        return
    statuses = ", ".join(f"{k} {v}" for k, v in reach["leads_by_status"].items())
    who = (
        f"{reach['name']} (user {user}, {reach['role']})"
        if reach["name"]
        else f"user {user} ({reach['role']})"
    )
    click.echo(f"{who}: {reach['leads']} lead(s){': ' if statuses else ''}{statuses}")
    by_depth = ", ".join(f"depth {k}: {v}" for k, v in reach["reach_by_depth"].items())
    click.echo(
        f"referral reach (up to {depth} hops): {reach['reach_total']} lead(s)"
        f"{' (' + by_depth + ')' if by_depth else ''}"
    )
    for item in reach["reach_sample"]:
        click.echo(
            f"  depth {item['depth']}  {item['id']}  {_name(reach['lead_names'].get(item['id']))}"
        )


def _name(name: str | None) -> str:
    return name or "-"


def _owner(row: dict[str, Any]) -> str:
    """The owner's name; its id when it has no name in PostgreSQL; "-" for no owner."""
    return row.get("owner_name") or row.get("owner_id") or "-"
