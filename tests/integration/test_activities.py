"""Activity sync against the real servers: MongoDB-wire `activities` -> `lead_activities`.

Each test gets a fresh CRM database (crm_url) and its own Mongo database, dropped afterwards.
"""

from __future__ import annotations

import functools
import itertools
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql
from pymongo import MongoClient
from pymongo.database import Database

from leadflow.activities.assets import lead_activities
from leadflow.activities.rules import (
    ACTIVITY_TYPES,
    OUTCOMES,
    WATERMARK_NAME,
    is_contact,
)
from leadflow.activities.sql import SyncError, contact_predicate, sync_activities
from leadflow.cli.activities import activities
from leadflow.dagster_vocab import FULL_REFRESH_TAG
from leadflow.platform.seed import load_sample_events, sample_activities_path, seed_mongo_activities
from leadflow.resources import MongoResource, PostgresResource
from leadflow.settings import seeds_dir
from tests.integration.conftest import ORG1, ORG1_AGENT, ORG2, ORG2_AGENT, ORG3, one

pytestmark = pytest.mark.integration

AS_OF = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
ORG1_LEAD = "b1000000-0000-4000-8000-000000000001"
ORG1_LEAD_2 = "b1000000-0000-4000-8000-000000000002"
ORG2_LEAD = "b2000000-0000-4000-8000-000000000001"
_ids = itertools.count(1)


@pytest.fixture
def mongo_db(mongo_url: str) -> Iterator[Database]:
    client = MongoClient(mongo_url, tz_aware=True, serverSelectionTimeoutMS=10000)
    name = f"lf_test_act_{uuid.uuid4().hex[:8]}"
    try:
        yield client[name]
    finally:
        client.drop_database(name)
        client.close()


def make_event(when: datetime, **fields) -> dict:
    """A valid outbound answered call by ORG1's agent to ORG1's lead 01, unless overridden."""
    doc = {
        "event_id": f"evt-test-{next(_ids):06d}",
        "organization_id": ORG1,
        "type": "call",
        "direction": "outbound",
        "outcome": "answered",
        "occurred_at": when,
        "user_id": ORG1_AGENT,
        "lead_id": ORG1_LEAD,
        "duration_seconds": 60,
    }
    doc.update(fields)
    return {key: value for key, value in doc.items() if value is not ...}


def sync(db: Database, url: str, **options):
    options.setdefault("as_of", AS_OF)
    return sync_activities(db, functools.partial(psycopg.connect, url), **options)


def lead_phone(url: str, lead_id: str) -> str:
    with psycopg.connect(url) as conn:
        return one(conn, "select phone_number from leads where id = %s", (lead_id,))[0]


def activity_rows(url: str) -> dict[str, tuple]:
    """event_id -> (lead_id, lead_phone, lead_ref, matched_at is set)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select event_id, lead_id::text, lead_phone, lead_ref, matched_at is not null"
            " from lead_activities"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def watermark(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return one(
            conn,
            "select last_occurred_at, last_source_id from sync_watermarks where name = %s",
            (WATERMARK_NAME,),
        )


# -- the sample data, end to end ----------------------------------------------------------------
def test_sample_events_load_once_and_match_the_imported_leads(crm_url, mongo_db, do_import):
    sample = seeds_dir() / "sample"
    do_import(sample / "leads_summit_facebook.csv", org=ORG1)
    do_import(sample / "leads_northwind_mixed.csv", org=ORG2)
    do_import(sample / "leads_multi_org.csv")
    do_import(sample / "leads_southern_cross.xlsx", org=ORG3)
    expected = json.loads((sample / "manifest.json").read_text())["activities"]

    assert seed_mongo_activities(mongo_db) == expected["events"]
    assert seed_mongo_activities(mongo_db) == 0  # idempotent
    assert mongo_db.activities.count_documents({}) == expected["events"]

    first = sync(mongo_db, crm_url)
    assert first.read == first.loaded == expected["events"]
    assert first.invalid == first.duplicates_skipped == 0
    # 6 "known phone" events use the phone of a sample row the import quarantined
    # (formula_in_cell): no lead has it, so they stay unmatched, as they should
    quarantined_phone_events = 6
    matched = (
        expected["seed_lead_id"]
        + expected["known_phone_e164"]
        + expected["known_phone_messy"]
        - quarantined_phone_events
    )
    assert first.matched == matched
    assert first.unmatched == (
        expected["unknown_phone"] + expected["other_org_phone"] + quarantined_phone_events
    )
    assert first.last_contact_updates > 0

    again = sync(mongo_db, crm_url)
    assert (again.read, again.loaded, again.matched, again.rematched) == (0, 0, 0, 0)
    assert again.watermark == first.watermark

    with psycopg.connect(crm_url) as conn:
        assert one(conn, "select count(*), count(distinct source_id) from lead_activities") == (
            expected["events"],
            expected["events"],
        )
        # a matched lead always belongs to the event's organization
        assert one(
            conn,
            "select count(*) from lead_activities a join leads l on l.id = a.lead_id"
            " where l.organization_id <> a.organization_id",
        ) == (0,)
        # no lead's last contact is older than its newest matched contact activity
        # and no unmatched row has a lead it should have matched
        missed = one(
            conn,
            "select count(*) from lead_activities a where a.lead_id is null and exists ("
            "  select 1 from leads l where l.organization_id = a.organization_id"
            "  and (l.deleted_at is null and l.phone_number = a.lead_phone"
            "       or l.id::text = a.lead_ref))",
        )
        assert missed == (0,)
        stale = one(
            conn,
            "select count(*) from leads l join ("
            "  select lead_id, max(occurred_at) as newest from lead_activities"
            f"  where lead_id is not null and {contact_predicate().as_string(conn)}"
            "  group by lead_id) c on c.lead_id = l.id"
            " where l.last_contact_date is null or l.last_contact_date < c.newest",
        )
        assert stale == (0,)
        last = one(conn, "select max(occurred_at) from lead_activities")[0]
    assert watermark(crm_url)[0] == last


# -- incremental extraction -----------------------------------------------------------------------
def test_new_events_only_are_picked_up(crm_url, mongo_db):
    mongo_db.activities.insert_many([make_event(T0 + timedelta(minutes=i)) for i in range(3)])
    assert sync(mongo_db, crm_url).loaded == 3

    newer = [make_event(T0 + timedelta(hours=1, minutes=i)) for i in range(2)]
    mongo_db.activities.insert_many(newer)
    result = sync(mongo_db, crm_url)
    assert (result.read, result.loaded, result.duplicates_skipped) == (2, 2, 0)
    assert set(activity_rows(crm_url)) >= {e["event_id"] for e in newer}
    assert watermark(crm_url) == (newer[-1]["occurred_at"], str(newer[-1]["_id"]))


def test_events_after_as_of_wait_for_a_later_run(crm_url, mongo_db):
    mongo_db.activities.insert_many(
        [make_event(AS_OF - timedelta(minutes=1)), make_event(AS_OF + timedelta(days=30))]
    )
    now = sync(mongo_db, crm_url)
    assert now.loaded == 1
    later = sync(mongo_db, crm_url, as_of=AS_OF + timedelta(days=31))
    assert later.loaded == 1


def test_restart_with_new_clients_continues_from_the_watermark(crm_url, mongo_db, mongo_url):
    events = [make_event(T0 + timedelta(minutes=i)) for i in range(6)]
    mongo_db.activities.insert_many(events)

    # a run that dies after its first batch committed (the second transaction never opens)
    opened = []

    def dies_on_second_batch():
        opened.append(1)
        if len(opened) > 2:  # 1: re-match + watermark read, 2: first batch
            raise ConnectionError("simulated crash")
        return psycopg.connect(crm_url)

    with pytest.raises(ConnectionError):
        sync_activities(mongo_db, dies_on_second_batch, as_of=AS_OF, batch_size=4)
    assert len(activity_rows(crm_url)) == 4
    assert watermark(crm_url) == (events[3]["occurred_at"], str(events[3]["_id"]))

    # a new process: new Mongo client, new PostgreSQL connections
    fresh = MongoClient(mongo_url, tz_aware=True)
    try:
        result = sync(fresh[mongo_db.name], crm_url, batch_size=4)
    finally:
        fresh.close()
    assert (result.read, result.loaded, result.duplicates_skipped) == (2, 2, 0)
    assert sorted(activity_rows(crm_url)) == sorted(e["event_id"] for e in events)


def test_crash_between_load_and_watermark_reloads_nothing(crm_url, mongo_db):
    """A batch re-read (e.g. the watermark was lost) is skipped as duplicates."""
    mongo_db.activities.insert_many([make_event(T0 + timedelta(minutes=i)) for i in range(3)])
    assert sync(mongo_db, crm_url).loaded == 3
    with psycopg.connect(crm_url) as conn:
        conn.execute("delete from sync_watermarks")
    again = sync(mongo_db, crm_url)
    assert (again.read, again.loaded, again.duplicates_skipped) == (3, 0, 3)
    full = sync(mongo_db, crm_url, full_resync=True)
    assert (full.read, full.loaded, full.duplicates_skipped) == (3, 0, 3)


def test_equal_occurred_at_across_batch_boundaries_is_neither_lost_nor_duplicated(
    crm_url, mongo_db
):
    same = T0 + timedelta(hours=2)
    events = (
        [make_event(T0)]
        + [make_event(same) for _ in range(5)]
        + [make_event(T0 + timedelta(hours=3))]
    )
    mongo_db.activities.insert_many(events)
    result = sync(mongo_db, crm_url, batch_size=2)
    assert (result.read, result.loaded, result.duplicates_skipped) == (7, 7, 0)
    assert result.batches == 4
    assert sorted(activity_rows(crm_url)) == sorted(e["event_id"] for e in events)

    # one more at the very same instant, inserted later (larger _id): still picked up
    late = make_event(T0 + timedelta(hours=3))
    mongo_db.activities.insert_one(late)
    assert sync(mongo_db, crm_url, batch_size=2).loaded == 1
    assert late["event_id"] in activity_rows(crm_url)


# -- matching -------------------------------------------------------------------------------------
def test_matching_by_id_by_messy_phone_and_never_across_organizations(crm_url, mongo_db):
    org1_phone = lead_phone(crm_url, ORG1_LEAD_2)  # +1NXXNXXXXXX
    messy = f"({org1_phone[2:5]}) {org1_phone[5:8]}-{org1_phone[8:]}"
    by_id = make_event(T0)
    foreign_id = make_event(T0, lead_id=ORG2_LEAD)  # a lead, but of another organization
    by_phone = make_event(T0, lead_id=..., lead_phone=messy)
    cross_org = make_event(
        T0, organization_id=ORG2, user_id=ORG2_AGENT, lead_id=..., lead_phone=org1_phone
    )
    mongo_db.activities.insert_many([by_id, foreign_id, by_phone, cross_org])

    result = sync(mongo_db, crm_url)
    assert (result.loaded, result.matched, result.unmatched) == (4, 2, 2)
    rows = activity_rows(crm_url)
    assert rows[by_id["event_id"]] == (ORG1_LEAD, None, ORG1_LEAD, True)
    assert rows[foreign_id["event_id"]] == (None, None, ORG2_LEAD, False)
    assert rows[by_phone["event_id"]] == (ORG1_LEAD_2, org1_phone, messy, True)
    assert rows[cross_org["event_id"]] == (None, org1_phone, org1_phone, False)


def test_unmatched_event_is_rematched_after_the_lead_is_imported(
    crm_url, mongo_db, write_csv, do_import
):
    event = make_event(T0, lead_id=..., lead_phone="212-456-7801", type="sms", outcome="replied")
    mongo_db.activities.insert_one(event)
    first = sync(mongo_db, crm_url)
    assert (first.loaded, first.unmatched) == (1, 1)
    assert activity_rows(crm_url)[event["event_id"]] == (
        None,
        "+12124567801",
        "212-456-7801",
        False,
    )

    do_import(
        write_csv("new.csv", ["Name", "Phone"], [["Ada Lovelace", "+1 212 456 7801"]]),
        org=ORG1,
    )
    second = sync(mongo_db, crm_url)
    assert (second.read, second.loaded, second.rematched) == (0, 0, 1)
    with psycopg.connect(crm_url) as conn:
        lead_id, last_contact = one(
            conn,
            "select id::text, last_contact_date from leads"
            " where phone_number = '+12124567801' and organization_id = %s",
            (ORG1,),
        )
    assert activity_rows(crm_url)[event["event_id"]][0] == lead_id
    assert last_contact == T0
    assert sync(mongo_db, crm_url).rematched == 0


def test_user_of_another_organization_is_not_linked(crm_url, mongo_db):
    mongo_db.activities.insert_one(make_event(T0, user_id=ORG2_AGENT))
    result = sync(mongo_db, crm_url)
    assert (result.loaded, result.unknown_users) == (1, 1)
    with psycopg.connect(crm_url) as conn:
        assert one(conn, "select user_id from lead_activities") == (None,)


# -- last_contact_date ----------------------------------------------------------------------------
def last_contact(url: str, lead_id: str = ORG1_LEAD) -> datetime | None:
    with psycopg.connect(url) as conn:
        return one(conn, "select last_contact_date from leads where id = %s", (lead_id,))[0]


def test_last_contact_date_follows_the_newest_contact(crm_url, mongo_db):
    seeded = last_contact(crm_url)
    base = max(seeded or T0, T0)
    mongo_db.activities.insert_one(make_event(base))
    sync(mongo_db, crm_url)
    assert last_contact(crm_url) == base

    mongo_db.activities.insert_one(make_event(base - timedelta(days=30)))
    sync(mongo_db, crm_url, full_resync=True)  # an older contact arriving late
    assert last_contact(crm_url) == base  # never moves backwards

    not_contacts = [
        make_event(base + timedelta(days=1), type="note", direction=None, outcome=None),
        make_event(base + timedelta(days=2), outcome="no_answer"),
        make_event(base + timedelta(days=3), type="email", outcome="bounced"),
    ]
    mongo_db.activities.insert_many(not_contacts)
    result = sync(mongo_db, crm_url)
    assert result.loaded == 3 and result.last_contact_updates == 0
    assert last_contact(crm_url) == base

    inbound_missed = make_event(base + timedelta(days=4), direction="inbound", outcome="no_answer")
    mongo_db.activities.insert_one(inbound_missed)
    assert sync(mongo_db, crm_url).last_contact_updates == 1
    assert last_contact(crm_url) == inbound_missed["occurred_at"]

    # in one batch, the newest contact wins, whatever the order of arrival
    newest = make_event(base + timedelta(days=6), type="meeting", outcome="completed")
    mongo_db.activities.insert_many([newest, make_event(base + timedelta(days=5))])
    sync(mongo_db, crm_url)
    assert last_contact(crm_url) == newest["occurred_at"]


def test_sql_contact_rule_is_the_python_rule(crm_url):
    combos = [
        (kind, direction, outcome)
        for kind in ACTIVITY_TYPES
        for direction in ("inbound", "outbound", None)
        for outcome in [*sorted(OUTCOMES[kind]), None]
    ]
    values = ", ".join(["(%s::text, %s::text, %s::text)"] * len(combos))
    with psycopg.connect(crm_url) as conn:
        query = (
            f"select activity_type, direction, outcome, coalesce({contact_predicate().as_string(conn)}, false)"
            f" from (values {values}) as v (activity_type, direction, outcome)"
        )
        rows = conn.execute(query, [value for combo in combos for value in combo]).fetchall()
    assert len(rows) == len(combos)
    for kind, direction, outcome, contact in rows:
        assert contact is is_contact(kind, direction, outcome), (kind, direction, outcome)


# -- invalid events -------------------------------------------------------------------------------
def test_invalid_events_are_counted_reported_and_not_loaded(crm_url, mongo_db):
    bad = [
        make_event(T0, organization_id="99999999-9999-4999-8999-999999999999"),
        make_event(T0, organization_id="not-an-org"),
        make_event(T0, type="fax"),
        make_event(T0, lead_id=...),
    ]
    good = make_event(T0 + timedelta(minutes=1), body="ok\x00")
    mongo_db.activities.insert_many([*bad, good])
    result = sync(mongo_db, crm_url)
    assert (result.read, result.loaded, result.invalid) == (5, 1, 4)
    assert dict(result.invalid_reasons) == {
        "unknown_organization": 2,
        "unknown_type": 1,
        "no_lead_reference": 1,
    }
    assert {s["event_id"] for s in result.invalid_sample} == {e["event_id"] for e in bad}
    assert set(activity_rows(crm_url)) == {good["event_id"]}
    assert watermark(crm_url)[1] == str(good["_id"])
    assert sync(mongo_db, crm_url).invalid == 0  # behind the watermark now


# -- the asset and the CLI ------------------------------------------------------------------------
def test_asset_materializes_with_counts(crm_url, mongo_db, mongo_url):
    events = [make_event(T0 + timedelta(minutes=i)) for i in range(3)]
    events.append(make_event(T0, lead_id=..., lead_phone="+12125550199"))  # no such lead
    mongo_db.activities.insert_many(events)
    resources = {
        "postgres": PostgresResource(url=crm_url),
        "mongo": MongoResource(url=mongo_url, database=mongo_db.name),
    }
    run_config = {"ops": {"lead_activities": {"config": {"as_of": AS_OF.isoformat()}}}}

    result = dg.materialize([lead_activities], resources=resources, run_config=run_config)
    assert result.success
    metadata = result.asset_materializations_for_node("lead_activities")[0].metadata
    counts = {
        key: metadata[key].value
        for key in (
            "read",
            "loaded",
            "duplicates_skipped",
            "matched",
            "unmatched",
            "rematched",
            "invalid",
        )
    }
    assert counts == {
        "read": 4,
        "loaded": 4,
        "duplicates_skipped": 0,
        "matched": 3,
        "unmatched": 1,
        "rematched": 0,
        "invalid": 0,
    }
    assert metadata["watermark"].value["last_source_id"] == str(events[2]["_id"])

    assert (metadata["mode"].value, metadata["full_reason"].value) == ("full", "first run")

    again = dg.materialize([lead_activities], resources=resources, run_config=run_config)
    again_metadata = again.asset_materializations_for_node("lead_activities")[0].metadata
    assert (again_metadata["mode"].value, again_metadata["read"].value) == ("incremental", 0)
    assert again_metadata["loaded"].value == 0

    # --full-refresh reads every event again and loads none twice
    full = dg.materialize(
        [lead_activities],
        resources=resources,
        run_config=run_config,
        tags={FULL_REFRESH_TAG: "true"},
    )
    full_metadata = full.asset_materializations_for_node("lead_activities")[0].metadata
    assert full_metadata["mode"].value == "full"
    assert full_metadata["full_reason"].value == "requested (--full-refresh)"
    assert (full_metadata["read"].value, full_metadata["loaded"].value) == (4, 0)


def test_cli_seed_and_sync(crm_url, mongo_db, mongo_url):
    env = {"POSTGRES_URL": crm_url, "MONGO_URL": mongo_url, "MONGO_DATABASE": mongo_db.name}
    runner = CliRunner()
    seeded = runner.invoke(activities, ["seed"], env=env)
    assert seeded.exit_code == 0, seeded.output
    total = len(load_sample_events(sample_activities_path()))
    assert f"{total} event(s) inserted" in seeded.output

    synced = runner.invoke(activities, ["sync", "--json", "--as-of", AS_OF.isoformat()], env=env)
    assert synced.exit_code == 0, synced.output
    data = json.loads(synced.output)
    assert data["loaded"] == total and data["invalid"] == 0

    bad = runner.invoke(activities, ["sync", "--as-of", "yesterday"], env=env)
    assert bad.exit_code == 2 and "ISO" in bad.output


def test_sync_rejects_a_zero_batch(crm_url, mongo_db):
    with pytest.raises(ValueError, match="batch_size"):
        sync(mongo_db, crm_url, batch_size=0)


def test_tenants_see_and_write_only_their_own_activities(crm_url, mongo_db):
    mongo_db.activities.insert_many(
        [
            make_event(T0),
            make_event(T0, organization_id=ORG2, user_id=ORG2_AGENT, lead_id=ORG2_LEAD),
        ]
    )
    assert sync(mongo_db, crm_url).loaded == 2
    role = f"lf_app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(crm_url) as conn:  # rolled back at the end, role included
        conn.execute(sql.SQL("create role {}").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("grant select, insert on lead_activities to {}").format(sql.Identifier(role))
        )
        conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
        assert one(conn, "select count(*) from lead_activities") == (0,)  # no tenant set
        conn.execute("select set_config('app.current_tenant_id', %s, true)", (ORG1,))
        assert conn.execute("select organization_id::text from lead_activities").fetchall() == [
            (ORG1,)
        ]
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "insert into lead_activities (source_id, organization_id, activity_type,"
                " occurred_at) values ('x', %s, 'note', now())",
                (ORG2,),
            )
        conn.rollback()


def test_sync_says_to_migrate_when_the_table_is_missing(make_database, mongo_db):
    url = make_database("nomig")
    with pytest.raises(SyncError, match="leadflow db migrate"):
        sync(mongo_db, url)
