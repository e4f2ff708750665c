"""Next best action, channel, hour and reasons (pure rules), and the model's figures."""

from __future__ import annotations

import numpy as np
import pytest

from leadflow.recommend.actions import (
    PRIOR_WEIGHT,
    answer_rates,
    best_channel,
    best_hour,
    choose_action,
    recommend,
)
from leadflow.recommend.features import NEVER_DAYS, phrase
from leadflow.recommend.model import calibration_error, reliability, train


def row(**values) -> dict:
    base = {
        "lead_id": "l1",
        "status": "contacted",
        "rule_score": 40,
        "qualification": 10,
        "engagement": 20,
        "intent": 5,
        "demographic": 5,
        "calls": 0,
        "calls_answered": 0,
        "sms": 0,
        "sms_replied": 0,
        "emails": 0,
        "emails_replied": 0,
        "meetings_completed": 0,
        "inbound": 0,
        "failed_attempts": 0,
        "days_since_created": 10,
        "days_since_activity": NEVER_DAYS,
        "days_since_contact": NEVER_DAYS,
        "status_changes": 1,
        "max_status_rank": 2,
        "status_rank": 2,
        "nurture_step": 0,
        "nurture_active": 0,
        "nurture_completed": 0,
        "source": "referral",
        "on_dnc_list": False,
    }
    return base | values


ORG_RATES = {"call": 0.30, "sms": 0.40, "email": 0.20}


def test_a_lead_never_tried_gets_the_organizations_best_channel():
    assert best_channel(row(), ORG_RATES)[0] == "sms"


def test_the_leads_own_answers_outweigh_the_prior():
    lead = row(calls=4, calls_answered=4, sms=2, sms_replied=0)
    channel, rate, answers, attempts = best_channel(lead, ORG_RATES)
    assert (channel, answers, attempts) == ("call", 4, 4)
    assert rate == pytest.approx((4 + PRIOR_WEIGHT * 0.30) / (4 + PRIOR_WEIGHT))


def test_one_lucky_reply_does_not_beat_the_prior_of_a_better_channel():
    lead = row(emails=1, emails_replied=1)
    # e-mail: (1 + 3*0.2)/4 = 0.40, SMS never tried: 0.40 -> tie kept on the channel order
    assert best_channel(lead, {"call": 0.5, "sms": 0.4, "email": 0.2})[0] == "call"


def test_best_hour_is_the_most_frequent_answer_hour_else_the_organizations():
    assert best_hour([18, 9, 18, 9, 9], 11) == (9, True)
    assert best_hour([18, 9], 11) == (9, True)  # a tie: the earlier hour
    assert best_hour([], 11) == (11, False)
    assert best_hour([], None) == (10, False)


@pytest.mark.parametrize(
    ("values", "propensity", "expected"),
    [
        ({"status": "cold", "failed_attempts": 7}, 0.01, "close_cold"),
        ({"status": "cold", "failed_attempts": 7}, 0.50, "re_engage"),
        ({"status": "cold"}, 0.01, "re_engage"),
        ({"days_since_contact": 60.0, "failed_attempts": 8}, 0.01, "close_cold"),
        ({"days_since_contact": 60.0}, 0.30, "re_engage"),
        ({"status": "nurturing", "nurture_active": 1}, 0.30, "nurture"),
        ({"status": "nurturing", "nurture_active": 1}, 0.95, "sms"),
        ({}, 0.30, "sms"),
    ],
)
def test_actions(values, propensity, expected):
    assert (
        choose_action(row(**values), propensity, low_cut=0.05, high_cut=0.9, channel="sms")
        == expected
    )


def test_a_recommendation_says_why_in_words():
    lead = row(calls=3, calls_answered=3)
    rec = recommend(
        lead,
        0.7,
        low_cut=0.05,
        high_cut=0.9,
        org_rates=ORG_RATES,
        lead_hours=[17, 17, 9],
        org_hour=11,
        contributions=[
            ("calls_answered", 1.2),
            ("source=referral", 0.4),
            ("failed_attempts", -0.3),
        ],
    )
    assert (rec.action, rec.channel, rec.best_hour) == ("call", "call", 17)
    assert rec.reasons == [
        "answered 3 calls",
        "comes from referral, a source that converts",
        "answers calls: 3 of 3",
        "usually answers around 17:00",
    ]


def test_rule_fallback_reasons_name_the_score_and_its_strongest_factors():
    rec = recommend(
        row(),
        0.4,
        low_cut=0.05,
        high_cut=0.9,
        org_rates=ORG_RATES,
        lead_hours=[],
        org_hour=None,
        contributions=None,
    )
    assert rec.reasons[:3] == ["lead score 40", "engagement 20", "qualification 10"]


def test_phrases():
    assert phrase("sms_replied", {"sms_replied": 1}, True) == "replied to 1 SMS"
    assert (
        phrase("days_since_contact", {"days_since_contact": NEVER_DAYS}, True)
        == "never reached yet"
    )
    assert phrase("calls_answered", {"calls_answered": 0}, True) is None


def test_answer_rates():
    rates = answer_rates([row(calls=4, calls_answered=1), row(calls=4, calls_answered=3)])
    assert rates == {"call": 0.5, "sms": 0.0, "email": 0.0}
    # inbound SMS count as replies of the lead, never as more answers than messages sent
    assert answer_rates([row(sms=1, sms_replied=3), row(sms=1)])["sms"] == 0.5


def test_reliability_bins_and_calibration_error():
    labels = np.array([0, 0, 1, 1])
    table = reliability(labels, np.array([0.1, 0.2, 0.8, 0.9]), bins=2)
    assert table == [
        {"leads": 2, "predicted": 0.15, "observed": 0.0},
        {"leads": 2, "predicted": 0.85, "observed": 1.0},
    ]
    assert calibration_error(table) == pytest.approx(0.15)


def test_too_little_history_trains_nothing():
    result = train([row(label=True)] * 50, [row(label=False)] * 50)
    assert result.status == "insufficient_data" and result.pipeline is None
    assert "need >= 200 leads" in result.reason
