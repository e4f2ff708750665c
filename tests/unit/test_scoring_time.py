"""`next_total_change`: when time alone moves a lead's total, checked against `score_lead`."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from leadflow.crm.scoring import (
    HORIZON_HALF_LIVES,
    TIME_MARGIN,
    Activity,
    LeadFeatures,
    ScoreWeights,
    next_total_change,
    score_lead,
    score_with_next_change,
)

AS_OF = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WEIGHTS = ScoreWeights.from_config(
    {"qualification": 0.3, "engagement": 0.3, "intent": 0.25, "demographic": 0.15}
)
KINDS = [
    ("call", "outbound", "answered"),
    ("call", "inbound", None),
    ("sms", "outbound", "replied"),
    ("email", "outbound", "opened"),
    ("meeting", None, "completed"),
    ("meeting", None, "scheduled"),
    ("meeting", None, "no_show"),
    ("note", None, None),
]


def lead(status: str, activities: tuple[Activity, ...], **values) -> LeadFeatures:
    return LeadFeatures(lead_id="l", status=status, activities=activities, **values)


def activity(kind: int, days_ago: float) -> Activity:
    activity_type, direction, outcome = KINDS[kind]
    return Activity(activity_type, AS_OF - timedelta(days=days_ago), direction, outcome)


def total_at(features: LeadFeatures, when: datetime, half_life: float) -> int:
    return score_lead(features, WEIGHTS, when, half_life_days=half_life).total


def test_no_activity_means_time_never_changes_the_total():
    assert next_total_change(lead("hot", ()), WEIGHTS, AS_OF) is None


def test_a_dnc_lead_stays_at_zero():
    features = lead("dnc", (activity(4, 1),))
    assert next_total_change(features, WEIGHTS, AS_OF) is None


def test_a_fresh_meeting_moves_the_total_within_days_and_not_before_the_answer():
    features = lead("qualified", (activity(4, 0.5),), email="a@b.c", source="referral")
    moment = next_total_change(features, WEIGHTS, AS_OF)
    assert moment is not None and AS_OF < moment < AS_OF + timedelta(days=14)
    before = total_at(features, AS_OF, 14.0)
    assert total_at(features, moment, 14.0) == before
    assert total_at(features, moment + TIME_MARGIN + timedelta(seconds=2), 14.0) != before


def test_a_no_show_below_the_status_base_rises_back():
    features = lead("hot", (activity(6, 0.0), activity(6, 0.1)))
    start = total_at(features, AS_OF, 14.0)
    moment = next_total_change(features, WEIGHTS, AS_OF)
    assert moment is not None
    assert total_at(features, moment + TIME_MARGIN + timedelta(seconds=2), 14.0) > start


@pytest.mark.parametrize("seed", range(40))
def test_random_leads_keep_their_total_until_the_answer_and_change_right_after(seed):
    """Sampled times before the answer give the same total; just after it, a different one.
    Activities stay inside the window over the horizon checked (window exits are the database's
    range query, not this function's)."""
    rng = random.Random(seed)
    half_life = rng.choice([3.0, 7.0, 14.0, 30.0])
    activities = tuple(
        activity(rng.randrange(len(KINDS)), rng.uniform(0, 2 * half_life))
        for _ in range(rng.randrange(1, 12))
    )
    features = lead(
        rng.choice(["new", "contacted", "qualified", "hot", "cold", "nurturing"]),
        activities,
        email=rng.choice([None, "x@y.z"]),
        source=rng.choice([None, "referral", "facebook"]),
        phone_type=rng.choice([None, "mobile"]),
    )
    start = total_at(features, AS_OF, half_life)
    moment = next_total_change(features, WEIGHTS, AS_OF, half_life_days=half_life)
    assert score_with_next_change(features, WEIGHTS, AS_OF, half_life_days=half_life) == (
        score_lead(features, WEIGHTS, AS_OF, half_life_days=half_life),
        moment,
    )
    oldest = min(a.occurred_at for a in activities)
    horizon = oldest + timedelta(days=half_life * HORIZON_HALF_LIVES)
    end = moment if moment is not None else horizon
    span = (min(end, horizon) - AS_OF).total_seconds()
    for _ in range(200):
        when = AS_OF + timedelta(seconds=rng.uniform(0, span))
        assert total_at(features, when, half_life) == start, when
    if moment is not None and moment + TIME_MARGIN + timedelta(seconds=2) < horizon:
        after = moment + TIME_MARGIN + timedelta(seconds=2)
        assert total_at(features, after, half_life) != start
