"""Fixtures of the hostile-tenant tests: real login roles that are neither superuser, owner nor
BYPASSRLS, as a deployment gives them to the application and to analysts.

Every attack in this folder runs as such a role (never as the superuser the rest of the suite
uses), so a defence that only holds for privileged roles fails here. And every test runs twice
(`tenant_server`): on the embedded PostgreSQL 18, whose databases a superuser owns, and on
Debian's PostgreSQL (15) as a managed service hands it over, where the owner is neither
superuser nor allowed to create roles, with password authentication; there the roles of
`leadflow db roles --sql` were created by a DBA (the server's superuser), as docs/security.md says.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from leadflow.platform.migrations import migrate_up
from leadflow.platform.seed import load_seed
from leadflow.platform.services.managed_postgres import (
    OWNER,
    ManagedPostgresService,
    installed_bin_dir,
)
from leadflow.tenancy import roles_sql

pytestmark = pytest.mark.integration

ORG_A = "11111111-1111-4111-8111-111111111111"  # Summit Talent Partners
ORG_B = "22222222-2222-4222-8222-222222222222"  # Northwind Recruiting

#: serialises the managed server's cluster-wide work (roles, the template) across test workers
_MANAGED_LOCK = 7_253_411_003


def with_database(url: str, database: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = database
    return psycopg.conninfo.make_conninfo(**info)


def login_url(url: str, role: str, password: str) -> str:
    """`url` (any database of the server) logged in as `role`."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["user"], info["password"] = role, password
    return psycopg.conninfo.make_conninfo(**info)


def grant_application_role(conn: psycopg.Connection, role: str) -> None:
    """Make `role` a login of the documented application role (migration 011's leadflow_app)."""
    conn.execute(sql.SQL("grant leadflow_app to {}").format(sql.Identifier(role)))


@dataclass
class TenantServer:
    """Where a test's databases live: `new_seeded_database(prefix)` gives the owner's URL of a
    fresh migrated and seeded database, `admin(url)` the DBA's (a superuser's) URL of it."""

    name: str
    new_seeded_database: Callable[[str], str]
    admin: Callable[[str], str]
    cleanup: Callable[[], None] = lambda: None


def require_managed_server() -> None:
    if installed_bin_dir() is not None:
        return
    message = (
        "Debian's postgresql-15 (or 14-18) is not installed: `make test` installs it with"
        " apt-get when run as root"
    )
    if os.environ.get("LEADFLOW_REQUIRE_MANAGED_PG"):
        pytest.fail(message)
    pytest.skip(message)


def _managed_server() -> TenantServer:
    require_managed_server()
    service = ManagedPostgresService()
    service.ensure_running()
    admin_postgres = service.admin_url("postgres")
    template = f"lf_test_managed_tpl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_postgres, autocommit=True) as dba:
        dba.execute("select pg_advisory_lock(%s)", (_MANAGED_LOCK,))
        try:
            dba.execute(roles_sql(OWNER))  # the DBA creates the roles once per cluster
            ManagedPostgresService.create_database(dba, template)
        finally:
            dba.execute("select pg_advisory_unlock(%s)", (_MANAGED_LOCK,))
    owner_template = with_database(service.url(), template)
    migrate_up(owner_template)  # as the owner: grants and forced RLS for the DBA's roles
    load_seed(owner_template)
    created = [template]

    def new_seeded_database(prefix: str) -> str:
        name = f"lf_test_managed_{prefix}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin_postgres, autocommit=True) as dba:
            dba.execute(
                sql.SQL("create database {} template {} owner {}").format(
                    sql.Identifier(name), sql.Identifier(template), sql.Identifier(OWNER)
                )
            )
        created.insert(0, name)
        return with_database(service.url(), name)

    def admin(url: str) -> str:
        return with_database(admin_postgres, psycopg.conninfo.conninfo_to_dict(url)["dbname"])

    def cleanup() -> None:
        if os.environ.get("LEADFLOW_KEEP_TEST_DBS"):
            return
        with psycopg.connect(admin_postgres, autocommit=True) as dba:
            for name in created:
                statement = sql.SQL("drop database if exists {} with (force)")
                dba.execute(statement.format(sql.Identifier(name)))

    return TenantServer("managed", new_seeded_database, admin, cleanup)


@pytest.fixture(scope="session", params=["embedded", "managed"])
def tenant_server(request: pytest.FixtureRequest, new_seeded_database) -> Iterator[TenantServer]:
    if request.param == "embedded":
        yield TenantServer("embedded", new_seeded_database, lambda url: url)
        return
    server = _managed_server()
    yield server
    server.cleanup()


@pytest.fixture
def crm_url(tenant_server: TenantServer) -> str:
    """The owner's URL of a fresh, migrated and seeded database for one test."""
    return tenant_server.new_seeded_database("crm")


@pytest.fixture
def admin_url(tenant_server: TenantServer, crm_url: str) -> str:
    """A superuser's URL of the test's database (the DBA; the owner on the embedded server)."""
    return tenant_server.admin(crm_url)


@pytest.fixture
def make_role(
    request: pytest.FixtureRequest, tenant_server: TenantServer
) -> Iterator[Callable[..., str]]:
    """`make_role(kind="app", url=None)`: a new LOGIN role (NOSUPERUSER NOBYPASSRLS NOCREATEROLE,
    owner of nothing) with the privileges of `kind` ("app": the application role; "none":
    nothing), and the URL that logs in as it to `url`'s database (default: the test's `crm_url`).
    Created by the DBA; dropped afterwards."""
    created: list[tuple[str, str]] = []

    def factory(kind: str = "app", url: str | None = None) -> str:
        url = url or request.getfixturevalue("crm_url")
        role = f"lf_hostile_{uuid.uuid4().hex[:10]}"
        password = secrets.token_hex(12)
        admin = tenant_server.admin(url)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL(
                    "create role {} login password {} nosuperuser nobypassrls nocreaterole"
                    " nocreatedb"
                ).format(sql.Identifier(role), sql.Literal(password))
            )
            created.append((role, admin))
            if kind == "app":
                grant_application_role(conn, role)
        return login_url(url, role, password)

    yield factory
    for role, admin in created:
        with psycopg.connect(admin, autocommit=True) as conn:
            ident = sql.Identifier(role)
            conn.execute(sql.SQL("drop owned by {} cascade").format(ident))
            conn.execute(sql.SQL("drop role {}").format(ident))


@pytest.fixture
def app_url(make_role) -> str:
    """URL of a fresh application role (subject to row-level security)."""
    return make_role("app")


@pytest.fixture
def as_tenant(app_url: str) -> Iterator[Callable[[str | None], psycopg.Connection]]:
    """`as_tenant(org)`: a connection of the application role whose session is scoped to `org`
    (None: no tenant set), as a hostile tenant would hold it."""
    opened: list[psycopg.Connection] = []

    def connect(org: str | None) -> psycopg.Connection:
        conn = psycopg.connect(app_url, autocommit=True)
        opened.append(conn)
        if org is not None:
            conn.execute("select set_config('app.current_tenant_id', %s, false)", (org,))
        return conn

    yield connect
    for conn in opened:
        conn.close()
