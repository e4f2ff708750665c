"""Activity events from MongoDB: validation, mapping to `lead_activities` rows, sync positions.

Pure: no database, no Mongo client. `parse_event` turns one Mongo document into an
`ActivityRow` (what the loader stages) or an `InvalidEvent` (counted and reported, not loaded);
`extraction_filter` builds the `find` filter that resumes after a watermark position.

What is invalid, and why only that: an event is dropped only when it cannot be stored
meaningfully: no known-shaped organization, an unknown type, no datetime `occurred_at` (it could
never be placed in time nor in the sync order), or no lead reference at all. Attribute defects
(an unknown direction or outcome, a negative or non-integer duration, a malformed user id) do not
discard a real call: the attribute is stored as null and the event counted in `fields_nulled`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leadflow.leads.ids import canonical_uuid
from leadflow.leads.phones import normalize_phone

#: the sync's row in sync_watermarks
WATERMARK_NAME = "mongo.activities"
DEFAULT_BATCH_SIZE = 5000
#: start of the extraction when there is no watermark: every datetime after it, nothing else
#: (a lower bound keeps documents with a null or missing occurred_at out of the query)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

ACTIVITY_TYPES: tuple[str, ...] = ("call", "sms", "email", "meeting", "note")
DIRECTIONS: frozenset[str] = frozenset({"inbound", "outbound"})
#: documented outcomes per type; anything else is stored as null
OUTCOMES: dict[str, frozenset[str]] = {
    "call": frozenset({"answered", "no_answer", "voicemail", "busy"}),
    "sms": frozenset({"delivered", "replied", "failed"}),
    "email": frozenset({"sent", "opened", "replied", "bounced"}),
    "meeting": frozenset({"scheduled", "completed", "no_show"}),
    "note": frozenset(),
}

# -- what counts as a contact (leads.last_contact_date) ----------------------------------------
#: channels that talk to the lead; a note is written about a lead, not to it
CONTACT_TYPES: frozenset[str] = frozenset({"call", "sms", "email", "meeting"})
#: outbound attempts that did not reach the lead
FAILED_ATTEMPTS: frozenset[tuple[str, str]] = frozenset(
    {
        ("call", "no_answer"),
        ("call", "busy"),
        ("sms", "failed"),
        ("email", "bounced"),
        ("meeting", "no_show"),
    }
)


def is_contact(activity_type: str, direction: str | None, outcome: str | None) -> bool:
    """Whether an activity sets `leads.last_contact_date` ("last time the lead was reached").

    A call, SMS, e-mail or meeting is a contact. Inbound ones always count: the lead reached
    out, whatever happened next. Outbound ones count unless the attempt demonstrably failed
    (no answer, busy, failed, bounced, no-show); a voicemail, a sent e-mail or a scheduled
    meeting did reach the lead. An unknown outcome counts (nothing says it failed). Notes never
    count. The SQL loader applies exactly this rule from these constants.
    """
    if activity_type not in CONTACT_TYPES:
        return False
    if direction == "inbound":
        return True
    return (activity_type, outcome or "") not in FAILED_ATTEMPTS


def failed_attempt_keys() -> list[str]:
    """FAILED_ATTEMPTS as 'type:outcome' strings, the form the SQL rule compares against."""
    return sorted(f"{kind}:{outcome}" for kind, outcome in FAILED_ATTEMPTS)


# -- rows ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ActivityRow:
    """One event as staged for `lead_activities` (uuids as canonical strings)."""

    source_id: str
    event_id: str | None
    organization_id: str
    ref_lead_id: str | None  # the event's lead_id when it is a UUID (matched in SQL)
    lead_phone: str | None  # E.164 when the event's phone normalizes
    lead_ref: str | None
    user_id: str | None
    activity_type: str
    direction: str | None
    outcome: str | None
    occurred_at: datetime
    duration_seconds: int | None
    subject: str | None
    body: str | None
    fields_nulled: tuple[str, ...] = ()

    def staging_tuple(self) -> tuple:
        return (
            self.source_id,
            self.event_id,
            self.organization_id,
            self.ref_lead_id,
            self.lead_phone,
            self.lead_ref,
            self.user_id,
            self.activity_type,
            self.direction,
            self.outcome,
            self.occurred_at,
            self.duration_seconds,
            self.subject,
            self.body,
        )


STAGING_COLUMNS: tuple[str, ...] = (
    "source_id",
    "event_id",
    "organization_id",
    "ref_lead_id",
    "lead_phone",
    "lead_ref",
    "user_id",
    "activity_type",
    "direction",
    "outcome",
    "occurred_at",
    "duration_seconds",
    "subject",
    "body",
)


class InvalidReason:
    UNKNOWN_ORGANIZATION = "unknown_organization"
    UNKNOWN_TYPE = "unknown_type"
    BAD_OCCURRED_AT = "bad_occurred_at"
    NO_LEAD_REFERENCE = "no_lead_reference"


@dataclass(frozen=True, slots=True)
class InvalidEvent:
    """An event that is counted and reported, not loaded (it stays in MongoDB)."""

    source_id: str
    event_id: str | None
    reason: str
    detail: str


# -- parsing ------------------------------------------------------------------------------------
def _text(value: Any) -> str | None:
    """Text for a PostgreSQL text column: None when blank; NUL removed (PostgreSQL refuses it,
    and one such character would otherwise fail its whole batch on every run)."""
    if value is None:
        return None
    text = (value if isinstance(value, str) else str(value)).replace("\x00", "")
    return text if text.strip() else None


def _keyword(value: Any) -> str | None:
    """'Outbound ' -> 'outbound'; None for empty or non-text."""
    if not isinstance(value, str):
        return None
    return value.strip().lower() or None


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; naive values are taken as UTC (BSON datetimes are UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _duration(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value <= 2_147_483_647:
        return value
    return None


def phone_to_e164(raw: str, region: str) -> str | None:
    """E.164 form of a phone as an event gave it (messy formats welcome), None if invalid."""
    return normalize_phone(raw, region).e164


def parse_event(
    doc: Mapping[str, Any], regions: Mapping[str, str], default_region: str = "US"
) -> ActivityRow | InvalidEvent:
    """Validate and map one Mongo document.

    `regions` maps each known organization (canonical uuid string) to its phone region; an
    organization missing from it is unknown. Whether a lead id exists is left to SQL.
    """
    source_id = str(doc.get("_id"))
    event_id = _text(doc.get("event_id"))

    def invalid(reason: str, detail: str) -> InvalidEvent:
        return InvalidEvent(source_id, event_id, reason, detail)

    organization_id = canonical_uuid(doc.get("organization_id"))
    if organization_id is None or organization_id not in regions:
        return invalid(
            InvalidReason.UNKNOWN_ORGANIZATION,
            f"organization_id {doc.get('organization_id')!r} is not a known organization",
        )
    activity_type = _keyword(doc.get("type"))
    if activity_type not in OUTCOMES:
        known = ", ".join(ACTIVITY_TYPES)
        return invalid(
            InvalidReason.UNKNOWN_TYPE, f"type {doc.get('type')!r} is not one of {known}"
        )
    occurred_at = doc.get("occurred_at")
    if not isinstance(occurred_at, datetime):
        return invalid(
            InvalidReason.BAD_OCCURRED_AT, f"occurred_at {occurred_at!r} is not a BSON datetime"
        )

    raw_lead_id = doc.get("lead_id")
    raw_phone = doc.get("lead_phone")
    lead_id_text = _text(str(raw_lead_id) if raw_lead_id is not None else None)
    phone_text = _text(raw_phone)
    if lead_id_text is None and phone_text is None:
        return invalid(InvalidReason.NO_LEAD_REFERENCE, "neither lead_id nor lead_phone is set")
    ref_lead_id = canonical_uuid(raw_lead_id)
    if ref_lead_id is not None:
        lead_id_text = ref_lead_id
    region = regions.get(organization_id) or default_region
    lead_phone = phone_to_e164(phone_text, region) if phone_text else None

    nulled: list[str] = []
    direction = _keyword(doc.get("direction"))
    if direction is not None and direction not in DIRECTIONS:
        nulled.append("direction")
        direction = None
    outcome = _keyword(doc.get("outcome"))
    if outcome is not None and outcome not in OUTCOMES[activity_type]:
        nulled.append("outcome")
        outcome = None
    raw_duration = doc.get("duration_seconds")
    duration = _duration(raw_duration)
    if raw_duration is not None and duration is None:
        nulled.append("duration_seconds")
    raw_user = doc.get("user_id")
    user_id = canonical_uuid(raw_user)
    if raw_user is not None and user_id is None:
        nulled.append("user_id")

    return ActivityRow(
        source_id=source_id,
        event_id=event_id,
        organization_id=organization_id,
        ref_lead_id=ref_lead_id,
        lead_phone=lead_phone,
        lead_ref=lead_id_text if lead_id_text is not None else phone_text,
        user_id=user_id,
        activity_type=activity_type,
        direction=direction,
        outcome=outcome,
        occurred_at=as_utc(occurred_at),
        duration_seconds=duration,
        subject=_text(doc.get("subject")),
        body=_text(doc.get("body")),
        fields_nulled=tuple(nulled),
    )


# -- sync positions -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Position:
    """A place in the source's (occurred_at, _id) order: everything up to it has been loaded.

    `last_id` is the Mongo _id (an ObjectId, or whatever type the collection uses), None when
    only the time is known (the start of a full read): then every event at or after
    `occurred_at` is still to come.
    """

    occurred_at: datetime
    last_id: Any = None

    def key(self) -> tuple[datetime, str]:
        return (self.occurred_at, "" if self.last_id is None else str(self.last_id))


START = Position(EPOCH)


def extraction_filter(position: Position, as_of: datetime) -> dict[str, Any]:
    """The `find` filter for events after `position` and not after `as_of`.

    Keyset pagination on (occurred_at, _id): strictly later times, or the same time with a
    larger _id; sorted on the same pair this never loses or repeats an event when many share
    one occurred_at across a batch boundary. Verified on nx-27017 as well as MongoDB: `find`
    with `$or` works there (only `aggregate` `$match` on datetimes does not). The upper bound
    keeps future-dated events (clock skew, scheduled meetings) from pushing the watermark past
    events that have yet to arrive; they are read once `as_of` reaches them.
    """
    t = position.occurred_at
    if position.last_id is None:
        return {"occurred_at": {"$gte": t, "$lte": as_of}}
    return {
        "$or": [
            {"occurred_at": {"$gt": t, "$lte": as_of}},
            {"occurred_at": t, "_id": {"$gt": position.last_id}},
        ]
    }


#: the order of extraction_filter's pagination
EXTRACTION_SORT: list[tuple[str, int]] = [("occurred_at", 1), ("_id", 1)]


def position_after(docs: list[Mapping[str, Any]]) -> Position | None:
    """Position after a sorted batch: its last document with a datetime occurred_at.

    MongoDB only returns datetimes for a datetime range; a server that coerces other types
    sorts them before every datetime, so the last datetime document is the batch's end.
    """
    for doc in reversed(docs):
        occurred_at = doc.get("occurred_at")
        if isinstance(occurred_at, datetime):
            return Position(as_utc(occurred_at), doc.get("_id"))
    return None


def later(a: Position | None, b: Position | None) -> Position | None:
    """The later of two positions (None = no position)."""
    if a is None:
        return b
    if b is None:
        return a
    return b if b.key() > a.key() else a


def parse_iso_datetime(value: str | datetime | None) -> datetime | None:
    """'2026-06-01T08:14:18Z' (or a datetime) -> aware UTC datetime; None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return as_utc(datetime.fromisoformat(text))
