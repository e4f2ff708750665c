"""The graph's cost follows change (issue 21) against the real servers: the exact watermark
(nothing re-sent, no late commit missed), incremental equal to full, a failed sync keeping its
watermark, and the nightly / full reconciliation.

Seed figures per organization as in test_graph_sync: 4 users, 20 leads (b…016 soft-deleted),
5 referrals (13, 08 and 04 referred by 17; 03 → 09 → 08 → 17).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import dagster as dg
import psycopg
import pytest
from neo4j import Driver, GraphDatabase
from neo4j.exceptions import ServiceUnavailable

from leadflow.dagster_vocab import FULL_REFRESH_TAG
from leadflow.graph import model
from leadflow.graph.assets import crm_graph, graph_matches_postgres
from leadflow.graph.sync import reconcile_graph, sync_graph
from leadflow.platform.services import GraphService
from leadflow.platform.services.graph import graph_auth
from leadflow.resources import Neo4jResource, PostgresResource
from tests.integration.conftest import ORG1, ORG2, ORG3
from tests.integration.test_graph_sync import lead, open_graph_database, rows, snapshot

pytestmark = pytest.mark.integration

AGENT3 = "a1000000-0000-4000-8000-000000000003"
AGENT4 = "a1000000-0000-4000-8000-000000000004"
ORG1_MANAGER = "a1000000-0000-4000-8000-000000000002"


@pytest.fixture(scope="module")
def driver(bolt_url: str) -> Iterator[Driver]:
    with GraphDatabase.driver(bolt_url, auth=graph_auth()) as drv:
        yield drv


@pytest.fixture(scope="module")
def graph_db(bolt_url: str) -> Iterator[str]:
    yield from open_graph_database("graph_incr")


@pytest.fixture(scope="module")
def other_graph_db(bolt_url: str) -> Iterator[str]:
    yield from open_graph_database("graph_incr_full")


def wiped(driver: Driver, database: str) -> str:
    with driver.session(database=database) as session:
        session.run("MATCH (n) DETACH DELETE n").consume()
    return database


@pytest.fixture
def graph(driver: Driver, graph_db: str) -> str:
    return wiped(driver, graph_db)


def sync(crm_url: str, driver: Driver, database: str, orgs=None, **options):
    with psycopg.connect(crm_url) as conn:
        return sync_graph(conn, driver, database, orgs, **options)


def reconcile(crm_url: str, driver: Driver, database: str, org: str = ORG1, **options):
    with psycopg.connect(crm_url) as conn:
        return reconcile_graph(conn, driver, database, org, **options)


def sent(results) -> list[int]:
    return [r.leads_sent for r in results]


def status(driver: Driver, database: str, lead_id: str) -> str | None:
    found = rows(driver, database, "MATCH (l:Lead {id: $id}) RETURN l.status AS s", id=lead_id)
    return found[0]["s"] if found else None


def watermark_row(crm_url: str, name: str):
    with psycopg.connect(crm_url) as conn:
        return conn.execute(
            "select last_occurred_at, last_source_id, last_full_at, state, updated_at"
            " from sync_watermarks where name = %s",
            (name,),
        ).fetchone()


def test_an_earlier_step_s_writes_are_sent_once_then_nothing(crm_url, driver, graph):
    """The nightly: a step (scores) rewrites every lead, then the graph syncs; the next run,
    with nothing changed, sends nothing: no time window re-reads the earlier step's writes."""
    first = sync(crm_url, driver, graph)
    assert [r.mode for r in first] == ["full"] * 3 and sent(first) == [20] * 3
    assert {r.reason for r in first} == {"first run"}

    with psycopg.connect(crm_url) as conn:  # the scoring step of the next night
        conn.execute("update leads set lead_score = least(lead_score + 1, 100)")
    nightly = sync(crm_url, driver, graph)
    assert [r.mode for r in nightly] == ["incremental"] * 3
    assert sent(nightly) == [20] * 3  # 19 live leads re-merged, the soft-deleted one removed again
    assert sent(sync(crm_url, driver, graph)) == [0, 0, 0]
    assert sent(sync(crm_url, driver, graph)) == [0, 0, 0]

    state = watermark_row(crm_url, model.watermark_name(ORG1))[3]
    assert model.ReadSnapshot.from_state(state) is not None


def test_late_commits_are_sent_by_the_next_run_and_nothing_twice(crm_url, driver, graph):
    sync(crm_url, driver, graph, [ORG1])
    with (
        psycopg.connect(crm_url) as early,
        psycopg.connect(crm_url) as subtransaction,
        psycopg.connect(crm_url) as idle,
        psycopg.connect(crm_url, autocommit=True) as quick,
    ):
        # in progress at the sync's read, with a transaction id
        early.execute("update leads set status = 'cold' where id = %s", (lead(5),))
        # committed before the read, but after `early` took its id: the read sees it
        quick.execute("update leads set status = 'hot' where id = %s", (lead(6),))
        # in progress, its write under a savepoint (a subtransaction id the snapshot omits)
        subtransaction.execute("select 1")
        with subtransaction.transaction():
            subtransaction.execute("update leads set status = 'dnc' where id = %s", (lead(7),))
        # started before the read, first write after it (its id above the snapshot's xmax)
        idle.execute("select now()")

        run1 = sync(crm_url, driver, graph, [ORG1])
        assert run1[0].leads_sent == 1
        assert status(driver, graph, lead(6)) == "hot"
        assert status(driver, graph, lead(5)) != "cold"
        state = model.ReadSnapshot.from_state(watermark_row(crm_url, model.watermark_name(ORG1))[3])
        assert state is not None and state.xip  # `early` (and `subtransaction`) were running
        assert state.seen  # `quick`'s id lies inside the snapshot's range: recorded as seen

        idle.execute("update leads set status = 'contacted' where id = %s", (lead(10),))
        for conn in (early, subtransaction, idle):
            conn.commit()

    run2 = sync(crm_url, driver, graph, [ORG1])
    assert run2[0].leads_sent == 3  # 5, 7 and 10; not 6 again
    assert [status(driver, graph, lead(n)) for n in (5, 6, 7, 10)] == [
        "cold",
        "hot",
        "dnc",
        "contacted",
    ]
    assert sync(crm_url, driver, graph, [ORG1])[0].leads_sent == 0
    assert reconcile(crm_url, driver, graph, full_requested="test").ok


def a_day_of_changes(crm_url: str) -> dict[str, str]:
    """Status moves, a reassignment, a soft and a hard delete, a referrer deleted, a new
    referred lead, a user's role change, an assignment row alone (history)."""
    with psycopg.connect(crm_url) as conn:
        new_lead = conn.execute(
            "insert into leads (organization_id, user_id, phone_number, status, source,"
            " referred_by_lead_id) values (%s, %s, '+12125550177', 'new', 'podcast', %s)"
            " returning id::text",
            (ORG1, AGENT3, lead(12)),
        ).fetchone()[0]
        conn.execute("update leads set status = 'hot', lead_score = 91 where id = %s", (lead(5),))
        conn.execute("update leads set user_id = %s where id = %s", (AGENT4, lead(3)))
        conn.execute(
            "insert into lead_assignments (lead_id, from_user_id, to_user_id, strategy,"
            " assigned_at) values (%s, %s, %s, 'manual', now())",
            (lead(3), AGENT3, AGENT4),
        )
        # history only: lead 10 had the manager once (no change to the lead's row)
        conn.execute(
            "insert into lead_assignments (lead_id, from_user_id, to_user_id, strategy,"
            " assigned_at) values (%s, null, %s, 'import', '2026-01-05T09:00:00Z')",
            (lead(10), ORG1_MANAGER),
        )
        conn.execute("update leads set deleted_at = now() where id = %s", (lead(1),))
        conn.execute("update leads set deleted_at = now() where id = %s", (lead(9),))  # a referrer
        conn.execute("delete from leads where id = %s", (lead(19),))
        conn.execute("update users set role = 'manager' where id = %s", (AGENT3,))
        conn.execute("update organizations set name = name || ' (renamed)' where id = %s", (ORG2,))
    return {"new": new_lead}


def test_incremental_after_a_day_of_changes_equals_a_full_sync(
    crm_url, driver, graph, other_graph_db
):
    sync(crm_url, driver, graph)
    changed = a_day_of_changes(crm_url)

    incremental = sync(crm_url, driver, graph)
    assert [r.mode for r in incremental] == ["incremental"] * 3
    # ORG1: the new lead, 5, 3 (reassigned; its referrer 9 went too), 10, 1 and 9 (deleted);
    # 19 is gone for good (found by the count); ORG2: only its organization node
    assert sent(incremental) == [6, 0, 0]
    assert incremental[0].leads_removed == 3 and incremental[1].nodes_merged == 1
    assert rows(
        driver,
        graph,
        "MATCH (:Lead {id: $id})-[:PREVIOUSLY_ASSIGNED_TO]->(u) RETURN u.id AS u",
        id=lead(10),
    ) == [{"u": ORG1_MANAGER}]
    assert rows(driver, graph, "MATCH (u:User {id: $id}) RETURN u.role AS r", id=AGENT3) == [
        {"r": "manager"}
    ]
    assert rows(
        driver,
        graph,
        "MATCH (:Lead {id: $id})-[:REFERRED_BY]->(r) RETURN r.id AS r",
        id=changed["new"],
    ) == [{"r": lead(12)}]

    full = sync(crm_url, driver, wiped(driver, other_graph_db), full=True)
    assert [r.mode for r in full] == ["full"] * 3
    assert snapshot(driver, graph) == snapshot(driver, other_graph_db)


class GraphDown(ServiceUnavailable):
    pass


def test_a_failed_sync_keeps_its_watermark_and_the_next_run_redoes_the_work(
    crm_url, driver, graph, other_graph_db
):
    sync(crm_url, driver, graph, [ORG1])
    before = watermark_row(crm_url, model.watermark_name(ORG1))
    with psycopg.connect(crm_url) as conn:
        conn.execute("update leads set status = 'cold' where organization_id = %s", (ORG1,))
        conn.execute("update leads set user_id = %s where id = %s", (AGENT4, lead(3)))

    def server_gone(org: str, phase: str, batch: int) -> None:
        if phase == "leads" and batch >= 3:
            raise GraphDown("graph server went away")

    with pytest.raises(GraphDown):
        sync(crm_url, driver, graph, [ORG1], batch_size=5, on_batch=server_gone)
    assert watermark_row(crm_url, model.watermark_name(ORG1)) == before
    cold = rows(driver, graph, "MATCH (l:Lead {status: 'cold'}) RETURN count(l) AS n")[0]["n"]
    assert 0 < cold < 19  # half written

    rerun = sync(crm_url, driver, graph, [ORG1], batch_size=5)
    assert rerun[0].mode == "incremental" and rerun[0].leads_sent == 20
    assert watermark_row(crm_url, model.watermark_name(ORG1)) != before
    sync(crm_url, driver, wiped(driver, other_graph_db), [ORG1], full=True)
    assert snapshot(driver, graph) == snapshot(driver, other_graph_db)


def test_reconciliation_nightly_sees_changed_rows_full_sees_all(crm_url, driver, graph):
    sync(crm_url, driver, graph, [ORG1])
    first = reconcile(crm_url, driver, graph)
    assert (first.mode, first.reason, first.ok) == ("full", "first run", True)
    assert first.rows_compared == 19

    quiet = reconcile(crm_url, driver, graph)
    assert (quiet.mode, quiet.reason, quiet.ok, quiet.rows_compared) == ("nightly", None, True, 0)

    with psycopg.connect(crm_url) as conn:
        conn.execute("update leads set status = 'hot' where id = %s", (lead(5),))
    sync(crm_url, driver, graph, [ORG1])
    # drift the counts cannot see: a property of the changed lead 5, an owner of unchanged 12
    with driver.session(database=graph) as session:
        session.run("MATCH (l:Lead {id: $id}) SET l.status = 'bogus'", id=lead(5)).consume()
        session.run(
            "MATCH (l:Lead {id: $id})-[e:ASSIGNED_TO]->() DELETE e WITH l "
            "MATCH (u:User {id: $u}) CREATE (l)-[:ASSIGNED_TO]->(u)",
            id=lead(12),
            u=AGENT3,
        ).consume()

    nightly = reconcile(crm_url, driver, graph)
    assert (nightly.mode, nightly.ok, nightly.differences) == ("nightly", False, {})
    assert (nightly.rows_compared, nightly.rows_differing) == (1, 1)
    assert nightly.row_samples == [f"{lead(5)}: status"]
    again = reconcile(crm_url, driver, graph)  # not passed: the position stayed
    assert again.row_samples == [f"{lead(5)}: status"]

    full = reconcile(crm_url, driver, graph, full_requested="requested (--full)")
    assert (full.mode, full.reason, full.rows_compared) == ("full", "requested (--full)", 19)
    assert full.row_samples == [f"{lead(5)}: status", f"{lead(12)}: edges"]
    assert full.differences == {}  # same counts

    sync(crm_url, driver, graph, [ORG1], full=True)
    assert reconcile(crm_url, driver, graph).ok
    assert reconcile(crm_url, driver, graph, full_requested="test").ok


def test_reconciliation_counts_pending_rows_and_its_weekly_schedule(crm_url, driver, graph):
    sync(crm_url, driver, graph, [ORG1])
    assert reconcile(crm_url, driver, graph).mode == "full"
    with psycopg.connect(crm_url) as conn:  # after the sync: the graph cannot have it yet
        conn.execute("update leads set status = 'cold' where id = %s", (lead(4),))
    pending = reconcile(crm_url, driver, graph)
    assert (pending.mode, pending.ok, pending.pending, pending.rows_compared) == (
        "nightly",
        True,
        1,
        0,
    )
    # counts: drift there is found every night
    with driver.session(database=graph) as session:
        session.run("MATCH (:Lead {id: $id})-[e:REFERRED_BY]->() DELETE e", id=lead(3)).consume()
    counted = reconcile(crm_url, driver, graph)
    assert counted.mode == "nightly" and counted.differences == {"REFERRED_BY": (5, 4)}
    assert counted.samples == {"REFERRED_BY": [f"missing:{lead(3)}->{lead(9)}"]}
    sync(crm_url, driver, graph, [ORG1], full=True)

    with psycopg.connect(crm_url) as conn:
        conn.execute(
            "update sync_watermarks set last_full_at = now() - interval '8 days' where name = %s",
            (model.reconcile_watermark_name(ORG1),),
        )
    weekly = reconcile(crm_url, driver, graph)
    assert weekly.mode == "full" and "days ago (every 7 days)" in (weekly.reason or "")
    assert weekly.ok and reconcile(crm_url, driver, graph).mode == "nightly"
    daily = reconcile(crm_url, driver, graph, every=timedelta(0))
    assert daily.mode == "full"


def test_asset_and_check_report_modes_and_full_refresh(crm_url, driver, graph):
    resources = {
        "postgres": PostgresResource(url=crm_url),
        "neo4j": Neo4jResource(uri=GraphService().url(), database=graph),
    }
    instance = dg.DagsterInstance.ephemeral()
    assets = [crm_graph, graph_matches_postgres]

    def run(**options):
        result = dg.materialize(assets, resources=resources, instance=instance, **options)
        assert result.success
        materialization = result.asset_materializations_for_node("crm_graph")[0].metadata
        [check] = result.get_asset_check_evaluations()
        return materialization, check

    synced, check = run()
    assert synced["full_organizations"].value == {org: "first run" for org in (ORG1, ORG2, ORG3)}
    assert check.passed and check.metadata["full_organizations"].value == 3
    assert check.metadata["modes"].value[ORG1]["reason"] == "first run"

    synced, check = run()
    assert synced["leads_sent"].value == 0 and synced["full_organizations"].value == {}
    assert check.passed and check.metadata["full_organizations"].value == 0
    assert {m["mode"] for m in check.metadata["modes"].value.values()} == {"nightly"}

    synced, check = run(tags={FULL_REFRESH_TAG: "true"})
    assert set(synced["full_organizations"].value.values()) == {"requested"}
    assert synced["leads_sent"].value == 60
    modes = check.metadata["modes"].value
    assert {m["reason"] for m in modes.values()} == {"requested (--full-refresh)"}
    assert check.metadata["rows_compared"].value == 57


def test_nightly_counts_equal_the_full_pass_s_on_awkward_rows(crm_url, driver, graph):
    """PostgreSQL's counts come from one SQL query each night, the full pass's from the lead
    rows: blank and padded sources, an owner from another organization, history only."""
    with psycopg.connect(crm_url) as conn:
        conn.execute("update leads set source = '   ' where id = %s", (lead(2),))
        conn.execute("update leads set source = E' linkedin\\t' where id = %s", (lead(4),))
        conn.execute(
            "update leads set user_id = 'a2000000-0000-4000-8000-000000000003' where id = %s",
            (lead(6),),
        )
        conn.execute(
            "insert into lead_assignments (lead_id, from_user_id, to_user_id, strategy)"
            " values (%s, %s, %s, 'manual')",
            (lead(11), AGENT4, AGENT4),
        )
    sync(crm_url, driver, graph, [ORG1])
    full = reconcile(crm_url, driver, graph)
    nightly = reconcile(crm_url, driver, graph)
    assert (full.mode, nightly.mode) == ("full", "nightly")
    assert full.ok and nightly.ok
    assert nightly.expected == full.expected == full.actual
    assert full.expected["ASSIGNED_TO"] == 15 and full.expected["FROM_SOURCE"] == 18
