"""crm_graph against the real Bolt server: first, incremental, repeated, interrupted syncs,
reconciliation, the asset and its check.

Each module gets its own graph database (the seeded organizations have fixed ids), wiped at the
start of every test; every test gets a fresh seeded CRM database (`crm_url`).
Hand-computed seed figures per organization: 4 users, 20 leads of which b…016 is soft-deleted,
16 live leads with an owner, 6 sources, 2 earlier owners (leads 007 and 012 were reassigned),
5 referrals (seeds/007_demo_referrals.sql: 13, 08 and 04 referred by 17; 03 → 09 → 08 → 17).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import psycopg
import pytest
from neo4j import Driver, GraphDatabase

from leadflow.graph.assets import crm_graph, graph_matches_postgres
from leadflow.graph.sync import reconcile_graph, sync_graph
from leadflow.ingest.assets import organization_partitions
from leadflow.platform.services import GraphService
from leadflow.platform.services.graph import (
    create_database,
    drop_database,
    graph_auth,
    graph_database,
)
from leadflow.postgres import each_organization
from leadflow.resources import Neo4jResource, PostgresResource
from tests.integration.conftest import ORG1, ORG2, ORG3

pytestmark = pytest.mark.integration

ORG1_MANAGER = "a1000000-0000-4000-8000-000000000002"
AGENT3 = "a1000000-0000-4000-8000-000000000003"
AGENT4 = "a1000000-0000-4000-8000-000000000004"
DELETED = "b1000000-0000-4000-8000-000000000016"
EXPECTED = {
    "Organization": 1,
    "User": 4,
    "Lead": 19,
    "Source": 6,
    "MEMBER_OF": 4,
    "BELONGS_TO": 19,
    "ASSIGNED_TO": 16,
    "PREVIOUSLY_ASSIGNED_TO": 2,
    "FROM_SOURCE": 19,
    "REFERRED_BY": 5,
}


def lead(n: int, org: int = 1) -> str:
    return f"b{org}000000-0000-4000-8000-{n:012d}"


def open_graph_database(prefix: str) -> Iterator[str]:
    """A fresh graph database on the local server (an external Neo4j: its database, wiped)."""
    service = GraphService()
    if service.is_external():
        yield graph_database()
        return
    name = f"lf_test_{prefix}_{uuid.uuid4().hex[:8]}"
    create_database(name)
    yield name
    drop_database(name, service)


@pytest.fixture(scope="module")
def graph_db(bolt_url: str) -> Iterator[str]:
    yield from open_graph_database("graph_sync")


@pytest.fixture(scope="module")
def driver(bolt_url: str) -> Iterator[Driver]:
    with GraphDatabase.driver(bolt_url, auth=graph_auth()) as drv:
        yield drv


@pytest.fixture
def graph(driver: Driver, graph_db: str) -> str:
    with driver.session(database=graph_db) as session:
        session.run("MATCH (n) DETACH DELETE n").consume()
    return graph_db


def rows(driver: Driver, database: str, query: str, **params) -> list[dict]:
    with driver.session(database=database) as session:
        return [record.data() for record in session.run(query, **params)]


def snapshot(driver: Driver, database: str) -> tuple[list, list]:
    """Every node's labels and properties, every edge with its ends and properties."""
    nodes = rows(driver, database, "MATCH (n) RETURN labels(n) AS l, properties(n) AS p")
    edges = rows(
        driver,
        database,
        "MATCH (a)-[e]->(b) RETURN coalesce(a.id, a.key) AS a, type(e) AS t, "
        "coalesce(b.id, b.key) AS b, properties(e) AS p",
    )
    key = repr
    return sorted(nodes, key=key), sorted(edges, key=key)


def sync(crm_url: str, driver: Driver, database: str, orgs=None, **options):
    with psycopg.connect(crm_url) as conn:
        return sync_graph(conn, driver, database, orgs, **options)


def reconcile(crm_url: str, driver: Driver, database: str, org: str = ORG1):
    with psycopg.connect(crm_url) as conn:
        return reconcile_graph(conn, driver, database, org)


def assert_consistent(crm_url: str, driver: Driver, database: str, orgs=(ORG1, ORG2, ORG3)):
    for org in orgs:
        result = reconcile(crm_url, driver, database, org)
        assert result.ok, (org, result.differences, result.samples)


def test_first_sync_writes_the_model(crm_url, driver, graph):
    results = sync(crm_url, driver, graph, batch_size=7)

    assert [r.organization_id for r in results] == sorted([ORG1, ORG2, ORG3])
    first = results[0]
    assert first.mode == "full"
    # 1 org + 4 users + 19 leads + 6 sources; edges 4 + 19 + 19 + 16 + 2 + 5
    assert (first.nodes_merged, first.edges_merged) == (30, 65)
    assert (
        first.leads_removed == 0 and first.batches == 1 + 1 + 3 + 1
    )  # org, users, 19 leads / 7, referrals
    for org in (ORG1, ORG2, ORG3):
        result = reconcile(crm_url, driver, graph, org)
        assert result.ok and result.expected == EXPECTED and result.actual == EXPECTED
    with psycopg.connect(crm_url) as conn:
        stored = conn.execute(
            "select last_occurred_at from sync_watermarks where name = %s", (f"crm_graph:{ORG1}",)
        ).fetchone()[0]
    assert stored == first.watermark

    props = rows(driver, graph, "MATCH (l:Lead {id: $id}) RETURN properties(l) AS p", id=lead(12))
    p = props[0]["p"]
    assert sorted(p) == [
        "created_at",
        "id",
        "organization_id",
        "score",
        "source",
        "status",
        "tags",
        "updated_at",
    ]
    assert (p["status"], p["score"], p["tags"], p["source"]) == (
        "hot",
        88,
        ["hot", "executive", "linkedin"],
        "linkedin",
    )
    user = rows(driver, graph, "MATCH (u:User {id: $id}) RETURN properties(u) AS p", id=AGENT3)
    assert user[0]["p"] == {
        "id": AGENT3,
        "organization_id": ORG1,
        "role": "agent",
        "is_active": True,
    }
    # lead 012: round_robin to agent 3 on 07-07 13:26, manual to agent 4 on 07-13 14:24
    edges = rows(
        driver,
        graph,
        "MATCH (:Lead {id: $id})-[e]->(u:User) RETURN type(e) AS t, u.id AS u, "
        "properties(e) AS p ORDER BY t",
        id=lead(12),
    )
    assert [(e["t"], e["u"]) for e in edges] == [
        ("ASSIGNED_TO", AGENT4),
        ("PREVIOUSLY_ASSIGNED_TO", AGENT3),
    ]
    since = edges[0]["p"]["since"].to_native().replace(tzinfo=UTC)
    assert since == datetime(2026, 7, 13, 14, 24, tzinfo=UTC)
    assert edges[0]["p"]["strategy"] == "manual"
    previous = {k: v.to_native().replace(tzinfo=UTC) for k, v in edges[1]["p"].items()}
    assert previous == {
        "from": datetime(2026, 7, 7, 13, 26, tzinfo=UTC),
        "to": datetime(2026, 7, 13, 14, 24, tzinfo=UTC),
    }
    assert rows(driver, graph, "MATCH (l:Lead {id: $id}) RETURN l", id=DELETED) == []
    source = rows(
        driver,
        graph,
        "MATCH (:Lead {id: $id})-[:FROM_SOURCE]->(s) RETURN properties(s) AS p",
        id=lead(12),
    )
    assert source[0]["p"] == {
        "key": f"{ORG1}:linkedin",
        "organization_id": ORG1,
        "name": "linkedin",
    }


def test_incremental_sync_follows_inserts_updates_deletes_and_reassignments(crm_url, driver, graph):
    sync(crm_url, driver, graph)
    new_lead = str(uuid.uuid4())
    with psycopg.connect(crm_url) as conn:
        conn.execute(
            "insert into leads (id, organization_id, user_id, phone_number, status, source, "
            "tags, referred_by_lead_id) values (%s, %s, %s, '+12125550199', 'new', 'podcast', "
            "'{audio}', %s)",
            (new_lead, ORG1, AGENT3, lead(12)),
        )
        conn.execute("update leads set status = 'hot', lead_score = 77 where id = %s", (lead(5),))
        conn.execute("update leads set deleted_at = now() where id = %s", (lead(1),))
        # reassignment of lead 3 from agent 3 to agent 4
        conn.execute("update leads set user_id = %s where id = %s", (AGENT4, lead(3)))
        conn.execute(
            "insert into lead_assignments (lead_id, from_user_id, to_user_id, strategy, "
            "assigned_at) values (%s, %s, %s, 'manual', '2026-11-20T10:00:00Z')",
            (lead(3), AGENT3, AGENT4),
        )

    results = sync(crm_url, driver, graph, [ORG1])

    assert results[0].mode == "incremental" and results[0].leads_sent == 4
    # the new lead, lead 5, lead 3 (+ their sources podcast, linkedin, indeed) re-merged;
    # lead 1 removed; no organization or user change
    assert results[0].nodes_merged == 6
    assert results[0].leads_removed == 1
    assert results[0].edges_removed == 1  # lead 3's ASSIGNED_TO to agent 3
    expected = dict(
        EXPECTED,
        Lead=19,
        BELONGS_TO=19,
        ASSIGNED_TO=17,
        PREVIOUSLY_ASSIGNED_TO=3,
        FROM_SOURCE=19,
        Source=7,
        REFERRED_BY=6,
    )
    result = reconcile(crm_url, driver, graph)
    assert result.ok and result.actual == expected
    owner = rows(
        driver,
        graph,
        "MATCH (:Lead {id: $id})-[e]->(u:User) RETURN type(e) AS t, u.id AS u, e.strategy AS s "
        "ORDER BY t",
        id=lead(3),
    )
    assert owner == [
        {"t": "ASSIGNED_TO", "u": AGENT4, "s": "manual"},
        {"t": "PREVIOUSLY_ASSIGNED_TO", "u": AGENT3, "s": None},
    ]
    assert rows(
        driver, graph, "MATCH (l:Lead {id: $id}) RETURN l.status AS s, l.score AS n", id=lead(5)
    ) == [{"s": "hot", "n": 77}]
    assert rows(driver, graph, "MATCH (l:Lead {id: $id}) RETURN l", id=lead(1)) == []
    assert rows(
        driver, graph, "MATCH (:Lead {id: $id})-[:REFERRED_BY]->(r) RETURN r.id AS r", id=new_lead
    ) == [{"r": lead(12)}]

    # the referrer is soft-deleted: its node and the referral edge go
    with psycopg.connect(crm_url) as conn:
        conn.execute("update leads set deleted_at = now() where id = %s", (lead(12),))
    sync(crm_url, driver, graph, [ORG1])
    result = reconcile(crm_url, driver, graph)
    assert result.ok
    assert result.actual["REFERRED_BY"] == 5 and result.actual["Lead"] == 18
    assert_consistent(crm_url, driver, graph, [ORG2, ORG3])


def test_second_run_is_a_no_op(crm_url, driver, graph):
    sync(crm_url, driver, graph)
    before = snapshot(driver, graph)

    again = sync(crm_url, driver, graph)
    assert [(r.mode, r.leads_sent, r.nodes_merged, r.edges_merged, r.batches) for r in again] == [
        ("incremental", 0, 0, 0, 0)
    ] * 3
    assert all(r.leads_removed == 0 and r.edges_removed == 0 for r in again)
    assert snapshot(driver, graph) == before


class Killed(RuntimeError):
    pass


def test_sync_killed_midway_then_rerun_is_consistent(crm_url, driver, graph):
    sync(crm_url, driver, graph, [ORG1])
    with psycopg.connect(crm_url) as conn:
        conn.execute("update leads set status = 'cold' where organization_id = %s", (ORG1,))
        conn.execute(
            "update leads set user_id = %s where organization_id = %s and user_id = %s",
            (ORG1_MANAGER, ORG1, AGENT3),
        )
        conn.execute("update leads set deleted_at = now() where id = %s", (lead(2),))
        watermark_before = conn.execute(
            "select last_occurred_at from sync_watermarks where name = %s", (f"crm_graph:{ORG1}",)
        ).fetchone()[0]

    def die_after_second_lead_batch(org: str, phase: str, batch: int) -> None:
        if phase == "leads" and batch >= 2:
            raise Killed("killed")

    with pytest.raises(Killed):
        sync(crm_url, driver, graph, [ORG1], batch_size=4, on_batch=die_after_second_lead_batch)

    # half written: some leads already cold and moved, the rest not; watermark unchanged
    statuses = rows(
        driver, graph, "MATCH (l:Lead {organization_id: $o}) RETURN l.status AS s", o=ORG1
    )
    assert {r["s"] for r in statuses} > {"cold"}
    with psycopg.connect(crm_url) as conn:
        assert (
            conn.execute(
                "select last_occurred_at from sync_watermarks where name = %s",
                (f"crm_graph:{ORG1}",),
            ).fetchone()[0]
            == watermark_before
        )

    rerun = sync(crm_url, driver, graph, [ORG1], batch_size=4)
    assert rerun[0].mode == "incremental" and rerun[0].leads_removed == 1
    result = reconcile(crm_url, driver, graph)
    assert result.ok, (result.differences, result.samples)
    # the manager's 2 leads plus agent 3's 7 live ones
    assert rows(
        driver,
        graph,
        "MATCH (l:Lead)-[:ASSIGNED_TO]->(:User {id: $u}) RETURN count(l) AS n",
        u=ORG1_MANAGER,
    ) == [{"n": 9}]
    assert rows(
        driver,
        graph,
        "MATCH (l:Lead {organization_id: $o}) WHERE l.status <> 'cold' RETURN count(l) AS n",
        o=ORG1,
    ) == [{"n": 0}]

    # a fresh full sync writes the same graph
    after = snapshot(driver, graph)
    sync(crm_url, driver, graph, [ORG1], full=True)
    assert snapshot(driver, graph) == after


def test_first_sync_killed_midway_is_completed_by_the_next_run(crm_url, driver, graph):
    def die(org: str, phase: str, batch: int) -> None:
        if phase == "leads" and batch == 3:
            raise Killed("killed")

    with pytest.raises(Killed):
        sync(crm_url, driver, graph, [ORG1], batch_size=5, on_batch=die)
    assert not reconcile(crm_url, driver, graph).ok
    assert sync(crm_url, driver, graph, [ORG1])[0].mode == "full"
    assert_consistent(crm_url, driver, graph, [ORG1])


def test_reconciliation_catches_hand_made_drift_and_full_resync_repairs_it(crm_url, driver, graph):
    sync(crm_url, driver, graph, [ORG1])
    with driver.session(database=graph) as session:
        session.run("MATCH (:Lead {id: $id})-[e:ASSIGNED_TO]->() DELETE e", id=lead(12)).consume()
        session.run("CREATE (:Lead {id: 'stray-lead', organization_id: $o})", o=ORG1).consume()

    result = reconcile(crm_url, driver, graph)

    assert not result.ok
    assert result.differences == {"Lead": (19, 20), "ASSIGNED_TO": (16, 15)}
    assert result.samples == {
        "Lead": ["extra:stray-lead"],
        "ASSIGNED_TO": [f"missing:{lead(12)}->{AGENT4}"],
    }
    # an incremental run sends nothing unchanged; it removes the stray lead (more Lead nodes
    # than PostgreSQL has live leads) but cannot see the missing edge; full mode repairs it
    incremental = sync(crm_url, driver, graph, [ORG1])
    assert (incremental[0].leads_sent, incremental[0].leads_removed) == (0, 1)
    assert reconcile(crm_url, driver, graph).differences == {"ASSIGNED_TO": (16, 15)}
    full = sync(crm_url, driver, graph, [ORG1], full=True)
    assert full[0].mode == "full" and full[0].reason == "requested"
    assert reconcile(crm_url, driver, graph).ok


def test_organizations_compared_in_parallel_give_each_its_own_result_in_order(
    crm_url, driver, graph
):
    sync(crm_url, driver, graph)
    with driver.session(database=graph) as session:
        session.run("CREATE (:Lead {id: 'stray-lead', organization_id: $o})", o=ORG3).consume()
    orgs = [ORG3, ORG1, ORG2]

    def compare(org: str):
        with psycopg.connect(crm_url) as conn:
            return reconcile_graph(conn, driver, graph, org, full_requested="requested")

    one_by_one = each_organization(orgs, compare, workers=1)
    parallel = each_organization(orgs, compare, workers=3)

    for results in (one_by_one, parallel):
        assert [r.organization_id for r in results] == orgs
        assert [r.ok for r in results] == [False, True, True]
        assert results[0].differences == {"Lead": (19, 20)}
        assert results[0].samples == {"Lead": ["extra:stray-lead"]}
    assert [r.expected for r in parallel] == [r.expected for r in one_by_one]


def test_hard_deleted_leads_and_users_leave_on_the_next_run(crm_url, driver, graph):
    sync(crm_url, driver, graph, [ORG1])
    with psycopg.connect(crm_url) as conn:
        conn.execute("delete from leads where id = %s", (lead(19),))  # no owner, no history
        conn.execute("delete from users where id = %s", (ORG1_MANAGER,))
    incremental = sync(crm_url, driver, graph, [ORG1])
    assert incremental[0].users_removed == 1  # users are compared on every run
    # leads: the graph holds one more than PostgreSQL, so the ids are compared
    assert incremental[0].leads_removed == 1
    assert rows(driver, graph, "MATCH (l:Lead {id: $id}) RETURN l.id AS id", id=lead(19)) == []
    after = snapshot(driver, graph)
    full = sync(crm_url, driver, graph, [ORG1], full=True)
    assert full[0].leads_removed == 0 and snapshot(driver, graph) == after
    result = reconcile(crm_url, driver, graph)
    assert result.ok and result.actual["Lead"] == 18 and result.actual["User"] == 3


def test_asset_and_check_per_partition_and_unpartitioned(crm_url, driver, graph):
    resources = {
        "postgres": PostgresResource(url=crm_url),
        "neo4j": Neo4jResource(uri=GraphService().url(), database=graph),
    }
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(organization_partitions.name, [ORG2])

    result = dg.materialize(
        [crm_graph, graph_matches_postgres],
        resources=resources,
        instance=instance,
        partition_key=ORG2,
        run_config={"ops": {"crm_graph": {"config": {"batch_size": 5}}}},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("crm_graph")[0].metadata
    assert metadata["organizations"].value == [ORG2]
    assert metadata["nodes_merged"].value == 30 and metadata["batches"].value == 1 + 1 + 4 + 1
    checks = result.get_asset_check_evaluations()
    assert [c.passed for c in checks] == [True]
    assert checks[0].metadata["organizations_checked"].value == 1

    # drift in ORG2, then a run without partition key: every organization, partitions added
    with driver.session(database=graph) as session:
        session.run(
            "MATCH (u:User {id: $id}) DETACH DELETE u", id="a2000000-0000-4000-8000-000000000004"
        ).consume()
    result = dg.materialize(
        [crm_graph, graph_matches_postgres],
        resources=resources,
        instance=instance,
        selection=[crm_graph.key],
    )
    assert result.success
    assert set(instance.get_dynamic_partitions(organization_partitions.name)) == {ORG1, ORG2, ORG3}
    check = dg.materialize(
        [crm_graph, graph_matches_postgres],
        resources=resources,
        instance=instance,
        selection=dg.AssetSelection.checks_for_assets(crm_graph),
    )
    evaluation = check.get_asset_check_evaluations()[0]
    assert not evaluation.passed
    differences = evaluation.metadata["differences"].value
    assert set(differences) == {ORG2}
    agent4 = "a2000000-0000-4000-8000-000000000004"
    assert differences[ORG2]["User"] == {"postgres": 4, "graph": 3, "sample": [f"missing:{agent4}"]}
