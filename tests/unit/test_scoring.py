"""The lead scoring rules: hand-computed expectations, determinism, bounds, configuration."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from leadflow.crm.scoring import (
    Activity,
    LeadFeatures,
    ScoreWeights,
    activity_window,
    half_life_from_config,
    round_half_up,
    score_lead,
)

AS_OF = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SEED_WEIGHTS = ScoreWeights.from_config(
    {"qualification": 0.3, "engagement": 0.3, "intent": 0.25, "demographic": 0.15}
)


def days_ago(days: float) -> datetime:
    return AS_OF - timedelta(days=days)


def strong_lead(**overrides) -> LeadFeatures:
    values = dict(
        lead_id="a",
        status="qualified",
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phone_type="mobile",
        source="referral",
        tags=("executive",),
        activities=(
            Activity("call", days_ago(0), "inbound", "answered"),
            Activity("email", days_ago(14), "outbound", "replied"),
        ),
    )
    values.update(overrides)
    return LeadFeatures(**values)


def test_hand_computed_strong_lead():
    # qualification 30+10+10+10+40; engagement 25 + 12*0.5; intent 60 + 10 + 10*0.5;
    # demographic 60+20; total .3*100 + .3*31 + .25*75 + .15*80 = 70.05
    factors = score_lead(strong_lead(), SEED_WEIGHTS, AS_OF)
    assert factors.as_json() == {
        "qualification": 100,
        "engagement": 31,
        "intent": 75,
        "demographic": 80,
        "total": 70,
    }


def test_hand_computed_sparse_lead():
    # qualification 10 (first name) + 10 (source) + 20 (fixed line); intent 20 (new);
    # demographic 25 (facebook); total .3*40 + .25*20 + .15*25 = 20.75 -> 21
    lead = LeadFeatures("b", "new", first_name="Bo", phone_type="fixed_line", source="facebook")
    assert score_lead(lead, SEED_WEIGHTS, AS_OF).as_json() == {
        "qualification": 40,
        "engagement": 0,
        "intent": 20,
        "demographic": 25,
        "total": 21,
    }


def test_hand_computed_cold_lead_with_no_show_and_outbound_touches():
    # engagement: answered call 7 days ago 15*2**-0.5 = 10.61 + voicemail today 3 -> 14;
    # intent: cold 5 + no-show -10 -> clamped to 0; qualification 30+10+10+10 (unknown phone
    # type) = 60 (no source: no 10; demographic 10); total .3*60 + .3*14 + 0 + .15*10 = 23.7 -> 24
    lead = LeadFeatures(
        "c",
        "cold",
        first_name="Cy",
        last_name="Young",
        email="cy@example.com",
        activities=(
            Activity("call", days_ago(7), "outbound", "answered"),
            Activity("call", days_ago(0), "outbound", "voicemail"),
            Activity("meeting", days_ago(0), None, "no_show"),
        ),
    )
    factors = score_lead(lead, SEED_WEIGHTS, AS_OF)
    assert (factors.qualification, factors.engagement, factors.intent) == (60, 14, 0)
    assert (factors.demographic, factors.total) == (10, 24)


def test_dnc_lead_is_scored_but_total_is_zero():
    factors = score_lead(strong_lead(status="dnc"), SEED_WEIGHTS, AS_OF)
    assert factors.total == 0
    assert factors.qualification == 100 and factors.engagement == 31
    assert factors.intent == 15  # dnc base 0 + the signals


def test_same_inputs_same_scores_whatever_the_activity_order():
    lead = strong_lead()
    shuffled = list(lead.activities)
    random.Random(7).shuffle(shuffled)
    other = strong_lead(activities=tuple(reversed(shuffled)))
    first = score_lead(lead, SEED_WEIGHTS, AS_OF)
    assert score_lead(lead, SEED_WEIGHTS, AS_OF) == first
    assert score_lead(other, SEED_WEIGHTS, AS_OF) == first


def test_activities_after_as_of_or_beyond_the_horizon_do_not_count():
    start, end = activity_window(AS_OF, 14)
    assert end == AS_OF and start == AS_OF - timedelta(days=140)
    lead = strong_lead(
        activities=(
            Activity("meeting", AS_OF + timedelta(seconds=1), None, "completed"),
            Activity("meeting", start, None, "completed"),
        )
    )
    assert score_lead(lead, SEED_WEIGHTS, AS_OF).engagement == 0
    # the window is (start, as_of]: an activity at as_of itself counts in full
    now = Activity("meeting", AS_OF, None, "completed")
    assert score_lead(strong_lead(activities=(now,)), SEED_WEIGHTS, AS_OF).engagement == 30


def test_a_later_as_of_decays_engagement():
    lead = strong_lead()
    now = score_lead(lead, SEED_WEIGHTS, AS_OF)
    later = score_lead(lead, SEED_WEIGHTS, AS_OF + timedelta(days=14))
    assert later.engagement == round_half_up(25 * 0.5 + 12 * 0.25)  # 15.5 -> 16
    assert later.engagement < now.engagement


def test_inbound_and_replies_weigh_more_than_outbound_touches():
    def engagement(*activities):
        return score_lead(strong_lead(activities=activities), SEED_WEIGHTS, AS_OF).engagement

    today = days_ago(0)
    assert engagement(Activity("sms", today, "inbound", "delivered")) > engagement(
        Activity("sms", today, "outbound", "delivered")
    )
    assert engagement(Activity("call", today, "outbound", "answered")) > engagement(
        Activity("call", today, "outbound", "no_answer")
    )
    assert engagement(Activity("email", today, "outbound", "replied")) > engagement(
        Activity("email", today, "outbound", "opened")
    )
    assert engagement(Activity("note", today, None, None)) == 0


def test_factors_stay_within_0_and_100():
    rng = random.Random(42)
    kinds = {
        "call": ["answered", "no_answer", "voicemail", "busy", None],
        "sms": ["delivered", "replied", "failed", None],
        "email": ["sent", "opened", "replied", "bounced", None],
        "meeting": ["scheduled", "completed", "no_show", None],
        "note": [None],
    }
    statuses = ["new", "contacted", "qualified", "nurturing", "hot", "cold", "recruited", "dnc"]
    for i in range(500):
        activities = []
        for _ in range(rng.randint(0, 40)):
            kind = rng.choice(list(kinds))
            activities.append(
                Activity(
                    kind,
                    days_ago(rng.uniform(-5, 200)),
                    rng.choice(["inbound", "outbound", None]),
                    rng.choice(kinds[kind]),
                )
            )
        lead = LeadFeatures(
            str(i),
            rng.choice(statuses),
            first_name=rng.choice(["", "A"]),
            last_name=rng.choice(["", "B"]),
            email=rng.choice([None, "", "x@example.com"]),
            phone_type=rng.choice([None, "mobile", "fixed_line", "voip"]),
            source=rng.choice([None, "referral", "facebook", "zzz"]),
            tags=tuple(rng.sample(["executive", "referral", "veteran", "cdl", "nurse", "x"], 4)),
            activities=tuple(activities),
        )
        weights = ScoreWeights.from_config({"engagement": rng.random(), "intent": 1})
        factors = score_lead(lead, weights, AS_OF)
        assert all(0 <= value <= 100 for value in factors.as_json().values())
        assert isinstance(factors.total, int)


def test_weights_are_normalized_and_change_the_total():
    lead = strong_lead()
    doubled = ScoreWeights.from_config(
        {"qualification": 0.6, "engagement": 0.6, "intent": 0.5, "demographic": 0.3}
    )
    assert score_lead(lead, doubled, AS_OF) == score_lead(lead, SEED_WEIGHTS, AS_OF)
    only_engagement = ScoreWeights.from_config({"engagement": 1})
    assert only_engagement.as_dict() == {
        "qualification": 0.0,
        "engagement": 1.0,
        "intent": 0.0,
        "demographic": 0.0,
    }
    assert score_lead(lead, only_engagement, AS_OF).total == 31


@pytest.mark.parametrize(
    "value",
    [
        "0.3",
        {"qualification": -1, "engagement": 1},
        {"qualification": 0, "engagement": 0},
        {"qualification": "high"},
        {"qualification": True},
        {"recency": 1},
        {"engagement": float("nan")},
    ],
)
def test_bad_weights_are_refused(value):
    with pytest.raises(ValueError, match="score_weights"):
        ScoreWeights.from_config(value)


def test_missing_weights_fall_back_to_the_seed_defaults():
    assert ScoreWeights.from_config(None) == SEED_WEIGHTS


def test_half_life_config():
    assert half_life_from_config(None) == 14.0
    assert half_life_from_config(7) == 7.0
    for bad in (0, -3, "14", True):
        with pytest.raises(ValueError, match="score_half_life_days"):
            half_life_from_config(bad)


def test_half_life_changes_engagement():
    lead = strong_lead()
    short = score_lead(lead, SEED_WEIGHTS, AS_OF, half_life_days=7)
    assert short.engagement == round_half_up(25 + 12 * 0.25)  # 28


def test_naive_as_of_is_refused():
    with pytest.raises(ValueError, match="timezone"):
        score_lead(strong_lead(), SEED_WEIGHTS, datetime(2026, 12, 1))


def test_round_half_up():
    assert [round_half_up(x) for x in (0.5, 1.5, 2.5, 20.75, 49.99999999999)] == [1, 2, 3, 21, 50]
    assert round_half_up(0.3 * 100 + 0.3 * 31 + 0.25 * 75 + 0.15 * 80) == 70
