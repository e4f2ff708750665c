"""The recommendation steps cost what changed, and give what a full pass gives (issue 21).

On a generated history (leadflow/platform/lead_history.py) the nightly's recommendation steps
run once in full; then a day of changes (a new activity, a late-arriving one, a status move, a
reassignment between agents, a DNC addition and a DNC removal, a soft delete, a new lead) and
time passing; then the ranking runs incrementally, and a full ranking at the same as-of must
store the same entries and fill the same cache. A failed organization leaves its watermark, and
the next run redoes it. The model is retrained by its rule only.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest
import redis

from leadflow.crm.assets import lead_scores
from leadflow.dagster_vocab import FULL_REFRESH_TAG
from leadflow.recommend import cache
from leadflow.recommend.assets import lead_conversion_model, lead_recommendations
from leadflow.recommend.service import WATERMARK_PREFIX
from leadflow.resources import PostgresResource, RedisResource
from tests.integration.conftest import ORG1, ORG2, generate_recommendation_history, one

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DAY2 = NOW + timedelta(days=1)
DAY3 = NOW + timedelta(days=2, hours=3)
ORGS = 3  # the seeded organizations

#: what a ranking stores, but computed_at (the as-of at which the entry was last computed)
COMPARED = (
    "lead_id::text, organization_id::text, user_id::text, agent_rank, propensity, rule_score,"
    " model_version, ranked_by, action, channel, best_hour, reasons::text"
)


@pytest.fixture
def history(crm_url) -> str:
    with psycopg.connect(crm_url) as conn:
        generate_recommendation_history(conn, NOW)
        # a number on the DNC list before the first ranking, taken off it later
        conn.execute(
            "insert into dnc_list (organization_id, phone_number, reason)"
            " select organization_id, phone_number, 'asked' from leads"
            " where organization_id = %s and status not in ('dnc', 'recruited')"
            " order by id offset 7 limit 1",
            (ORG1,),
        )
    return crm_url


def _run(url: str, redis_url: str | None, *assets, as_of: datetime, full: bool = False):
    config = {"ops": {a.node_def.name: {"config": {"as_of": as_of.isoformat()}} for a in assets}}
    return dg.materialize(
        list(assets),
        resources={"postgres": PostgresResource(url=url), "redis": RedisResource(url=redis_url)},
        run_config=config,
        instance=dg.DagsterInstance.ephemeral(),
        tags={FULL_REFRESH_TAG: "true"} if full else None,
        raise_on_error=False,
    )


def _meta(result, asset) -> dict:
    return {
        key: value.value
        for key, value in result.asset_materializations_for_node(asset.node_def.name)[
            0
        ].metadata.items()
    }


def _stored(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            f"select {COMPARED} from lead_recommendations order by lead_id"  # noqa: S608
        ).fetchall()


def _cache(redis_url: str, orgs=(ORG1, ORG2)) -> dict[str, object]:
    """Every recommendation key of the test's prefix, decoded, computed_at left out."""
    client = redis.Redis.from_url(redis_url)
    found: dict[str, object] = {}
    for org in orgs:
        for key in client.scan_iter(match=f"{cache.prefix()}:{org}:*", count=1000):
            value = json.loads(client.get(key) or b"null") if b":current" not in key else None
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    item.pop("computed_at", None)
            found[key.decode()] = value if value is not None else client.get(key)
    client.close()
    return found


def _a_day_of_changes(url: str, when: datetime) -> dict[str, str]:
    """What a CRM day does, written now (the real clock) with event times at `when`."""
    with psycopg.connect(url) as conn:

        def lead(offset: int, org: str = ORG1) -> tuple[str, str, str]:
            return one(
                conn,
                "select l.id::text, l.user_id::text, l.phone_number from leads l"
                " join lead_recommendations r on r.lead_id = l.id"
                " where l.organization_id = %s order by r.agent_rank, l.id offset %s limit 1",
                (org, offset),
            )

        active, _, _ = lead(0)
        late, _, _ = lead(3)
        moved, _, _ = lead(5)
        reassigned, agent, _ = lead(8)
        dnc, _, dnc_phone = lead(11)
        deleted, _, _ = lead(14)
        other_org, _, _ = lead(2, ORG2)
        conn.execute(
            "insert into lead_activities (source_id, organization_id, lead_id, activity_type,"
            " direction, outcome, occurred_at, matched_at)"
            " values (%s, %s, %s, 'call', 'outbound', 'answered', %s, now()),"
            "        (%s, %s, %s, 'sms', 'inbound', null, %s, now()),"
            "        (%s, %s, %s, 'call', 'outbound', 'answered', %s, now())",
            (
                *(f"t:{uuid.uuid4()}", ORG1, active, when - timedelta(hours=3)),
                *(f"t:{uuid.uuid4()}", ORG1, late, when - timedelta(days=20)),  # late arrival
                *(f"t:{uuid.uuid4()}", ORG2, other_org, when - timedelta(hours=2)),
            ),
        )
        conn.execute("update leads set status = 'hot' where id = %s", (moved,))
        conn.execute(
            "insert into lead_status_history (lead_id, from_status, to_status, trigger_type,"
            " changed_at) select id, 'contacted', 'hot', 'manual', %s from leads where id = %s",
            (when - timedelta(hours=4), moved),
        )
        other_agent = one(
            conn,
            "select id::text from users where organization_id = %s and id <> %s"
            " and role = 'agent' and is_active order by id limit 1",
            (ORG1, agent),
        )[0]
        conn.execute("update leads set user_id = %s where id = %s", (other_agent, reassigned))
        conn.execute(
            "insert into dnc_list (organization_id, phone_number, reason) values (%s, %s, 'x')",
            (ORG1, dnc_phone),
        )
        conn.execute("update leads set deleted_at = now() where id = %s", (deleted,))
        conn.execute(
            "delete from dnc_list where organization_id = %s and reason = 'asked'", (ORG1,)
        )
        conn.execute(
            "insert into leads (organization_id, user_id, first_name, phone_number, source,"
            " created_at) values (%s, %s, 'New', '+16465550199', 'indeed', %s)",
            (ORG1, agent, when - timedelta(hours=1)),
        )
    return {"reassigned": reassigned, "from": agent, "to": other_agent, "dnc": dnc}


def test_an_incremental_ranking_stores_and_caches_what_a_full_one_does(history, redis_url, prefix):
    first = _run(history, redis_url, lead_conversion_model, lead_recommendations, as_of=NOW)
    assert first.success
    assert _meta(first, lead_recommendations)["full"] == ORGS
    changed = _a_day_of_changes(history, DAY2)

    result = _run(history, redis_url, lead_conversion_model, lead_recommendations, as_of=DAY2)
    assert result.success
    model = _meta(result, lead_conversion_model)
    assert model["retrained"] == 0 and model["kept"] == ORGS  # a day old, little moved
    meta = _meta(result, lead_recommendations)
    assert meta["incremental"] == ORGS and meta["full"] == 0
    incremental, cached = _stored(history), _cache(redis_url)
    # the changes and the leads an age boundary away are ranked again, not every lead
    assert 7 <= meta["changed_leads"] < len(incremental) // 3
    with psycopg.connect(history) as conn:
        rows = dict(
            conn.execute(
                "select lead_id::text, user_id::text from lead_recommendations"
                " where lead_id = any(%s::uuid[])",
                ([changed["reassigned"], changed["dnc"]],),
            ).fetchall()
        )
    assert rows == {changed["reassigned"]: changed["to"]}  # moved lists; DNC gone

    full = _run(history, redis_url, lead_recommendations, as_of=DAY2, full=True)
    assert full.success and _meta(full, lead_recommendations)["full"] == ORGS
    assert incremental == _stored(history)
    refilled = _cache(redis_url)
    kept = {key: value for key, value in cached.items() if key in refilled}
    assert kept == {key: refilled[key] for key in kept}
    assert any(":lead:" in key for key in kept)  # what stayed holds what a fill writes
    assert not {key for key in cached if key not in refilled and ":agent:" in key}


def test_the_scores_an_earlier_step_of_the_nightly_wrote_are_not_ranked_again(history):
    """The nightly scores, then ranks at the same as-of: the new scores are in that ranking.
    The next ranking, with nothing changed, ranks again only the leads an age boundary moved."""
    nightly = (lead_scores, lead_conversion_model, lead_recommendations)
    first = _run(history, None, *nightly, as_of=NOW)
    assert first.success
    rescored = _meta(first, lead_scores)["changed"]
    assert rescored > 50, "the generated history's scores differ from the scoring's"
    result = _run(history, None, lead_recommendations, as_of=NOW + timedelta(seconds=30))
    meta = _meta(result, lead_recommendations)
    assert meta["incremental"] == ORGS
    # 30 s: a few leads in the age windows (a minute wide each side), not the rescored leads
    assert meta["changed_leads"] < rescored // 10, (meta["changed_leads"], rescored)
    incremental = _stored(history)
    later = NOW + timedelta(seconds=30)
    assert _run(history, None, lead_recommendations, as_of=later, full=True).success
    assert incremental == _stored(history)


def test_time_passing_alone_reranks_the_leads_that_crossed_an_age_boundary(history):
    assert _run(history, None, lead_conversion_model, lead_recommendations, as_of=NOW).success
    later = NOW + timedelta(days=1, hours=5)
    result = _run(history, None, lead_recommendations, as_of=later)
    meta = _meta(result, lead_recommendations)
    incremental = _stored(history)
    assert meta["incremental"] == ORGS and 0 < meta["changed_leads"] < len(incremental) // 3
    assert _run(history, None, lead_recommendations, as_of=later, full=True).success
    assert incremental == _stored(history)


def test_a_failed_organization_keeps_its_watermark_and_the_next_run_redoes_it(history):
    assert _run(history, None, lead_conversion_model, lead_recommendations, as_of=NOW).success
    _a_day_of_changes(history, DAY2)
    with psycopg.connect(history) as conn:
        marks = dict(
            conn.execute(
                "select name, last_occurred_at from sync_watermarks where name like %s",
                (WATERMARK_PREFIX + "%",),
            ).fetchall()
        )
        conn.execute(
            """
            create function fail_org2() returns trigger language plpgsql as $$
            begin
                if coalesce(new.organization_id, old.organization_id) = %s::uuid then
                    raise exception 'injected failure';
                end if;
                return coalesce(new, old);
            end $$
            """.replace("%s", f"'{ORG2}'")
        )
        conn.execute(
            "create trigger fail_org2 before insert or update or delete on lead_recommendations"
            " for each row execute function fail_org2()"
        )
    failed = _run(history, None, lead_recommendations, as_of=DAY2)
    assert not failed.success
    with psycopg.connect(history) as conn:
        after = dict(
            conn.execute(
                "select name, last_occurred_at from sync_watermarks where name like %s",
                (WATERMARK_PREFIX + "%",),
            ).fetchall()
        )
        conn.execute("drop trigger fail_org2 on lead_recommendations")
    assert after[WATERMARK_PREFIX + ORG2] == marks[WATERMARK_PREFIX + ORG2] == NOW
    assert after[WATERMARK_PREFIX + ORG1] == DAY2  # the other organization's work committed

    again = _run(history, None, lead_recommendations, as_of=DAY2)
    assert again.success and _meta(again, lead_recommendations)["incremental"] == ORGS
    redone = _stored(history)
    assert _run(history, None, lead_recommendations, as_of=DAY2, full=True).success
    assert redone == _stored(history)


def test_the_model_is_retrained_by_its_rule_only(history, monkeypatch):
    assert _run(history, None, lead_conversion_model, as_of=NOW).success

    def decisions(as_of, full=False) -> dict:
        result = _run(history, None, lead_conversion_model, as_of=as_of, full=full)
        assert result.success
        return _meta(result, lead_conversion_model)["decisions"]

    kept = decisions(DAY3)
    assert kept[ORG1]["model"] == "kept" and kept[ORG1]["version"] == 1
    assert "requested" in decisions(DAY3, full=True)[ORG1]["why"]
    old = decisions(DAY3 + timedelta(days=7))[ORG1]
    assert old["model"] == "retrained" and "days old" in old["why"]
    with psycopg.connect(history) as conn:  # 10% of ORG2's leads move after its model's as-of
        conn.execute(
            "insert into lead_status_history (lead_id, to_status, trigger_type, changed_at)"
            " select id, 'hot', 'manual', %s from leads where organization_id = %s"
            " order by id limit 40",
            (DAY3 + timedelta(days=8), ORG2),
        )
    moved = decisions(DAY3 + timedelta(days=9))
    assert moved[ORG2]["model"] == "retrained" and "data moved" in moved[ORG2]["why"]
    assert moved[ORG1]["model"] == "kept"
    monkeypatch.setenv("LEADFLOW_RECO_RETRAIN_DAYS", "1")
    assert decisions(DAY3 + timedelta(days=11))[ORG1]["model"] == "retrained"
