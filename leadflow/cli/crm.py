"""`leadflow crm …`: sync leads with the organizations' own CRMs (HubSpot, Salesforce,
Pipedrive) over their APIs. See README, "CRM sync".

    leadflow crm connect --org summit --vendor hubspot --base-url https://api.hubapi.com \
        --secret-env HUBSPOT_TOKEN_ACME
    leadflow crm sync   [--org ORG|all] [--connection NAME] [--json]   pull + load into leads
    leadflow crm push   [--org ORG|all] [--connection NAME] [--json]   status/score/DNC back
    leadflow crm status [--org ORG|all] [--json]

`--org`: UUID, slug or exact name (leadflow.cli.resolve); `all` (the default of sync, push and
status) is every organization. `sync` and `push` call the CRM sync code directly, not through
Dagster.

Exit codes (leadflow.cli.conventions): 0 all connections succeeded, 1 one failed (the others
still ran; the error names the connection) or PostgreSQL is unreachable, 2 a bad request
(unknown organization or connection, bad option, a base URL, token variable or option the
policy refuses, an outdated schema).

Everything printed passes the redactor (leadflow.redaction). With --org, each organization's
reads and writes run with that organization as the transaction's tenant (set_tenant): `status`
works with the application role; `sync` needs the pipeline role (it writes the raw tables) and
says so otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import click
import psycopg

from leadflow.cli import resolve
from leadflow.cli.common import ensure_schema_current
from leadflow.cli.common import postgres_url as _postgres_url
from leadflow.cli.conventions import (
    BAD_REQUEST,
    EXIT_CODES_HELP,
    FAILED,
    JSON_OPTION,
    Heartbeat,
    emit_json,
    fail,
)
from leadflow.crmsync.connections import (
    Connection,
    CrmConfigError,
    list_connections,
    save_connection,
)
from leadflow.crmsync.vendors import VENDORS
from leadflow.postgres import set_tenant
from leadflow.redaction import redact, redact_value


@click.group(epilog=EXIT_CODES_HELP)
def crm() -> None:
    """Sync leads with the organizations' CRMs (see README, "CRM sync").

    \b
    Examples:
      leadflow crm status
      leadflow crm sync --org summit
      leadflow crm push --connection summit-hubspot --json
    """


def _connect(url: str) -> Callable[[], AbstractContextManager[psycopg.Connection]]:
    return lambda: psycopg.connect(url)


def _connections(
    url: str, org: str | None, name: str | None, vendor: str | None = None
) -> list[Connection]:
    """The connections of --org (every organization's for `all` or none), by name and
    vendor; exit 2 for an unknown organization (the error lists the choices) or name."""
    org_id = None
    try:
        with psycopg.connect(url) as conn:
            scope = resolve.organizations(conn, org)
            if scope is not None:
                org_id = scope[0].id
                set_tenant(conn, org_id)
            found = list_connections(conn, org_id, vendor=vendor, name=name)
    except CrmConfigError as exc:
        fail(redact(str(exc)), BAD_REQUEST)
    except psycopg.errors.UndefinedTable:
        fail("the database is not migrated: run `leadflow db migrate`", BAD_REQUEST)
    except psycopg.errors.InsufficientPrivilege as exc:
        fail(redact(f"the database role may not read the CRM connections: {exc}"), BAD_REQUEST)
    if name and not found:
        fail(f"no CRM connection named {name!r}" + (f" for {org}" if org_id else ""), BAD_REQUEST)
    return found


def _echo(payload: Any, as_json: bool, lines: Callable[[Any], list[str]]) -> None:
    """Print the payload (JSON, or the lines made of it), redacted."""
    payload = redact_value(json.loads(json.dumps(payload, default=str)))
    if as_json:
        emit_json(payload)
    else:
        for line in lines(payload):
            click.echo(redact(line))


def _parse_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--option {pair!r}: expected KEY=VALUE", BAD_REQUEST)
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options


@crm.command("connect", epilog=EXIT_CODES_HELP)
@resolve.org_option(required=True)
@click.option("--vendor", required=True, type=click.Choice(VENDORS))
@click.option(
    "--base-url",
    required=True,
    help="API base URL on the vendor's host: https://api.hubapi.com,"
    " https://ACME.my.salesforce.com, https://ACME.pipedrive.com/api (other hosts"
    " only when listed in LEADFLOW_CRM_ALLOWED_HOSTS).",
)
@click.option(
    "--secret-env",
    required=True,
    help="NAME of the environment variable holding the API token (never the token):"
    " HUBSPOT_…, SALESFORCE_… or SF_…, PIPEDRIVE_… (the vendor's) or"
    " LEADFLOW_CRM_…; one variable per connection.",
)
@click.option(
    "--name", default=None, help="Connection name, unique per organization (default: the vendor)."
)
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="status_field / score_field / dnc_field (where leadflow writes back),"
    " owners={...} (vendor owner id -> user id), api_version, page_size.",
)
@click.option("--no-pull", is_flag=True, help="Never pull from this connection.")
@click.option("--no-push", is_flag=True, help="Never push to this connection.")
@JSON_OPTION
def connect(
    org: str,
    vendor: str,
    base_url: str,
    secret_env: str,
    name: str | None,
    options: tuple[str, ...],
    no_pull: bool,
    no_push: bool,
    as_json: bool,
) -> None:
    """Create or update an organization's CRM connection (the token stays in the variable
    --secret-env names; only its name is stored).

    \b
    Examples:
      leadflow crm connect --org summit --vendor hubspot --base-url https://api.hubapi.com \\
          --secret-env HUBSPOT_TOKEN_SUMMIT
      leadflow crm connect --org summit --vendor pipedrive --name summit-pd \\
          --base-url https://summit.pipedrive.com/api --secret-env PIPEDRIVE_TOKEN_SUMMIT --json
    """
    url = _postgres_url()
    ensure_schema_current(url, BAD_REQUEST)
    options_given = _parse_options(options)
    try:
        with psycopg.connect(url) as conn:
            organization = resolve.organization(conn, org)
            saved = save_connection(
                conn,
                organization=organization.id,
                vendor=vendor,
                base_url=base_url,
                secret_env=secret_env,
                name=name,
                options=options_given,
                pull_enabled=not no_pull,
                push_enabled=not no_push,
            )
    except CrmConfigError as exc:
        fail(redact(str(exc)), BAD_REQUEST)
    except psycopg.errors.InsufficientPrivilege:
        fail(
            "this database role may not write crm_connections: connections are the operator's,"
            " saved with the pipeline role's POSTGRES_URL",
            BAD_REQUEST,
        )
    payload = {
        "connection_id": saved.id,
        "organization_id": saved.organization_id,
        "vendor": saved.vendor,
        "name": saved.name,
        "base_url": saved.base_url,
        "secret_env": saved.secret_env,
    }
    _echo(
        payload,
        as_json,
        lambda p: [
            f"saved {p['vendor']} connection {p['name']!r}"
            f" ({p['connection_id']}), token from ${p['secret_env']}"
        ],
    )


def sync_lines(results: list[dict]) -> list[str]:
    lines = []
    for r in results:
        head = f"{r['organization']}/{r['connection']} ({r['vendor']}):"
        if r["status"] != "succeeded" and "error" in r and "push" not in r:
            lines.append(f"{head} FAILED: {r['error']}")
            continue
        if r["kind"] == "pull":
            pulled, loaded = r["pull"], r["load"]
            lines.append(
                f"{head} {pulled['mode']} pull fetched {pulled['fetched']};"
                f" read {loaded['rows_read']} = inserted {loaded['inserted']}"
                f" + merged {loaded['merged']} + duplicates {loaded['duplicates_in_file']}"
                f" + quarantined {loaded['quarantined']}; dnc {loaded['dnc']},"
                f" phone changes {loaded['phone_changes']} ({r['seconds']} s)"
            )
        else:
            p = r["push"]
            lines.append(
                f"{head} pushed {p['pushed']} of {p['candidates']} changed"
                f" ({p['unchanged']} already up to date, {p['dnc']} as do-not-call,"
                f" {p['failed']} refused) in {p['calls']} call(s)"
            )
            if r.get("error"):
                lines.append(f"  {r['error']}")
    return lines or ["no CRM connection to sync"]


def _run_each(kind: str, org: str, name: str | None, as_json: bool) -> None:
    url = _postgres_url()
    ensure_schema_current(url, BAD_REQUEST)
    from leadflow.cli.common import invalidate_recommendations
    from leadflow.crmsync.sync import push_back, sync_connection

    connections = _connections(url, org, name)
    results: list[dict] = []
    label = f"crm {'sync' if kind == 'pull' else 'push'}"
    with Heartbeat(label, lambda: f"{len(results)} of {len(connections)} connections done") as beat:
        for connection in connections:
            if kind == "pull" and connection.pull_enabled:
                results.append(sync_connection(_connect(url), url, connection))
            elif kind == "push" and connection.push_enabled:
                results.append(push_back(_connect(url), connection))
            else:
                continue
            beat.note(f"{connection.name}: {results[-1]['status']}")
    loaded = sorted({r["organization_id"] for r in results if r.get("load", {}).get("rows_read")})
    if loaded:  # the cached recommendations of the leads a pull changed go now
        invalidate_recommendations(url, loaded)
    payload = {
        "kind": kind,
        "connections": results,
        "failed": sum(r["status"] != "succeeded" for r in results),
    }
    _echo(payload, as_json, lambda p: sync_lines(p["connections"]))
    if payload["failed"]:
        raise SystemExit(FAILED)


_ORG_ALL = resolve.org_option(allow_all=True, default=resolve.ALL)
_SCOPE = [
    _ORG_ALL,
    click.option("--connection", "name", default=None, help="Only this connection (by name)."),
    JSON_OPTION,
]


def _scoped(command: Callable) -> Callable:
    for option in reversed(_SCOPE):
        command = option(command)
    return command


@crm.command("sync", epilog=EXIT_CODES_HELP)
@_scoped
def sync(org: str, name: str | None, as_json: bool) -> None:
    """Pull what changed in each CRM (everything the first time) and load it into leads. Runs
    directly, not through Dagster (the nightly job's CRM step runs the same code).

    \b
    Examples:
      leadflow crm sync
      leadflow crm sync --org summit --json
      leadflow crm sync --connection summit-hubspot
    """
    _run_each("pull", org, name, as_json)


@crm.command("push", epilog=EXIT_CODES_HELP)
@_scoped
def push(org: str, name: str | None, as_json: bool) -> None:
    """Write changed leads' status, score and do-not-call flag back to each CRM. Runs
    directly, not through Dagster.

    \b
    Examples:
      leadflow crm push
      leadflow crm push --org "Summit Talent Partners" --connection summit-pd --json
    """
    _run_each("push", org, name, as_json)


def _status_lines(payload: dict) -> list[str]:
    lines = []
    for c in payload["connections"]:
        lines.append(
            f"{c['organization']}/{c['connection']} ({c['vendor']}) {c['base_url']}"
            f" token ${c['secret_env']}"
        )
        for kind in ("pull", "push"):
            run = c[f"last_{kind}"]
            if run is None:
                lines.append(f"  last {kind}: never")
            else:
                counts = (
                    f"fetched {run['fetched']}"
                    if kind == "pull"
                    else (f"pushed {run['pushed']}, refused {run['push_failed']}")
                )
                lines.append(
                    f"  last {kind}: {run['status']} at {run['started_at']} ({counts})"
                    + (f": {run['error']}" if run["error"] else "")
                )
        lines.append(
            f"  linked records {c['linked_records']}, pushed {c['pushed_records']},"
            f" push watermark {c['pushed_until'] or '-'}"
        )
    return lines or ["no CRM connection: add one with `leadflow crm connect`"]


@crm.command("status", epilog=EXIT_CODES_HELP)
@_ORG_ALL
@JSON_OPTION
def status(org: str, as_json: bool) -> None:
    """Each connection: settings (no secret), cursors, watermark and the last pull and push.

    \b
    Examples:
      leadflow crm status
      leadflow crm status --org summit --json | jq '.connections[].last_pull.status'
    """
    url = _postgres_url()
    ensure_schema_current(url, BAD_REQUEST)
    from leadflow.crmsync.sync import connection_status

    connections = _connections(url, org, None)
    states = []
    with psycopg.connect(url) as conn:
        for connection in connections:  # one transaction per connection, its tenant set
            with conn.transaction():
                states.append(connection_status(conn, connection))
    _echo({"connections": states}, as_json, _status_lines)
