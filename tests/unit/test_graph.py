"""Pure graph logic: row shaping, expected identities, samples, reach, chunking, retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from leadflow.graph import model
from leadflow.graph.names import person_name

ORG = "11111111-1111-4111-8111-111111111111"
T1 = datetime(2026, 7, 7, 13, 26, tzinfo=UTC)
T2 = datetime(2026, 7, 13, 16, 24, tzinfo=timezone(timedelta(hours=2)))


def record(**overrides):
    base = {
        "id": "l1",
        "organization_id": ORG,
        "status": "hot",
        "lead_score": 88,
        "tags": ["hot"],
        "source": " linkedin ",
        "created_at": T1,
        "updated_at": T2,
        "owner_id": "u2",
        "since": T2,
        "strategy": "manual",
        "referred_by": None,
        "previous_user_ids": ["u1", "u2"],
        "previous_from": [T1, None],
        "previous_to": [T2, None],
    }
    return base | overrides


def test_lead_row_keeps_graph_fields_only_in_utc():
    row = model.lead_row(record(first_name="Ann", phone_number="+12125550100"))
    assert row == {
        "id": "l1",
        "organization_id": ORG,
        "status": "hot",
        "score": 88,
        "tags": ["hot"],
        "source": "linkedin",
        "source_key": f"{ORG}:linkedin",
        "created_at": T1,
        "updated_at": datetime(2026, 7, 13, 14, 24, tzinfo=UTC),
        "owner_id": "u2",
        "since": datetime(2026, 7, 13, 14, 24, tzinfo=UTC),
        "strategy": "manual",
        # the current owner is never an earlier owner
        "previous": [
            {"user_id": "u1", "from": T1, "to": datetime(2026, 7, 13, 14, 24, tzinfo=UTC)}
        ],
        "previous_ids": ["u1"],
        "referred_by": None,
    }
    assert row["updated_at"].tzinfo is UTC


def test_lead_row_without_owner_source_or_history():
    row = model.lead_row(
        record(
            owner_id=None,
            source="  ",
            previous_user_ids=None,
            previous_from=None,
            previous_to=None,
            referred_by="l9",
        )
    )
    assert (row["owner_id"], row["since"], row["strategy"]) == (None, None, None)
    assert (row["source"], row["source_key"]) == (None, None)
    assert row["previous"] == [] and row["previous_ids"] == []
    assert row["referred_by"] == "l9"


def test_utc_treats_naive_values_as_utc():
    assert model.utc(datetime(2026, 1, 1, 10)) == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert model.utc(None) is None


def test_expected_keys_and_differences():
    users = [
        model.user_row(
            {"id": "u1", "organization_id": ORG, "role": "agent", "is_active": True, "email": "x@y"}
        )
    ]
    assert users == [{"id": "u1", "organization_id": ORG, "role": "agent", "is_active": True}]
    leads = [
        model.lead_row(
            record(owner_id="u1", previous_user_ids=None, previous_from=None, previous_to=None)
        ),
        model.lead_row(
            record(
                id="l2",
                source=None,
                owner_id=None,
                referred_by="l1",
                previous_user_ids=["u1"],
                previous_from=[T1],
                previous_to=[T2],
            )
        ),
    ]
    keys = model.expected_keys(ORG, users, leads)
    counts = {name: len(ids) for name, ids in keys.items()}
    assert counts == {
        "Organization": 1,
        "User": 1,
        "Lead": 2,
        "Source": 1,
        "MEMBER_OF": 1,
        "BELONGS_TO": 2,
        "ASSIGNED_TO": 1,
        "PREVIOUSLY_ASSIGNED_TO": 1,
        "FROM_SOURCE": 1,
        "REFERRED_BY": 1,
    }
    assert keys["REFERRED_BY"] == {"l2->l1"} and keys["ASSIGNED_TO"] == {"l1->u1"}
    actual = dict(counts, Lead=3, REFERRED_BY=0)
    assert model.differences(counts, actual) == {"Lead": (2, 3), "REFERRED_BY": (1, 0)}


def test_one_sided_sample_marks_sides_and_caps():
    expected = {"a", "b", "c"}
    actual = {"b", "c", "x", "y"}
    assert model.one_sided_sample(expected, actual) == ["missing:a", "extra:x", "extra:y"]
    many = {str(i) for i in range(10)}
    assert model.one_sided_sample(many, set()) == [f"missing:{i}" for i in range(5)]
    assert model.one_sided_sample({"a"}, {"a"}) == []


def test_reach_summary_counts_each_lead_once_at_its_shortest_depth():
    leads = [
        {"id": "l13", "status": "hot", "score": 81},
        {"id": "l17", "status": "recruited", "score": 97},
    ]
    reached = [
        {"id": "l13", "depth": 1},  # own lead: counted at depth 0 only
        {"id": "l08", "depth": 1},
        {"id": "l04", "depth": 1},
        {"id": "l09", "depth": 2},
        {"id": "l03", "depth": 3},
    ]
    summary = model.reach_summary("u", leads, reached)
    assert summary["leads"] == 2
    assert summary["leads_by_status"] == {"hot": 1, "recruited": 1}
    assert summary["reach_by_depth"] == {"1": 2, "2": 1, "3": 1}
    assert summary["reach_total"] == 4
    assert [item["id"] for item in summary["reach_sample"]] == ["l04", "l08", "l09", "l03"]


def test_query_depths_are_validated_literals():
    assert "[:REFERRED_BY*0..4]" in model.referral_chain_query(4)
    assert "[:REFERRED_BY*1..2]" in model.agent_reach_query(2)
    with pytest.raises(ValueError):
        model.agent_reach_query(0)
    with pytest.raises(ValueError):
        model.referral_chain_query(101)


def test_chunked():
    assert [list(c) for c in model.chunked([1, 2, 3, 4, 5], 2)] == [[1, 2], [3, 4], [5]]
    assert list(model.chunked([], 3)) == []
    with pytest.raises(ValueError):
        list(model.chunked([1], 0))


def test_retry_backs_off_exponentially_then_succeeds_or_gives_up():
    policy = model.RetryPolicy(tries=5, first_delay=0.5, factor=2.0)
    assert policy.delays() == [0.5, 1.0, 2.0, 4.0]
    slept: list[float] = []
    calls = {"n": 0}

    def flaky():
        calls["n"] += 1
        if calls["n"] < 3:
            raise ConnectionError("transient")
        return "done"

    assert model.retry(flaky, policy, (ConnectionError,), sleep=slept.append) == "done"
    assert slept == [0.5, 1.0]

    slept.clear()

    def down():
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        model.retry(down, policy, (ConnectionError,), sleep=slept.append)
    assert slept == [0.5, 1.0, 2.0, 4.0]

    def broken():
        raise KeyError("not retried")

    slept.clear()
    with pytest.raises(KeyError):
        model.retry(broken, policy, (ConnectionError,), sleep=slept.append)
    assert slept == []


def test_schema_statements_are_neo4j5_if_not_exists():
    assert all("IF NOT EXISTS" in s for s in model.SCHEMA_STATEMENTS)
    assert sum("REQUIRE n." in s and "IS UNIQUE" in s for s in model.SCHEMA_STATEMENTS) == 4


def test_lead_batch_params_send_each_statement_only_its_keys():
    owned = model.lead_row(record())
    bare = model.lead_row(
        record(
            id="l2",
            source="  ",
            owner_id=None,
            previous_user_ids=None,
            previous_from=None,
            previous_to=None,
            referred_by="l1",
        )
    )
    batch = model.lead_batch_params([owned, bare])
    queries = [query for query, _ in batch]
    assert queries == [
        model.DELETE_STALE_LEAD_EDGES,
        model.MERGE_LEADS,
        model.MERGE_SOURCES,
        model.MERGE_ASSIGNED_TO,
        model.MERGE_PREVIOUSLY_ASSIGNED_TO,
    ]
    params = dict(batch)
    utc_t2 = datetime(2026, 7, 13, 14, 24, tzinfo=UTC)
    # no datetimes, no organization (sent once as $org) in the deletion
    assert params[model.DELETE_STALE_LEAD_EDGES] == [
        {
            "id": "l1",
            "source_key": f"{ORG}:linkedin",
            "owner_id": "u2",
            "previous_ids": ["u1"],
            "referred_by": None,
        },
        {"id": "l2", "source_key": None, "owner_id": None, "previous_ids": [], "referred_by": "l1"},
    ]
    assert params[model.MERGE_LEADS] == [
        {
            "id": "l1",
            "status": "hot",
            "score": 88,
            "tags": ["hot"],
            "source": "linkedin",
            "created_at": T1,
            "updated_at": utc_t2,
        },
        {
            "id": "l2",
            "status": "hot",
            "score": 88,
            "tags": ["hot"],
            "source": None,
            "created_at": T1,
            "updated_at": utc_t2,
        },
    ]
    # only leads with a source / an owner; one row per earlier owner
    assert params[model.MERGE_SOURCES] == [
        {"id": "l1", "source_key": f"{ORG}:linkedin", "source": "linkedin"}
    ]
    assert params[model.MERGE_ASSIGNED_TO] == [
        {"id": "l1", "owner_id": "u2", "since": utc_t2, "strategy": "manual"}
    ]
    assert params[model.MERGE_PREVIOUSLY_ASSIGNED_TO] == [
        {"id": "l1", "user_id": "u1", "from": T1, "to": utc_t2}
    ]
    # every datetime of the batch is sent exactly once
    sent = [v for _, rows in batch for row in rows for v in row.values()]
    assert sum(isinstance(v, datetime) for v in sent) == 2 * 2 + 1 + 2


def test_lead_batch_params_leave_out_statements_without_rows():
    bare = model.lead_row(
        record(source=None, owner_id=None, previous_user_ids=[], previous_from=[], previous_to=[])
    )
    assert [q for q, _ in model.lead_batch_params([bare])] == [
        model.DELETE_STALE_LEAD_EDGES,
        model.MERGE_LEADS,
    ]
    assert model.lead_batch_params([]) == []


def test_lead_statements_take_the_organization_once():
    for query in (model.DELETE_STALE_LEAD_EDGES, model.MERGE_LEADS, model.MERGE_SOURCES):
        assert "$org" in query and "r.organization_id" not in query


def test_person_name() -> None:
    assert person_name("Rachel", "Clark") == "Rachel Clark"
    assert person_name("Cher", "") == "Cher"
    assert person_name(" ", None) is None
    assert person_name(None, "Clark") == "Clark"
    assert person_name("", "") is None


# -- the exact watermark ------------------------------------------------------------------------

WRAP = 1 << 32


def test_read_snapshot_parses_pg_snapshot_text_and_round_trips_through_state():
    snapshot = model.ReadSnapshot.parse("100:120:103,110", seen=[105, 101, 105])
    assert (snapshot.xmin, snapshot.xmax, snapshot.xip, snapshot.seen) == (
        100,
        120,
        (103, 110),
        (101, 105),
    )
    assert snapshot.text == "100:120:103,110"
    assert snapshot.as_state() == {"snapshot": "100:120:103,110", "seen": [101, 105]}
    assert model.ReadSnapshot.from_state(snapshot.as_state()) == snapshot
    assert model.ReadSnapshot.parse("7:7:") == model.ReadSnapshot(7, 7)
    assert snapshot.params(130, "r_") == {
        "r_age_new": 10,
        "r_age_old": 30,
        "r_seen_ages": [29, 25],
    }


@pytest.mark.parametrize(
    "state",
    [None, {}, {"snapshot": 5}, {"snapshot": "x:y:"}, {"snapshot": "9:3:"}, {"snapshot": "1:5:7"}],
)
def test_a_state_without_a_usable_snapshot_gives_none(state):
    assert model.ReadSnapshot.from_state(state) is None


def test_seen_ids_must_lie_between_xmin_and_xmax():
    with pytest.raises(ValueError, match="inconsistent"):
        model.ReadSnapshot.parse("100:120:", seen=[120])


def test_full_xid_places_32_bit_ids_below_the_reference_across_wraparound():
    assert model.full_xid(1000, 5000) == 1000
    reference = 3 * WRAP + 10  # epoch 3, counter just wrapped
    assert model.full_xid(5, reference) == 3 * WRAP + 5
    assert model.full_xid(WRAP - 6, reference) == 3 * WRAP - 6  # epoch 2's last ids
    # the reference's own low bits: the reference (never a visible row's id; counts as new)
    assert model.full_xid(10, reference) == reference


def test_unseen_is_exactly_what_the_read_did_not_see():
    # read: xmin 100, xmax 120; 103 and 110 in progress; 101 and 105 committed rows it saw;
    # 107 is a subtransaction of 103 (pg_current_snapshot lists top-level ids only)
    read = model.ReadSnapshot.parse("100:120:103,110", seen=[101, 105])
    now = 200
    seen = [3, 50, 99, 101, 105]
    missed = [100, 103, 107, 110, 119, 120, 150, 199]
    assert [x for x in seen + missed if model.unseen(x, now, read)] == missed
    assert not model.unseen(2, now, read)  # frozen / bootstrap ids are old
    assert not model.unseen(1, now, read)


def test_unseen_across_wraparound():
    base = 5 * WRAP - 20  # snapshot taken just before the 32-bit counter wrapped
    read = model.ReadSnapshot.parse(f"{base}:{base + 10}:{base + 4}", seen=[base + 2])
    reference = 5 * WRAP + 30
    low = (base + 4) % WRAP  # the in-progress one, as its row shows it
    assert model.unseen(low, reference, read)
    assert not model.unseen((base + 2) % WRAP, reference, read)
    assert not model.unseen((base - 1) % WRAP, reference, read)
    assert model.unseen(7, reference, read)  # written after the wrap: 5 * 2^32 + 7


def test_a_watermark_the_counter_cannot_place_blocks_the_incremental_run():
    read = model.ReadSnapshot.parse("1000:1010:")
    assert model.incremental_blocker(read, 1010) is None
    assert model.incremental_blocker(read, 1000 + WRAP // 2 - 1) is None
    assert "2^31" in (model.incremental_blocker(read, 1000 + WRAP // 2) or "")
    assert "behind" in (model.incremental_blocker(read, 900) or "")


def test_unseen_sql_names_its_parameters():
    sql = model.unseen_sql("l.xmin", "s_")
    for name in ("s_age_new", "s_age_old", "s_seen_ages"):
        assert f"%({name})s" in sql
    assert "age(l.xmin)" in sql


def test_unseen_by_age_is_unseen():
    """SQL reads age(xmin) (the 32-bit distance back from the transaction's stable id) instead
    of placing xmin in 64 bits: the same answer for every normal id, across wraparound."""
    for base in (100, 5 * WRAP - 20):
        read = model.ReadSnapshot.parse(
            f"{base}:{base + 20}:{base + 3},{base + 10}", seen=[base + 1, base + 5]
        )
        reference, stable = base + 100, base + 104
        for full in range(base - 50, reference):
            xid = full % WRAP
            if xid < model.FIRST_NORMAL_XID:
                continue
            assert model.unseen_by_age(stable - full, stable, read) == model.unseen(
                xid, reference, read
            ), full
        special = 2**31 - 1  # age() of a bootstrap or frozen id
        assert not model.unseen_by_age(special, stable, read)


# -- lead content -------------------------------------------------------------------------------


def graph_side(row, **changes):
    """What GRAPH_LEAD_CONTENT returns for a lead the sync wrote from `row`."""
    values = [changes.get(k, row[k]) for k in model.LEAD_PROPERTIES]
    edges = [["BELONGS_TO", row["organization_id"], None, None, None, None]]
    if row["source_key"]:
        edges.append(["FROM_SOURCE", row["source_key"], None, None, None, None])
    if row["owner_id"]:
        since = row["since"].replace(tzinfo=None)  # ArcadeDB returns UTC without a zone
        edges.append(["ASSIGNED_TO", row["owner_id"], since, row["strategy"], None, None])
    for item in row["previous"]:
        edges.append(
            ["PREVIOUSLY_ASSIGNED_TO", item["user_id"], None, None, item["from"], item["to"]]
        )
    return values, list(reversed(edges))


def test_lead_content_equals_what_the_graph_returns_for_it():
    row = model.lead_row(record(strategy=None, previous_to=[None, None]))
    props, edges = graph_side(row)
    assert model.graph_lead_content(props, edges) == model.lead_content(row)
    # a lead with no outgoing edge but BELONGS_TO; OPTIONAL MATCH gives [null, null, null]
    bare = model.lead_row(
        record(
            source=None,
            owner_id=None,
            previous_user_ids=None,
            previous_from=None,
            previous_to=None,
        )
    )
    props, edges = graph_side(bare)
    assert model.graph_lead_content(props, edges + [[None] * 6]) == model.lead_content(bare)


def test_compare_contents_names_what_differs():
    row = model.lead_row(record())
    other = model.lead_row(record(id="l2", status="cold"))
    props, edges = graph_side(row)
    found = {
        "l1": model.graph_lead_content(graph_side(row, status="dnc")[0], edges[1:]),
        "gone": model.graph_lead_content([None] * 7, []),
    }
    expected = {"l1": model.lead_content(row), "l2": model.lead_content(other)}
    differing = model.compare_contents(expected, ["gone", "never"], found)
    assert differing == {
        "l1": ["status", "edges"],
        "l2": ["missing"],
        "gone": ["deleted in PostgreSQL"],
    }
    assert model.content_sample(differing, size=2) == [
        "gone: deleted in PostgreSQL",
        "l1: status, edges",
    ]


def test_edge_counts_keep_edges_to_their_label_and_belongs_to_its_organization():
    rows = [
        {"t": "ASSIGNED_TO", "labels": ["User"], "own": False, "n": 7},
        {"t": "ASSIGNED_TO", "labels": ["Lead"], "own": False, "n": 1},
        {"t": "BELONGS_TO", "labels": ["Organization"], "own": True, "n": 9},
        {"t": "BELONGS_TO", "labels": ["Organization"], "own": False, "n": 2},
        {"t": "FROM_SOURCE", "labels": ["Source"], "own": False, "n": 4},
        {"t": "KNOWS", "labels": ["Lead"], "own": False, "n": 3},
    ]
    assert model.edge_counts(rows) == {
        "BELONGS_TO": 9,
        "ASSIGNED_TO": 7,
        "PREVIOUSLY_ASSIGNED_TO": 0,
        "FROM_SOURCE": 4,
        "REFERRED_BY": 0,
    }
