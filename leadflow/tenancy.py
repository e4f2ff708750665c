"""Who may read what: the roles of a deployment and the analysts' per-tenant access to the marts.

The database enforces everything (migration 011: forced row-level security, the
`pipeline_access`, `tenant_read` and `analyst_read` policies, `leadflow_protect_mart`); this
module is what the operator's commands say to it: the SQL a DBA runs to create the cluster-wide
roles a database owner may not create itself (`leadflow db roles --sql`), and the analyst grants
(`leadflow db grant-analyst` / `revoke-analyst`), which are rows of `analyst_access` plus the
schema and table privileges that let the role's queries reach the marts' policies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from leadflow.postgres import find_organization

PIPELINE_ROLE = "leadflow_pipeline"
APP_ROLE = "leadflow_app"
MARTS_SCHEMA = "analytics"


class AccessError(ValueError):
    """A grant that cannot or must not be made; the message says why."""


def roles_sql(owner: str) -> str:
    """The SQL a DBA (a superuser, or a role with CREATEROLE) runs once per cluster when the
    database owner may not create roles; `leadflow db migrate` then grants them per database."""
    owner_ident = sql.Identifier(owner).as_string(None)
    return f"""\
-- leadflow roles: run once per PostgreSQL cluster as a superuser or a role with CREATEROLE
-- (re-runnable), then `leadflow db migrate` as the database owner grants them in each database.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = '{PIPELINE_ROLE}') then
        -- its members are the only logins that bypass the tenant policies (pipeline_access)
        create role {PIPELINE_ROLE} nologin;
    end if;
    if not exists (select 1 from pg_roles where rolname = '{APP_ROLE}') then
        -- the application: sees one organization per transaction (app.current_tenant_id)
        create role {APP_ROLE} nologin;
    end if;
end
$$;
-- the owner runs the nightly, the CRM and graph syncs and dbt (leave this out if a separate
-- pipeline login does, and grant {PIPELINE_ROLE} to that login instead)
grant {PIPELINE_ROLE} to {owner_ident};
-- logins, for example (choose names and passwords):
--   create role crm_web login password '...' in role {APP_ROLE};
--   create role alice login password '...';  then: leadflow db grant-analyst alice --org ACME
"""


@dataclass
class RoleState:
    name: str
    exists: bool
    members: list[str] = field(default_factory=list)


@dataclass
class AnalystGrant:
    role: str
    all_organizations: bool
    organizations: list[dict[str, str | None]]  # id, slug, name

    @property
    def scope(self) -> str:
        """The organizations in words: `every organization`, or their slugs."""
        if self.all_organizations:
            return "every organization"
        return ", ".join(str(o["slug"] or o["id"]) for o in self.organizations)

    def as_dict(self) -> dict:
        return {
            "role": self.role,
            "all_organizations": self.all_organizations,
            "organizations": self.organizations,
        }


def role_states(conn: psycopg.Connection) -> list[RoleState]:
    """The pipeline and application roles: whether they exist and their direct members."""
    states = []
    for name in (PIPELINE_ROLE, APP_ROLE):
        members = [
            row[0]
            for row in conn.execute(
                """
                select m.rolname from pg_auth_members a
                join pg_roles g on g.oid = a.roleid join pg_roles m on m.oid = a.member
                where g.rolname = %s order by 1
                """,
                (name,),
            )
        ]
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone()
        states.append(RoleState(name, exists is not None, members))
    return states


def analyst_grants(conn: psycopg.Connection) -> list[AnalystGrant]:
    """Every analyst role with its organizations (as the pipeline sees analyst_access)."""
    rows = conn.execute(
        """
        select a.role_name::text, a.organization_id::text, o.slug, o.name
        from analyst_access a left join organizations o on o.id = a.organization_id
        order by a.role_name, o.name nulls first, a.organization_id
        """
    ).fetchall()
    grants: dict[str, AnalystGrant] = {}
    for role, org, slug, name in rows:
        grant = grants.setdefault(role, AnalystGrant(role, False, []))
        if org is None:
            grant.all_organizations = True
        else:
            grant.organizations.append({"id": org, "slug": slug, "name": name})
    return list(grants.values())


def _check_analyst_role(conn: psycopg.Connection, role: str) -> None:
    row = conn.execute(
        """
        select r.rolsuper, r.rolbypassrls, r.rolname = current_user,
               exists (select 1 from pg_roles g where g.rolname = %(pipeline)s
                       and pg_has_role(r.oid, g.oid, 'MEMBER')),
               exists (select 1 from pg_roles g where g.rolname = %(app)s
                       and pg_has_role(r.oid, g.oid, 'MEMBER'))
        from pg_roles r where r.rolname = %(role)s
        """,
        {"role": role, "pipeline": PIPELINE_ROLE, "app": APP_ROLE},
    ).fetchone()
    if row is None:
        raise AccessError(
            f"role {role!r} does not exist: create it first, e.g."
            f" create role {sql.Identifier(role).as_string(None)} login password '...'"
        )
    superuser, bypass, is_me, pipeline, app = row
    why = (
        "is a superuser"
        if superuser
        else "has BYPASSRLS"
        if bypass
        else "is the role running this command (it owns the marts)"
        if is_me
        else f"is a member of {PIPELINE_ROLE}"
        if pipeline
        else f"is a member of {APP_ROLE} (its tenant setting would widen what it reads)"
        if app
        else None
    )
    if why:
        raise AccessError(
            f"role {role!r} {why}: it would see more than the organizations granted;"
            " give analysts a role of their own"
        )


def _protect_marts(conn: psycopg.Connection) -> int:
    """Re-apply every mart's protection (grants follow analyst_access); the number of marts."""
    marts = conn.execute(
        """
        select c.oid::regclass::text from pg_class c
        where c.relnamespace = to_regnamespace(%s) and c.relkind in ('r', 'p')
        """,
        (MARTS_SCHEMA,),
    ).fetchall()
    for (mart,) in marts:
        conn.execute("select public.leadflow_protect_mart(%s::regclass)", (mart,))
    return len(marts)


def grant_analyst(
    conn: psycopg.Connection,
    role: str,
    organizations: Sequence[str] = (),
    all_organizations: bool = False,
) -> AnalystGrant:
    """Let `role` read the marts' rows of `organizations` (UUIDs, slugs or exact names), or of
    every organization; cumulative, like GRANT. Runs in the caller's transaction."""
    if bool(organizations) == all_organizations:
        raise AccessError("give one or more --org, or --all-organizations")
    _check_analyst_role(conn, role)
    ids = [find_organization(conn, key)[0] for key in organizations]
    if all_organizations:
        conn.execute(
            "insert into analyst_access (role_name, organization_id) values (%s, null)"
            " on conflict do nothing",
            (role,),
        )
    for org in ids:
        conn.execute(
            "insert into analyst_access (role_name, organization_id) values (%s, %s)"
            " on conflict do nothing",
            (role, org),
        )
    ident = sql.Identifier(role)
    conn.execute(
        sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(MARTS_SCHEMA), ident)
    )
    _protect_marts(conn)
    return next(g for g in analyst_grants(conn) if g.role == role)


def revoke_analyst(conn: psycopg.Connection, role: str, organizations: Sequence[str] = ()) -> int:
    """Take back the organizations given (all of the role's access without any); the number of
    grants removed. With nothing left, the role loses the marts' schema too."""
    if organizations:
        ids = [find_organization(conn, key)[0] for key in organizations]
        removed = conn.execute(
            "delete from analyst_access where role_name = %s and organization_id = any(%s::uuid[])",
            (role, ids),
        ).rowcount
    else:
        removed = conn.execute("delete from analyst_access where role_name = %s", (role,)).rowcount
    left = conn.execute("select 1 from analyst_access where role_name = %s", (role,)).fetchone()
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
    if exists and not left:
        ident, schema = sql.Identifier(role), sql.Identifier(MARTS_SCHEMA)
        conn.execute(sql.SQL("revoke all on all tables in schema {} from {}").format(schema, ident))
        conn.execute(sql.SQL("revoke all on schema {} from {}").format(schema, ident))
    return removed
