"""Recommendations end to end against a real PostgreSQL and a real Redis-protocol server:
training on a time-based holdout, the rule fallback, what is never recommended, the cache's
keys and TTLs, invalidation by each kind of lead change, and life with Redis down.

Histories come from leadflow/platform/lead_history.py: leads whose hidden responsiveness
drives both their answered activities and their conversion, so a model that reads activities
must beat the rule score; a model required to beat it by more than it can is flagged and not
served.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np
import psycopg
import pytest
import redis

from leadflow.crm.assets import lead_assignments, lead_scores
from leadflow.platform.lead_history import generate
from leadflow.recommend import cache, served, store
from leadflow.recommend import model as propensity
from leadflow.recommend.assets import (
    lead_conversion_model,
    lead_conversion_model_quality,
    lead_recommendations,
    recommendation_cache_invalidation,
)
from leadflow.recommend.service import RecoSettings, score_organization, train_organization
from leadflow.resources import PostgresResource, RedisResource
from tests.conftest import run_leadflow
from tests.integration.conftest import ORG1, ORG2, ORG3, generate_recommendation_history, one

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def history(crm_url) -> str:
    with psycopg.connect(crm_url) as conn:
        generate_recommendation_history(conn, NOW)
    return crm_url


def _materialize(url: str, redis_url: str | None, *assets, as_of: datetime = NOW):
    config = {"ops": {a.node_def.name: {"config": {"as_of": as_of.isoformat()}} for a in assets}}
    return dg.materialize(
        list(assets),
        resources={"postgres": PostgresResource(url=url), "redis": RedisResource(url=redis_url)},
        run_config=config,
        instance=dg.DagsterInstance.ephemeral(),
    )


def _after_a_writer(url: str, redis_url: str, writer: dg.AssetsDefinition):
    """`writer` and then, in the same run, recommendation_cache_invalidation (the nightly job's
    order; in a deployment its automation condition runs it after any lead writer)."""
    return dg.materialize(
        [writer, recommendation_cache_invalidation],
        resources={"postgres": PostgresResource(url=url), "redis": RedisResource(url=redis_url)},
        instance=dg.DagsterInstance.ephemeral(),
    )


def _client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


# -- training ------------------------------------------------------------------------------------
def test_the_model_beats_the_rule_score_on_a_time_based_holdout(history):
    with psycopg.connect(history) as conn:
        result = train_organization(conn, ORG1, NOW, RecoSettings())
    assert result["status"] == "active", result["reason"]
    assert result["auc"] >= result["baseline_auc"] + 0.01
    assert result["brier"] < result["baseline_brier"]
    assert result["holdout_leads"] > 0 and result["holdout_recruited"] >= 10
    with psycopg.connect(history) as conn:
        stored = store.latest_model(conn, ORG1)
        # the holdout is the snapshot one horizon back, labelled by the horizon after it:
        # recount it independently from the status history
        holdout_at = NOW - timedelta(days=30)
        recruited = one(
            conn,
            """
            select count(distinct h.lead_id) from lead_status_history h join leads l on l.id = h.lead_id
            where l.organization_id = %s and l.created_at <= %s and h.to_status = 'recruited'
              and h.changed_at > %s and h.changed_at <= %s
            """,
            (ORG1, holdout_at, holdout_at, NOW),
        )[0]
    assert result["holdout_recruited"] == recruited
    assert stored["version"] == result["version"] == 1 and stored["status"] == "active"
    table = stored["metrics"]["reliability"]
    assert sum(row["leads"] for row in table) == result["holdout_leads"] and len(table) == 10
    # any process can score with it: JSON numbers, checked, no code
    model = served.load(
        stored["model_parameters"],
        organization_id=ORG1,
        version=1,
        feature_names=stored["feature_names"],
    )
    assert list(model.feature_names) == stored["feature_names"]
    with psycopg.connect(history) as conn:
        rows = store.snapshot(conn, ORG1, NOW, 30, labelled=False).rows
    scores = model.predict(rows)
    assert len(scores) == len(rows) > 0 and ((scores >= 0) & (scores <= 1)).all()
    with psycopg.connect(history) as conn:  # retraining stores the next version
        assert train_organization(conn, ORG1, NOW, RecoSettings())["version"] == 2


def test_the_stored_json_model_scores_exactly_as_the_fitted_pipeline(history):
    """On the generated history's real snapshots, through a jsonb round trip: the served
    model's propensities and contributions are scikit-learn's (the pipeline is never stored)."""
    holdout_at = NOW - timedelta(days=30)
    with psycopg.connect(history) as conn:
        train_rows = [
            row
            for k in (1, 2, 3)
            for row in store.snapshot(
                conn, ORG1, holdout_at - timedelta(days=30 * k), 30, labelled=True
            ).rows
        ]
        holdout_rows = store.snapshot(conn, ORG1, holdout_at, 30, labelled=True).rows
        current = store.snapshot(conn, ORG1, NOW, 30, labelled=False).rows
        result = propensity.train(train_rows, holdout_rows)
        stored = one(
            conn,
            "select %s::jsonb::text",
            (json.dumps(propensity.export(result.pipeline).to_json()),),
        )[0]
    model = served.load(stored, organization_id=ORG1, version=1)
    rows = train_rows + current
    frame = propensity.frame(rows)
    expected = result.pipeline.predict_proba(frame)[:, 1]
    encoded = np.asarray(result.pipeline.named_steps["features"].transform(frame))
    scores, contributions = model.predict_with_contributions(rows)
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        contributions, encoded * result.pipeline.named_steps["model"].coef_[0], rtol=0, atol=1e-12
    )


def test_a_model_that_does_not_beat_the_rule_score_is_flagged_and_the_rule_ranks(history):
    with psycopg.connect(history) as conn:
        # a required gain no model reaches: the model is stored, flagged, and not served
        result = train_organization(conn, ORG1, NOW, RecoSettings(min_gain=0.5))
        assert result["status"] == "flagged"
        assert "does not beat the rule score" in result["reason"]
        entries, summary = score_organization(conn, ORG1, NOW, RecoSettings())
    assert summary["ranked_by"] == "rule"
    assert all(e["propensity"] == pytest.approx(e["rule_score"] / 100) for e in entries)


def test_too_little_history_gives_no_model(crm_url):
    with psycopg.connect(crm_url) as conn:
        result = train_organization(conn, ORG3, NOW, RecoSettings())
    assert result["status"] == "insufficient_data" and "too little history" in result["reason"]


# -- what is recommended ---------------------------------------------------------------------------
def test_never_a_dnc_or_recruited_lead_never_another_organizations(history):
    with psycopg.connect(history) as conn:
        train_organization(conn, ORG1, NOW, RecoSettings())
        dnc_phone = one(
            conn,
            "select phone_number from leads where organization_id = %s"
            " and status = 'new' order by id limit 1",
            (ORG1,),
        )[0]
        conn.execute(
            "insert into dnc_list (organization_id, phone_number) values (%s, %s)",
            (ORG1, dnc_phone),
        )
        entries, summary = score_organization(conn, ORG1, NOW, RecoSettings())
        ids = [e["lead_id"] for e in entries]
        states = dict(
            conn.execute(
                "select id::text, status from leads where id = any(%s::uuid[])", (ids,)
            ).fetchall()
        )
        orgs = {
            r[0]
            for r in conn.execute(
                "select distinct organization_id::text from leads where id = any(%s::uuid[])",
                (ids,),
            )
        }
        # every lead of the organization that existed at NOW, less the DNC and recruited ones
        expected = one(
            conn,
            "select count(*) from leads where organization_id = %s"
            " and deleted_at is null and created_at <= %s and status not in ('dnc', 'recruited')"
            " and phone_number <> %s",
            (ORG1, NOW, dnc_phone),
        )[0]
    assert summary["ranked_by"] == "model" and orgs == {ORG1}
    assert not {"dnc", "recruited"} & set(states.values())
    assert dnc_phone not in {e["phone_number"] for e in entries}
    assert len(entries) == expected
    by_agent: dict = {}
    for e in entries:
        by_agent.setdefault(e["user_id"], []).append(e)
    for items in by_agent.values():  # each agent's list ranks 1..n by propensity
        items.sort(key=lambda e: e["agent_rank"])
        assert [e["agent_rank"] for e in items] == list(range(1, len(items) + 1))
        assert [e["propensity"] for e in items] == sorted(
            (e["propensity"] for e in items), reverse=True
        )
    assert {e["action"] for e in entries} <= {
        "call",
        "sms",
        "email",
        "nurture",
        "re_engage",
        "close_cold",
    }
    assert all(e["reasons"] for e in entries)


# -- the assets and the cache ----------------------------------------------------------------------
def test_assets_fill_namespaced_keys_with_a_ttl_and_the_cli_reads_them(history, redis_url, prefix):
    result = _materialize(history, redis_url, lead_conversion_model, lead_recommendations)
    assert result.success
    metadata = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert metadata["lead_conversion_model"]["active"].value >= 1
    assert metadata["lead_recommendations"]["cache"].value == "filled"
    client = _client(redis_url)
    keys = [k.decode() for k in client.scan_iter(f"{prefix}:reco:*", count=1000)]
    org1 = [k for k in keys if k.startswith(f"{prefix}:reco:{ORG1}:")]
    org2 = [k for k in keys if k.startswith(f"{prefix}:reco:{ORG2}:")]
    assert org1 and org2
    assert {k.split(":")[2] for k in keys} == {ORG1, ORG2, ORG3}  # every key names its tenant
    version = client.get(cache.current_key(ORG1)).decode()
    assert version.startswith("v") and version != "v0"  # the model's version is in the keys
    assert 0 < client.ttl(org1[0]) <= cache.DEFAULT_TTL_SECONDS
    # an ORG2 lead is never in an ORG1 key
    with psycopg.connect(history) as conn:
        org2_leads = {
            r[0]
            for r in conn.execute("select id::text from leads where organization_id = %s", (ORG2,))
        }
        agent = one(
            conn,
            "select user_id::text from lead_recommendations where organization_id"
            " = %s and agent_rank = 1 limit 1",
            (ORG1,),
        )[0]
    assert not any(k.rsplit(":", 1)[1] in org2_leads for k in org1)
    cli = run_leadflow(
        "recommend",
        "--agent",
        agent,
        "--limit",
        "5",
        "--json",
        env={"POSTGRES_URL": history, "REDIS_URL": redis_url},
    )
    payload = json.loads(cli.stdout)
    assert payload["source"] == "cache" and len(payload["items"]) == 5
    assert [i["rank"] for i in payload["items"]] == [1, 2, 3, 4, 5]
    text = run_leadflow(
        "recommend",
        "--agent",
        agent,
        "--limit",
        "3",
        env={"POSTGRES_URL": history, "REDIS_URL": redis_url},
    )
    assert "(from cache)" in text.stdout and "p=" in text.stdout
    client.close()


def _cached(redis_url: str, org: str, lead: str) -> bool:
    client = _client(redis_url)
    namespace = client.get(cache.current_key(org)).decode()
    found = client.exists(cache.lead_key(org, namespace, lead)) == 1
    client.close()
    return found


def _agent_cached(redis_url: str, org: str, agent: str) -> bool:
    client = _client(redis_url)
    namespace = client.get(cache.current_key(org)).decode()
    found = client.exists(cache.agent_key(org, namespace, agent)) == 1
    client.close()
    return found


@pytest.fixture
def filled(history, redis_url, prefix, monkeypatch) -> tuple[str, str]:
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert _materialize(history, redis_url, lead_conversion_model, lead_recommendations).success
    with psycopg.connect(history) as conn:
        lead, agent = one(
            conn,
            "select lead_id::text, user_id::text from lead_recommendations"
            " where organization_id = %s and agent_rank = 2",
            (ORG1,),
        )
    assert _cached(redis_url, ORG1, lead) and _agent_cached(redis_url, ORG1, agent)
    return lead, agent


def test_an_import_merge_invalidates_and_a_higher_status_drops_the_lead(
    history, redis_url, filled, write_csv
):
    lead, agent = filled
    with psycopg.connect(history) as conn:
        phone = one(conn, "select phone_number from leads where id = %s", (lead,))[0]
    path = write_csv(
        "merge.csv", ["phone", "first_name", "status"], [[phone, "Merged", "recruited"]]
    )
    result = run_leadflow(
        "import", str(path), "--org", ORG1, env={"POSTGRES_URL": history, "REDIS_URL": redis_url}
    )
    assert result.returncode == 0, result.stderr
    assert not _cached(redis_url, ORG1, lead) and not _agent_cached(redis_url, ORG1, agent)
    items, source = cache.agent_list(
        _client(redis_url), lambda: psycopg.connect(history), ORG1, agent, 50
    )
    assert source == cache.Source.POSTGRES_MISS and lead not in {i["lead_id"] for i in items}
    assert _agent_cached(redis_url, ORG1, agent)  # refilled by the miss
    again, source = cache.agent_list(
        _client(redis_url), lambda: psycopg.connect(history), ORG1, agent, 50
    )
    assert source == cache.Source.CACHE and again == items


def test_a_score_change_invalidates(history, redis_url, filled):
    lead, agent = filled
    # the scoring asset rescoring with new activity: the lead's score changes; the
    # recommendations' invalidation runs after it (as in the nightly job)
    with psycopg.connect(history) as conn:
        conn.execute(
            "update leads set lead_score = (lead_score + 50) %% 100 where id = %s", (lead,)
        )
    result = _after_a_writer(history, redis_url, lead_scores)
    assert result.success
    assert not _cached(redis_url, ORG1, lead) and not _agent_cached(redis_url, ORG1, agent)


def test_a_reassignment_moves_the_lead_to_the_new_agents_list(history, redis_url, filled):
    lead, agent = filled
    with psycopg.connect(history) as conn:
        other = one(
            conn,
            "select id::text from users where organization_id = %s and is_active"
            " and id <> %s and role = 'agent' order by id limit 1",
            (ORG1, agent),
        )[0]
    assert _agent_cached(redis_url, ORG1, other)  # both lists are cached before
    result = run_leadflow(
        "leads",
        "assign",
        lead,
        "--to",
        other,
        env={"POSTGRES_URL": history, "REDIS_URL": redis_url},
    )
    assert result.returncode == 0, result.stderr
    assert not _agent_cached(redis_url, ORG1, agent) and not _agent_cached(redis_url, ORG1, other)
    connect = lambda: psycopg.connect(history)  # noqa: E731
    old_list, _ = cache.agent_list(_client(redis_url), connect, ORG1, agent, 500)
    new_list, _ = cache.agent_list(_client(redis_url), connect, ORG1, other, 500)
    assert lead not in {i["lead_id"] for i in old_list}
    assert lead in {i["lead_id"] for i in new_list}


def test_a_number_put_on_the_dnc_list_is_invalidated_by_the_next_step(history, redis_url, filled):
    lead, agent = filled
    with psycopg.connect(history) as conn:
        conn.execute(
            "insert into dnc_list (organization_id, phone_number, reason)"
            " select organization_id, phone_number, 'asked' from leads where id = %s",
            (lead,),
        )
    # the PostgreSQL path never serves it, even before the cache is invalidated
    with psycopg.connect(history) as conn:
        assert store.lead_entry(conn, ORG1, lead) is None
    result = _after_a_writer(history, redis_url, lead_assignments)
    assert result.success
    assert not _cached(redis_url, ORG1, lead) and not _agent_cached(redis_url, ORG1, agent)
    entry, _ = cache.lead_entry(_client(redis_url), lambda: psycopg.connect(history), ORG1, lead)
    assert entry is None


def test_the_invalidation_reaches_the_cache_of_the_redis_resource_not_the_environment(
    history, redis_url, filled, monkeypatch
):
    """Before, the steps that changed leads invalidated the cache at os.environ["REDIS_URL"],
    which could be another server than the `redis` resource the cache was filled through."""
    lead, agent = filled
    monkeypatch.setenv("REDIS_URL", CLOSED_PORT_URL)  # the environment names another server
    with psycopg.connect(history) as conn:
        conn.execute(
            "update leads set lead_score = (lead_score + 50) %% 100 where id = %s", (lead,)
        )
    result = _after_a_writer(history, redis_url, lead_scores)
    assert result.success
    [invalidation] = result.asset_materializations_for_node("recommendation_cache_invalidation")
    assert invalidation.metadata["cache"].value == "invalidated"
    assert invalidation.metadata["changed_leads"].value >= 1
    assert not _cached(redis_url, ORG1, lead) and not _agent_cached(redis_url, ORG1, agent)


def test_a_crm_sync_run_by_the_cli_invalidates_the_leads_it_loaded(
    crm_url, redis_url, prefix, monkeypatch
):
    """`leadflow crm sync` changes leads outside Dagster: the command has the recommendations
    domain invalidate them (the sync itself knows nothing of the cache)."""
    from leadflow.crmsync.connections import save_connection
    from leadflow.platform.crm_sandbox import generate_records, sandbox

    monkeypatch.setenv("LEADFLOW_CRM_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setenv("HUBSPOT_TOKEN_RECO_TEST", "hs-token")
    with sandbox("hubspot", token="hs-token") as server:
        server.add(generate_records("hubspot", 30, seed=4))
        with psycopg.connect(crm_url) as conn:
            save_connection(
                conn,
                organization=ORG1,
                vendor="hubspot",
                base_url=server.base_url,
                secret_env="HUBSPOT_TOKEN_RECO_TEST",
            )
            before = one(conn, "select now() - interval '1 minute'")[0]
            store.set_watermark(conn, ORG1, before)  # as a fill leaves it
        client = _client(redis_url)
        client.set(cache.current_key(ORG1), cache.namespace_of(None))
        client.close()
        synced = run_leadflow(
            "crm",
            "sync",
            "--org",
            ORG1,
            "--json",
            env={"POSTGRES_URL": crm_url, "REDIS_URL": redis_url},
        )
    assert synced.returncode == 0, synced.stderr
    with psycopg.connect(crm_url) as conn:
        loaded = one(
            conn,
            "select count(*) from leads where organization_id = %s and updated_at > %s",
            (ORG1, before),
        )[0]
        moved = one(
            conn,
            "select invalidated_until from recommendation_cache_state where organization_id = %s",
            (ORG1,),
        )[0]
    assert loaded > 0 and moved > before


def test_redis_down_reads_postgres_with_a_warning_and_the_asset_still_succeeds(history, prefix):
    result = _materialize(history, CLOSED_PORT_URL, lead_conversion_model, lead_recommendations)
    assert result.success
    metadata = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert metadata["lead_recommendations"]["cache"].value == "unavailable"
    with psycopg.connect(history) as conn:
        agent = one(
            conn,
            "select user_id::text from lead_recommendations where organization_id"
            " = %s and agent_rank = 1 limit 1",
            (ORG1,),
        )[0]
    cli = run_leadflow(
        "recommend",
        "--agent",
        agent,
        "--json",
        env={"POSTGRES_URL": history, "REDIS_URL": CLOSED_PORT_URL},
    )
    assert cli.returncode == 0
    payload = json.loads(cli.stdout)
    assert payload["source"] == cache.Source.POSTGRES_DOWN and payload["items"]
    assert "leadflow: warning: recommendation cache unavailable" in cli.stderr
    # invalidation with Redis down: a warning, and the watermark stays for the next try
    with psycopg.connect(history) as conn:
        before = one(
            conn,
            "select invalidated_until from recommendation_cache_state where organization_id = %s",
            (ORG1,),
        )[0]
        conn.execute(
            "update leads set lead_score = 1 where id in (select lead_id from"
            " lead_recommendations where organization_id = %s limit 3)",
            (ORG1,),
        )
    outcome = cache.invalidate(
        cache.connect(CLOSED_PORT_URL), lambda: psycopg.connect(history), [ORG1]
    )
    assert outcome["skipped_organizations"] == [ORG1]
    with psycopg.connect(history) as conn:
        assert (
            one(
                conn,
                "select invalidated_until from recommendation_cache_state"
                " where organization_id = %s",
                (ORG1,),
            )[0]
            == before
        )


def test_the_quality_check_warns_on_a_flagged_model(history):
    with psycopg.connect(history) as conn:
        train_organization(conn, ORG1, NOW, RecoSettings(min_gain=0.5))  # nothing beats by 0.5
    check = lead_conversion_model_quality(postgres=PostgresResource(url=history))
    assert check.passed is False and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["flagged"].value


# -- honest scores and calling hours (issue 20) ----------------------------------------------------
def _set_calling_hours(conn: psycopg.Connection, org: str | None, value: object) -> None:
    conn.execute(
        "insert into system_config (organization_id, config_key, config_value)"
        " values (%s, 'calling_hours', %s)",
        (org, psycopg.types.json.Jsonb(value)),
    )


def test_best_hours_lie_in_each_organizations_calling_hours_in_its_time_zone(crm_url, caplog):
    """ORG1 is in America/New_York with 09:00–17:00 configured, ORG3 in Australia/Sydney with
    the default 08:00–21:00, ORG2 (Europe/London) has a value that is no window: a warning and
    the default, never a failure. The generated activities happen at every hour of the day."""
    with psycopg.connect(crm_url) as conn:
        generate(conn, ORG1, 300, seed=11, now=NOW)
        generate(conn, ORG2, 200, seed=12, now=NOW, phone_prefix="+1917")
        generate(conn, ORG3, 200, seed=13, now=NOW, phone_prefix="+1718")
        _set_calling_hours(conn, ORG1, {"start": "09:00", "end": "17:00"})
        _set_calling_hours(conn, ORG2, {"start": "21:00", "end": "08:00"})
        expected = {
            ORG1: ("America/New_York", set(range(9, 17))),
            ORG2: ("Europe/London", set(range(8, 21))),
            ORG3: ("Australia/Sydney", set(range(8, 21))),
        }
        for org, (zone, allowed) in expected.items():
            lead_hours, _ = store.answered_hours(conn, org, NOW)
            # without the window, some leads answer mostly outside it
            assert any(set(hours) - allowed for hours in lead_hours.values())
            with caplog.at_level("WARNING", logger="leadflow.recommend.service"):
                entries, summary = score_organization(conn, org, NOW, RecoSettings())
            assert summary["timezone"] == zone and entries
            hours = [e["best_hour"] for e in entries if e["best_hour"] is not None]
            assert hours and set(hours) <= allowed, (org, sorted(set(hours) - allowed))
            assert all(e["timezone"] == zone for e in entries)
            served = cache.public(entries[0] | {"best_hour": hours[0]})
            assert served["best_window"] == f"{hours[0]:02d}:00–{hours[0] + 1:02d}:00 {zone}"
    assert summary["calling_hours"] == "08:00–21:00"
    problem = (
        f"system_config calling_hours of organization {ORG2}: start 21:00 must come before end"
        " 08:00 (a window never spans midnight); using 08:00–21:00"
    )
    assert [r.getMessage() for r in caplog.records if "calling_hours" in r.getMessage()] == [
        problem
    ]
    # the asset succeeds and says it in its metadata
    result = _materialize(crm_url, None, lead_recommendations)
    assert result.success
    [event] = result.get_asset_materialization_events()
    assert event.materialization.metadata["calling_hours_errors"].value == [problem]


def test_the_rule_score_is_not_shown_as_a_probability_and_cache_and_postgres_agree(
    crm_url, redis_url, prefix
):
    """No model (too little history): ranked by the rule score, said as "rule score N"; the
    entries served from the cache and from PostgreSQL are the same."""
    assert _materialize(crm_url, redis_url, lead_conversion_model, lead_recommendations).success
    with psycopg.connect(crm_url) as conn:
        agent, rule_score = one(
            conn,
            "select user_id::text, rule_score from lead_recommendations"
            " where organization_id = %s and agent_rank = 1 and user_id is not null"
            " order by user_id limit 1",
            (ORG1,),
        )

    def read(*extra: str, cached: bool = True):
        env = {"POSTGRES_URL": crm_url, "REDIS_URL": redis_url if cached else CLOSED_PORT_URL}
        return run_leadflow("recommend", "--agent", agent, *extra, env=env)

    from_cache = json.loads(read("--json").stdout)
    from_postgres = json.loads(read("--json", cached=False).stdout)
    assert from_cache["source"] == "cache"
    assert from_postgres["source"] == "postgres (cache unavailable)"
    assert from_cache["items"] == from_postgres["items"]
    first = from_cache["items"][0]
    assert first["score_kind"] == "rule" and first["probability"] is None
    assert first["rule_score"] == rule_score
    assert first["propensity"] == pytest.approx(rule_score / 100)  # kept for its readers
    assert first["timezone"] == "America/New_York"
    assert first["best_window"] is None or first["best_window"].endswith(" America/New_York")
    text = read().stdout
    assert "p=" not in text and f"rule score {rule_score}" in text.splitlines()[1]


def test_a_model_score_is_shown_as_a_probability_and_an_old_cached_entry_is_replaced(
    history, redis_url, filled
):
    lead, agent = filled
    env = {"POSTGRES_URL": history, "REDIS_URL": redis_url}
    payload = json.loads(run_leadflow("recommend", "--lead", lead, "--json", env=env).stdout)
    item = payload["item"]
    assert payload["source"] == "cache"
    assert item["score_kind"] == "model" and item["probability"] == item["propensity"]
    assert item["best_window"].endswith(" America/New_York")
    text = run_leadflow("recommend", "--lead", lead, env=env).stdout
    assert f"p={item['propensity']:.3f} (model v{item['model_version']})" in text
    assert "rule score" not in text.splitlines()[1]
    # an entry cached by the version before these keys: served from PostgreSQL and refilled
    client = _client(redis_url)
    namespace = client.get(cache.current_key(ORG1)).decode()
    old = {k: v for k, v in item.items() if k not in cache.CURRENT_KEYS}
    client.set(cache.lead_key(ORG1, namespace, lead), json.dumps(old))
    again = json.loads(run_leadflow("recommend", "--lead", lead, "--json", env=env).stdout)
    assert again["source"] == "postgres (cached entry outdated)" and again["item"] == item
    assert json.loads(client.get(cache.lead_key(ORG1, namespace, lead))) == item
    client.close()
