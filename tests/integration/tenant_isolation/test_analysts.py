"""Analysts per tenant: `leadflow db grant-analyst ROLE --org ORG` and what PostgreSQL then lets
that role read, logged in as itself (psql or a BI tool would do the same), in every mart.

One database for the module: seeded (three organizations), marts built by dbt once; the test
that rebuilds them runs dbt again.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from psycopg import errors, sql

from leadflow.analytics.project import run_dbt
from tests.conftest import run_leadflow
from tests.integration.tenant_isolation.conftest import ORG_A, ORG_B

pytestmark = pytest.mark.integration

ORG_C = "33333333-3333-4333-8333-333333333333"


@pytest.fixture(scope="module")
def marts_url(tenant_server) -> str:
    url = tenant_server.new_seeded_database("analysts")
    run_dbt(["run", "--quiet"], url=url)
    return url


def _marts(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            row[0]
            for row in conn.execute(
                "select relname from pg_class where relnamespace = 'analytics'::regnamespace"
                " and relkind = 'r' order by 1"
            )
        ]


def _organizations_in(url: str, mart: str) -> dict[str, int]:
    """organization_id -> rows of `mart` as `url`'s login sees them ("*" for a mart without
    tenant rows, such as funnel_stages)."""
    column = "organization_id::text" if _has_tenant_rows(url, mart) else "'*'"
    query = sql.SQL("select {}, count(*) from analytics.{} group by 1").format(
        sql.SQL(column), sql.Identifier(mart)
    )
    with psycopg.connect(url) as conn:
        return dict(conn.execute(query).fetchall())


def _has_tenant_rows(url: str, mart: str) -> bool:
    with psycopg.connect(url) as conn:
        return (
            conn.execute(
                "select 1 from pg_attribute a join pg_class c on c.oid = a.attrelid"
                " where c.relnamespace = 'analytics'::regnamespace and c.relname = %s"
                " and a.attname = 'organization_id'",
                (mart,),
            ).fetchone()
            is not None
        )


def _role_of(url: str) -> str:
    return psycopg.conninfo.conninfo_to_dict(url)["user"]


@pytest.fixture
def analyst(make_role, marts_url) -> Callable[..., str]:
    """`analyst(*grant_args)`: a fresh login role granted with `leadflow db grant-analyst ROLE
    *grant_args`; its login URL."""

    def make(*grant_args: str) -> str:
        url = make_role("none", marts_url)
        if grant_args:
            granted = run_leadflow(
                "db",
                "grant-analyst",
                _role_of(url),
                *grant_args,
                "--json",
                env={"POSTGRES_URL": marts_url},
            )
            assert granted.returncode == 0, granted.stderr
        return url

    return make


def test_the_marts_hold_several_organizations(marts_url):
    tenant_marts = [m for m in _marts(marts_url) if _has_tenant_rows(marts_url, m)]
    assert len(tenant_marts) >= 9
    assert len(_organizations_in(marts_url, "lead_funnel")) == 3


def test_an_analyst_granted_one_organization_sees_exactly_its_rows_in_every_mart(
    analyst, marts_url
):
    alice = analyst("--org", "summit")
    for mart in _marts(marts_url):
        everything = _organizations_in(marts_url, mart)
        seen = _organizations_in(alice, mart)
        if _has_tenant_rows(marts_url, mart):
            assert seen == {org: n for org, n in everything.items() if org == ORG_A}, mart
        else:
            assert seen == everything, mart


def test_setting_a_tenant_does_not_widen_an_analysts_view(analyst, marts_url):
    alice = analyst("--org", ORG_A)
    with psycopg.connect(alice) as conn:
        for setting in ("app.current_tenant_id", "app.current_org_id"):
            conn.execute("select set_config(%s, %s, false)", (setting, ORG_B))
        orgs = {
            row[0]
            for row in conn.execute("select organization_id::text from analytics.lead_funnel")
        }
        assert orgs == {ORG_A}
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("insert into analyst_access (role_name) values (current_user)")


def test_grants_add_up_and_all_organizations_is_everything(analyst, marts_url):
    bob = analyst("--org", "summit", "--org", "Northwind Recruiting")
    assert set(_organizations_in(bob, "lead_funnel")) == {ORG_A, ORG_B}
    staff = analyst("--all-organizations")
    assert set(_organizations_in(staff, "source_roi")) == set(
        _organizations_in(marts_url, "source_roi")
    )


def test_revoke_takes_the_marts_away(analyst, marts_url):
    carol = analyst("--org", "summit", "--org", ORG_C)
    revoked = run_leadflow(
        "db", "revoke-analyst", _role_of(carol), "--org", ORG_C, env={"POSTGRES_URL": marts_url}
    )
    assert revoked.returncode == 0, revoked.stderr
    assert set(_organizations_in(carol, "lead_funnel")) == {ORG_A}
    revoked = run_leadflow("db", "revoke-analyst", _role_of(carol), env={"POSTGRES_URL": marts_url})
    assert revoked.returncode == 0, revoked.stderr
    with pytest.raises(errors.InsufficientPrivilege):
        _organizations_in(carol, "lead_funnel")


@pytest.mark.parametrize(
    "relation",
    [
        "public.leads",
        "public.lead_activities",
        "public.crm_connections",
        "public.import_rejects",
        "raw_hubspot._dlt_loads",
        "analytics_staging.stg_crm__leads",
        "analytics_intermediate.int_lead_stages_reached",
    ],
)
def test_an_analyst_reads_nothing_but_the_marts(analyst, marts_url, relation):
    alice = analyst("--all-organizations")
    with psycopg.connect(alice) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(f"select * from {relation} limit 1")  # no table grant, or no schema usage


def test_a_member_of_the_old_analyst_group_sees_no_tenant_without_a_grant(
    make_role, marts_url, tenant_server
):
    url = make_role("none", marts_url)
    with psycopg.connect(tenant_server.admin(marts_url), autocommit=True) as conn:
        if not conn.execute("select 1 from pg_roles where rolname = 'analyst'").fetchone():
            pytest.skip(
                "no analyst group here: migration 006 skips it for an owner without CREATEROLE"
            )
        conn.execute(sql.SQL("grant analyst to {}").format(sql.Identifier(_role_of(url))))
    with psycopg.connect(url) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("select * from analytics.lead_funnel")


@pytest.mark.parametrize(
    ("who", "message"),
    [("superuser", "superuser"), ("app", "leadflow_app")],
)
def test_roles_that_would_see_more_are_refused(make_role, marts_url, who, message):
    role = "postgres" if who == "superuser" else _role_of(make_role("app", marts_url))
    refused = run_leadflow(
        "db", "grant-analyst", role, "--org", "summit", env={"POSTGRES_URL": marts_url}
    )
    assert refused.returncode == 2
    assert message in refused.stderr


def test_unknown_organizations_and_roles_are_refused_with_the_choices(analyst, marts_url):
    alice = _role_of(analyst())
    unknown = run_leadflow(
        "db", "grant-analyst", alice, "--org", "nowhere", env={"POSTGRES_URL": marts_url}
    )
    assert unknown.returncode == 2
    assert "summit" in unknown.stderr and "northwind" in unknown.stderr
    missing = run_leadflow(
        "db", "grant-analyst", "lf_nobody_here", "--org", "summit", env={"POSTGRES_URL": marts_url}
    )
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_marts_rebuilt_by_dbt_keep_their_protection(analyst, marts_url):
    alice = analyst("--org", "summit")
    run_dbt(["run", "--quiet", "--select", "lead_funnel", "source_roi"], url=marts_url)
    for mart in ("lead_funnel", "source_roi"):
        assert set(_organizations_in(alice, mart)) == {ORG_A}
    with psycopg.connect(marts_url) as conn:
        unprotected = conn.execute(
            "select relname from pg_class where relnamespace = 'analytics'::regnamespace"
            " and relkind = 'r' and not relrowsecurity"
        ).fetchall()
        readable_by_public = conn.execute(
            "select relname from pg_class where relnamespace = 'analytics'::regnamespace"
            " and relkind = 'r' and has_table_privilege('public', oid, 'select')"
        ).fetchall()
    assert unprotected == [] and readable_by_public == []
