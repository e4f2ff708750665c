"""Constraints, cascades, triggers and functions of the Epic 3 schema, exercised with real rows.

Each test runs in a transaction that is rolled back, on a database of its own; the few tests that
need several committed transactions (updated_at, ledger concurrency) create their own
organization and delete it (cascade) at the end.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

import psycopg
import pytest
from psycopg import errors, sql

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db_url(new_migrated_database: Callable[[str], str]) -> str:
    return new_migrated_database("constraints")


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    connection = psycopg.connect(db_url)
    try:
        yield connection
    finally:
        connection.rollback()
        connection.close()


def new_org(conn: psycopg.Connection, name: str = "Org") -> uuid.UUID:
    return conn.execute(
        "insert into organizations (name, slug) values (%s, %s) returning id",
        (name, f"{name.lower()}-{uuid.uuid4().hex[:8]}"),
    ).fetchone()[0]


def new_user(conn: psycopg.Connection, org: uuid.UUID, role: str = "agent") -> uuid.UUID:
    return conn.execute(
        "insert into users (organization_id, email, role) values (%s, %s, %s) returning id",
        (org, f"{uuid.uuid4().hex[:10]}@example.com", role),
    ).fetchone()[0]


def new_lead(
    conn: psycopg.Connection,
    org: uuid.UUID,
    phone: str = "+12125550123",
    user: uuid.UUID | None = None,
    **columns: object,
) -> uuid.UUID:
    values = {"organization_id": org, "phone_number": phone, "user_id": user, **columns}
    query = sql.SQL("insert into leads ({}) values ({}) returning id").format(
        sql.SQL(", ").join(map(sql.Identifier, values)),
        sql.SQL(", ").join(sql.Placeholder() * len(values)),
    )
    return conn.execute(query, list(values.values())).fetchone()[0]


def new_sequence(conn: psycopg.Connection, org: uuid.UUID, steps: str = "[]") -> uuid.UUID:
    return conn.execute(
        "insert into nurture_sequences (organization_id, name, steps) values (%s, %s, %s)"
        " returning id",
        (org, f"seq-{uuid.uuid4().hex[:6]}", steps),
    ).fetchone()[0]


@dataclass
class World:
    conn: psycopg.Connection
    org: uuid.UUID
    other_org: uuid.UUID
    user: uuid.UUID
    lead: uuid.UUID
    sequence: uuid.UUID

    def run(self, statement: str, **params: object) -> None:
        self.conn.execute(
            statement,
            {
                "org": self.org,
                "user": self.user,
                "lead": self.lead,
                "sequence": self.sequence,
                **params,
            },
        )


@pytest.fixture
def world(conn: psycopg.Connection) -> World:
    org = new_org(conn, "Alpha")
    other = new_org(conn, "Beta")
    user = new_user(conn, org)
    return World(conn, org, other, user, new_lead(conn, org, user=user), new_sequence(conn, org))


LEAD = "insert into leads (organization_id, phone_number, {col}) values (%(org)s, '+12125550199', %(v)s)"
COST = (
    "insert into lead_source_costs (organization_id, user_id, source, period, cost_usd)"
    " values (%(org)s, %(user)s, 'facebook', %(period)s, %(cost)s)"
)
BUDGET = (
    "insert into budget_transactions (organization_id, user_id, transaction_type, amount_usd,"
    " balance_after_usd) values (%(org)s, %(user)s, %(type)s, %(amount)s, 0)"
)

CHECK_CASES: dict[str, tuple[str, dict[str, object]]] = {
    "lead status bogus": (LEAD.format(col="status"), {"v": "bogus"}),
    "lead score 101": (LEAD.format(col="lead_score"), {"v": 101}),
    "lead score -1": (LEAD.format(col="lead_score"), {"v": -1}),
    "lead phone without plus": (
        "insert into leads (organization_id, phone_number) values (%(org)s, %(v)s)",
        {"v": "2125551234"},
    ),
    "lead phone leading zero": (
        "insert into leads (organization_id, phone_number) values (%(org)s, %(v)s)",
        {"v": "+0123"},
    ),
    "lead phone too long": (
        "insert into leads (organization_id, phone_number) values (%(org)s, %(v)s)",
        {"v": "+1234567890123456"},
    ),
    "dnc phone not e164": (
        "insert into dnc_list (organization_id, phone_number) values (%(org)s, '212-555-1234')",
        {},
    ),
    "negative cost": (COST, {"period": "2026-05", "cost": -0.01}),
    "period month 13": (COST, {"period": "2026-13", "cost": 1}),
    "period two-digit year": (COST, {"period": "26-01", "cost": 1}),
    "steps not an array": (
        "insert into nurture_sequences (organization_id, name, steps)"
        " values (%(org)s, 'object steps', '{\"step\": 1}')",
        {},
    ),
    "factors not an object": (
        "insert into lead_score_history (lead_id, score, factors) values (%(lead)s, 50, '[1, 2]')",
        {},
    ),
    "history score 101": (
        "insert into lead_score_history (lead_id, score) values (%(lead)s, 101)",
        {},
    ),
    "history to_status bogus": (
        "insert into lead_status_history (lead_id, to_status, trigger_type)"
        " values (%(lead)s, 'bogus', 'manual')",
        {},
    ),
    "history from_status bogus": (
        "insert into lead_status_history (lead_id, from_status, to_status, trigger_type)"
        " values (%(lead)s, 'bogus', 'new', 'manual')",
        {},
    ),
    "history trigger_type bogus": (
        "insert into lead_status_history (lead_id, to_status, trigger_type)"
        " values (%(lead)s, 'new', 'telepathy')",
        {},
    ),
    "assignment strategy bogus": (
        "insert into lead_assignments (lead_id, to_user_id, strategy)"
        " values (%(lead)s, %(user)s, 'coin_flip')",
        {},
    ),
    "enrollment status bogus": (
        "insert into lead_sequence_enrollments (lead_id, sequence_id, status)"
        " values (%(lead)s, %(sequence)s, 'sleeping')",
        {},
    ),
    "enrollment negative step": (
        "insert into lead_sequence_enrollments (lead_id, sequence_id, current_step)"
        " values (%(lead)s, %(sequence)s, -1)",
        {},
    ),
    "segment filter not an object": (
        "insert into segments (organization_id, name, filter) values (%(org)s, 's', '[]')",
        {},
    ),
    "segment negative count": (
        "insert into segments (organization_id, name, lead_count) values (%(org)s, 's', -1)",
        {},
    ),
    "user role bogus": (
        "insert into users (organization_id, email, role) values (%(org)s, 'x@example.com', 'god')",
        {},
    ),
    "budget spend positive": (BUDGET, {"type": "spend", "amount": 10}),
    "budget deposit negative": (BUDGET, {"type": "deposit", "amount": -10}),
    "budget refund zero": (BUDGET, {"type": "refund", "amount": 0}),
    "budget adjustment zero": (BUDGET, {"type": "adjustment", "amount": 0}),
    "budget type bogus": (BUDGET, {"type": "gift", "amount": 10}),
}


@pytest.mark.parametrize("case", list(CHECK_CASES))
def test_check_constraint_rejects_bad_value(world: World, case: str):
    statement, params = CHECK_CASES[case]
    with pytest.raises(errors.CheckViolation), world.conn.transaction():
        world.run(statement, **params)


def test_valid_values_are_accepted(world: World):
    world.run(COST, period="2026-12", cost=0)
    world.run(BUDGET, type="deposit", amount=10)
    world.run(BUDGET, type="adjustment", amount=-1)
    world.run(
        "insert into lead_score_history (lead_id, score, factors)"
        " values (%(lead)s, 100, '{\"total\": 100}')"
    )
    new_lead(world.conn, world.org, "+447911123456", lead_score=0, status="dnc")


def test_one_live_lead_per_phone_and_organization(conn):
    org, other = new_org(conn, "A"), new_org(conn, "B")
    first = new_lead(conn, org, "+12125550111")
    with pytest.raises(errors.UniqueViolation), conn.transaction():
        new_lead(conn, org, "+12125550111")
    new_lead(conn, other, "+12125550111")  # another organization: allowed
    conn.execute("update leads set deleted_at = now() where id = %s", (first,))
    new_lead(conn, org, "+12125550111")  # the first one is soft-deleted: allowed
    live = conn.execute(
        "select count(*) from leads where phone_number = '+12125550111' and deleted_at is null"
    ).fetchone()[0]
    assert live == 2


def test_dnc_entries_unique_per_organization(conn):
    org, other = new_org(conn, "A"), new_org(conn, "B")
    insert = "insert into dnc_list (organization_id, phone_number) values (%s, '+12125550142')"
    conn.execute(insert, (org,))
    with pytest.raises(errors.UniqueViolation), conn.transaction():
        conn.execute(insert, (org,))
    conn.execute(insert, (other,))


def test_one_live_enrollment_per_lead_and_sequence(world: World):
    enroll = (
        "insert into lead_sequence_enrollments (lead_id, sequence_id, status)"
        " values (%(lead)s, %(sequence)s, %(status)s)"
    )
    world.run(enroll, status="active")
    with pytest.raises(errors.UniqueViolation), world.conn.transaction():
        world.run(enroll, status="paused")
    world.run(enroll, status="completed")
    world.run(enroll, status="completed")
    world.run("update lead_sequence_enrollments set status = 'exited' where status = 'active'")
    world.run(enroll, status="active")


def test_system_config_unique_per_organization_and_globally(conn):
    org = new_org(conn)
    insert = (
        "insert into system_config (organization_id, config_key, config_value) values (%s, %s, %s)"
    )
    conn.execute(insert, (None, "lf_test_key", '"global"'))
    with pytest.raises(errors.UniqueViolation), conn.transaction():
        conn.execute(insert, (None, "lf_test_key", '"again"'))
    conn.execute(insert, (org, "lf_test_key", '"override"'))
    with pytest.raises(errors.UniqueViolation), conn.transaction():
        conn.execute(insert, (org, "lf_test_key", '"twice"'))


def test_deleting_a_lead_cascades_to_its_history(world: World):
    world.run(
        "insert into lead_audit_log (lead_id, field_name, old_value, new_value)"
        " values (%(lead)s, 'status', 'new', 'contacted')"
    )
    world.run(
        "insert into lead_status_history (lead_id, from_status, to_status, trigger_type)"
        " values (%(lead)s, null, 'new', 'import')"
    )
    world.run("insert into lead_score_history (lead_id, score) values (%(lead)s, 40)")
    world.run(
        "insert into lead_assignments (lead_id, to_user_id, strategy)"
        " values (%(lead)s, %(user)s, 'round_robin')"
    )
    world.run(
        "insert into lead_sequence_enrollments (lead_id, sequence_id) values (%(lead)s, %(sequence)s)"
    )
    children = [
        "lead_audit_log",
        "lead_status_history",
        "lead_score_history",
        "lead_assignments",
        "lead_sequence_enrollments",
    ]

    def counts() -> list[int]:
        return [
            world.conn.execute(
                sql.SQL("select count(*) from {} where lead_id = %s").format(sql.Identifier(t)),
                (world.lead,),
            ).fetchone()[0]
            for t in children
        ]

    assert counts() == [1] * len(children)
    world.run("delete from leads where id = %(lead)s")
    assert counts() == [0] * len(children)


def test_deleting_a_sequence_cascades_to_enrollments(world: World):
    world.run(
        "insert into lead_sequence_enrollments (lead_id, sequence_id) values (%(lead)s, %(sequence)s)"
    )
    world.run("delete from nurture_sequences where id = %(sequence)s")
    assert world.conn.execute("select count(*) from lead_sequence_enrollments").fetchone()[0] == 0


def test_deleting_a_user_keeps_leads_and_history_but_unsets_the_user(world: World):
    world.run(
        "insert into lead_assignments (lead_id, from_user_id, to_user_id, strategy, assigned_by)"
        " values (%(lead)s, %(user)s, %(user)s, 'manual', %(user)s)"
    )
    world.run(
        "insert into lead_audit_log (lead_id, field_name, changed_by)"
        " values (%(lead)s, 'email', %(user)s)"
    )
    world.run(
        "insert into lead_source_costs (organization_id, user_id, source, period, cost_usd)"
        " values (%(org)s, %(user)s, 'indeed', '2026-05', 10)"
    )
    world.run("delete from users where id = %(user)s")
    c = world.conn
    assert c.execute("select user_id from leads where id = %s", (world.lead,)).fetchone() == (None,)
    assert c.execute(
        "select from_user_id, to_user_id, assigned_by from lead_assignments"
    ).fetchall() == [(None, None, None)]
    assert c.execute("select changed_by from lead_audit_log").fetchall() == [(None,)]
    assert c.execute("select count(*) from lead_source_costs").fetchone() == (0,)


def test_deleting_an_organization_removes_everything_it_owns(world: World):
    world.run(BUDGET, type="deposit", amount=100)
    world.run(
        "insert into dnc_list (organization_id, phone_number) values (%(org)s, '+12125550100')"
    )
    world.run("delete from organizations where id = %(org)s")
    for table in ("users", "leads", "nurture_sequences", "dnc_list", "budget_transactions"):
        query = sql.SQL("select count(*) from {}").format(sql.Identifier(table))
        assert world.conn.execute(query).fetchone() == (0,), table


UPDATED_AT_ROWS: dict[str, str] = {
    "organizations": "update organizations set name = name || '!' where id = %(org)s",
    "users": "update users set first_name = 'Changed' where organization_id = %(org)s",
    "leads": "update leads set status = 'contacted' where organization_id = %(org)s",
    "nurture_sequences": "update nurture_sequences set active = false where organization_id = %(org)s",
    "lead_sequence_enrollments": (
        "update lead_sequence_enrollments set current_step = 1"
        " where sequence_id in (select id from nurture_sequences where organization_id = %(org)s)"
    ),
    "lead_source_costs": "update lead_source_costs set cost_usd = 99 where organization_id = %(org)s",
    "segments": "update segments set lead_count = 5 where organization_id = %(org)s",
    "system_config": "update system_config set config_value = '2' where organization_id = %(org)s",
}


@pytest.fixture
def committed_org(db_url: str) -> Iterator[tuple[str, uuid.UUID, uuid.UUID]]:
    """An organization with a row in every table, committed; deleted (cascade) afterwards."""
    with psycopg.connect(db_url, autocommit=True) as c:
        org = new_org(c, "Committed")
        user = new_user(c, org)
        lead = new_lead(c, org, "+12125550177", user=user)
        sequence = new_sequence(c, org)
        c.execute(
            "insert into lead_sequence_enrollments (lead_id, sequence_id) values (%s, %s)",
            (lead, sequence),
        )
        c.execute(
            "insert into lead_source_costs (organization_id, user_id, source, period, cost_usd)"
            " values (%s, %s, 'facebook', '2026-05', 1)",
            (org, user),
        )
        c.execute("insert into segments (organization_id, name) values (%s, 'all')", (org,))
        c.execute(
            "insert into system_config (organization_id, config_key, config_value)"
            " values (%s, 'k', '1')",
            (org,),
        )
    try:
        yield db_url, org, user
    finally:
        with psycopg.connect(db_url, autocommit=True) as c:
            c.execute("delete from organizations where id = %s", (org,))


@pytest.mark.parametrize("table", list(UPDATED_AT_ROWS))
def test_updated_at_moves_on_update(committed_org, table: str):
    url, org, _ = committed_org
    select = sql.SQL("select updated_at from {} where {} = %s").format(
        sql.Identifier(table),
        sql.Identifier("id" if table == "organizations" else "organization_id"),
    )
    if table == "lead_sequence_enrollments":
        select = sql.SQL(
            "select e.updated_at from lead_sequence_enrollments e"
            " join leads l on l.id = e.lead_id where l.organization_id = %s"
        )
    with psycopg.connect(url, autocommit=True) as c:
        (before,) = c.execute(select, (org,)).fetchone()
        time.sleep(0.05)
        with c.transaction():
            c.execute(UPDATED_AT_ROWS[table], {"org": org})
        (after,) = c.execute(select, (org,)).fetchone()
    assert after > before


def test_is_on_dnc_list_is_per_organization(conn):
    org, other = new_org(conn, "A"), new_org(conn, "B")
    conn.execute(
        "insert into dnc_list (organization_id, phone_number) values (%s, '+12125550166')", (org,)
    )

    def on_list(phone: str, organization: uuid.UUID) -> bool:
        return conn.execute("select is_on_dnc_list(%s, %s)", (phone, organization)).fetchone()[0]

    assert on_list("+12125550166", org) is True
    assert on_list("+12125550166", other) is False
    assert on_list("+12125550167", org) is False
    # an organization that does not exist (or that the session cannot see) has no answer
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="not visible"):
        on_list("+12125550166", uuid.uuid4())


# ledger --------------------------------------------------------------------------------------


def ledger(conn: psycopg.Connection, user: uuid.UUID) -> list[tuple[str, Decimal, Decimal]]:
    return conn.execute(
        "select transaction_type, amount_usd, balance_after_usd from budget_transactions"
        " where user_id = %s order by seq",
        (user,),
    ).fetchall()


def test_ledger_balances_chain_and_ignore_supplied_balances(world: World):
    entries = [
        ("deposit", "500.00"),
        ("spend", "-120.50"),
        ("spend", "-80.25"),
        ("refund", "20.00"),
        ("adjustment", "-0.25"),
    ]
    for kind, amount in entries:
        world.conn.execute(
            "insert into budget_transactions (organization_id, user_id, transaction_type,"
            " amount_usd, balance_after_usd) values (%s, %s, %s, %s, 999999)",
            (world.org, world.user, kind, amount),
        )
    rows = ledger(world.conn, world.user)
    assert [r[2] for r in rows] == [
        Decimal(v) for v in ("500.00", "379.50", "299.25", "319.25", "319.00")
    ]
    balance = world.conn.execute("select budget_balance(%s)", (world.user,)).fetchone()[0]
    assert balance == Decimal("319.00")
    assert world.conn.execute("select budget_balance(%s)", (uuid.uuid4(),)).fetchone()[0] == 0


def test_ledger_is_per_user(world: World):
    second = new_user(world.conn, world.org)
    world.run(BUDGET, type="deposit", amount=100)
    world.conn.execute(
        "insert into budget_transactions (organization_id, user_id, transaction_type, amount_usd,"
        " balance_after_usd) values (%s, %s, 'deposit', 7, 0)",
        (world.org, second),
    )
    world.run(BUDGET, type="spend", amount=-30)
    assert [r[2] for r in ledger(world.conn, world.user)] == [Decimal(100), Decimal(70)]
    assert [r[2] for r in ledger(world.conn, second)] == [Decimal(7)]


def test_ledger_rows_cannot_be_updated_or_deleted(world: World):
    world.run(BUDGET, type="deposit", amount=100)
    with pytest.raises(errors.RestrictViolation, match="append-only"), world.conn.transaction():
        world.run("update budget_transactions set amount_usd = 1000 where user_id = %(user)s")
    with pytest.raises(errors.RestrictViolation, match="append-only"), world.conn.transaction():
        world.run("update budget_transactions set description = 'typo' where user_id = %(user)s")
    with pytest.raises(errors.RestrictViolation, match="append-only"), world.conn.transaction():
        world.run("delete from budget_transactions where user_id = %(user)s")
    assert len(ledger(world.conn, world.user)) == 1


def test_deleting_the_user_still_removes_its_ledger(world: World):
    world.run(BUDGET, type="deposit", amount=100)
    world.run("delete from users where id = %(user)s")
    assert ledger(world.conn, world.user) == []


def test_ledger_refuses_a_user_of_another_organization(world: World):
    with pytest.raises(errors.ForeignKeyViolation), world.conn.transaction():
        world.conn.execute(
            "insert into budget_transactions (organization_id, user_id, transaction_type,"
            " amount_usd, balance_after_usd) values (%s, %s, 'deposit', 5, 0)",
            (world.other_org, world.user),
        )


def test_ledger_refuses_repeatable_read(committed_org):
    url, org, user = committed_org
    with psycopg.connect(url) as c:
        c.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with pytest.raises(errors.ObjectNotInPrerequisiteState, match="isolation"):
            c.execute(BUDGET, {"org": org, "user": user, "type": "deposit", "amount": 5})
        c.rollback()
        c.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
        c.execute(BUDGET, {"org": org, "user": user, "type": "deposit", "amount": 5})
        c.rollback()


def test_concurrent_ledger_inserts_chain_in_seq_order(committed_org):
    url, org, user = committed_org
    workers, per_worker = 4, 15
    start = threading.Barrier(workers)
    failures: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            with psycopg.connect(url, autocommit=True) as c:
                start.wait(timeout=30)
                for i in range(per_worker):
                    kind, amount = ("deposit", 10 + offset) if i % 3 else ("spend", -(1 + offset))
                    c.execute(BUDGET, {"org": org, "user": user, "type": kind, "amount": amount})
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures

    with psycopg.connect(url) as c:
        rows = ledger(c, user)
        balance = c.execute("select budget_balance(%s)", (user,)).fetchone()[0]
    assert len(rows) == workers * per_worker
    running = Decimal(0)
    for _, amount, balance_after in rows:
        running += amount
        assert balance_after == running
    assert balance == running


def test_ledger_waits_for_an_open_transaction_of_the_same_user(committed_org):
    url, org, user = committed_org
    params = {"org": org, "user": user, "type": "deposit"}
    with psycopg.connect(url) as first:
        first.execute(BUDGET, {**params, "amount": 100})  # holds the user's ledger lock

        done = threading.Event()

        def second_insert() -> None:
            with psycopg.connect(url, autocommit=True) as second:
                second.execute(BUDGET, {**params, "amount": 1})
            done.set()

        thread = threading.Thread(target=second_insert)
        thread.start()
        assert not done.wait(0.5), "second insert did not wait for the first transaction"
        first.commit()
        thread.join(timeout=10)
        assert done.is_set()
    with psycopg.connect(url) as c:
        assert [r[2] for r in ledger(c, user)] == [Decimal(100), Decimal(101)]
