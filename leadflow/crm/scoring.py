"""Lead scoring: a transparent rule model, deterministic for given inputs and as-of time.

Every lead gets four factors, each an integer 0..100, and a weighted total 0..100 (the Epic 3
reference's `{qualification, engagement, intent, demographic, total}`). The rules are plain
tables below, so an agent asking "why 62?" can recompute the number by hand from
`lead_score_history.factors`.

qualification: how complete and reachable the record is (points add up to at most 100)
    email 30, first name 10, last name 10, source known 10, phone type: mobile 40,
    fixed_line_or_mobile 30, fixed_line 20, anything else or unknown 10.

engagement: recency-weighted activity, min(100, sum of points * 0.5 ** (age_days / half_life))
    Outbound (or undirected) activity by outcome, see ENGAGEMENT_POINTS (an answered call 15, a
    replied SMS/e-mail 12, a completed meeting 30, a voicemail 3, a bounce 0, notes 0).
    Inbound calls, SMS and e-mails (the lead reached out) count INBOUND_POINTS (25/15/15)
    whatever their outcome. half_life = system_config `score_half_life_days` (default 14).

intent: funnel stage plus decayed buying signals, clamped to 0..100
    status base (STATUS_INTENT: hot 80, qualified 60, ..., cold 5, dnc 0) plus, decayed like
    engagement: a reply or any inbound call/SMS/e-mail +10, meeting scheduled +15, meeting
    completed +25, meeting no-show -10.

demographic: prior quality of who the lead is and where they came from, capped at 100
    source (SOURCE_POINTS: referral 60, linkedin 45, indeed/ziprecruiter/job_fair 40, ...,
    facebook 25, other sources 25, none 10) plus credential and seniority tags (TAG_POINTS:
    executive 20, referral 15, veteran/bilingual/cdl/nurse 10). In recruiting, referred and
    credentialed candidates convert best, job boards next, social ads last; this is an explicit
    prior, not a fitted model, and it only uses columns every lead has.

total: round-half-up of sum(weight_f * factor_f) over the four rounded factors, with weights
    from system_config `score_weights` (an organization row replaces the global one) normalized
    to sum 1. Using the rounded factors keeps the total reproducible from the stored JSON.

Do-Not-Call leads (status 'dnc') are scored like any other lead, so their factors stay visible,
but their total is 0: a DNC lead must never surface in a "top leads" call list.

Only activities in (as_of - HORIZON_HALF_LIVES * half_life, as_of] count: later ones have not
happened yet at as_of, older ones weigh less than 0.1% each. The database query applies the same
window, so the pure function and the asset agree exactly.

How a score changes with time alone (what lets the nightly rescore only some leads): every
counted activity decays by the same factor 0.5 ** (elapsed_days / half_life), so between two
as-of times with the same set of counted activities, engagement = E * d and intent = B + I * d
for one d falling from 1 towards 0 (E, I the decayed sums at the scoring time, B the status
base). Each rounded factor therefore moves one step at a time towards its resting value (0 for
engagement, B for intent), at instants computed in closed form; the total can only change at one
of those instants. `next_total_change` walks them in order and returns the first one at which the
weighted total differs (rounded down to the second, minus TIME_MARGIN, so it is never late), or
None when time alone never changes the total. The set of counted activities itself changes only
when an activity enters the window (occurred_at reaches as_of) or leaves it (occurred_at + horizon
reaches as_of): the database finds those leads by range queries on occurred_at.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

FACTORS = ("qualification", "engagement", "intent", "demographic")

#: the seed's global `score_weights`, used when neither the organization nor the global row exists
DEFAULT_WEIGHTS: dict[str, float] = {
    "qualification": 0.3,
    "engagement": 0.3,
    "intent": 0.25,
    "demographic": 0.15,
}
DEFAULT_HALF_LIFE_DAYS = 14.0
#: activities older than this many half-lives are ignored (weight < 0.1%)
HORIZON_HALF_LIVES = 10
#: next_total_change answers this much early: float error in its closed form is far below it
TIME_MARGIN = timedelta(seconds=60)
#: tolerance of round_half_up (float noise such as 49.99999)
ROUNDING_EPSILON = 1e-9

# -- qualification ----------------------------------------------------------------------------
QUALIFICATION_EMAIL = 30
QUALIFICATION_FIRST_NAME = 10
QUALIFICATION_LAST_NAME = 10
QUALIFICATION_SOURCE = 10
PHONE_TYPE_POINTS: dict[str, int] = {"mobile": 40, "fixed_line_or_mobile": 30, "fixed_line": 20}
PHONE_TYPE_OTHER = 10  # voip, pager, unknown, ...: reachable, but not by SMS

# -- engagement -------------------------------------------------------------------------------
#: points of one outbound (or undirected) activity by type and outcome; None = outcome unknown
ENGAGEMENT_POINTS: dict[str, dict[str | None, int]] = {
    "call": {"answered": 15, "voicemail": 3, "no_answer": 1, "busy": 1, None: 5},
    "sms": {"replied": 12, "delivered": 2, "failed": 0, None: 2},
    "email": {"replied": 12, "opened": 4, "sent": 1, "bounced": 0, None: 1},
    "meeting": {"completed": 30, "scheduled": 15, "no_show": 0, None: 10},
    "note": {None: 0},  # internal notes say nothing about the lead
}
#: an inbound call, SMS or e-mail means the lead reached out: worth more than any outbound touch
INBOUND_POINTS: dict[str, int] = {"call": 25, "sms": 15, "email": 15}

# -- intent -----------------------------------------------------------------------------------
STATUS_INTENT: dict[str, int] = {
    "new": 20,
    "contacted": 30,
    "nurturing": 40,
    "qualified": 60,
    "hot": 80,
    "recruited": 100,
    "cold": 5,
    "dnc": 0,
}
INTENT_REPLY = 10  # sms/email replied, or any inbound call/sms/email
INTENT_MEETING: dict[str, int] = {"scheduled": 15, "completed": 25, "no_show": -10}

# -- demographic ------------------------------------------------------------------------------
SOURCE_POINTS: dict[str, int] = {
    "referral": 60,
    "linkedin": 45,
    "indeed": 40,
    "ziprecruiter": 40,
    "job_fair": 40,
    "event": 35,
    "website": 35,
    "google": 30,
    "email": 30,
    "facebook": 25,
    "instagram": 20,
    "tiktok": 20,
    "twitter": 20,
    "craigslist": 20,
    "cold_call": 15,
}
SOURCE_OTHER = 25  # a source we have no prior for: average
SOURCE_NONE = 10
TAG_POINTS: dict[str, int] = {
    "executive": 20,
    "referral": 15,
    "veteran": 10,
    "bilingual": 10,
    "cdl": 10,
    "nurse": 10,
}


@dataclass(frozen=True)
class Activity:
    """One touch point with a lead (a `lead_activities` row, reduced to what scoring reads)."""

    activity_type: str
    occurred_at: datetime
    direction: str | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class LeadFeatures:
    """What the score of one lead depends on; nothing else is read."""

    lead_id: str
    status: str
    first_name: str = ""
    last_name: str = ""
    email: str | None = None
    phone_type: str | None = None
    source: str | None = None
    tags: tuple[str, ...] = ()
    activities: tuple[Activity, ...] = ()


@dataclass(frozen=True)
class ScoreWeights:
    """Factor weights, normalized to sum 1."""

    qualification: float
    engagement: float
    intent: float
    demographic: float

    @classmethod
    def from_config(cls, value: object) -> ScoreWeights:
        """Weights from a `score_weights` JSON object; missing factors weigh 0.

        Raises ValueError for anything that is not an object of non-negative numbers with a
        positive sum: a bad configuration must be fixed, not silently replaced.
        """
        if value is None:
            value = DEFAULT_WEIGHTS
        if not isinstance(value, Mapping):
            raise ValueError(f"score_weights must be a JSON object, not {value!r}")
        unknown = sorted(set(value) - set(FACTORS))
        if unknown:
            raise ValueError(f"score_weights has unknown factors {unknown}; known: {FACTORS}")
        raw: dict[str, float] = {}
        for name in FACTORS:
            weight = value.get(name, 0)
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise ValueError(f"score_weights.{name} must be a number, not {weight!r}")
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(f"score_weights.{name} must be finite and >= 0, not {weight}")
            raw[name] = float(weight)
        total = sum(raw.values())
        if total <= 0:
            raise ValueError("score_weights must have a positive sum")
        return cls(**{name: raw[name] / total for name in FACTORS})

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in FACTORS}


@dataclass(frozen=True)
class ScoreFactors:
    """The four factors and the total, each an integer 0..100."""

    qualification: int
    engagement: int
    intent: int
    demographic: int
    total: int

    def as_json(self) -> dict[str, int]:
        """The `lead_score_history.factors` object."""
        return {
            "qualification": self.qualification,
            "engagement": self.engagement,
            "intent": self.intent,
            "demographic": self.demographic,
            "total": self.total,
        }


@dataclass(frozen=True)
class _Decayed:
    """An activity with its recency weight at as_of."""

    activity: Activity
    decay: float


def half_life_from_config(value: object) -> float:
    """`score_half_life_days` as a positive number of days (default 14)."""
    if value is None:
        return DEFAULT_HALF_LIFE_DAYS
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"score_half_life_days must be a number, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"score_half_life_days must be > 0, not {value}")
    return float(value)


def activity_window(as_of: datetime, half_life_days: float) -> tuple[datetime, datetime]:
    """(exclusive start, inclusive end) of the activities that count at as_of."""
    return as_of - timedelta(days=half_life_days * HORIZON_HALF_LIVES), as_of


def round_half_up(value: float) -> int:
    """Round .5 up (Python's round() goes to even), tolerating float noise such as 49.99999."""
    return math.floor(value + 0.5 + ROUNDING_EPSILON)


def _clamp(value: float) -> float:
    return min(100.0, max(0.0, value))


def _decayed(activities: Iterable[Activity], as_of: datetime, half_life: float) -> list[_Decayed]:
    start, end = activity_window(as_of, half_life)
    out = []
    for activity in activities:
        if not start < activity.occurred_at <= end:
            continue
        age_days = (end - activity.occurred_at).total_seconds() / 86400.0
        out.append(_Decayed(activity, 0.5 ** (age_days / half_life)))
    return out


def qualification_points(features: LeadFeatures) -> float:
    points = 0
    if (features.email or "").strip():
        points += QUALIFICATION_EMAIL
    if features.first_name.strip():
        points += QUALIFICATION_FIRST_NAME
    if features.last_name.strip():
        points += QUALIFICATION_LAST_NAME
    if (features.source or "").strip():
        points += QUALIFICATION_SOURCE
    points += PHONE_TYPE_POINTS.get(features.phone_type or "", PHONE_TYPE_OTHER)
    return _clamp(points)


def engagement_points(activity: Activity) -> int:
    """Undecayed engagement points of one activity."""
    if activity.direction == "inbound" and activity.activity_type in INBOUND_POINTS:
        return INBOUND_POINTS[activity.activity_type]
    table = ENGAGEMENT_POINTS.get(activity.activity_type)
    if table is None:
        return 0
    return table.get(activity.outcome, table.get(None, 0))


def intent_signal(activity: Activity) -> int:
    """Undecayed intent points of one activity (may be negative: a meeting no-show)."""
    kind = activity.activity_type
    if kind == "meeting":
        return INTENT_MEETING.get(activity.outcome or "", 0)
    if kind in ("call", "sms", "email") and activity.direction == "inbound":
        return INTENT_REPLY
    if kind in ("sms", "email") and activity.outcome == "replied":
        return INTENT_REPLY
    return 0


def demographic_points(features: LeadFeatures) -> float:
    source = (features.source or "").strip().lower()
    points = SOURCE_POINTS.get(source, SOURCE_OTHER) if source else SOURCE_NONE
    points += sum(TAG_POINTS.get(tag, 0) for tag in {t.strip().lower() for t in features.tags})
    return _clamp(points)


@dataclass(frozen=True)
class _RawScore:
    """A lead's unrounded time-dependent sums at as_of, and its time-independent factors."""

    qualification: int
    demographic: int
    engagement_sum: float  # sum of points * decay, unclamped
    intent_base: int  # STATUS_INTENT of the status
    intent_sum: float  # sum of intent signals * decay (may be negative)
    dnc: bool


def _raw_score(features: LeadFeatures, as_of: datetime, half_life_days: float) -> _RawScore:
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    recent = _decayed(features.activities, as_of, half_life_days)
    return _RawScore(
        qualification=round_half_up(qualification_points(features)),
        demographic=round_half_up(demographic_points(features)),
        engagement_sum=sum(engagement_points(d.activity) * d.decay for d in recent),
        intent_base=STATUS_INTENT.get(features.status, 0),
        intent_sum=sum(intent_signal(d.activity) * d.decay for d in recent),
        dnc=features.status == "dnc",
    )


def _total(raw: _RawScore, weights: ScoreWeights, engagement: int, intent: int) -> int:
    if raw.dnc:
        return 0
    return round_half_up(
        _clamp(
            weights.qualification * raw.qualification
            + weights.engagement * engagement
            + weights.intent * intent
            + weights.demographic * raw.demographic
        )
    )


def _factors(raw: _RawScore, weights: ScoreWeights, decay: float = 1.0) -> ScoreFactors:
    engagement = round_half_up(_clamp(raw.engagement_sum * decay))
    intent = round_half_up(_clamp(raw.intent_base + raw.intent_sum * decay))
    return ScoreFactors(
        raw.qualification,
        engagement,
        intent,
        raw.demographic,
        _total(raw, weights, engagement, intent),
    )


def score_lead(
    features: LeadFeatures,
    weights: ScoreWeights,
    as_of: datetime,
    *,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
) -> ScoreFactors:
    """Score one lead at `as_of` (timezone-aware). Pure: never reads the clock."""
    return _factors(_raw_score(features, as_of, half_life_days), weights)


def _steps(value: int, rest: int, offset: float, amount: float) -> list[tuple[float, int]]:
    """(decay at which the rounded factor takes the value, that value), in time order, for a
    factor round(clamp(offset + amount * d)) that is `value` at d = 1 and rests at `rest`.

    Moving down, value v holds while offset + amount * d >= v - 0.5 - epsilon; moving up, v + 1
    is reached once offset + amount * d >= v + 0.5 - epsilon (round_half_up's tolerance)."""
    steps = []
    if value > rest and amount > 0:
        for v in range(value, rest, -1):
            steps.append(((v - 0.5 - ROUNDING_EPSILON - offset) / amount, v - 1))
    elif value < rest and amount < 0:
        for v in range(value, rest):
            steps.append(((offset - (v + 0.5 - ROUNDING_EPSILON)) / -amount, v + 1))
    return [(min(decay, 1.0), v) for decay, v in steps]


def next_total_change(
    features: LeadFeatures,
    weights: ScoreWeights,
    as_of: datetime,
    *,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
) -> datetime | None:
    """The earliest instant after `as_of` at which the lead's total can differ from its total at
    `as_of` by the passing of time alone (no input changed, no activity entering or leaving the
    window), early by at most TIME_MARGIN plus a second; None if it never does (see the module
    docstring)."""
    return score_with_next_change(features, weights, as_of, half_life_days=half_life_days)[1]


def score_with_next_change(
    features: LeadFeatures,
    weights: ScoreWeights,
    as_of: datetime,
    *,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
) -> tuple[ScoreFactors, datetime | None]:
    """`score_lead` and `next_total_change` of one lead, its activities decayed once."""
    raw = _raw_score(features, as_of, half_life_days)
    now = _factors(raw, weights)
    return now, _next_change(raw, now, weights, as_of, half_life_days)


def _next_change(
    raw: _RawScore,
    now: ScoreFactors,
    weights: ScoreWeights,
    as_of: datetime,
    half_life_days: float,
) -> datetime | None:
    if raw.dnc:
        return None
    events = [
        (decay, "engagement", v) for decay, v in _steps(now.engagement, 0, 0.0, raw.engagement_sum)
    ] + [
        (decay, "intent", v)
        for decay, v in _steps(now.intent, raw.intent_base, raw.intent_base, raw.intent_sum)
    ]
    engagement, intent = now.engagement, now.intent
    for decay, factor, value in sorted(events, key=lambda e: -e[0]):
        if factor == "engagement":
            engagement = value
        else:
            intent = value
        if _total(raw, weights, engagement, intent) != now.total:
            if decay <= 0:
                return None
            days = half_life_days * math.log2(1.0 / decay)
            moment = as_of + timedelta(days=days) - TIME_MARGIN
            return max(as_of, moment.replace(microsecond=0))
    return None
