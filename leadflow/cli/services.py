"""`leadflow local up|down|status|env` and `leadflow db url|roles|grant-analyst|revoke-analyst`:
the local servers of the platform, where the stores are, and the deployment's roles.

`up` and `status` never print a password (URLs are shown as postgresql://leadflow:****@db/crm);
`env` and `db url` print the real values, since their output is meant for `eval` and `psql`.
"""

from __future__ import annotations

import shlex

import click

from leadflow import settings
from leadflow.cli.common import postgres_url
from leadflow.cli.conventions import BAD_REQUEST, JSON_OPTION, deprecated, emit_json, fail
from leadflow.platform.services import (
    ALL_SERVICES,
    GraphService,
    ServiceError,
    ServiceStatus,
    local_env,
)
from leadflow.platform.services.base import LocalService
from leadflow.postgres import one_row
from leadflow.redaction import mask_url, redact

SERVICE_NAMES = [service.name for service in ALL_SERVICES]


def _selected(names: tuple[str, ...]) -> list[LocalService]:
    wanted = set(names) or set(SERVICE_NAMES)
    return [service() for service in ALL_SERVICES if service.name in wanted]


def _shown(text: str) -> str:
    """What `up` and `status` may print: passwords of URLs, and NEO4J_PASSWORD, masked."""
    return redact(text, [settings.current().neo4j_password])


def _shown_status(status: ServiceStatus) -> ServiceStatus:
    status.url = mask_url(status.url)
    status.detail = {key: _shown(str(value)) for key, value in status.detail.items()}
    return status


def _graph_server_agent(status: ServiceStatus) -> str | None:
    """The Bolt server's own name and version (e.g. 'Neo4j/5.26.0 compatible (ArcadeDB …)')."""
    if status.url is None:
        return None
    from leadflow.platform.services.graph import graph_auth
    from leadflow.resources import Neo4jResource

    user, password = graph_auth()
    try:
        return Neo4jResource(uri=status.url, user=user, password=password).server_agent()
    except Exception as exc:  # status must report, not crash, whatever the server says
        return f"unreachable: {exc.__class__.__name__}: {exc}"


@click.group()
def local() -> None:
    """The local servers: PostgreSQL, the Bolt graph server, MongoDB-wire and Redis, installed
    and started under LEADFLOW_HOME (a variable naming an external server leaves it alone).

    \b
    Examples:
      leadflow local up
      eval "$(leadflow local env)"
      leadflow local status --json
    """


@local.command()
@click.argument("services", nargs=-1, type=click.Choice(SERVICE_NAMES))
@JSON_OPTION
def up(services: tuple[str, ...], as_json: bool) -> None:
    """Start the local servers (all, or the ones named); reuse those already running. Prints
    each one's URL with its password masked.

    \b
    Examples:
      leadflow local up
      leadflow local up postgres redis
    """
    started = {}
    for service in _selected(services):
        try:
            url = service.ensure_running()
        except ServiceError as exc:
            fail(_shown(str(exc)))
        mode = "external" if service.is_external() else "local"
        started[service.name] = {"mode": mode, "url": mask_url(url)}
        if not as_json:
            click.echo(f"{service.name:<9} {mode:<9} {mask_url(url)}")
    if as_json:
        emit_json(started)


@local.command()
@click.argument("services", nargs=-1, type=click.Choice(SERVICE_NAMES))
@JSON_OPTION
def down(services: tuple[str, ...], as_json: bool) -> None:
    """Stop the local servers (external deployments are never touched).

    \b
    Examples:
      leadflow local down
      leadflow local down graph
    """
    outcome = {}
    for service in _selected(services):
        if service.is_external():
            outcome[service.name] = "external, left alone"
        else:
            try:
                stopped = service.stop()
            except ServiceError as exc:
                fail(_shown(str(exc)))
            outcome[service.name] = "stopped" if stopped else "was not running"
        if not as_json:
            click.echo(f"{service.name:<9} {outcome[service.name]}")
    if as_json:
        emit_json(outcome)


@local.command()
@JSON_OPTION
def status(as_json: bool) -> None:
    """What runs where: each server's mode (local/external/stopped) and URL (passwords
    masked).

    \b
    Examples:
      leadflow local status
      leadflow local status --json | jq -r .postgres.url
    """
    rows = []
    for service in _selected(()):
        st = service.status()
        if isinstance(service, GraphService) and st.mode != "stopped":
            agent = _graph_server_agent(st)
            if agent:
                st.detail["server"] = agent
        rows.append(_shown_status(st))
    if as_json:
        emit_json({st.name: st.as_dict() for st in rows})
        return
    for st in rows:
        mode = "local" if st.mode == "running" else st.mode
        click.echo(f"{st.name:<9} {mode:<9} {st.url or '-'}")
        for key, value in st.detail.items():
            click.echo(f"{'':<19} {key}: {value}")


@local.command("env")
@JSON_OPTION
def env_cmd(as_json: bool) -> None:
    """Print `export` lines pointing Dagster and the tools at the running local servers:
    eval "$(leadflow local env)". Variables naming an external deployment are left out.

    The output includes passwords (the local graph's NEO4J_PASSWORD): it is meant for eval,
    not for logs or screenshots.

    \b
    Examples:
      eval "$(leadflow local env)"
      leadflow local env --json
    """
    values = local_env()
    if as_json:
        emit_json(values)
        return
    for key, value in values.items():
        click.echo(f"export {key}={shlex.quote(value)}")


@click.group()
def db() -> None:
    """The PostgreSQL database: schema (migrations), seed data, URL and the deployment's roles.

    \b
    Examples:
      leadflow db migrate
      leadflow db status
      psql "$(leadflow db url)"
    """


@db.command("url")
@JSON_OPTION
def db_url(as_json: bool) -> None:
    """Print the PostgreSQL URL in use (POSTGRES_URL or the local server), nothing else.

    The URL includes its password, if it has one: it is meant for psql "$(leadflow db url)",
    not for logs or screenshots.

    \b
    Examples:
      psql "$(leadflow db url)"
      leadflow db url --json
    """
    url = postgres_url()
    if as_json:
        emit_json({"url": url})
        return
    click.echo(url)


def _emit(payload: dict, as_json: bool, lines: list[str]) -> None:
    if as_json:
        emit_json(payload)
    else:
        for line in lines:
            click.echo(line)


@db.command("grant-analyst")
@click.argument("role")
@click.option(
    "--org",
    "orgs",
    multiple=True,
    metavar="ORG",
    help="Organization (UUID, slug or exact name); repeat for several.",
)
@click.option(
    "--all-organizations",
    is_flag=True,
    help="Every organization (platform staff), including ones created later.",
)
@JSON_OPTION
def grant_analyst_cmd(
    role: str, orgs: tuple[str, ...], all_organizations: bool, as_json: bool
) -> None:
    """Let an existing PostgreSQL ROLE read the marts (schema analytics), only the rows of the
    organizations given: enforced by row-level security in PostgreSQL, so it holds from psql or
    any BI tool, whatever the role sets. The role gets nothing else (no CRM, raw, staging or
    intermediate relation). Cumulative: a second grant adds organizations.

    \b
    Examples:
      leadflow db grant-analyst alice --org summit --org northwind
      leadflow db grant-analyst platform_staff --all-organizations
    """
    import psycopg

    from leadflow.postgres import UnknownOrganization
    from leadflow.tenancy import AccessError, grant_analyst

    try:
        with psycopg.connect(postgres_url()) as conn:
            grant = grant_analyst(conn, role, orgs, all_organizations)
    except (AccessError, UnknownOrganization) as exc:
        fail(str(exc), BAD_REQUEST)
    except psycopg.Error as exc:
        fail(f"grant-analyst {role}: {exc}".strip())
    _emit(grant.as_dict(), as_json, [f"{role} reads the marts of: {grant.scope}"])


@db.command("revoke-analyst")
@click.argument("role")
@click.option(
    "--org",
    "orgs",
    multiple=True,
    metavar="ORG",
    help="Take back only these organizations (default: all of the role's access).",
)
@JSON_OPTION
def revoke_analyst_cmd(role: str, orgs: tuple[str, ...], as_json: bool) -> None:
    """Undo `grant-analyst`: the ROLE no longer reads the organizations given, or the marts at
    all (its privileges on schema analytics are revoked when nothing is left).

    \b
    Examples:
      leadflow db revoke-analyst alice --org northwind
      leadflow db revoke-analyst alice
    """
    import psycopg

    from leadflow.postgres import UnknownOrganization
    from leadflow.tenancy import analyst_grants, revoke_analyst

    try:
        with psycopg.connect(postgres_url()) as conn:
            removed = revoke_analyst(conn, role, orgs)
            left = next((g for g in analyst_grants(conn) if g.role == role), None)
    except UnknownOrganization as exc:
        fail(str(exc), BAD_REQUEST)
    except psycopg.Error as exc:
        fail(f"revoke-analyst {role}: {exc}".strip())
    payload = {"role": role, "removed": removed, "remaining": left.as_dict() if left else None}
    _emit(
        payload,
        as_json,
        [
            f"{role}: {removed} grant(s) removed; "
            + ("no access to the marts left" if left is None else "some organizations remain")
        ],
    )


@db.command("roles")
@click.option(
    "--sql",
    "as_sql",
    is_flag=True,
    help="Print the SQL a DBA runs to create the roles (a superuser or CREATEROLE).",
)
@JSON_OPTION
def roles_cmd(as_sql: bool, as_json: bool) -> None:
    """The deployment's roles: leadflow_pipeline (the only one that bypasses the tenant
    policies), leadflow_app (one organization per transaction) and the analysts with their
    organizations. With --sql: the SQL that creates the roles, for a DBA to run where the
    database owner may not create roles (managed PostgreSQL); then run `leadflow db migrate`.

    \b
    Examples:
      leadflow db roles
      leadflow db roles --sql > roles.sql
    """
    import psycopg

    from leadflow.tenancy import analyst_grants, role_states, roles_sql

    url = postgres_url()
    try:
        with psycopg.connect(url) as conn:
            owner = one_row(conn.execute("select current_user"))[0]
            if as_sql:
                if as_json:
                    emit_json({"connected_as": owner, "sql": roles_sql(owner)})
                else:
                    click.echo(roles_sql(owner), nl=False)
                return
            states = role_states(conn)
            analysts = analyst_grants(conn)
    except psycopg.Error as exc:
        fail(f"roles: {exc}".strip())
    payload = {
        "connected_as": owner,
        "roles": [vars(state) for state in states],
        "analysts": [grant.as_dict() for grant in analysts],
    }
    lines = [f"connected as {owner}"]
    for state in states:
        members = ", ".join(state.members) or "no members"
        lines.append(f"{state.name:<18} {'exists' if state.exists else 'missing'}  ({members})")
    if any(not state.exists for state in states):
        lines.append(
            "missing roles: a DBA runs `leadflow db roles --sql`, then `leadflow db migrate`"
        )
    for grant in analysts:
        lines.append(f"analyst {grant.role}: {grant.scope}")
    _emit(payload, as_json, lines)


# the old names (`leadflow up|down|status|env`): hidden aliases that print a notice
up_alias = deprecated(up, "leadflow up", "leadflow local up")
down_alias = deprecated(down, "leadflow down", "leadflow local down")
status_alias = deprecated(status, "leadflow status", "leadflow local status")
env_alias = deprecated(env_cmd, "leadflow env", "leadflow local env")
