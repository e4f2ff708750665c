"""Fixtures of the hostile-tenant tests: real login roles that are neither superuser, owner nor
BYPASSRLS, as a deployment gives them to the application and to analysts.

Every attack in this folder runs as such a role (never as the superuser the rest of the suite
uses), so a defence that only holds for privileged roles fails here.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

pytestmark = pytest.mark.integration

ORG_A = "11111111-1111-4111-8111-111111111111"  # Summit Talent Partners
ORG_B = "22222222-2222-4222-8222-222222222222"  # Northwind Recruiting


def login_url(url: str, role: str, password: str) -> str:
    """`url` (any database of the server) logged in as `role`."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["user"], info["password"] = role, password
    return psycopg.conninfo.make_conninfo(**info)


def grant_application_role(conn: psycopg.Connection, role: str) -> None:
    """Make `role` a login of the documented application role (migration 011's leadflow_app)."""
    conn.execute(sql.SQL("grant leadflow_app to {}").format(sql.Identifier(role)))


@pytest.fixture
def make_role(request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """`make_role(kind="app", url=None)`: a new LOGIN role (NOSUPERUSER NOBYPASSRLS NOCREATEROLE,
    owner of nothing) with the privileges of `kind` ("app": the application role; "none":
    nothing), and the URL that logs in as it to `url`'s database (default: the test's `crm_url`).
    Dropped afterwards."""
    created: list[tuple[str, str]] = []

    def factory(kind: str = "app", url: str | None = None) -> str:
        url = url or request.getfixturevalue("crm_url")
        role = f"lf_hostile_{uuid.uuid4().hex[:10]}"
        password = secrets.token_hex(12)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                sql.SQL(
                    "create role {} login password {} nosuperuser nobypassrls nocreaterole"
                    " nocreatedb"
                ).format(sql.Identifier(role), sql.Literal(password))
            )
            created.append((role, url))
            if kind == "app":
                grant_application_role(conn, role)
        return login_url(url, role, password)

    yield factory
    for role, url in created:
        with psycopg.connect(url, autocommit=True) as conn:
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
