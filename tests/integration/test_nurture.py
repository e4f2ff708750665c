"""The `nurture_enrollments` asset against PostgreSQL: enrollment, touches, exits, DNC.

Works on the seeded database: per organization, sequence 1 "New lead welcome" (sms 0d, email 2d,
call 5d, email 10d) and 2 "Cold lead re-engagement" (email 0d, sms 7d, call 14d), and ten
enrollments (active: leads 04, 05, 10, 11, 15; paused 06; completed 12, 17; cancelled 16;
exited 20).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from leadflow.crm import nurture_sql as nurture_db
from leadflow.crm.assets import nurture_enrollments
from leadflow.resources import PostgresResource
from tests.integration.conftest import ORG1, ORG2

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _no_seeded_entry_rules(connect):
    """Start from the Epic 3 seed's sequences without the demo's entry rules
    (seeds/005_nurture_entry_rules.sql): each test sets the rules it exercises."""
    with connect() as conn:
        conn.execute("update nurture_sequences set entry_filter = null")


T = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WELCOME1 = "d1000000-0000-4000-8000-000000000001"
REENGAGE1 = "d1000000-0000-4000-8000-000000000002"
REENGAGE2 = "d2000000-0000-4000-8000-000000000002"
WELCOME3 = "d3000000-0000-4000-8000-000000000001"


def lead(nn: int, org: int = 1) -> str:
    return f"b{org}000000-0000-4000-8000-0000000000{nn:02d}"


def days(n: float) -> timedelta:
    return timedelta(days=n)


def run(url: str, as_of: datetime) -> dict:
    result = dg.materialize(
        [nurture_enrollments],
        resources={"postgres": PostgresResource(url=url)},
        run_config=dg.RunConfig({"nurture_enrollments": {"config": {"as_of": as_of.isoformat()}}}),
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("nurture_enrollments")
    return {key: value.value for key, value in materialization.metadata.items()}


def set_entry_filter(conn: psycopg.Connection, sequence_id: str, spec: dict | None) -> None:
    conn.execute(
        "update nurture_sequences set entry_filter = %s where id = %s",
        (json.dumps(spec) if spec is not None else None, sequence_id),
    )


def touches(conn: psycopg.Connection, lead_id: str) -> list[tuple]:
    return conn.execute(
        "select step, channel, template_id, due_at, status from nurture_touches"
        " where lead_id = %s order by sequence_id, step",
        (lead_id,),
    ).fetchall()


def enrollment(conn: psycopg.Connection, lead_id: str, sequence_id: str) -> tuple:
    return conn.execute(
        "select status, current_step, next_step_scheduled_at, completed_at"
        " from lead_sequence_enrollments where lead_id = %s and sequence_id = %s"
        " order by enrolled_at desc limit 1",
        (lead_id, sequence_id),
    ).fetchone()


def test_seed_enrollments_advance_to_completion(crm_url, connect):
    with connect() as conn:
        before = dict(
            conn.execute(
                "select id, (status, current_step, completed_at) from lead_sequence_enrollments"
                " where status <> 'active'"
            ).fetchall()
        )
        step2_due = enrollment(conn, lead(4), WELCOME1)[2]

    first = run(crm_url, datetime(2026, 11, 25, tzinfo=UTC))
    # only lead 04's step 2 (due 2026-11-22) is due by then, in each organization
    assert (first["touches_queued"], first["completed"], first["enrolled"]) == (3, 0, 0)

    final = run(crm_url, datetime(2027, 1, 1, tzinfo=UTC))
    # 04: steps 3-4, 05: 3-4, 10: 4, 11: 2-3, 15: 3 -> 8 more per organization; all complete
    assert (final["touches_queued"], final["completed"], final["held_back"]) == (24, 15, 0)
    assert final["cancelled"] == final["exited"] == 0 and final["invalid_sequences"] == []
    with connect() as conn:
        assert touches(conn, lead(4)) == [
            (2, "email", "intro_email", step2_due, "queued"),
            (3, "call", "intro_call", step2_due + days(5), "queued"),
            (4, "email", "check_in_email", step2_due + days(15), "queued"),
        ]
        assert enrollment(conn, lead(4), WELCOME1) == ("completed", 4, None, step2_due + days(15))
        assert conn.execute(
            "select count(*) from lead_sequence_enrollments where status = 'active'"
        ).fetchone() == (0,)
        after = dict(
            conn.execute(
                "select id, (status, current_step, completed_at) from lead_sequence_enrollments"
                " where id = any(%s)",
                (list(before),),
            ).fetchall()
        )
        assert after == before  # paused, completed, cancelled and exited ones are left alone
        assert conn.execute("select count(*) from nurture_touches").fetchone() == (27,)


def test_entry_filter_enrolls_matching_leads_and_queues_step_one(crm_url, connect):
    with connect() as conn:
        # 01-03 are new; 04-06 contacted ones are already enrolled in the welcome sequence
        set_entry_filter(conn, WELCOME1, {"status": ["new", "contacted"]})

    metadata = run(crm_url, T)
    assert metadata["enrolled"] == 3
    assert metadata["by_organization"][ORG1]["enrolled"] == 3
    assert metadata["by_organization"][ORG2]["enrolled"] == 0  # the filter is org 1's
    with connect() as conn:
        for nn in (1, 2, 3):
            assert touches(conn, lead(nn)) == [(1, "sms", "welcome_sms", T, "queued")]
            assert enrollment(conn, lead(nn), WELCOME1) == ("active", 1, T + days(2), None)
        assert conn.execute(
            "select enrolled_at from lead_sequence_enrollments where lead_id = %s",
            (lead(1),),
        ).fetchone() == (T,)


def test_entry_filter_skips_dnc_recruited_deleted_and_already_enrolled_leads(crm_url, connect):
    with connect() as conn:
        set_entry_filter(conn, REENGAGE1, {})
        set_entry_filter(conn, REENGAGE2, {"status": ["hot"]})
        # lead 01 is on org 1's DNC list without being marked dnc yet
        conn.execute(
            "insert into dnc_list (organization_id, phone_number)"
            " select organization_id, phone_number from leads where id = %s",
            (lead(1),),
        )

    metadata = run(crm_url, T)
    with connect() as conn:
        enrolled = {
            row[0][-2:]
            for row in conn.execute(
                "select lead_id::text from lead_sequence_enrollments"
                " where sequence_id = %s and enrolled_at = %s",
                (REENGAGE1, T),
            )
        }
        # 20 leads - 16 (deleted) - 17, 18 (recruited) - 19, 20 (dnc) - 01 (DNC list)
        # - 11, 15 (already enrolled in re-engagement)
        assert enrolled == {f"{nn:02d}" for nn in (2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14)}
        # org 2's hot lead 12 is on org 1's DNC list only: org 2 may still nurture it
        assert enrollment(conn, lead(12, org=2), REENGAGE2)[0] == "active"
        assert touches(conn, lead(12, org=2)) == [(1, "email", "reengage_email", T, "queued")]
        assert touches(conn, lead(1)) == []
    assert metadata["by_organization"][ORG1]["enrolled"] == 12
    assert metadata["by_organization"][ORG2]["enrolled"] == 3  # hot leads 12, 13, 14


def test_a_lead_is_enrolled_in_a_sequence_at_most_once(crm_url, connect):
    with connect() as conn:
        set_entry_filter(conn, WELCOME1, {"status": ["hot"]})
    run(crm_url, T)
    with connect() as conn:
        # hot leads 12, 13, 14: 12 completed the welcome sequence in the seed
        assert enrollment(conn, lead(12), WELCOME1)[0] == "completed"
        assert touches(conn, lead(12)) == []
        assert enrollment(conn, lead(13), WELCOME1)[0] == "active"
    run(crm_url, T + days(30))
    run(crm_url, T + days(31))
    with connect() as conn:
        assert enrollment(conn, lead(13), WELCOME1)[0] == "completed"
        assert conn.execute(
            "select count(*) from lead_sequence_enrollments where lead_id = %s", (lead(13),)
        ).fetchone() == (1,)


def test_running_twice_for_the_same_as_of_changes_nothing(crm_url, connect):
    with connect() as conn:
        set_entry_filter(conn, WELCOME1, {"status": ["new"]})
    first = run(crm_url, T)
    with connect() as conn:
        snapshot = conn.execute(
            "select * from nurture_touches order by enrollment_id, step"
        ).fetchall()
        enrollments = conn.execute("select * from lead_sequence_enrollments order by id").fetchall()
    second = run(crm_url, T)
    # three welcomes, plus the seed's steps due by T: six per organization (04: 2, 05, 10, 11, 15)
    assert first["touches_queued"] == 3 + 18
    assert (second["touches_queued"], second["enrolled"], second["completed"]) == (0, 0, 0)
    with connect() as conn:
        assert (
            conn.execute("select * from nurture_touches order by enrollment_id, step").fetchall()
            == snapshot
        )
        assert (
            conn.execute("select * from lead_sequence_enrollments order by id").fetchall()
            == enrollments
        )


def test_later_runs_advance_relative_to_the_previous_step_and_complete(crm_url, connect):
    with connect() as conn:
        set_entry_filter(conn, WELCOME1, {"name": "Emily Johnson"})
    run(crm_url, T)
    run(crm_url, T + days(2))
    with connect() as conn:
        assert [t[:4] for t in touches(conn, lead(1))] == [
            (1, "sms", "welcome_sms", T),
            (2, "email", "intro_email", T + days(2)),
        ]
        assert enrollment(conn, lead(1), WELCOME1) == ("active", 2, T + days(7), None)
    run(crm_url, T + days(30))  # catch-up: steps 3 and 4 at their own due times
    with connect() as conn:
        assert [t[:4] for t in touches(conn, lead(1))][2:] == [
            (3, "call", "intro_call", T + days(7)),
            (4, "email", "check_in_email", T + days(17)),
        ]
        assert enrollment(conn, lead(1), WELCOME1) == ("completed", 4, None, T + days(17))


@pytest.mark.parametrize("how", ["status", "dnc_list"])
def test_a_lead_that_becomes_dnc_is_cancelled_and_never_touched_again(crm_url, connect, how):
    with connect() as conn:
        set_entry_filter(conn, WELCOME1, {"status": ["new"]})
    run(crm_url, T)
    with connect() as conn:
        if how == "status":
            conn.execute("update leads set status = 'dnc' where id = %s", (lead(1),))
        else:
            conn.execute(
                "insert into dnc_list (organization_id, phone_number)"
                " select organization_id, phone_number from leads where id = %s",
                (lead(1),),
            )
    metadata = run(crm_url, T + days(1))
    assert metadata["by_organization"][ORG1]["cancelled"] == 1
    assert metadata["by_organization"][ORG1]["touches_cancelled"] == 1
    run(crm_url, T + days(40))
    with connect() as conn:
        assert touches(conn, lead(1)) == [(1, "sms", "welcome_sms", T, "cancelled")]
        assert enrollment(conn, lead(1), WELCOME1) == ("cancelled", 1, None, None)
        assert enrollment(conn, lead(2), WELCOME1)[0] == "completed"  # the others went on


def test_recruited_and_deleted_leads_exit(crm_url, connect):
    with connect() as conn:
        set_entry_filter(conn, WELCOME1, {"status": ["new"]})
    run(crm_url, T)
    with connect() as conn:
        conn.execute("update leads set status = 'recruited' where id = %s", (lead(2),))
        conn.execute("update leads set deleted_at = %s where id = %s", (T, lead(3)))
    metadata = run(crm_url, T + days(30))
    assert metadata["by_organization"][ORG1]["exited"] == 2
    with connect() as conn:
        for nn in (2, 3):
            assert enrollment(conn, lead(nn), WELCOME1) == ("exited", 1, None, None)
            assert touches(conn, lead(nn)) == [(1, "sms", "welcome_sms", T, "cancelled")]
        assert len(touches(conn, lead(1))) == 4


def test_the_statement_that_queues_touches_checks_dnc_again(crm_url, connect):
    """A lead put on the DNC list after the exits were computed gets no touch and stays put."""
    with connect() as conn:
        conn.execute(
            "insert into dnc_list (organization_id, phone_number)"
            " select organization_id, phone_number from leads where id = %s",
            (lead(4),),
        )
        result = nurture_db.NurtureResult(
            conn.execute("select organization_id from leads where id = %s", (lead(4),)).fetchone()[
                0
            ]
        )
        sequences = nurture_db._load_sequences(conn, result)
        nurture_db._queue_due_touches(
            conn, result.organization_id, sequences, datetime(2027, 1, 1, tzinfo=UTC), result
        )
        assert result.held_back == 1
        assert touches(conn, lead(4)) == []
        assert enrollment(conn, lead(4), WELCOME1)[:2] == ("active", 1)
        assert result.touches_queued == 9 - 3  # the organization's other due steps went out


def test_invalid_steps_or_filters_are_reported_and_skipped(crm_url, connect):
    with connect() as conn:
        conn.execute(
            "update nurture_sequences set steps = %s where id = %s",
            (
                json.dumps([{"step": 1, "delay_days": -1, "channel": "sms", "template_id": "x"}]),
                WELCOME3,
            ),
        )
        set_entry_filter(conn, REENGAGE1, {"status": {"$ne": "dnc"}})
    metadata = run(crm_url, datetime(2027, 1, 1, tzinfo=UTC))
    problems = {p["sequence_id"]: p["error"] for p in metadata["invalid_sequences"]}
    assert problems[WELCOME3].startswith("steps[0].delay_days: expected an integer 0..3650")
    assert problems[REENGAGE1].startswith("filter.status: expected a list of statuses")
    # org 3's three active welcome enrollments wait for a fix; everything else went on
    assert metadata["by_organization"]["33333333-3333-4333-8333-333333333333"]["held_back"] == 3
    # 27 seed touches due by 2027 minus org 3's welcome steps (04: 3, 05: 2, 10: 1)
    assert metadata["enrolled"] == 0 and metadata["touches_queued"] == 27 - 6


def tenant_view(conn: psycopg.Connection, table: str, tenant: str | None) -> set:
    """Organizations whose rows of `table` a non-owner role sees for `tenant` (rolled back)."""
    role = sql.Identifier(f"lf_rls_{uuid.uuid4().hex[:8]}")
    with conn.transaction(force_rollback=True):
        conn.execute(sql.SQL("create role {} nologin").format(role))
        conn.execute(sql.SQL("grant select on {} to {}").format(sql.Identifier(table), role))
        conn.execute(sql.SQL("set local role {}").format(role))
        conn.execute("select set_config('app.current_tenant_id', %s, true)", (tenant or "",))
        query = sql.SQL("select distinct organization_id::text from {}")
        return {org for (org,) in conn.execute(query.format(sql.Identifier(table)))}


def test_touches_are_visible_to_their_tenant_only(crm_url, connect):
    run(crm_url, datetime(2027, 1, 1, tzinfo=UTC))
    with connect() as conn:
        assert len(tenant_view(conn, "nurture_touches", None)) == 0
        assert tenant_view(conn, "nurture_touches", ORG2) == {ORG2}
