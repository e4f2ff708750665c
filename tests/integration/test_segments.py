"""Segment filters against PostgreSQL: hand-counted leads, hostile input, the asset and the CLI.

A fifth organization with eight crafted leads (one soft-deleted) sits beside the seed's three,
so every count below is computed by hand from the table LEADS.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg
import psycopg
import pytest
from click.testing import CliRunner

from leadflow.cli.segments import segments as segments_cli
from leadflow.crm.assets import segment_counts
from leadflow.crm.segments import SegmentFilterError, compile_filter, segment_count_query
from leadflow.crm.segments_sql import preview_segment
from leadflow.resources import PostgresResource
from tests.integration.conftest import ORG1
from tests.integration.test_nurture import tenant_view

pytestmark = pytest.mark.integration

ORG = "55555555-5555-4555-8555-555555555555"
U1 = "a5000000-0000-4000-8000-000000000001"
U2 = "a5000000-0000-4000-8000-000000000002"
HOSTILE = "'; drop table leads; --"

# first, last, status, score, tags, source, owner, email, created_at, last_contact, deleted
LEADS = [
    (
        "Ann",
        "O'Brien",
        "new",
        10,
        ["hot"],
        "facebook",
        U1,
        "ann@example.com",
        "2026-01-01 10:00Z",
        None,
        False,
    ),
    (
        "Bob",
        "100%_Sure",
        "contacted",
        50,
        ["hot", "nurse"],
        "linkedin",
        U2,
        None,
        "2026-01-15 00:00Z",
        "2026-02-01 12:00Z",
        False,
    ),
    (
        "Cara",
        "100xxSure",
        "qualified",
        70,
        ["nurse"],
        "indeed",
        None,
        "",
        "2026-01-31 23:59:59Z",
        "2026-02-28 00:00Z",
        False,
    ),
    (
        "Dan",
        "Smith",
        "hot",
        90,
        [],
        None,
        U1,
        "dan@example.com",
        "2026-02-01 00:00Z",
        "2026-03-01 00:00Z",
        False,
    ),
    (
        "Eve",
        HOSTILE,
        "cold",
        0,
        ["referral"],
        "referral",
        None,
        "eve@example.com",
        "2026-03-10 00:00Z",
        None,
        False,
    ),
    (
        "Fay",
        "Deleted",
        "hot",
        95,
        ["hot"],
        "facebook",
        U1,
        "fay@example.com",
        "2026-01-05 00:00Z",
        None,
        True,
    ),
    (
        "Gus",
        "Recruited",
        "recruited",
        100,
        ["hot", "nurse"],
        "facebook",
        U2,
        "gus@example.com",
        "2026-02-10 00:00Z",
        None,
        False,
    ),
    ("Hal", "Dnc", "dnc", 5, [], "website", None, None, "2026-02-20 00:00Z", None, False),
]
LIVE = 7

HAND_COUNTS = [
    ({}, LIVE),
    ({"status": ["hot", "qualified"]}, 2),
    ({"score": {"min": 70}}, 3),
    ({"score": {"max": 10}}, 3),
    ({"score": {"min": 50, "max": 90}}, 3),
    ({"tags_any": ["hot"]}, 3),
    ({"tags_any": ["nurse", "referral"]}, 4),
    ({"tags_all": ["hot", "nurse"]}, 2),
    ({"sources": ["facebook", "linkedin"]}, 3),
    ({"source": ["facebook", "linkedin"]}, 3),
    ({"owners": [U1]}, 2),
    ({"owners": ["unassigned"]}, 3),
    ({"owners": [U2, "unassigned"]}, 5),
    ({"created": {"from": "2026-01-15", "to": "2026-01-31"}}, 2),
    ({"created": {"from": "2026-02-01"}}, 4),
    ({"created": {"to": "2026-01-31T23:59:58Z"}}, 2),
    ({"contacted": {"from": "2026-02-01", "to": "2026-02-28"}}, 2),
    ({"not": {"contacted": {"from": "2026-02-01", "to": "2026-02-28"}}}, 5),
    ({"has_email": True}, 4),
    ({"has_email": False}, 3),
    ({"name": "o'brien"}, 1),
    ({"name": "SMITH"}, 1),
    ({"name": "100%_"}, 1),  # literal: Cara 100xxSure would match an unescaped pattern
    ({"name": "%"}, 1),
    ({"name": "_"}, 1),
    ({"name": "100"}, 2),
    ({"name": HOSTILE}, 1),  # Eve's last name, found as data
    ({"name": "Fay"}, 0),  # deleted
    ({"any": [{"status": ["new"]}, {"score": {"min": 90}}]}, 3),
    ({"all": [{"tags_any": ["hot"]}, {"owners": [U1]}]}, 1),
    ({"not": {"sources": ["facebook"]}}, 5),  # a lead without source is "not facebook"
    ({"status": ["hot", "qualified", "contacted"], "not": {"has_email": False}}, 1),
    (
        {"any": [{"not": {"tags_any": ["hot"]}}, {"all": [{"name": "bob"}, {"has_email": False}]}]},
        5,
    ),
]


def _craft(url: str) -> str:
    """Add organization ORG with the LEADS above to a migrated, seeded database."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into organizations (id, name, slug) values (%s, 'Crafted Co', 'crafted')",
            (ORG,),
        )
        for user, email in ((U1, "u1@crafted.test"), (U2, "u2@crafted.test")):
            conn.execute(
                "insert into users (id, organization_id, email) values (%s, %s, %s)",
                (user, ORG, email),
            )
        for n, row in enumerate(LEADS, start=1):
            first, last, status, score, tags, source, owner, email, created, contact, gone = row
            conn.execute(
                "insert into leads (organization_id, first_name, last_name, phone_number, status,"
                " lead_score, tags, source, user_id, email, created_at, last_contact_date,"
                " deleted_at)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " case when %s then now() end)",
                (
                    ORG,
                    first,
                    last,
                    f"+1212555{n:04d}",
                    status,
                    score,
                    tags,
                    source,
                    owner,
                    email,
                    created,
                    contact,
                    gone,
                ),
            )
    return url


@pytest.fixture(scope="module")
def shared(new_seeded_database) -> str:
    """Read-only tests share one crafted database."""
    url = new_seeded_database("segments")
    return _craft(url)


@pytest.fixture
def crafted(crm_url: str) -> str:
    """A crafted database of the test's own, for tests that write."""
    return _craft(crm_url)


def count(conn: psycopg.Connection, spec, organization_id: str = ORG) -> int:
    query, params = segment_count_query(organization_id, compile_filter(spec))
    return conn.execute(query, params).fetchone()[0]


def leads_intact(conn: psycopg.Connection) -> None:
    assert conn.execute("select to_regclass('public.leads') is not null").fetchone() == (True,)
    assert conn.execute(
        "select count(*) from leads where organization_id = %s", (ORG,)
    ).fetchone() == (len(LEADS),)


@pytest.mark.parametrize(("spec", "expected"), HAND_COUNTS)
def test_each_key_and_combinator_counts_what_was_computed_by_hand(shared, spec, expected):
    with psycopg.connect(shared) as conn:
        assert count(conn, spec) == expected


def test_other_organizations_are_never_counted(shared):
    with psycopg.connect(shared) as conn:
        assert count(conn, {"name": "o'brien"}, ORG1) == 0
        assert count(conn, {}, ORG1) == 19  # the seed's 20 leads of org 1, one soft-deleted


@pytest.mark.parametrize(
    "spec",
    [
        {"status": {"$ne": "x"}},
        {"status": ["new'); drop table leads; --"]},
        {"score": {"min": "0 or 1=1"}},
        {"tags_any": [f"t{i}" for i in range(10_001)]},
        {"owners": ["' or 1=1 --"]},
        {"created": {"from": "2026-01-01'; drop table leads; --"}},
        {"$where": "1=1"},
        {
            "not": {
                "not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {}}}}}}}}}
            }
        },
        '{"name": "x"} ; drop table leads',
    ],
)
def test_hostile_filters_are_refused_and_nothing_runs(shared, spec):
    with pytest.raises(SegmentFilterError):
        compile_filter(spec)
    with psycopg.connect(shared) as conn:
        leads_intact(conn)


def test_hostile_values_that_are_valid_filters_are_matched_as_data(shared):
    with psycopg.connect(shared) as conn:
        assert count(conn, {"tags_any": [HOSTILE], "sources": ["x' or '1'='1"]}) == 0
        assert count(conn, {"name": "' or '1'='1"}) == 0
        assert count(conn, {"name": HOSTILE}) == 1
        leads_intact(conn)


def test_preview_lists_best_scores_first(shared):
    with psycopg.connect(shared) as conn:
        preview = preview_segment(conn, ORG, compile_filter({"tags_any": ["hot"]}), limit=2)
    assert preview.count == 3
    assert [(r["name"], r["score"], r["tags"]) for r in preview.rows] == [
        ("Gus Recruited", 100, ["hot", "nurse"]),
        ("Bob 100%_Sure", 50, ["hot", "nurse"]),
    ]


# -- asset -------------------------------------------------------------------------------------

AS_OF = "2026-12-01T06:00:00+00:00"


def _materialize(url: str, as_of: str) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [segment_counts],
        resources={"postgres": PostgresResource(url=url)},
        run_config=dg.RunConfig({"segment_counts": {"config": {"as_of": as_of}}}),
    )
    assert result.success
    return result


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    (materialization,) = result.asset_materializations_for_node("segment_counts")
    return {key: value.value for key, value in materialization.metadata.items()}


def test_segment_counts_updates_every_segment_and_appends_history(crafted):
    with psycopg.connect(crafted) as conn:
        seed_counts = dict(conn.execute("select id, lead_count from segments").fetchall())
        conn.execute(
            "insert into segments (id, organization_id, name, filter) values"
            " ('f5000000-0000-4000-8000-000000000001', %s, 'Hot nurses', %s),"
            " ('f5000000-0000-4000-8000-000000000002', %s, 'Broken', %s)",
            (
                ORG,
                json.dumps({"tags_all": ["hot", "nurse"]}),
                ORG,
                json.dumps({"status": {"$ne": "x"}}),
            ),
        )
        conn.execute("update segments set lead_count = 42 where name = 'Broken'")
        # the seed stored its own counts; zero them so the asset has to recompute them
        conn.execute("update segments set lead_count = 0 where organization_id <> %s", (ORG,))

    metadata = _metadata(_materialize(crafted, AS_OF))
    assert metadata["segments"] == 11
    assert metadata["segments_counted"] == 10
    assert metadata["segments_invalid"] == 1
    (invalid,) = metadata["invalid"]
    assert invalid["name"] == "Broken"
    assert invalid["error"].startswith("filter.status: expected a list of statuses")

    as_of = datetime.fromisoformat(AS_OF)
    with psycopg.connect(crafted) as conn:
        counted = {
            sid: (n, at)
            for sid, n, at in conn.execute("select id, lead_count, last_counted_at from segments")
        }
        for segment_id, seed_count in seed_counts.items():
            assert counted[segment_id] == (seed_count, as_of)  # the seed's own counting agrees
        by_name = dict(
            conn.execute(
                "select name, lead_count from segments where organization_id = %s", (ORG,)
            ).fetchall()
        )
        assert by_name == {"Hot nurses": 2, "Broken": 42}
        history = conn.execute(
            "select count(*), count(distinct segment_id), min(counted_at), max(counted_at)"
            " from segment_count_history"
        ).fetchone()
        assert history == (10, 10, as_of, as_of)
        leads_intact(conn)

    # the same as_of again: the history row is rewritten, not duplicated
    _materialize(crafted, AS_OF)
    later = "2026-12-02T06:00:00Z"
    with psycopg.connect(crafted) as conn:
        assert conn.execute("select count(*) from segment_count_history").fetchone() == (10,)
        conn.execute(
            "update leads set tags = tags || '{nurse}' where organization_id = %s"
            " and first_name = 'Ann'",
            (ORG,),
        )
    _materialize(crafted, later)
    with psycopg.connect(crafted) as conn:
        rows = conn.execute(
            "select counted_at, lead_count from segment_count_history"
            " where segment_id = 'f5000000-0000-4000-8000-000000000001' order by 1"
        ).fetchall()
        assert rows == [(as_of, 2), (datetime(2026, 12, 2, 6, tzinfo=UTC), 3)]


# -- CLI ---------------------------------------------------------------------------------------


def _preview(url: str, *args: str):
    return CliRunner().invoke(segments_cli, ["preview", *args], env={"POSTGRES_URL": url})


def test_cli_preview_prints_the_count_and_rows(shared):
    result = _preview(shared, '{"tags_any": ["hot"]}', "--org", ORG, "--limit", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"3 matching lead(s) in organization {ORG}"
    assert lines[1].split() == ["id", "name", "phone", "status", "score", "tags"]
    assert "Gus Recruited" in lines[2] and lines[2].rstrip().endswith("100  hot,nurse")
    assert lines[3] == "… 2 more"


def test_cli_preview_json(shared, tmp_path):
    path = tmp_path / "filter.json"
    path.write_text(json.dumps({"name": "%"}))
    result = _preview(shared, f"@{path}", "--org", ORG, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["count"] == 1 and payload["organization_id"] == ORG
    (lead,) = payload["leads"]
    assert lead["name"] == "Bob 100%_Sure" and lead["phone"] == "+12125550002"
    assert set(lead) == {"id", "name", "phone", "status", "score", "tags"}


def test_cli_preview_takes_the_organization_by_slug_or_name(shared):
    by_id = _preview(shared, '{"tags_any": ["hot"]}', "--org", ORG, "--json")
    assert by_id.exit_code == 0, by_id.output
    for org in ("crafted", "Crafted", "Crafted Co"):
        result = _preview(shared, '{"tags_any": ["hot"]}', "--org", org, "--json")
        assert result.exit_code == 0, result.output
        assert result.stdout == by_id.stdout and json.loads(result.stdout)["count"] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (['{"status": {"$ne": "x"}}', "--org", ORG], "filter.status: expected a list"),
        (["{not json", "--org", ORG], "filter: invalid JSON"),
        (['{"status": ["new"]}', "--org", "nope"], "unknown organization --org 'nope'"),
        (['{"status": ["new"]}', "--org", "99999999-9999-4999-8999-999999999999"], "unknown org"),
        (['{"status": ["new"]}', "--org", "all"], "crafted, northwind, southern-cross, summit"),
    ],
)
def test_cli_preview_bad_requests_exit_2(shared, args, message):
    result = _preview(shared, *args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    with psycopg.connect(shared) as conn:
        leads_intact(conn)


def test_count_history_is_visible_to_its_tenant_only(crafted):
    _materialize(crafted, AS_OF)
    with psycopg.connect(crafted) as conn:
        assert tenant_view(conn, "segment_count_history", None) == set()
        assert tenant_view(conn, "segment_count_history", ORG1) == {ORG1}
