"""Row-level security: an application role sees and writes only its tenant's rows.

Runs on the seeded database (three organizations with rows in every table). Each test creates
a throw-away role inside a transaction, makes it a member of the application role
(`leadflow_app`, migration 011), `set role`s to it (a role that is neither superuser, owner nor
BYPASSRLS is subject to the policies) and rolls everything back, role included.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import errors, sql

pytestmark = pytest.mark.integration

ORG_A = uuid.UUID("11111111-1111-4111-8111-111111111111")
ORG_B = uuid.UUID("22222222-2222-4222-8222-222222222222")

# Tenant-scoped table -> SQL giving each row's organization (evaluated as the owner).
ORG_OF: dict[str, str] = {
    "organizations": "t.id",
    "users": "t.organization_id",
    "leads": "t.organization_id",
    "lead_audit_log": "(select l.organization_id from leads l where l.id = t.lead_id)",
    "lead_status_history": "(select l.organization_id from leads l where l.id = t.lead_id)",
    "lead_score_history": "(select l.organization_id from leads l where l.id = t.lead_id)",
    "lead_assignments": "(select l.organization_id from leads l where l.id = t.lead_id)",
    "lead_sequence_enrollments": "(select l.organization_id from leads l where l.id = t.lead_id)",
    "dnc_list": "t.organization_id",
    "nurture_sequences": "t.organization_id",
    "lead_source_costs": "t.organization_id",
    "segments": "t.organization_id",
    "budget_transactions": "t.organization_id",
    "system_config": "t.organization_id",
}
TABLES = list(ORG_OF)


def rls_violation():
    """`new row violates row-level security policy for table ...`"""
    return pytest.raises(errors.InsufficientPrivilege, match="row-level security")


@dataclass(frozen=True)
class Seeded:
    rows: dict[str, dict[uuid.UUID | None, set[uuid.UUID]]]  # table -> org -> ids
    lead_b: uuid.UUID
    user_b: uuid.UUID
    sequence_b: uuid.UUID
    lead_a: uuid.UUID
    sequence_a: uuid.UUID
    dnc_phone_a: str


@pytest.fixture(scope="module")
def seeded(seeded_url: str) -> Seeded:
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        rows: dict[str, dict[uuid.UUID | None, set[uuid.UUID]]] = {}
        for table in TABLES:
            query = sql.SQL("select {} as org, t.id from {} t").format(
                sql.SQL(ORG_OF[table]), sql.Identifier(table)
            )
            by_org: dict[uuid.UUID | None, set[uuid.UUID]] = {}
            for org, row_id in conn.execute(query):
                by_org.setdefault(org, set()).add(row_id)
            rows[table] = by_org

        def one(query: str, org: uuid.UUID):
            return conn.execute(query, (org,)).fetchone()[0]

        return Seeded(
            rows=rows,
            lead_b=one("select id from leads where organization_id = %s limit 1", ORG_B),
            user_b=one("select id from users where organization_id = %s limit 1", ORG_B),
            sequence_b=one(
                "select id from nurture_sequences where organization_id = %s limit 1", ORG_B
            ),
            lead_a=one("select id from leads where organization_id = %s limit 1", ORG_A),
            sequence_a=one(
                "select id from nurture_sequences where organization_id = %s limit 1", ORG_A
            ),
            dnc_phone_a=one("select phone_number from dnc_list where organization_id = %s", ORG_A),
        )


class AppSession:
    """A connection acting as a fresh application role, inside a transaction rolled back later."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def tenant(self, tenant: uuid.UUID | str | None):
        if tenant is not None:
            self.conn.execute(
                "select set_config('app.current_tenant_id', %s, true)", (str(tenant),)
            )

    def ids(self, table: str) -> set[uuid.UUID]:
        query = sql.SQL("select id from {}").format(sql.Identifier(table))
        return {row[0] for row in self.conn.execute(query)}

    def count(self, table: str) -> int:
        query = sql.SQL("select count(*) from {}").format(sql.Identifier(table))
        return self.conn.execute(query).fetchone()[0]


@pytest.fixture
def app(seeded_url: str) -> Iterator[AppSession]:
    role = f"lf_rls_tester_{uuid.uuid4().hex[:8]}"
    conn = psycopg.connect(seeded_url)
    try:
        ident = sql.Identifier(role)
        conn.execute(sql.SQL("create role {} nologin in role leadflow_app").format(ident))
        conn.execute(sql.SQL("set role {}").format(ident))
        assert conn.execute("select current_user").fetchone()[0] == role
        yield AppSession(conn)
    finally:
        conn.rollback()
        conn.close()


def test_seed_has_rows_of_both_tenants_in_every_table(seeded: Seeded):
    for table in TABLES:
        assert seeded.rows[table].get(ORG_A), table
        assert seeded.rows[table].get(ORG_B), table


@pytest.mark.parametrize("table", TABLES)
def test_tenant_sees_exactly_its_own_rows(app: AppSession, seeded: Seeded, table: str):
    app.tenant(ORG_A)
    visible = app.ids(table)
    own = seeded.rows[table][ORG_A]
    if table == "system_config":
        own = own | seeded.rows[table][None]  # global defaults are readable
    assert visible == own
    assert not visible & seeded.rows[table][ORG_B]


@pytest.mark.parametrize("table", TABLES)
def test_nothing_is_visible_without_a_tenant(app: AppSession, table: str):
    assert app.count(table) == 0


@pytest.mark.parametrize("table", TABLES)
def test_nothing_is_visible_after_the_setting_is_reset(app: AppSession, table: str):
    app.tenant("")
    assert app.count(table) == 0


def test_dnc_list_follows_the_tenant_setting_of_every_table(app: AppSession, seeded: Seeded):
    app.tenant(ORG_A)
    assert app.ids("dnc_list") == seeded.rows["dnc_list"][ORG_A]
    # the Epic 3 reference's app.current_org_id no longer selects a list (one setting for all)
    app.conn.execute("select set_config('app.current_org_id', %s, true)", (str(ORG_B),))
    assert app.ids("dnc_list") == seeded.rows["dnc_list"][ORG_A]


@pytest.mark.parametrize("table", TABLES)
def test_other_tenants_rows_cannot_be_updated_or_deleted(
    app: AppSession, seeded: Seeded, table: str
):
    app.tenant(ORG_A)
    others = sorted(seeded.rows[table][ORG_B])
    if table == "system_config":
        others += sorted(seeded.rows[table][None])
    for statement in (
        f"update {{}} set {_writable_column(table)} = {_writable_column(table)} where id = any(%s)",
        "delete from {} where id = any(%s)",
    ):
        if table == "organizations" and statement.startswith("delete"):
            continue  # the application may not delete organizations at all (below)
        query = sql.SQL(statement).format(sql.Identifier(table))
        assert app.conn.execute(query, (others,)).rowcount == 0
    # The rows are still there for their owner.
    app.conn.execute("reset role")
    count = sql.SQL("select count(*) from {} where id = any(%s)").format(sql.Identifier(table))
    assert app.conn.execute(count, (others,)).fetchone()[0] == len(others)


@pytest.mark.parametrize("table", [t for t in TABLES if t != "budget_transactions"])
def test_own_rows_can_be_updated(app: AppSession, seeded: Seeded, table: str):
    app.tenant(ORG_A)
    own = sorted(seeded.rows[table][ORG_A])
    column = _writable_column(table)
    query = sql.SQL(f"update {{}} set {column} = {column} where id = any(%s)").format(
        sql.Identifier(table)
    )
    assert app.conn.execute(query, (own,)).rowcount == len(own)


def _writable_column(table: str) -> str:
    """A column the application role may update: organizations only its name and timezone."""
    return "name" if table == "organizations" else "id"


def test_the_application_may_not_create_or_delete_organizations(app: AppSession):
    app.tenant(ORG_A)
    for statement in (
        "insert into organizations (name) values ('Intruder')",
        f"delete from organizations where id = '{ORG_A}'",
        f"update organizations set slug = 'stolen' where id = '{ORG_A}'",
    ):
        with pytest.raises(errors.InsufficientPrivilege), app.conn.transaction():
            app.conn.execute(statement)


def _foreign_inserts(s: Seeded) -> dict[str, tuple[str, tuple]]:
    return {
        "organizations": ("insert into organizations (name) values ('Intruder')", ()),
        "users": (
            "insert into users (organization_id, email) values (%s, 'spy@example.com')",
            (ORG_B,),
        ),
        "leads": (
            "insert into leads (organization_id, phone_number) values (%s, '+12125550188')",
            (ORG_B,),
        ),
        "lead_audit_log": (
            "insert into lead_audit_log (lead_id, field_name) values (%s, 'status')",
            (s.lead_b,),
        ),
        "lead_status_history": (
            "insert into lead_status_history (lead_id, to_status, trigger_type)"
            " values (%s, 'hot', 'manual')",
            (s.lead_b,),
        ),
        "lead_score_history": (
            "insert into lead_score_history (lead_id, score) values (%s, 99)",
            (s.lead_b,),
        ),
        "lead_assignments": (
            "insert into lead_assignments (lead_id, to_user_id, strategy)"
            " values (%s, %s, 'manual')",
            (s.lead_b, s.user_b),
        ),
        "lead_sequence_enrollments": (
            "insert into lead_sequence_enrollments (lead_id, sequence_id) values (%s, %s)",
            (s.lead_b, s.sequence_b),
        ),
        "dnc_list": (
            "insert into dnc_list (organization_id, phone_number) values (%s, '+12125550188')",
            (ORG_B,),
        ),
        "nurture_sequences": (
            "insert into nurture_sequences (organization_id, name) values (%s, 'Hijack')",
            (ORG_B,),
        ),
        "lead_source_costs": (
            "insert into lead_source_costs (organization_id, user_id, source, period, cost_usd)"
            " values (%s, %s, 'spam', '2026-01', 1)",
            (ORG_B, s.user_b),
        ),
        "segments": (
            "insert into segments (organization_id, name) values (%s, 'Hijack')",
            (ORG_B,),
        ),
        "budget_transactions": (
            "insert into budget_transactions (organization_id, user_id, transaction_type,"
            " amount_usd, balance_after_usd) values (%s, %s, 'deposit', 1000, 0)",
            (ORG_B, s.user_b),
        ),
        "system_config": (
            "insert into system_config (organization_id, config_key, config_value)"
            " values (%s, 'lf_rls_key', '1')",
            (ORG_B,),
        ),
    }


@pytest.mark.parametrize("table", TABLES)
def test_rows_of_another_tenant_cannot_be_inserted(app: AppSession, seeded: Seeded, table: str):
    app.tenant(ORG_A)
    statement, params = _foreign_inserts(seeded)[table]
    refused = (
        pytest.raises(errors.InsufficientPrivilege)  # no insert privilege at all
        if table == "organizations"
        else rls_violation()
    )
    with refused, app.conn.transaction():
        app.conn.execute(statement, params)


def test_global_config_is_read_only_for_tenants(app: AppSession):
    app.tenant(ORG_A)
    with rls_violation(), app.conn.transaction():
        app.conn.execute(
            "insert into system_config (organization_id, config_key, config_value)"
            " values (null, 'lf_rls_global', '1')"
        )


def test_enrollment_cannot_use_another_tenants_sequence(app: AppSession, seeded: Seeded):
    app.tenant(ORG_A)
    with rls_violation(), app.conn.transaction():
        app.conn.execute(
            "insert into lead_sequence_enrollments (lead_id, sequence_id) values (%s, %s)",
            (seeded.lead_a, seeded.sequence_b),
        )
    app.conn.execute(
        "insert into lead_sequence_enrollments (lead_id, sequence_id, status)"
        " values (%s, %s, 'completed')",
        (seeded.lead_a, seeded.sequence_a),
    )


def test_own_rows_can_be_inserted(app: AppSession, seeded: Seeded):
    app.tenant(ORG_A)
    lead = app.conn.execute(
        "insert into leads (organization_id, phone_number) values (%s, '+12125550188')"
        " returning id",
        (ORG_A,),
    ).fetchone()[0]
    app.conn.execute(
        "insert into lead_audit_log (lead_id, field_name, change_source)"
        " values (%s, 'status', 'manual')",
        (lead,),
    )
    app.conn.execute(
        "insert into dnc_list (organization_id, phone_number) values (%s, '+12125550188')",
        (ORG_A,),
    )
    user = app.conn.execute(
        "select id from users where organization_id = %s limit 1", (ORG_A,)
    ).fetchone()[0]
    before = app.conn.execute("select budget_balance(%s)", (user,)).fetchone()[0]
    after = app.conn.execute(
        "insert into budget_transactions (organization_id, user_id, transaction_type,"
        " amount_usd, balance_after_usd) values (%s, %s, 'deposit', 10, 0)"
        " returning balance_after_usd",
        (ORG_A, user),
    ).fetchone()[0]
    assert after == before + 10


def test_is_on_dnc_list_answers_the_app_role_for_its_tenant_only(app: AppSession, seeded: Seeded):
    check = "select is_on_dnc_list(%s, %s)"
    app.tenant(ORG_A)
    assert app.conn.execute(check, (seeded.dnc_phone_a, ORG_A)).fetchone()[0] is True
    assert app.conn.execute("select is_on_dnc_list(%s)", (seeded.dnc_phone_a,)).fetchone()[0]
    app.tenant(ORG_B)
    with pytest.raises(errors.InsufficientPrivilege, match="not visible"), app.conn.transaction():
        app.conn.execute(check, (seeded.dnc_phone_a, ORG_A))


def test_budget_balance_respects_rls(app: AppSession, seeded: Seeded):
    app.tenant(ORG_A)
    assert app.conn.execute("select budget_balance(%s)", (seeded.user_b,)).fetchone()[0] == 0
