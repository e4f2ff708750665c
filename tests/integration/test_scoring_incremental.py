"""Incremental `lead_scores` equals a full scoring: after a day of changes (a new activity, a
late-arriving one, a status move, a soft delete, a configuration change, leads whose total moves
by time alone, activities leaving the window), the incremental pass writes the same scores,
history and audit rows as `--full-refresh` on a copy of the same data; a failed organization
keeps its watermark and is redone by the next run."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import dagster as dg
import psycopg
import pytest

from leadflow.crm.assets import lead_scores
from leadflow.dagster_vocab import FULL_REFRESH_TAG
from leadflow.resources import PostgresResource
from tests.integration.conftest import ORG1, ORG2

pytestmark = pytest.mark.integration

AS_OF = datetime.fromisoformat("2026-12-01T06:00:00+00:00")
NEXT = AS_OF + timedelta(days=1)
LATER = AS_OF + timedelta(days=4, hours=3)
KINDS = [
    ("call", "outbound", "answered"),
    ("call", "inbound", None),
    ("sms", "outbound", "replied"),
    ("email", "outbound", "opened"),
    ("meeting", None, "completed"),
    ("meeting", None, "scheduled"),
    ("meeting", None, "no_show"),
    ("call", "outbound", "voicemail"),
]
HISTORY = (
    "select lead_id::text, score, factors::text, calculated_at from lead_score_history"
    " order by 1, 4, 2, 3"
)
AUDIT = (
    "select lead_id::text, old_value, new_value, changed_at from lead_audit_log"
    " where change_source = 'scoring' order by 1, 4, 2, 3"
)
SCORES = "select id::text, lead_score from leads order by 1"


def materialize(url: str, as_of: datetime, *, full: bool = False, **kwargs):
    return dg.materialize(
        [lead_scores],
        resources={"postgres": PostgresResource(url=url)},
        run_config={"ops": {"lead_scores": {"config": {"as_of": as_of.isoformat()}}}},
        tags={FULL_REFRESH_TAG: "true"} if full else None,
        **kwargs,
    )


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    assert result.success
    [event] = result.get_asset_materialization_events()
    return {key: value.value for key, value in event.materialization.metadata.items()}


def state(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        return {
            name: conn.execute(query).fetchall()
            for name, query in (("scores", SCORES), ("history", HISTORY), ("audit", AUDIT))
        }


def add_activity(conn, lead_id: str, org: str, kind: int, occurred_at: datetime) -> None:
    activity_type, direction, outcome = KINDS[kind]
    conn.execute(
        "insert into lead_activities (source_id, organization_id, lead_id, activity_type,"
        " direction, outcome, occurred_at, matched_at)"
        " values (gen_random_uuid()::text, %s, %s, %s, %s, %s, %s, now())",
        (org, lead_id, activity_type, direction, outcome, occurred_at),
    )


@pytest.fixture(autouse=True)
def no_overlap(monkeypatch):
    """The seed is seconds old: with the default overlap every lead would count as changed and
    the incremental pass would score them all, proving nothing."""
    monkeypatch.setenv("LEADFLOW_NIGHTLY_CHANGE_OVERLAP_SECONDS", "0")


@pytest.fixture
def busy_url(crm_url: str) -> str:
    """The seed plus 300 leads per organization 1 and 2, each with up to 6 activities spread
    over the 150 days before AS_OF (some in the window's oldest edge, so that they leave it
    between runs) and a few scheduled after AS_OF (they enter the window by time passing)."""
    with psycopg.connect(crm_url) as conn:
        conn.execute("select setseed(0.21)")
        for prefix, org in (("+1555", ORG1), ("+4479", ORG2)):
            conn.execute(
                """
                insert into leads (organization_id, phone_number, first_name, last_name, email,
                                   phone_type, source, status, tags)
                select %(org)s, %(prefix)s || lpad(i::text, 7, '0'),
                       case when i %% 5 <> 0 then 'First' || i else '' end,
                       case when i %% 7 <> 0 then 'Last' || i else '' end,
                       case when i %% 3 <> 0 then 'lead' || i || '@example.com' end,
                       (array['mobile', 'fixed_line', null, 'voip'])[1 + i %% 4],
                       (array['referral', 'facebook', 'indeed', null, 'tiktok'])[1 + i %% 5],
                       (array['new', 'contacted', 'qualified', 'hot', 'cold', 'nurturing',
                              'dnc'])[1 + i %% 7],
                       case when i %% 4 = 0 then array['veteran', 'cdl'] else '{}' end
                from generate_series(1, 300) as i
                """,
                {"org": org, "prefix": prefix},
            )
            conn.execute(
                """
                insert into lead_activities (source_id, organization_id, lead_id, activity_type,
                                             direction, outcome, occurred_at, matched_at)
                select gen_random_uuid()::text, x.organization_id, x.id, c.kinds[x.k][1],
                       c.kinds[x.k][2], c.kinds[x.k][3],
                       %(as_of)s::timestamptz - make_interval(secs => x.age)
                           + case when x.ahead then interval '3 days' else '0' end,
                       now()
                from (
                    select l.organization_id, l.id, 1 + floor(random() * 7)::int as k,
                           random() * 150 * 86400 as age, random() < 0.03 as ahead
                    from leads l
                    cross join generate_series(1, 6) as n
                    where l.organization_id = %(org)s and random() < 0.6
                ) x
                cross join (
                    select array[array['call', 'outbound', 'answered'],
                                 array['call', 'inbound', null],
                                 array['sms', 'outbound', 'replied'],
                                 array['email', 'outbound', 'opened'],
                                 array['meeting', null, 'completed'],
                                 array['meeting', null, 'no_show'],
                                 array['note', null, null]] as kinds
                ) c
                """,
                {"org": org, "as_of": AS_OF},
            )
    return crm_url


def lead_ids(url: str, org: str, limit: int, offset: int = 0) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select id::text from leads where organization_id = %s and deleted_at is null"
            " and status <> 'dnc' order by id limit %s offset %s",
            (org, limit, offset),
        ).fetchall()
    return [lead for (lead,) in rows]


def a_day_of_changes(url: str) -> None:
    first, second, third, fourth, fifth = lead_ids(url, ORG1, 5, offset=10)
    with psycopg.connect(url) as conn:
        add_activity(conn, first, ORG1, 1, LATER - timedelta(hours=5))  # a new inbound call
        add_activity(conn, second, ORG1, 4, AS_OF - timedelta(days=2))  # late-arriving meeting
        conn.execute("update leads set status = 'hot' where id = %s", (third,))
        conn.execute("update leads set status = 'dnc' where id = %s", (fourth,))
        conn.execute("update leads set deleted_at = now() where id = %s", (fifth,))
        conn.execute(
            "insert into system_config (organization_id, config_key, config_value)"
            " values (%s, 'score_weights', %s)",
            (ORG2, json.dumps({"qualification": 1, "engagement": 3, "intent": 2})),
        )


def test_incremental_scores_equal_a_full_scoring_of_the_same_data(busy_url, make_database):
    first = metadata(materialize(busy_url, AS_OF))
    assert first["mode"] == "full" and first["changed"] > 500
    nothing = metadata(materialize(busy_url, AS_OF))
    assert nothing["mode"] == "incremental" and nothing["changed"] == 0
    next_day = metadata(materialize(busy_url, NEXT))
    assert next_day["mode"] == "incremental"
    assert 0 < next_day["leads_scored"] < first["leads_scored"]

    a_day_of_changes(busy_url)
    copy = make_database("scores_full", template=busy_url)
    with psycopg.connect(busy_url) as conn:
        touched_by_time = {
            lead
            for (lead,) in conn.execute(
                "select d.lead_id::text from lead_score_due d join leads l on l.id = d.lead_id"
                " where d.rescore_at <= %s and l.organization_id = %s",
                (LATER, ORG1),
            )
        }
    incremental = metadata(materialize(busy_url, LATER))
    full = metadata(materialize(copy, LATER, full=True))

    assert incremental["mode"] == "mixed"
    assert set(incremental["full_organizations"]) == {ORG2}
    assert incremental["full_organizations"][ORG2] == "score configuration changed"
    assert full["mode"] == "full" and full["full_reason"] == "requested (--full-refresh)"
    assert incremental["leads_scored"] < full["leads_scored"]
    assert incremental["changed"] == full["changed"] > 0
    assert len(touched_by_time) > 5  # totals that time alone moved were among those scored
    assert state(busy_url) == state(copy)


def test_nothing_changed_scores_nothing_beyond_the_decay(busy_url):
    metadata(materialize(busy_url, AS_OF))
    with psycopg.connect(busy_url) as conn:
        due, earliest = conn.execute(
            "select count(*), min(rescore_at) from lead_score_due"
        ).fetchone()
        # never before the as_of it was computed at (at it: a change within TIME_MARGIN)
        assert due > 0 and earliest >= AS_OF
    # an hour later with no change: only leads due by then or whose activities crossed the
    # window's edges
    again = metadata(materialize(busy_url, AS_OF + timedelta(hours=1)))
    assert again["mode"] == "incremental"
    assert again["leads_considered"] < 700


def test_a_failed_organization_keeps_its_watermark_and_the_next_run_redoes_it(
    busy_url, make_database
):
    metadata(materialize(busy_url, AS_OF))
    a_day_of_changes(busy_url)
    copy = make_database("scores_full", template=busy_url)
    with psycopg.connect(busy_url) as conn:
        conn.execute(
            """
            create function fail_org2_scores() returns trigger language plpgsql as $$
            begin
                if new.organization_id = '22222222-2222-4222-8222-222222222222'
                   and new.lead_score <> old.lead_score then
                    raise exception 'organization 2 cannot be scored now';
                end if;
                return new;
            end $$;
            create trigger fail_org2_scores before update of lead_score on leads
                for each row execute function fail_org2_scores();
            """
        )
    failed = materialize(busy_url, LATER, raise_on_error=False)
    assert not failed.success
    with psycopg.connect(busy_url) as conn:
        marks = dict(
            conn.execute(
                "select name, last_occurred_at from sync_watermarks where name like 'scores:%'"
            ).fetchall()
        )
        assert marks["scores:" + ORG1] == LATER  # done before organization 2 failed
        assert marks["scores:" + ORG2] == AS_OF
        conn.execute("drop trigger fail_org2_scores on leads; drop function fail_org2_scores()")
    redo = metadata(materialize(busy_url, LATER))
    assert redo["full_organizations"] == {ORG2: "score configuration changed"}
    metadata(materialize(copy, LATER, full=True))
    assert state(busy_url) == state(copy)


def test_the_full_pass_comes_back_weekly_and_when_as_of_goes_back(busy_url, monkeypatch):
    monkeypatch.setenv("LEADFLOW_NIGHTLY_FULL_EVERY_DAYS", "7")
    metadata(materialize(busy_url, AS_OF))
    assert metadata(materialize(busy_url, AS_OF + timedelta(days=6)))["mode"] == "incremental"
    weekly = metadata(materialize(busy_url, AS_OF + timedelta(days=7)))
    assert weekly["mode"] == "full"
    assert weekly["full_reason"] == "last full pass 7.0 days ago (every 7 days)"
    back = metadata(materialize(busy_url, AS_OF + timedelta(days=5)))
    assert back["mode"] == "full" and back["full_reason"].startswith("as_of before the last run's")
