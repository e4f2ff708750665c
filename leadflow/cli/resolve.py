"""One resolver for each kind of identifier the commands take (STYLE.md, "Command line").

- An organization (`--org`): its UUID, its slug (any case) or its exact name; `all` (every
  organization) where a command works on all of them. The error lists the choices.
- A user (`--owner`, `--agent`, `--to`, `--by`, a USER argument): its id or its e-mail (any
  case); an e-mail used in several organizations needs `--org`. The error lists the choices
  (the organization's users, or says how to list them).

Both refuse with exit 2 (bad request) before any work. Under row-level security (a role that is
not the pipeline's) an organization sees only itself once the transaction is scoped to it: a
UUID scopes the transaction first, so such a role finds its own organization by id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from leadflow.cli.conventions import BAD_REQUEST, fail
from leadflow.sources import Organization

if TYPE_CHECKING:
    import psycopg

#: the value of --org that names every organization, where a command allows it
ALL = "all"
#: how many choices an error lists before it says how to list them all
CHOICES_SHOWN = 20

ORG_HELP = "Organization: UUID, slug or exact name (`leadflow orgs list`)."
ORG_ALL_HELP = "Organization: UUID, slug or exact name, or `all` (`leadflow orgs list`)."
USER_HELP = "user id or e-mail (`leadflow users list`)"


@dataclass(frozen=True)
class User:
    id: str
    organization_id: str
    email: str
    name: str | None
    role: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "organization_id": self.organization_id,
            "email": self.email,
            "name": self.name,
            "role": self.role,
        }


def org_option(*, required: bool = False, allow_all: bool = False, default: str | None = None):  # type: ignore[no-untyped-def]
    """The `--org` option, with one help text for every command."""
    return click.option(
        "--org",
        required=required,
        default=default,
        show_default=default is not None,
        help=ORG_ALL_HELP if allow_all else ORG_HELP,
    )


def _rls_hidden(conn: psycopg.Connection) -> bool:
    row = conn.execute("select row_security_active('organizations')").fetchone()
    return bool(row and row[0])


def _choices(conn: psycopg.Connection) -> str:
    rows = conn.execute(
        "select coalesce(slug, name) from organizations order by coalesce(slug, name)"
    ).fetchall()
    if not rows:
        if _rls_hidden(conn):
            return "none visible: this database role is under row-level security, name it by id"
        return "none: the database has no organization (`leadflow db seed` loads the samples)"
    shown = ", ".join(str(row[0]) for row in rows[:CHOICES_SHOWN])
    more = f" and {len(rows) - CHOICES_SHOWN} more" if len(rows) > CHOICES_SHOWN else ""
    return shown + more


def organization(conn: psycopg.Connection, value: str, *, option: str = "--org") -> Organization:
    """The organization `value` names (UUID, slug or exact name), or exit 2 listing the choices.

    A UUID scopes the connection's transaction to it first (set_tenant)."""
    from leadflow.leads.ids import canonical_uuid
    from leadflow.postgres import set_tenant

    wanted = value.strip()
    as_uuid = canonical_uuid(wanted)
    if as_uuid:
        set_tenant(conn, as_uuid)
        row = conn.execute(
            "select id::text, slug, name from organizations where id = %s", (as_uuid,)
        ).fetchone()
        if row:
            return Organization(*row)
    else:
        for query in (
            "select id::text, slug, name from organizations where lower(slug) = lower(%s)",
            "select id::text, slug, name from organizations where name = %s",
        ):
            rows = conn.execute(query, (wanted,)).fetchall()
            if len(rows) == 1:
                return Organization(*rows[0])
    fail(
        f"unknown organization {option} {value!r}: give a UUID, a slug or an exact name "
        f"({_choices(conn)})",
        BAD_REQUEST,
    )


def organizations(
    conn: psycopg.Connection, value: str | None, *, option: str = "--org"
) -> list[Organization] | None:
    """The organizations `value` names: None for `all` or no value (every organization), else
    the one it names (exit 2 listing the choices when it names none)."""
    if value is None or value.strip().lower() == ALL:
        return None
    return [organization(conn, value, option=option)]


def organization_ids(url: str, value: str | None, *, option: str = "--org") -> list[str] | None:
    """The ids of `organizations`, looked up on their own connection: None for `all` or no
    value (every organization), else the one `value` names (exit 2 when it names none)."""
    import psycopg

    with psycopg.connect(url) as conn:
        found = organizations(conn, value, option=option)
    return None if found is None else [o.id for o in found]


def organization_id(url: str, value: str | None, *, option: str = "--org") -> str | None:
    """The UUID of the organization `value` names, looked up on its own connection (None when
    no value): for commands that hand an id to the pipeline."""
    if value is None:
        return None
    import psycopg

    with psycopg.connect(url) as conn:
        return organization(conn, value, option=option).id


def find_users(conn: psycopg.Connection, value: str, org: str | None = None) -> list[User]:
    """The users `value` names (id or e-mail, in organization `org` when given)."""
    from leadflow.leads.ids import canonical_uuid

    wanted = value.strip()
    rows = conn.execute(
        "select id::text, organization_id::text, email,"
        " nullif(concat_ws(' ', first_name, last_name), ''), role from users"
        " where (id = %s or lower(email) = lower(%s))"
        " and (%s::uuid is null or organization_id = %s::uuid)"
        " order by organization_id",
        (canonical_uuid(wanted), wanted, org, org),
    ).fetchall()
    return [User(*row) for row in rows]


def user(
    conn: psycopg.Connection,
    value: str,
    *,
    org: str | None = None,
    option: str = "--owner",
    elsewhere: bool = False,
) -> User:
    """The user `value` names (id or e-mail, in organization `org` when given), or exit 2.

    `elsewhere`: a user of another organization is returned too (when `org` has none of that
    id or e-mail), for the caller to refuse with its own words ("belongs to organization …")."""
    found = find_users(conn, value, org)
    if not found and elsewhere and org is not None:
        others = find_users(conn, value)
        if len(others) == 1:
            return others[0]
        if others:  # users of several other organizations, none of this one: say so
            orgs = ", ".join(u.organization_id for u in others)
            fail(
                f"{option} {value!r} is not a user of organization {org} (it names users of"
                f" {orgs}): give a {USER_HELP}{_user_choices(conn, org)}",
                BAD_REQUEST,
            )
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        orgs = ", ".join(u.organization_id for u in found)
        fail(
            f"{option} {value!r} is a user of several organizations ({orgs}): give --org",
            BAD_REQUEST,
        )
    where = " of that organization" if org else ""
    fail(
        f"unknown user {option} {value!r}{where}: give a {USER_HELP}{_user_choices(conn, org)}",
        BAD_REQUEST,
    )


def _user_choices(conn: psycopg.Connection, org: str | None) -> str:
    if org is None:
        return ""
    rows = conn.execute(
        "select email from users where organization_id = %s order by 1 limit %s",
        (org, CHOICES_SHOWN + 1),
    ).fetchall()
    if not rows:
        return " (the organization has no user)"
    shown = ", ".join(str(row[0]) for row in rows[:CHOICES_SHOWN])
    return f" ({shown}{', …' if len(rows) > CHOICES_SHOWN else ''})"
