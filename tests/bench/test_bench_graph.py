"""`python -m benchmarks graph` on 500 leads: the generated CRM has the planned shape, the benchmark
returns positive figures for the floor and the three syncs, and the graph reconciles afterwards.

No timing is asserted: speed goals live in the benchmark's printed figures.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from benchmarks.graph import (
    AGENTS_PER_ORGANIZATION,
    ORGANIZATIONS,
    GraphBenchResult,
    floor_rows,
    run_graph_bench,
)
from leadflow.platform.services.graph import drop_database, graph_auth

pytestmark = [pytest.mark.bench, pytest.mark.integration, pytest.mark.slow]

LEADS = 500
#: leads 20, 40, …, 500 are referred by an earlier lead of their organization
REFERRED = LEADS // 20


@pytest.fixture(scope="module")
def bench(
    make_database, bolt_url, tmp_path_factory
) -> Iterator[tuple[GraphBenchResult, GraphBenchResult, list[str], Path]]:
    url = make_database("benchgraph")
    database = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    graph_database = f"lf_test_benchgraph_{uuid.uuid4().hex[:8]}"
    workdir = tmp_path_factory.mktemp("bench_graph")
    lines: list[str] = []
    try:
        first = run_graph_bench(
            url,
            LEADS,
            workdir,
            batch_size=200,
            database=database,
            graph_database=graph_database,
            echo=lines.append,
        )
        again = run_graph_bench(
            url,
            LEADS,
            workdir,
            batch_size=200,
            reuse=True,
            database=database,
            graph_database=graph_database,
            echo=lines.append,
        )
        yield first, again, lines, workdir
    finally:
        drop_database(graph_database)


@pytest.fixture(scope="module")
def conn(bench):
    first, *_ = bench
    with psycopg.connect(first.database_url, autocommit=True) as connection:
        yield connection


def scalar(conn: psycopg.Connection, query: str, params=()):
    return conn.execute(query, params).fetchone()[0]


def test_floor_rows_make_every_edge_new():
    organizations, node_batches, edge_batches = floor_rows(5, 12, 4)
    assert len(organizations) == 3  # ceil(12 / 5)
    assert [len(batch) for batch in node_batches] == [4, 1]
    assert [len(batch) for batch in edge_batches] == [4, 4, 4]
    ids = [row["id"] for batch in node_batches for row in batch]
    pairs = {(row["a"], row["b"]) for batch in edge_batches for row in batch}
    assert len(set(ids)) == 5 and len(pairs) == 12
    assert {a for a, _ in pairs} == set(ids) and {b for _, b in pairs} == set(organizations)
    props = node_batches[0][0]["props"]
    assert set(props) == {
        "organization_id",
        "status",
        "score",
        "tags",
        "source",
        "created_at",
        "updated_at",
    }


def test_generated_crm_has_the_planned_shape(bench, conn):
    first, *_ = bench
    reassigned = scalar(
        conn,
        "select count(*) from lead_assignments where strategy = 'manual'"
        " and reason = 'workload rebalanced'",
    )
    assert 0.05 * LEADS < reassigned < 0.15 * LEADS
    assert first.rows == {
        "organizations": ORGANIZATIONS,
        "users": ORGANIZATIONS * AGENTS_PER_ORGANIZATION,
        "leads": LEADS,
        "lead_assignments": LEADS + reassigned,
        "referrals": REFERRED,
    }
    assert not first.reused and first.generation_seconds > 0
    # 50 leads per organization, each referral inside its organization, phones E.164
    assert conn.execute(
        "select count(distinct organization_id), min(n), max(n) from"
        " (select organization_id, count(*) as n from leads group by 1) s"
    ).fetchone() == (ORGANIZATIONS, LEADS // ORGANIZATIONS, LEADS // ORGANIZATIONS)
    assert (
        scalar(
            conn,
            "select count(*) from leads l join leads r on r.id = l.referred_by_lead_id"
            " where r.organization_id = l.organization_id"
            " and l.referred_by_ref = r.phone_number",
        )
        == REFERRED
    )
    assert scalar(conn, "select min(phone_number) from leads") == "+14150000001"
    # the owner is the last assignment's target
    assert (
        scalar(
            conn,
            """
        select count(*) from leads l
        where l.user_id is distinct from (select a.to_user_id from lead_assignments a
                                          where a.lead_id = l.id
                                          order by a.assigned_at desc limit 1)
    """,
        )
        == 0
    )
    expected = first.expected_graph
    assert expected["Lead"] == expected["BELONGS_TO"] == expected["ASSIGNED_TO"] == LEADS
    assert expected["User"] == expected["MEMBER_OF"] == ORGANIZATIONS * AGENTS_PER_ORGANIZATION
    assert expected["Organization"] == ORGANIZATIONS
    assert expected["REFERRED_BY"] == REFERRED
    assert expected["PREVIOUSLY_ASSIGNED_TO"] == reassigned
    sourced = scalar(conn, "select count(*) from leads where source is not null")
    assert expected["FROM_SOURCE"] == sourced


def test_figures_are_positive_and_consistent(bench):
    first, *_ = bench
    nodes = sum(first.expected_graph[k] for k in ("Organization", "User", "Lead", "Source"))
    edges = sum(first.expected_graph.values()) - nodes
    assert (first.floor.nodes, first.floor.edges) == (nodes, edges)
    assert first.floor.nodes_per_second > 0 and first.floor.edges_per_second > 0
    # one batch of 50 leads per organization: each Source is merged once, so the full sync
    # into the emptied graph writes exactly the expected graph
    assert first.full.mode == "full"
    assert (first.full.nodes, first.full.edges) == (nodes, edges)
    assert first.full.nodes_per_second > 0 and first.full.edges_per_second > 0
    assert first.full.leads_removed == 0 and first.full.edges_removed == 0
    assert first.floor_equivalent_seconds > 0
    assert first.full_vs_floor == pytest.approx(1 / first.floor_ratio)
    assert first.incremental.mode == first.unchanged.mode == "incremental"
    assert first.changed_leads == LEADS // 100
    assert first.incremental.nodes >= first.changed_leads
    assert first.incremental.nodes < first.full.nodes / 10
    assert first.incremental.edges_removed >= first.reassigned_leads
    assert 0 < first.incremental_share < 1
    assert (first.unchanged.nodes, first.unchanged.edges) == (0, 0)
    assert first.unchanged.leads_sent == 0
    assert first.incremental.leads_sent >= first.changed_leads
    # full after the full sync, nightly after each incremental one, full at the end
    checks = first.reconciliations
    assert [c.mode for c in checks] == ["full", "nightly", "nightly", "full"]
    assert all(c.ok and c.seconds > 0 for c in checks)
    assert checks[0].rows_compared == checks[3].rows_compared == LEADS
    # the nightly comparison reads exactly the leads the incremental sync sent
    assert checks[1].rows_compared == first.incremental.leads_sent
    assert checks[2].rows_compared == 0


def test_graph_reconciles_and_matches_postgres(bench, conn):
    first, again, *_ = bench
    for result in (first, again):
        assert len(result.reconciled) == ORGANIZATIONS
        assert result.reconciled_ok, result.differences
    from neo4j import GraphDatabase

    with (
        GraphDatabase.driver(first.graph_uri, auth=graph_auth()) as driver,
        driver.session(database=first.graph_database) as session,
    ):
        graph = {
            r["id"]: (r["status"], r["score"], r["owner"])
            for r in session.run(
                "MATCH (l:Lead)-[:ASSIGNED_TO]->(u:User)"
                " RETURN l.id AS id, l.status AS status, l.score AS score, u.id AS owner"
            )
        }
    rows = conn.execute("select id::text, status, lead_score, user_id::text from leads")
    assert graph == {row[0]: tuple(row[1:]) for row in rows}


def test_reuse_keeps_the_database_and_figures_are_saved(bench, conn):
    first, again, lines, workdir = bench
    assert again.reused and again.generation_seconds == 0
    assert again.leads == LEADS and again.full.nodes == first.full.nodes
    # each run moved 1% of leads on and reassigned some of them
    assert (
        scalar(conn, "select count(*) from lead_assignments where reason = 'benchmark change'")
        == first.reassigned_leads + again.reassigned_leads
    )
    saved = json.loads((workdir / f"bench_graph_{LEADS}.json").read_text())
    assert saved["leads"] == LEADS and saved["reused"] is True
    assert saved["full_vs_floor"] == pytest.approx(again.full_vs_floor)
    assert any("x floor (target <= 1.50x)" in line for line in lines)
    assert any("reconciliation: 10/10 organizations ok" in line for line in lines)
