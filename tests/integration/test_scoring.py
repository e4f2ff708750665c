"""`lead_scores` against the real database: hand-computed leads, idempotence, configuration."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import dagster as dg
import psycopg
import pytest

from leadflow.crm.assets import lead_scores
from leadflow.resources import PostgresResource
from tests.integration.conftest import ORG1, ORG2, one

pytestmark = pytest.mark.integration

AS_OF = "2026-12-01T12:00:00+00:00"
AS_OF_DT = datetime.fromisoformat(AS_OF)
FACTOR_KEYS = {"qualification", "engagement", "intent", "demographic", "total"}


def materialize(url: str, as_of: str = AS_OF, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [lead_scores],
        resources={"postgres": PostgresResource(url=url)},
        run_config={"ops": {"lead_scores": {"config": {"as_of": as_of}}}},
        **kwargs,
    )


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    assert result.success
    [event] = result.get_asset_materialization_events()
    return {key: value.value for key, value in event.materialization.metadata.items()}


def add_lead(conn: psycopg.Connection, phone: str, **values) -> str:
    row = {"organization_id": ORG1, "phone_number": phone, **values}
    columns = ", ".join(row)
    placeholders = ", ".join(f"%({name})s" for name in row)
    return conn.execute(
        f"insert into leads ({columns}) values ({placeholders}) returning id::text", row
    ).fetchone()[0]


def add_activity(
    conn: psycopg.Connection,
    lead_id: str | None,
    kind: str,
    direction: str | None,
    outcome: str | None,
    days_before: float,
    organization_id: str = ORG1,
) -> None:
    conn.execute(
        """
        insert into lead_activities (source_id, organization_id, lead_id, activity_type,
                                     direction, outcome, occurred_at)
        values (%s, %s, %s, %s, %s, %s, %s)
        """,
        (
            uuid.uuid4().hex,
            organization_id,
            lead_id,
            kind,
            direction,
            outcome,
            AS_OF_DT - timedelta(days=days_before),
        ),
    )


@pytest.fixture
def crafted(connect) -> dict[str, str]:
    """Three leads whose factors are computed by hand in the tests below."""
    with connect() as conn:
        strong = add_lead(
            conn,
            "+16467000001",
            first_name="Ada",
            last_name="Lovelace",
            email="ada@example.com",
            phone_type="mobile",
            source="referral",
            tags=["executive"],
            status="qualified",
        )
        add_activity(conn, strong, "call", "inbound", "answered", 0)
        add_activity(conn, strong, "email", "outbound", "replied", 14)
        add_activity(conn, strong, "meeting", None, "completed", -1)  # after as_of: ignored
        add_activity(conn, None, "meeting", None, "completed", 1)  # unmatched: nobody's
        sparse = add_lead(
            conn, "+16467000002", first_name="Bo", phone_type="fixed_line", source="facebook"
        )
        dnc = add_lead(
            conn,
            "+16467000003",
            first_name="Cy",
            last_name="Young",
            email="cy@example.com",
            phone_type="mobile",
            source="referral",
            status="dnc",
        )
        add_activity(conn, dnc, "call", "inbound", "answered", 0)
    return {"strong": strong, "sparse": sparse, "dnc": dnc}


def score_of(conn: psycopg.Connection, lead_id: str) -> int:
    return one(conn, "select lead_score from leads where id = %s", (lead_id,))[0]


def history(conn: psycopg.Connection, lead_id: str) -> list[tuple]:
    return conn.execute(
        "select score, factors, calculated_at from lead_score_history"
        " where lead_id = %s and calculated_at >= %s order by calculated_at",
        (lead_id, AS_OF_DT - timedelta(days=30)),
    ).fetchall()


def test_hand_computed_leads(crm_url, connect, crafted):
    meta = metadata(materialize(crm_url))
    with connect() as conn:
        # qualification 30+10+10+10+40, engagement 25 + 12/2, intent 60 + 10 + 10/2,
        # demographic 60+20: .3*100 + .3*31 + .25*75 + .15*80 = 70.05
        assert score_of(conn, crafted["strong"]) == 70
        [(score, factors, calculated_at)] = history(conn, crafted["strong"])
        assert (score, calculated_at) == (70, AS_OF_DT)
        assert factors == {
            "qualification": 100,
            "engagement": 31,
            "intent": 75,
            "demographic": 80,
            "total": 70,
        }
        # 10 + 10 + 20; 0; 20 (new); 25 (facebook): 12 + 0 + 5 + 3.75 = 20.75
        assert score_of(conn, crafted["sparse"]) == 21
        assert history(conn, crafted["sparse"])[0][1] == {
            "qualification": 40,
            "engagement": 0,
            "intent": 20,
            "demographic": 25,
            "total": 21,
        }
        # DNC: total 0, which is its current score already: nothing written
        assert score_of(conn, crafted["dnc"]) == 0
        assert history(conn, crafted["dnc"]) == []
        audit = conn.execute(
            "select old_value, new_value from lead_audit_log where lead_id = %s"
            " and field_name = 'lead_score' and change_source = 'scoring'",
            (crafted["strong"],),
        ).fetchall()
        assert audit == [("0", "70")]
    assert meta["leads_scored"] == 3 * 19 + 3  # 19 live seed leads per organization + crafted
    assert meta["changed"] + meta["unchanged"] == meta["leads_scored"]
    assert set(meta["average_score_by_organization"]) == {
        ORG1,
        ORG2,
        "33333333-3333-4333-8333-333333333333",
    }


def test_second_run_at_the_same_as_of_writes_nothing(crm_url, connect, crafted):
    first = metadata(materialize(crm_url))
    assert first["changed"] > 0
    with connect() as conn:
        rows = one(conn, "select count(*) from lead_score_history")[0]
        scores = dict(conn.execute("select id::text, lead_score from leads").fetchall())
    second = metadata(materialize(crm_url))
    assert (first["mode"], second["mode"]) == ("full", "incremental")
    assert first["full_reason"] == "first run"
    # the incremental pass looks at the leads written within the overlap (here: all, the seed
    # is seconds old) and finds nothing to change
    assert second["changed"] == 0
    assert second["unchanged"] == second["leads_scored"] <= first["leads_scored"]
    assert second["average_score_by_organization"] == {}
    with connect() as conn:
        assert one(conn, "select count(*) from lead_score_history")[0] == rows
        assert dict(conn.execute("select id::text, lead_score from leads").fetchall()) == scores


def test_same_as_of_gives_the_same_scores_after_a_later_run(crm_url, connect, crafted):
    metadata(materialize(crm_url))
    with connect() as conn:
        before = dict(conn.execute("select id::text, lead_score from leads").fetchall())
    later = metadata(materialize(crm_url, "2027-01-15T12:00:00+00:00"))
    assert later["changed"] > 0  # the inbound call of `strong` has decayed
    metadata(materialize(crm_url))
    with connect() as conn:
        assert dict(conn.execute("select id::text, lead_score from leads").fetchall()) == before


def test_a_new_activity_changes_engagement_and_writes_one_history_row(crm_url, connect, crafted):
    metadata(materialize(crm_url))
    with connect() as conn:
        rows = one(conn, "select count(*) from lead_score_history")[0]
        add_activity(conn, crafted["sparse"], "sms", "inbound", "delivered", 0)
    meta = metadata(materialize(crm_url))
    assert meta["changed"] == 1
    with connect() as conn:
        assert one(conn, "select count(*) from lead_score_history")[0] == rows + 1
        # engagement 15 (inbound sms), intent 20 + 10: .3*40 + .3*15 + .25*30 + .15*25 = 27.75
        # both rows carry the same calculated_at (the as-of time): compare them in total order
        assert sorted(
            (h[1] for h in history(conn, crafted["sparse"])), key=lambda f: f["total"]
        ) == [
            {"qualification": 40, "engagement": 0, "intent": 20, "demographic": 25, "total": 21},
            {"qualification": 40, "engagement": 15, "intent": 30, "demographic": 25, "total": 28},
        ]
        assert score_of(conn, crafted["sparse"]) == 28


def test_weights_and_half_life_from_system_config(crm_url, connect, crafted):
    metadata(materialize(crm_url))
    with connect() as conn:
        org2_rows = one(
            conn,
            "select count(*) from lead_score_history h join leads l on l.id = h.lead_id"
            " where l.organization_id = %s",
            (ORG2,),
        )[0]
        conn.execute(
            "insert into system_config (organization_id, config_key, config_value)"
            " values (%s, 'score_weights', %s), (%s, 'score_half_life_days', '7')",
            (ORG1, json.dumps({"engagement": 2, "intent": 2}), ORG1),
        )
    metadata(materialize(crm_url))
    with connect() as conn:
        # half-life 7: engagement 25 + 12/4 = 28, intent 60 + 10 + 10/4 = 72.5 -> 73;
        # weights normalized to 1/2 each: 14 + 36.5 = 50.5 -> 51
        [(score, factors, _)] = [h for h in history(conn, crafted["strong"]) if h[0] != 70]
        assert factors == {
            "qualification": 100,
            "engagement": 28,
            "intent": 73,
            "demographic": 80,
            "total": 51,
        }
        assert score == score_of(conn, crafted["strong"]) == 51
        # the organization row overrides the global weights for ORG1 only
        assert (
            one(
                conn,
                "select count(*) from lead_score_history h join leads l on l.id = h.lead_id"
                " where l.organization_id = %s",
                (ORG2,),
            )[0]
            == org2_rows
        )


def test_factors_and_scores_stay_within_bounds(crm_url, connect, crafted):
    metadata(materialize(crm_url))
    with connect() as conn:
        rows = conn.execute(
            "select h.score, h.factors from lead_score_history h where h.calculated_at = %s",
            (AS_OF_DT,),
        ).fetchall()
        assert rows
        for score, factors in rows:
            assert set(factors) == FACTOR_KEYS and factors["total"] == score
            assert all(isinstance(v, int) and 0 <= v <= 100 for v in factors.values())
        dnc_scores = conn.execute(
            "select distinct lead_score from leads where status = 'dnc' and deleted_at is null"
        ).fetchall()
        assert dnc_scores == [(0,)]


def test_deleted_leads_are_not_scored(crm_url, connect):
    deleted = "b1000000-0000-4000-8000-000000000016"
    with connect() as conn:
        before = score_of(conn, deleted)
    metadata(materialize(crm_url))
    with connect() as conn:
        assert score_of(conn, deleted) == before
        assert history(conn, deleted) == []


def test_invalid_weights_fail_before_anything_is_written(crm_url, connect):
    with connect() as conn:
        conn.execute(
            "insert into system_config (organization_id, config_key, config_value)"
            " values (%s, 'score_weights', '{\"engagement\": -1}')",
            (ORG2,),
        )
        rows = one(conn, "select count(*) from lead_score_history")[0]
    result = materialize(crm_url, raise_on_error=False)
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert "score_weights.engagement" in str(failure.event_specific_data.error)
    with connect() as conn:
        assert one(conn, "select count(*) from lead_score_history")[0] == rows
