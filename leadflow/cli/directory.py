"""`leadflow orgs list` and `leadflow users list`: the organizations and users the other
commands take by id, slug, name or e-mail (leadflow.cli.resolve), without psql."""

from __future__ import annotations

import click

from leadflow.cli.common import ensure_schema_current, postgres_url
from leadflow.cli.conventions import EXIT_CODES_HELP, JSON_OPTION, emit_json
from leadflow.cli.resolve import ORG_HELP, organization


@click.group(epilog=EXIT_CODES_HELP)
def orgs() -> None:
    """Organizations (tenants): what --org accepts.

    \b
    Examples:
      leadflow orgs list
      leadflow orgs list --json | jq -r '.organizations[].slug'
    """


@orgs.command("list", epilog=EXIT_CODES_HELP)
@JSON_OPTION
def orgs_list(as_json: bool) -> None:
    """List the organizations: id, slug, name, time zone, live leads and users.

    \b
    Examples:
      leadflow orgs list
      leadflow orgs list --json
    """
    import psycopg
    from psycopg.rows import dict_row

    url = postgres_url()
    ensure_schema_current(url)
    with psycopg.connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """
            select o.id::text as id, o.slug, o.name, o.timezone,
                   (select count(*) from leads l
                    where l.organization_id = o.id and l.deleted_at is null) as leads,
                   (select count(*) from users u where u.organization_id = o.id) as users
            from organizations o
            order by coalesce(o.slug, o.name), o.id
            """
        ).fetchall()
    if as_json:
        emit_json({"organizations": rows})
        return
    if not rows:
        click.echo("no organization (`leadflow db seed` loads the sample ones)")
        return
    click.echo(f"{'id':<36}  {'slug':<20} {'leads':>9} {'users':>6}  {'time zone':<20} name")
    for row in rows:
        click.echo(
            f"{row['id']:<36}  {row['slug'] or '-':<20} {row['leads']:>9,} {row['users']:>6}"
            f"  {row['timezone']:<20} {row['name']}"
        )


@click.group(epilog=EXIT_CODES_HELP)
def users() -> None:
    """Users (agents, managers, admins): what --owner, --agent, --to and --by accept.

    \b
    Examples:
      leadflow users list --org summit
    """


@users.command("list", epilog=EXIT_CODES_HELP)
@click.option("--org", default=None, help=ORG_HELP + " Default: every organization.")
@JSON_OPTION
def users_list(org: str | None, as_json: bool) -> None:
    """List users: id, e-mail, name, role, active, organization and the live leads they own.

    \b
    Examples:
      leadflow users list --org summit
      leadflow users list --json | jq -r '.users[] | select(.role == "agent") | .email'
    """
    import psycopg
    from psycopg.rows import dict_row

    url = postgres_url()
    ensure_schema_current(url)
    with psycopg.connect(url) as conn:
        org_id = organization(conn, org).id if org else None
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                """
                select u.id::text as id, u.email,
                       nullif(concat_ws(' ', u.first_name, u.last_name), '') as name,
                       u.role, u.is_active as active, u.organization_id::text as organization_id,
                       coalesce(o.slug, o.name) as organization,
                       (select count(*) from leads l
                        where l.user_id = u.id and l.deleted_at is null) as leads_owned
                from users u join organizations o on o.id = u.organization_id
                where %(org)s::uuid is null or u.organization_id = %(org)s::uuid
                order by coalesce(o.slug, o.name), u.email
                """,
                {"org": org_id},
            ).fetchall()
    if as_json:
        emit_json({"users": rows})
        return
    if not rows:
        click.echo("no user")
        return
    click.echo(f"{'id':<36}  {'organization':<16} {'role':<8} {'active':<6} {'leads':>7}  e-mail")
    for row in rows:
        click.echo(
            f"{row['id']:<36}  {row['organization']:<16} {row['role']:<8}"
            f" {'yes' if row['active'] else 'no':<6} {row['leads_owned']:>7,}  {row['email']}"
            + (f"  ({row['name']})" if row["name"] else "")
        )
