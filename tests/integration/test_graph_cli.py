"""`leadflow graph …` against the real servers: sync, reconcile, and the three queries.

Seeded referrals in every organization (seeds/007_demo_referrals.sql): 13, 08 and 04 were
referred by 17; 03 → 09 → 08 → 17. Owners in organization 1: the manager …02 has 13 and 17,
agent …04 has 04, 06, 08, 10, 12, 15, 18.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from click.testing import CliRunner, Result
from neo4j import GraphDatabase

from leadflow.cli.graph import graph as graph_cli
from leadflow.platform.services.graph import graph_auth
from tests.integration.conftest import ORG1, ORG2, ORG3
from tests.integration.test_graph_sync import open_graph_database

pytestmark = pytest.mark.integration

MANAGER = "a1000000-0000-4000-8000-000000000002"
AGENT4 = "a1000000-0000-4000-8000-000000000004"


def lead(n: int) -> str:
    return f"b1000000-0000-4000-8000-{n:012d}"


def run_cypher(bolt_url: str, database: str, query: str, **params) -> None:
    with (
        GraphDatabase.driver(bolt_url, auth=graph_auth()) as driver,
        driver.session(database=database) as session,
    ):
        session.run(query, **params).consume()


@pytest.fixture(scope="module")
def crm(new_seeded_database) -> str:
    return new_seeded_database("graph_cli")


@pytest.fixture(scope="module")
def graph_db(bolt_url: str) -> Iterator[str]:
    yield from open_graph_database("graph_cli")


@pytest.fixture(scope="module")
def cli(crm: str, graph_db: str, bolt_url: str):
    run_cypher(bolt_url, graph_db, "MATCH (n) DETACH DELETE n")

    def invoke(*args: str) -> Result:
        env = {"POSTGRES_URL": crm, "NEO4J_DATABASE": graph_db}
        return CliRunner().invoke(graph_cli, list(args), env=env)

    synced = invoke("sync", "--json", "--batch-size", "6")
    assert synced.exit_code == 0, synced.output
    payload = json.loads(synced.output)
    assert [o["mode"] for o in payload["organizations"]] == ["full"] * 3
    return invoke


def test_sync_text_output_and_incremental_rerun(cli):
    result = cli("sync", "--org", ORG1)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{ORG1} incremental ")


def test_reconcile_passes_then_reports_drift(cli, graph_db, bolt_url):
    ok = cli("reconcile", "--json")
    assert ok.exit_code == 0, ok.output
    payload = json.loads(ok.output)
    assert payload["ok"] is True and len(payload["organizations"]) == 3
    assert {o["mode"] for o in payload["organizations"]} == {"full"}
    assert payload["organizations"][0]["actual"]["REFERRED_BY"] == 5

    run_cypher(
        bolt_url, graph_db, "MATCH (:Lead {id: $id})-[e:REFERRED_BY]->() DELETE e", id=lead(3)
    )
    drift = cli("reconcile", "--org", ORG1)
    assert drift.exit_code == 3  # differences found (1 is kept for an unreachable graph)
    assert drift.output.splitlines() == [
        f"{ORG1} DIFFERS",
        f"  REFERRED_BY: postgres 5, graph 4  missing:{lead(3)}->{lead(9)}",
    ]
    # the same difference by slug, by exact name and among every organization (`all`, JSON)
    assert cli("reconcile", "--org", "summit").exit_code == 3
    assert cli("reconcile", "--org", "Summit Talent Partners").exit_code == 3
    everything = cli("reconcile", "--org", "all", "--json")
    assert everything.exit_code == 3
    payload = json.loads(everything.output)
    assert payload["ok"] is False
    assert [(o["organization_id"], o["ok"]) for o in payload["organizations"]] == [
        (ORG1, False),
        (ORG2, True),
        (ORG3, True),
    ]
    assert payload["organizations"][0]["differences"] == {"REFERRED_BY": [5, 4]}
    repaired = cli("sync", "--org", ORG1, "--full")
    assert repaired.exit_code == 0
    assert cli("reconcile", "--org", ORG1).exit_code == 0


def test_reconcile_full_compares_every_lead(cli, graph_db, bolt_url):
    nightly = json.loads(cli("reconcile", "--org", ORG1, "--json").output)["organizations"][0]
    assert (nightly["mode"], nightly["reason"], nightly["ok"]) == ("nightly", None, True)
    assert {"expected", "actual", "differences", "samples", "rows_compared", "pending"} <= set(
        nightly
    )
    # drift in a lead nothing changed: the counts hold, only the full comparison reads it
    run_cypher(bolt_url, graph_db, "MATCH (l:Lead {id: $id}) SET l.status = 'x'", id=lead(2))
    assert cli("reconcile", "--org", ORG1).exit_code == 0
    full = cli("reconcile", "--org", ORG1, "--full")
    assert full.exit_code == 3
    assert full.output.splitlines() == [
        f"{ORG1} DIFFERS",
        "  leads: 1 of 19 differ",
        f"    {lead(2)}: status",
    ]
    assert cli("sync", "--org", ORG1, "--full").exit_code == 0
    repaired = cli("reconcile", "--org", ORG1, "--full", "--json")
    assert repaired.exit_code == 0, repaired.output
    [organization] = json.loads(repaired.output)["organizations"]
    assert (organization["mode"], organization["reason"]) == ("full", "requested (--full)")
    assert organization["rows_compared"] == 19 and organization["rows_differing"] == 0


def test_referral_chain(cli):
    result = cli("referral-chain", lead(3), "--json")
    assert result.exit_code == 0, result.output
    chain = json.loads(result.output)["chain"]
    assert [(r["id"], r["depth"]) for r in chain] == [
        (lead(3), 0),
        (lead(9), 1),
        (lead(8), 2),
        (lead(17), 3),
    ]
    assert [r["owner_id"] for r in chain] == [
        "a1000000-0000-4000-8000-000000000003",
        "a1000000-0000-4000-8000-000000000003",
        AGENT4,
        MANAGER,
    ]
    short = cli("referral-chain", lead(3), "--depth", "1")
    assert short.exit_code == 0
    assert [line.split()[0:3] for line in short.output.splitlines()] == [
        ["lead", lead(3), "new"],
        ["referrer", "1", lead(9)],
    ]
    alone = cli("referral-chain", lead(17))
    assert alone.output.splitlines()[-1] == "no known referrer"


def test_top_referrers(cli):
    result = cli("top-referrers", "--org", ORG1, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["referrers"]
    assert [(r["id"], r["referrals"]) for r in rows] == [(lead(17), 3), (lead(8), 1), (lead(9), 1)]
    assert rows[0]["status"] == "recruited" and rows[0]["score"] == 97
    limited = cli("top-referrers", "--org", ORG1, "--limit", "1")
    assert limited.output.splitlines()[1].split()[:2] == [lead(17), "3"]


def test_agent_reach(cli):
    result = cli("agent-reach", MANAGER, "--json")
    assert result.exit_code == 0, result.output
    reach = json.loads(result.output)
    # own: 13, 17; 08 and 04 referred by 17 (13 is own), 09 by 08, 03 by 09
    assert reach["leads"] == 2 and reach["leads_by_status"] == {"hot": 1, "recruited": 1}
    assert reach["reach_by_depth"] == {"1": 2, "2": 1, "3": 1} and reach["reach_total"] == 4
    assert reach["reach_sample"] == [
        {"id": lead(4), "depth": 1},
        {"id": lead(8), "depth": 1},
        {"id": lead(9), "depth": 2},
        {"id": lead(3), "depth": 3},
    ]
    shallow = json.loads(cli("agent-reach", MANAGER, "--depth", "2", "--json").output)
    assert shallow["reach_by_depth"] == {"1": 2, "2": 1}
    agent = json.loads(cli("agent-reach", AGENT4, "--json").output)
    assert agent["leads"] == 7 and agent["reach_by_depth"] == {"1": 1, "2": 1}
    text = cli("agent-reach", AGENT4)
    assert text.output.splitlines()[1] == (
        "referral reach (up to 3 hops): 2 lead(s) (depth 1: 1, depth 2: 1)"
    )


def test_errors_are_one_line(cli, crm):
    bad = cli("top-referrers", "--org", "nope")
    assert bad.exit_code == 2 and bad.output == (
        "leadflow: error: unknown organization --org 'nope': give a UUID, a slug or an exact"
        " name (northwind, southern-cross, summit)\n"
    )
    unknown = cli("referral-chain", "00000000-0000-4000-8000-000000000000")
    assert unknown.exit_code == 2
    assert unknown.output.startswith("leadflow: error: lead 00000000-") and "Traceback" not in (
        unknown.output
    )
    nobody = cli("agent-reach", "00000000-0000-4000-8000-000000000000")
    assert nobody.exit_code == 2 and len(nobody.output.splitlines()) == 1
    assert "unknown user USER" in nobody.output
    missing_org = cli("sync", "--org", "00000000-0000-4000-8000-000000000000")
    assert missing_org.exit_code == 2
    assert missing_org.output.startswith(
        "leadflow: error: unknown organization --org '00000000-0000-4000-8000-000000000000'"
    )
    assert "summit" in missing_org.output
    for args in (("reconcile", "--org", "nowhere"), ("agent-reach", MANAGER, "--org", "x")):
        refused = cli(*args)
        assert refused.exit_code == 2, refused.output
        assert "unknown organization --org" in refused.output and "northwind" in refused.output
    with psycopg.connect(crm) as conn:  # nothing was written for the unknown organization
        assert conn.execute(
            "select count(*) from sync_watermarks where name like 'crm_graph:0000%'"
        ).fetchone() == (0,)


def test_sync_links_pending_referrals_first_and_reports_them(new_seeded_database, bolt_url):
    """`leadflow graph sync` resolves what is pending before it reads (the nightly does it in
    its ingest step `lead_referrals`), and still reports it as referrals_resolved."""
    crm = new_seeded_database("graph_cli_referrals")
    with psycopg.connect(crm) as conn:
        waiting = conn.execute(
            "insert into leads (organization_id, phone_number, referred_by_ref)"
            " values (%s, '+12124567881', '+12124567882') returning id::text",
            (ORG1,),
        ).fetchone()[0]
        referrer = conn.execute(
            "insert into leads (organization_id, phone_number) values (%s, '+12124567882')"
            " returning id::text",
            (ORG1,),
        ).fetchone()[0]
    for graph_db in open_graph_database("graph_cli_referrals"):
        env = {"POSTGRES_URL": crm, "NEO4J_DATABASE": graph_db}
        synced = CliRunner().invoke(graph_cli, ["sync", "--org", ORG1, "--json"], env=env)
        assert synced.exit_code == 0, synced.output
        [organization] = json.loads(synced.output)["organizations"]
        assert organization["referrals_resolved"] == 1
        with GraphDatabase.driver(bolt_url, auth=graph_auth()) as driver:
            records, _, _ = driver.execute_query(
                "MATCH (:Lead {id: $id})-[:REFERRED_BY]->(r:Lead) RETURN r.id AS id",
                id=waiting,
                database_=graph_db,
            )
        assert [record["id"] for record in records] == [referrer]


def test_the_queries_show_names_from_postgresql(cli):
    """The graph holds no names: each answer gets them from PostgreSQL, ids kept beside them."""
    chain = json.loads(cli("referral-chain", lead(3), "--json").output)["chain"]
    assert [(r["id"], r["name"], r["owner_name"]) for r in chain] == [
        (lead(3), "Sarah Kim", "Priya Patel"),
        (lead(9), "Amanda Davis", "Priya Patel"),
        (lead(8), "Matthew Garcia", "Marcus Reed"),
        (lead(17), "Rachel Clark", "Daniel Brooks"),
    ]
    text = cli("referral-chain", lead(3), "--depth", "1").output.splitlines()
    assert "Sarah Kim" in text[0] and text[0].endswith("owner Priya Patel")
    assert "Amanda Davis" in text[1]

    referrers = json.loads(cli("top-referrers", "--org", ORG1, "--json").output)["referrers"]
    assert [(r["id"], r["name"], r["owner_id"], r["owner_name"]) for r in referrers[:1]] == [
        (lead(17), "Rachel Clark", MANAGER, "Daniel Brooks")
    ]
    lines = cli("top-referrers", "--org", ORG1, "--limit", "1").output.splitlines()
    assert lines[0].split() == ["lead", "referrals", "status", "score", "name", "owner"]
    assert lines[1].split() == [
        lead(17),
        "3",
        "recruited",
        "97",
        "Rachel",
        "Clark",
        "Daniel",
        "Brooks",
    ]

    reach = json.loads(cli("agent-reach", MANAGER, "--json").output)
    assert reach["name"] == "Daniel Brooks"
    assert reach["lead_names"][lead(4)] == "David Thompson"
    assert reach["lead_names"][lead(17)] == "Rachel Clark"  # the agent's own lead
    text = cli("agent-reach", MANAGER).output.splitlines()
    assert text[0].startswith(f"Daniel Brooks (user {MANAGER}, manager): 2 lead(s)")
    assert text[2] == f"  depth 1  {lead(4)}  David Thompson"


def test_organizations_by_slug_or_name_and_users_by_e_mail(cli):
    """--org takes a slug or an exact name wherever it took only a UUID; agent-reach takes an
    e-mail: the same answers as by id."""
    by_id = json.loads(cli("top-referrers", "--org", ORG1, "--json").output)
    for org in ("summit", "SUMMIT", "Summit Talent Partners"):
        result = cli("top-referrers", "--org", org, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == by_id
    synced = cli("sync", "--org", "northwind", "--json")
    assert synced.exit_code == 0, synced.output
    assert [o["organization_id"] for o in json.loads(synced.output)["organizations"]] == [ORG2]
    every = json.loads(cli("sync", "--org", "all", "--json").output)["organizations"]
    assert sorted(o["organization_id"] for o in every) == [ORG1, ORG2, ORG3]

    reach = json.loads(cli("agent-reach", MANAGER, "--json").output)
    by_mail = cli("agent-reach", "Daniel.Brooks@summit.example.com", "--json")
    assert by_mail.exit_code == 0, by_mail.output
    assert json.loads(by_mail.output) == reach
    scoped = cli("agent-reach", "daniel.brooks@summit.example.com", "--org", "summit", "--json")
    assert json.loads(scoped.output) == reach
    elsewhere = cli("agent-reach", "daniel.brooks@summit.example.com", "--org", "northwind")
    assert elsewhere.exit_code == 2
    assert "of that organization" in elsewhere.output and "@northwind" in elsewhere.output


def test_reconcile_exits_1_when_the_graph_is_unreachable(crm, graph_db):
    """A failure (1) is not a difference (3): a script tells them apart."""
    env = {"POSTGRES_URL": crm, "NEO4J_DATABASE": graph_db, "NEO4J_URI": "bolt://127.0.0.1:9"}
    result = CliRunner().invoke(graph_cli, ["reconcile", "--org", "summit"], env=env)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("leadflow: error: graph server unreachable")
    assert "Traceback" not in result.output
