"""`leadflow demo`: the whole pipeline on the bundled sample data (what `make demo` runs)."""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from leadflow import settings
from leadflow.cli.common import mongo_resource, neo4j_resource, postgres_url, store_resources
from leadflow.cli.conventions import FAILED, emit_json, fail
from leadflow.cli.run import (
    output_to_log,
    prepare_dbt_project,
    print_run_summary,
    run_log_path,
    summarize_run,
)

if TYPE_CHECKING:  # each step imports what it runs: `leadflow demo --help` loads none of it
    from leadflow.crmsync.connections import Connection
    from leadflow.platform.crm_sandbox import ContractServer


#: the bundled sample files and the organization each is imported into (None: from its column)
DEMO_FILES = (
    ("leads_summit_facebook.csv", "11111111-1111-4111-8111-111111111111"),
    ("leads_northwind_mixed.csv", "22222222-2222-4222-8222-222222222222"),
    ("leads_multi_org.csv", None),
    ("leads_southern_cross.xlsx", "33333333-3333-4333-8333-333333333333"),
)


def _demo_nightly() -> bool:
    """Seed MongoDB with the sample activities, then run nightly_sync_job in-process:
    activities -> scores -> assignments -> nurture -> segments -> graph -> dbt marts."""
    from leadflow.cli.runner import run_nightly
    from leadflow.platform.seed import seed_mongo_activities

    seeded = seed_mongo_activities(mongo_resource().get_database())
    click.echo(f"\nactivities: {seeded} sample events added to MongoDB")
    click.echo("nightly_sync_job (in-process):")
    prepare_dbt_project()
    with output_to_log(run_log_path()) as log_path:
        summary = summarize_run(run_nightly(resources=store_resources()))
    print_run_summary(summary)
    click.echo(f"  log                  {log_path}")
    return bool(summary["success"])


def _demo_graph(url: str) -> bool:
    """Reconcile the graph the nightly job synced and show each organization's top referrers."""
    import psycopg

    from leadflow.graph.sync import reconcile_graph, top_referrers

    resource = neo4j_resource()
    driver, database = resource.get_driver(), resource.resolved_database()
    ok = True
    click.echo("\ngraph (Bolt):")
    try:
        with psycopg.connect(url) as conn:
            orgs = conn.execute("select id::text, slug from organizations order by slug").fetchall()
            for org, slug in orgs:
                check = reconcile_graph(conn, driver, database, org)
                ok &= check.ok
                top = top_referrers(driver, database, org, limit=3)
                leaders = ", ".join(_referrer(conn, r) for r in top[:2]) or "-"
                state = "matches PostgreSQL" if check.ok else f"DIFFERS {check.differences}"
                click.echo(
                    f"  {slug:<14}  leads {check.actual.get('Lead', 0):>5}  "
                    f"edges {sum(v for k, v in check.actual.items() if k.isupper()):>6}  "
                    f"{state}; top referrers {leaders}"
                )
    finally:
        driver.close()
    return ok


def _referrer(conn: Any, row: Mapping[str, Any]) -> str:
    """A top referrer as people read it: the lead's name (its id when it has none)."""
    found = conn.execute(
        "select trim(first_name || ' ' || last_name) from leads where id::text = %s",
        (str(row["id"]),),
    ).fetchone()
    return f"{(found and found[0]) or row['id']} ({row['referrals']})"


DEMO_CRM_ORG = "11111111-1111-4111-8111-111111111111"
DEMO_CRM_NAME = "demo-hubspot"
DEMO_CRM_TOKEN_ENV = "HUBSPOT_TOKEN_DEMO"
DEMO_CRM_RECORDS = 400
DEMO_CRM_CHANGED = 12


def _start_demo_crm(url: str) -> tuple[ContractServer, Connection]:
    """A local HubSpot contract server with the demo's contacts, and the demo organization's
    connection to it (made anew each run: its cursor, links and runs start empty)."""
    import psycopg

    from leadflow.crmsync.connections import save_connection
    from leadflow.platform.crm_sandbox import generate_records, sandbox

    server = sandbox("hubspot", token=secrets.token_hex(16), page_size=100)
    server.start()
    server.add(generate_records("hubspot", DEMO_CRM_RECORDS, seed=2026))
    # this process only, as a deployment would
    settings.set_in_this_process(DEMO_CRM_TOKEN_ENV, server.token)
    # a loopback server is no HubSpot host: the deployment (this process) lists it
    listed = settings.current().crm_allowed_hosts
    host = server.base_url.removeprefix("http://")
    variable = settings.Settings.crm_allowed_hosts.name
    settings.set_in_this_process(variable, f"{listed},{host}" if listed else host)
    with psycopg.connect(url) as conn:
        conn.execute(
            "delete from crm_connections where organization_id = %s and name = %s",
            (DEMO_CRM_ORG, DEMO_CRM_NAME),
        )
        connection = save_connection(
            conn,
            organization=DEMO_CRM_ORG,
            vendor="hubspot",
            base_url=server.base_url,
            secret_env=DEMO_CRM_TOKEN_ENV,
            name=DEMO_CRM_NAME,
        )
    return server, connection


def _demo_crm_pull(url: str, server: ContractServer, connection: Connection) -> bool:
    """One full pull, then a second pull after some contacts changed in the CRM."""
    import psycopg

    from leadflow.cli.crm import sync_lines
    from leadflow.crmsync.sync import sync_connection

    click.echo(
        f"\nCRM sync: local HubSpot contract server {server.base_url}"
        f" ({DEMO_CRM_RECORDS} contacts), connection {connection.name!r}"
    )
    first = sync_connection(lambda: psycopg.connect(url), url, connection)
    # what a recruiter does in HubSpot between two pulls: reaches a contact and moves it on
    # (status and lifecycle stage; nobody is renamed, the CRM's people stay who they are)
    for record in server.records()[:DEMO_CRM_CHANGED]:
        server.update(
            record["id"],
            properties={
                **record["properties"],
                "hs_lead_status": "CONNECTED",
                "lifecyclestage": "salesqualifiedlead",
            },
        )
    second = sync_connection(lambda: psycopg.connect(url), url, connection)
    for line in sync_lines([first, second]):
        click.echo(f"  {line}")
    return bool(first["status"] == second["status"] == "succeeded")


def _demo_crm_push(url: str, server: ContractServer, connection: Connection) -> bool:
    """After the nightly job (scores, DNC): status, score and DNC back to the CRM."""
    import psycopg

    from leadflow.cli.crm import sync_lines
    from leadflow.crmsync.sync import push_back

    pushed = push_back(lambda: psycopg.connect(url), connection)
    for line in sync_lines([pushed]):
        click.echo(f"  {line}")
    click.echo(f"  the server received {len(server.updates)} record updates")
    return bool(pushed["status"] == "succeeded")


def _demo_recommendations(url: str) -> bool:
    """One agent's list as `leadflow recommend --agent` shows it, and each model's verdict."""
    import psycopg

    from leadflow.cli.common import redis_url
    from leadflow.cli.recommend import print_items
    from leadflow.recommend import cache

    with psycopg.connect(url) as conn:
        models = conn.execute(
            """
            select distinct on (m.organization_id) o.slug, m.version, m.status,
                   m.metrics ->> 'auc', m.baseline ->> 'auc', m.metrics ->> 'holdout_leads'
            from lead_conversion_models m join organizations o on o.id = m.organization_id
            order by m.organization_id, m.version desc
            """
        ).fetchall()
        top = conn.execute(
            """
            select r.user_id::text, u.email, r.organization_id::text, count(*)
            from lead_recommendations r join users u on u.id = r.user_id
            group by 1, 2, 3 order by count(*) desc, u.email limit 1
            """
        ).fetchone()
    click.echo("\nrecommendations:")
    for slug, version, status, auc, baseline, holdout in models:
        figures = f"AUC {auc} vs rule {baseline} on {holdout} holdout leads" if auc else "no model"
        click.echo(f"  {slug:<14} model v{version} {status} ({figures})")
    if top is None:
        click.echo("  no lead to recommend")
        return True
    user, email, org, count = top
    client = cache.connect(redis_url())
    try:
        items, source = cache.agent_list(client, lambda: psycopg.connect(url), org, user, 5)
    finally:
        if client is not None:
            client.close()
    click.echo(f"  leadflow recommend --agent {email} --limit 5  ({count} leads; from {source})")
    print_items(items, indent="  ")
    return bool(items)


def _demo_report(url: str) -> bool:
    """Write the HTML report and print the first lines of every mart."""
    import psycopg

    from leadflow.analytics import report

    out = settings.current().report_path
    try:
        written = report.write_report(url, out)
        with psycopg.connect(url) as conn:
            preview = report.mart_preview(conn)
    except (report.ReportError, psycopg.Error, OSError) as exc:
        click.echo(f"\nreport: FAILED: {exc}")
        return False
    click.echo("\nanalytics marts (schema analytics):")
    for mart, lines in preview.items():
        click.echo(f"  {mart}")
        for line in lines:
            click.echo(f"    {line}")
    click.echo(f"\nreport: {written.path} ({written.bytes} bytes)")
    return True


@click.command()
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object on stdout (the walk-through goes to stderr).",
)
def demo(as_json: bool) -> None:
    """Start the local servers, then run the pipeline on the bundled sample data and print what
    is in the database (servers named by POSTGRES_URL / NEO4J_URI / MONGO_URL are used instead).
    The imports and the nightly run through Dagster, in this process.

    \b
    Examples:
      make demo
      leadflow demo --json | jq .tables
    """
    if not as_json:
        summary = _demo()
    else:
        with contextlib.redirect_stdout(sys.stderr):
            summary = _demo()
        emit_json(summary)
    if not summary["success"]:
        sys.exit(FAILED)


def _demo() -> dict[str, Any]:
    """The demo's walk-through (printed), and its summary."""
    from leadflow.cli.ingest import check_results, print_summary
    from leadflow.cli.runner import ImportFailed, run_import_assets
    from leadflow.ingest.pipeline import ImportRequest, ImportRequestError
    from leadflow.platform import migrations
    from leadflow.platform.seed import (
        SeedError,
        load_sample_dnc,
        load_sample_history,
        load_seed,
        table_counts,
    )
    from leadflow.platform.services import ServiceError, local_env
    from leadflow.redaction import mask_url
    from leadflow.resources import PostgresResource

    try:
        local_env(start=True)
    except ServiceError as exc:
        fail(str(exc))
    url = postgres_url()
    try:
        migrations.migrate_up(url)
        load_seed(url)
    except (migrations.MigrationError, SeedError) as exc:
        fail(str(exc))
    sample = settings.seeds_dir() / "sample"
    added = load_sample_dnc(url, sample / "dnc_phones.json")
    click.echo(f"leadflow demo: database {mask_url(url)}")
    click.echo(f"dnc_list: {added} sample numbers added")
    history = load_sample_history(url, sample / "history.json")
    click.echo(
        "history: a year of CRM history up to now ("
        + ", ".join(f"{table} +{rows}" for table, rows in history.items())
        + ")\n"
    )
    failed = False
    for name, org in DEMO_FILES:
        request = ImportRequest(files=[str(sample / name)], org=org)
        try:
            summaries, result = run_import_assets(request, PostgresResource(url=url))
        except (ImportFailed, ImportRequestError) as exc:
            fail(f"{name}: {exc}")
        failed |= any(f["status"] == "failed" for f in summaries)
        print_summary(summaries, check_results(result))
    server, connection = _start_demo_crm(url)
    try:
        failed |= not _demo_crm_pull(url, server, connection)
        failed |= not _demo_nightly()
        click.echo("\nCRM push (after the nightly scores):")
        failed |= not _demo_crm_push(url, server, connection)
    finally:
        server.stop()
    failed |= not _demo_recommendations(url)
    counts = table_counts(url)
    click.echo(f"\n{'table':<32} {'rows':>8}")
    for table, count in counts.items():
        click.echo(f"{table:<32} {count:>8}")
    failed |= not _demo_graph(url)
    failed |= not _demo_report(url)
    slugs = _what_next(url)
    return {
        "success": not failed,
        "database": mask_url(url),
        "tables": counts,
        "report": str(settings.current().report_path),
        "organizations": slugs,
    }


def _what_next(url: str) -> list[str]:
    """Where to look next; the local servers keep running. The organizations' slugs."""
    import psycopg

    with psycopg.connect(url) as conn:
        slugs = [row[0] for row in conn.execute("select slug from organizations order by slug")]
    click.echo("\nwhat next (the local servers keep running):")
    click.echo(f"  open the report           {settings.current().report_path}")
    click.echo(
        f"  Dagster UI                make dev   (http://127.0.0.1:{settings.current().ui_port})"
    )
    click.echo('  SQL                       psql "$(.venv/bin/leadflow db url)"')
    click.echo("  organizations, users      leadflow orgs list, leadflow users list --org SLUG")
    click.echo(f"  organizations             {', '.join(slugs)}  (--org SLUG)")
    click.echo("  stop the servers          make down")
    return slugs
