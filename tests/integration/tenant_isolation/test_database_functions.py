"""SECURITY DEFINER functions and the DNC check, attacked by a login role that is neither
superuser, owner nor BYPASSRLS.

The hijack tests give everyone CREATE on schema public, as PostgreSQL 14 does by default (and as
a DBA might re-open it): the attacker then plants an operator or function in `public` that a
function running with its owner's rights would pick if its search_path included `public`.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from tests.integration.tenant_isolation.conftest import ORG_A, ORG_B

pytestmark = pytest.mark.integration

#: plpgsql run by a hijacked function: escalate when it runs as a superuser, and say as whom it ran
PAYLOAD = """
begin
    if (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then
        execute pg_catalog.format('alter role %I superuser', session_user);
    end if;
    raise exception 'hijacked: ran as %', current_user;
end
"""


@pytest.fixture
def pg14_public(crm_url: str) -> str:
    """The test's database with CREATE on schema public for everyone (PostgreSQL 14's default)."""
    with psycopg.connect(crm_url, autocommit=True) as conn:
        conn.execute("grant create on schema public to public")
    return crm_url


def _is_superuser(url: str, role: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("select rolsuper from pg_roles where rolname = %s", (role,)).fetchone()[
            0
        ]


def _dnc_phone(url: str, org: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select phone_number from dnc_list where organization_id = %s limit 1", (org,)
        ).fetchone()[0]


def test_dnc_check_cannot_be_hijacked_through_an_operator_in_public(pg14_public, as_tenant):
    phone = _dnc_phone(pg14_public, ORG_A)
    attacker = as_tenant(ORG_A)
    role = attacker.execute("select current_user").fetchone()[0]
    attacker.execute(
        "create function public.lf_evil_eq(character varying, text) returns boolean"
        f" language plpgsql as $$ {PAYLOAD} $$"
    )
    attacker.execute(
        "create operator public.= (leftarg = character varying, rightarg = text,"
        " function = public.lf_evil_eq)"
    )
    on_list = attacker.execute("select is_on_dnc_list(%s::text, %s::uuid)", (phone, ORG_A))
    assert on_list.fetchone() == (True,)
    assert not _is_superuser(pg14_public, role)


def test_budget_ledger_trigger_cannot_be_hijacked_through_a_function_in_public(
    pg14_public, as_tenant
):
    attacker = as_tenant(ORG_A)
    role = attacker.execute("select current_user").fetchone()[0]
    attacker.execute(
        "create function public.hashtextextended(text, integer) returns bigint"
        f" language plpgsql as $$ {PAYLOAD} $$"
    )
    attacker.execute(
        f"create function public.nextval(text) returns bigint language plpgsql as $$ {PAYLOAD} $$"
    )
    user_id = attacker.execute(
        "select id from users where organization_id = %s and role = 'agent' limit 1", (ORG_A,)
    ).fetchone()[0]
    balance = attacker.execute(
        "insert into budget_transactions (organization_id, user_id, transaction_type, amount_usd)"
        " values (%s, %s, 'deposit', 10) returning balance_after_usd",
        (ORG_A, user_id),
    ).fetchone()[0]
    assert balance > 0
    assert not _is_superuser(pg14_public, role)


def test_dnc_check_answers_only_for_the_sessions_own_organization(as_tenant, crm_url):
    phone_b = _dnc_phone(crm_url, ORG_B)
    phone_a = _dnc_phone(crm_url, ORG_A)
    tenant_a = as_tenant(ORG_A)
    assert tenant_a.execute("select is_on_dnc_list(%s, %s)", (phone_a, ORG_A)).fetchone() == (True,)
    with pytest.raises(errors.InsufficientPrivilege, match="not visible"):
        tenant_a.execute("select is_on_dnc_list(%s, %s)", (phone_b, ORG_B))
    # the one-argument form asks for the session's organization
    assert tenant_a.execute("select is_on_dnc_list(%s)", (phone_a,)).fetchone() == (True,)
    assert tenant_a.execute("select is_on_dnc_list(%s)", (phone_b,)).fetchone() == (False,)
    no_tenant = as_tenant(None)
    with pytest.raises(errors.InsufficientPrivilege, match="not visible"):
        no_tenant.execute("select is_on_dnc_list(%s, %s)", (phone_a, ORG_A))


def test_dnc_list_reads_the_same_tenant_setting_as_every_table(as_tenant, crm_url):
    tenant_a = as_tenant(ORG_A)
    tenant_a.execute("select set_config('app.current_org_id', %s, false)", (ORG_B,))
    orgs = {row[0] for row in tenant_a.execute("select organization_id::text from dnc_list")}
    assert orgs == {ORG_A}


def test_functions_are_executable_only_by_the_roles_that_need_them(make_role, crm_url):
    nobody = make_role("none")
    with psycopg.connect(nobody) as conn:
        for function in ("is_on_dnc_list(text, uuid)", "budget_balance(uuid)"):
            allowed = conn.execute(
                "select has_function_privilege(%s, 'execute')", (function,)
            ).fetchone()[0]
            assert not allowed, f"{function} is executable by a role with no grant"
    with psycopg.connect(crm_url) as conn:
        public_create = conn.execute(
            "select has_schema_privilege('public', 'public', 'create')"
        ).fetchone()[0]
    assert not public_create, "everyone may create objects in schema public"
