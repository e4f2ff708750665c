"""Activity events: validation and mapping, the contact rule, sync positions (no servers)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from bson import ObjectId

from leadflow.activities.rules import (
    EPOCH,
    FAILED_ATTEMPTS,
    OUTCOMES,
    START,
    ActivityRow,
    InvalidEvent,
    InvalidReason,
    Position,
    extraction_filter,
    failed_attempt_keys,
    is_contact,
    later,
    parse_event,
    parse_iso_datetime,
    position_after,
)

ORG_US = "11111111-1111-4111-8111-111111111111"
ORG_GB = "22222222-2222-4222-8222-222222222222"
REGIONS = {ORG_US: "US", ORG_GB: "GB"}
WHEN = datetime(2026, 6, 1, 8, 14, 18, tzinfo=UTC)


def event(**fields) -> dict:
    doc = {
        "_id": ObjectId("6b060e5375fdfd42144f8352"),
        "event_id": "evt-000001",
        "organization_id": ORG_US,
        "type": "call",
        "direction": "outbound",
        "outcome": "answered",
        "occurred_at": WHEN,
        "user_id": "a1000000-0000-4000-8000-000000000003",
        "lead_id": "b1000000-0000-4000-8000-000000000001",
    }
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not ...}


def test_event_with_lead_id_maps_every_field():
    row = parse_event(event(duration_seconds=62, subject="Intro", body="Hi"), REGIONS)
    assert isinstance(row, ActivityRow)
    assert row.source_id == "6b060e5375fdfd42144f8352"
    assert row.event_id == "evt-000001"
    assert row.organization_id == ORG_US
    assert row.ref_lead_id == "b1000000-0000-4000-8000-000000000001"
    assert row.lead_ref == "b1000000-0000-4000-8000-000000000001"
    assert row.lead_phone is None
    assert (row.activity_type, row.direction, row.outcome) == ("call", "outbound", "answered")
    assert row.occurred_at == WHEN
    assert (row.duration_seconds, row.subject, row.body) == (62, "Intro", "Hi")
    assert row.fields_nulled == ()
    assert len(row.staging_tuple()) == 14


def test_messy_phone_normalizes_in_the_organizations_region_and_keeps_the_raw_ref():
    row = parse_event(
        event(organization_id=ORG_GB, lead_id=..., lead_phone="07739 952115"), REGIONS
    )
    assert isinstance(row, ActivityRow)
    assert row.lead_phone == "+447739952115"
    assert row.lead_ref == "07739 952115"
    assert row.ref_lead_id is None

    us = parse_event(event(lead_id=..., lead_phone="(212) 456-7890 x12"), REGIONS)
    assert us.lead_phone == "+12124567890"


def test_unparsable_phone_is_kept_unmatched_not_invalid():
    row = parse_event(event(lead_id=..., lead_phone="call me maybe"), REGIONS)
    assert isinstance(row, ActivityRow)
    assert row.lead_phone is None
    assert row.lead_ref == "call me maybe"


def test_lead_id_that_is_not_a_uuid_is_kept_as_reference():
    row = parse_event(event(lead_id="crm-42"), REGIONS)
    assert isinstance(row, ActivityRow)
    assert row.ref_lead_id is None
    assert row.lead_ref == "crm-42"


def test_uuid_objects_are_accepted():
    lead = uuid.UUID("b1000000-0000-4000-8000-000000000002")
    row = parse_event(event(lead_id=lead, organization_id=uuid.UUID(ORG_US)), REGIONS)
    assert row.ref_lead_id == str(lead)
    assert row.organization_id == ORG_US


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            {"organization_id": "99999999-9999-4999-8999-999999999999"},
            InvalidReason.UNKNOWN_ORGANIZATION,
        ),
        ({"organization_id": "summit"}, InvalidReason.UNKNOWN_ORGANIZATION),
        ({"organization_id": ...}, InvalidReason.UNKNOWN_ORGANIZATION),
        ({"type": "fax"}, InvalidReason.UNKNOWN_TYPE),
        ({"type": None}, InvalidReason.UNKNOWN_TYPE),
        ({"occurred_at": "2026-06-01T08:14:18Z"}, InvalidReason.BAD_OCCURRED_AT),
        ({"occurred_at": ...}, InvalidReason.BAD_OCCURRED_AT),
        ({"lead_id": ...}, InvalidReason.NO_LEAD_REFERENCE),
        ({"lead_id": "  ", "lead_phone": ""}, InvalidReason.NO_LEAD_REFERENCE),
    ],
)
def test_invalid_events_say_why(fields, reason):
    result = parse_event(event(**fields), REGIONS)
    assert isinstance(result, InvalidEvent)
    assert result.reason == reason
    assert result.event_id == "evt-000001"
    assert result.detail


def test_keywords_are_case_insensitive():
    row = parse_event(event(type=" Email", direction="INBOUND", outcome="Opened"), REGIONS)
    assert (row.activity_type, row.direction, row.outcome) == ("email", "inbound", "opened")


def test_attribute_defects_are_nulled_and_reported_not_fatal():
    row = parse_event(
        event(direction="sideways", outcome="opened", duration_seconds=-5, user_id="bob"),
        REGIONS,
    )
    assert isinstance(row, ActivityRow)
    assert row.direction is None
    assert row.outcome is None  # "opened" is an e-mail outcome, not a call's
    assert row.duration_seconds is None
    assert row.user_id is None
    assert set(row.fields_nulled) == {"direction", "outcome", "duration_seconds", "user_id"}


def test_note_has_no_outcome_and_float_durations_are_whole_seconds():
    note = parse_event(event(type="note", direction=None, outcome=None), REGIONS)
    assert (note.direction, note.outcome, note.fields_nulled) == (None, None, ())
    call = parse_event(event(duration_seconds=30.0), REGIONS)
    assert call.duration_seconds == 30
    assert parse_event(event(duration_seconds=30.5), REGIONS).duration_seconds is None


def test_times_become_utc_and_nul_characters_are_dropped():
    naive = parse_event(event(occurred_at=datetime(2026, 6, 1, 8, 0)), REGIONS)
    assert naive.occurred_at == datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    plus2 = datetime(2026, 6, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    assert parse_event(event(occurred_at=plus2), REGIONS).occurred_at.utcoffset() == timedelta(0)
    assert parse_event(event(body="a\x00b"), REGIONS).body == "ab"


@pytest.mark.parametrize(
    ("kind", "direction", "outcome", "contact"),
    [
        ("call", "outbound", "answered", True),
        ("call", "outbound", "voicemail", True),
        ("call", "outbound", "no_answer", False),
        ("call", "outbound", "busy", False),
        ("call", "inbound", "no_answer", True),  # the lead called us
        ("sms", "outbound", "delivered", True),
        ("sms", "outbound", "failed", False),
        ("email", "outbound", "sent", True),
        ("email", "outbound", "bounced", False),
        ("email", "inbound", "bounced", True),
        ("meeting", "outbound", "scheduled", True),
        ("meeting", "outbound", "no_show", False),
        ("meeting", None, "completed", True),
        ("call", None, None, True),  # unknown outcome: nothing says it failed
        ("note", None, None, False),
        ("note", "inbound", None, False),
    ],
)
def test_contact_rule(kind, direction, outcome, contact):
    assert is_contact(kind, direction, outcome) is contact


def test_failed_attempts_are_documented_outcomes():
    for kind, outcome in FAILED_ATTEMPTS:
        assert outcome in OUTCOMES[kind]
    assert "call:no_answer" in failed_attempt_keys()


def test_extraction_filter_first_run_and_after_a_position():
    as_of = datetime(2026, 12, 1, tzinfo=UTC)
    assert extraction_filter(START, as_of) == {"occurred_at": {"$gte": EPOCH, "$lte": as_of}}
    oid = ObjectId("6b060e5375fdfd42144f8352")
    assert extraction_filter(Position(WHEN, oid), as_of) == {
        "$or": [
            {"occurred_at": {"$gt": WHEN, "$lte": as_of}},
            {"occurred_at": WHEN, "_id": {"$gt": oid}},
        ]
    }


def test_position_after_a_batch_is_its_last_datetime_document():
    a, b = ObjectId("6b060e5375fdfd42144f8352"), ObjectId("6b060e5375fdfd42144f8353")
    docs = [{"_id": a, "occurred_at": WHEN}, {"_id": b, "occurred_at": WHEN}]
    assert position_after(docs) == Position(WHEN, b)
    assert position_after([{"_id": a, "occurred_at": "yesterday"}]) is None
    assert position_after([]) is None


def test_later_orders_by_time_then_id():
    a = Position(WHEN, ObjectId("6b060e5375fdfd42144f8352"))
    b = Position(WHEN, ObjectId("6b060e5375fdfd42144f8353"))
    c = Position(WHEN + timedelta(seconds=1), ObjectId("000000000000000000000000"))
    assert later(a, b) == b and later(b, a) == b
    assert later(b, c) == c
    assert later(None, a) == a and later(a, None) == a


def test_parse_iso_datetime():
    assert parse_iso_datetime("2026-06-01T08:14:18Z") == WHEN
    assert parse_iso_datetime("2026-06-01T10:14:18+02:00") == WHEN
    assert parse_iso_datetime(None) is None
    with pytest.raises(ValueError):
        parse_iso_datetime("June 1st")


def test_object_ids_order_like_their_text():
    """The watermark's never-backwards rule compares stored source ids as text (collate "C")."""
    ids = sorted(ObjectId() for _ in range(50))
    assert [str(i) for i in ids] == sorted(str(i) for i in ids)
