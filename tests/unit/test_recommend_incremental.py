"""The pure parts of ranking only what changed: age buckets (the time-dependent features), the
organization-wide ranking inputs kept with a model version, and when a ranking is full."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from leadflow import watermarks
from leadflow.recommend import inputs
from leadflow.recommend.actions import SILENT_DAYS, org_best_hour
from leadflow.recommend.features import (
    AGE_BOUNDARIES_DAYS,
    NEVER_DAYS,
    TIME_FEATURES,
    age_bucket,
    bucket_ages,
    phrase,
)
from leadflow.recommend.hours import DEFAULT_CALLING_HOURS, CallingHours
from leadflow.recommend.served import Categorical, ServedModel
from leadflow.recommend.service import full_ranking_reason

T = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (0.0, 0.0),
        (0.999, 0.0),
        (1.0, 1.0),
        (2.5, 1.0),
        (44.99, 30.0),
        (45.0, 45.0),
        (364.9, 180.0),
        (365.0, 365.0),
        (900.0, 365.0),
    ],
)
def test_an_age_reads_as_the_largest_boundary_it_reached(days, bucket):
    assert age_bucket(days) == bucket


def test_the_actions_thresholds_are_boundaries_so_they_read_the_same_on_buckets():
    assert SILENT_DAYS in AGE_BOUNDARIES_DAYS and NEVER_DAYS in AGE_BOUNDARIES_DAYS
    for days in np.linspace(0, 800, 4001):
        bucket = age_bucket(float(days))
        assert (bucket >= SILENT_DAYS) == (days >= SILENT_DAYS)
        assert (bucket >= NEVER_DAYS) == (days >= NEVER_DAYS)


def test_a_bucket_changes_only_when_the_age_crosses_a_boundary():
    """What the incremental ranking relies on: between two as-ofs, a time t's bucket differs
    only if t lies in (prev - b, as_of - b] for a boundary b."""
    rng = random.Random(3)
    for _ in range(5000):
        prev = T + timedelta(hours=rng.uniform(0, 100))
        as_of = prev + timedelta(hours=rng.uniform(0, 72))
        t = T - timedelta(days=rng.uniform(-1, 400))
        before = age_bucket((prev - t).total_seconds() / 86400)
        after = age_bucket((as_of - t).total_seconds() / 86400)
        crossed = any(
            prev - timedelta(days=b) < t <= as_of - timedelta(days=b) for b in AGE_BOUNDARIES_DAYS
        )
        assert (before != after) == crossed


def test_bucket_ages_buckets_the_three_time_features_only():
    row = {"days_since_created": 20.5, "days_since_activity": 2, "days_since_contact": 365.0}
    row["calls"] = 3
    assert bucket_ages(row) == {
        "days_since_created": 14.0,
        "days_since_activity": 1.0,
        "days_since_contact": 365.0,
        "calls": 3,
    }
    assert set(TIME_FEATURES) == {"days_since_created", "days_since_activity", "days_since_contact"}


def test_an_age_reason_says_the_bucket_not_a_number_of_days_that_moves_daily():
    assert phrase("days_since_contact", {"days_since_contact": 14.0}, True) == (
        "last reached over 14 days ago"
    )
    assert phrase("days_since_activity", {"days_since_activity": 0.0}, True) == (
        "last touched within the last day"
    )
    assert phrase("days_since_created", {"days_since_created": 1.0}, True) == (
        "in the pipeline for over 1 day"
    )
    assert phrase("days_since_contact", {"days_since_contact": NEVER_DAYS}, True) == (
        "never reached yet"
    )


# -- ranking inputs --------------------------------------------------------------------------------
def _rows(n: int, rng: random.Random) -> list[dict]:
    out = []
    for _ in range(n):
        calls, sms, emails = rng.randint(0, 5), rng.randint(0, 3), rng.randint(0, 3)
        out.append(
            {
                "calls": calls,
                "calls_answered": rng.randint(0, calls + 1),
                "sms": sms,
                "sms_replied": rng.randint(0, sms),
                "emails": emails,
                "emails_replied": rng.randint(0, emails),
            }
        )
    return out


def test_inputs_round_trip_and_the_org_hour_is_org_best_hour_of_every_answer():
    rng = random.Random(7)
    hours = {
        f"l{i}": [rng.choice([6, 7, 9, 9, 14, 22]) for _ in range(rng.randint(0, 4))]
        for i in range(200)
    }
    computed = inputs.compute(_rows(200, rng), [rng.random() for _ in range(200)], hours)
    parsed = inputs.parse(computed.to_json())
    assert parsed == computed
    every = [h for lead in hours.values() for h in lead]
    for window in (DEFAULT_CALLING_HOURS, CallingHours(10 * 60, 12 * 60), CallingHours(0, 60)):
        assert computed.org_hour(window) == org_best_hour(every, window)
    assert inputs.compute([], [], {}).org_hour(DEFAULT_CALLING_HOURS) is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda v: v.pop("low_cut"),
        lambda v: v.update(extra=1),
        lambda v: v.update(format="other/1"),
        lambda v: v.update(high_cut=1.5),
        lambda v: v.update(low_cut=float("nan")),
        lambda v: v.update(low_cut=True),
        lambda v: v["answer_rates"].pop("sms"),
        lambda v: v["answer_rates"].update(call="0.5"),
        lambda v: v.update(hour_counts=[0] * 23),
        lambda v: v.update(hour_counts=[-1] + [0] * 23),
        lambda v: v.update(hour_counts=[2**40] + [0] * 23),
        lambda v: v.update(hour_counts=[1.5] + [0] * 23),
    ],
)
def test_stored_inputs_of_any_other_shape_are_refused(damage):
    value = inputs.compute(_rows(20, random.Random(1)), [0.5] * 20, {"a": [9]}).to_json()
    damage(value)
    assert inputs.parse(value) is None
    assert inputs.parse(None) is None and inputs.parse([]) is None


def test_a_lead_scored_alone_gets_the_same_bits_as_in_its_organization():
    rng = np.random.default_rng(5)
    from leadflow.recommend.features import NUMERIC_FEATURES

    k = len(NUMERIC_FEATURES)
    model = ServedModel(
        numeric=NUMERIC_FEATURES,
        mean=rng.normal(size=k),
        scale=rng.uniform(0.5, 3, size=k),
        categorical=(Categorical("source", ("a", "b"), ()),),
        feature_names=(*NUMERIC_FEATURES, "source=a", "source=b"),
        coefficients=rng.normal(size=k + 2),
        intercept=-1.3,
    )
    rows = [
        {**{name: float(rng.uniform(0, 50)) for name in NUMERIC_FEATURES}, "source": "ab"[i % 2]}
        for i in range(3001)
    ]
    together = model.predict(rows)
    for i in (0, 1, 1500, 3000):
        assert model.predict([rows[i]])[0] == together[i]
        assert model.predict(rows[i : i + 7])[0] == together[i]


# -- full or incremental -----------------------------------------------------------------------------
STATE = {"model_version": 3, "ranked_by": "model", "timezone": "UTC", "calling_hours": "08-21"}
SOME = inputs.RankingInputs(0.1, 0.9, {"call": 0.3, "sms": 0.2, "email": 0.1}, (0,) * 24)


def _mark(**state) -> watermarks.Watermark:
    return watermarks.Watermark(
        "lead_recommendations:x",
        T,
        last_full_at=T - timedelta(days=1),
        state=STATE | {"started": T.isoformat()} | state,
    )


def test_a_ranking_is_incremental_only_when_nothing_organization_wide_changed():
    later = T + timedelta(days=1)
    assert full_ranking_reason(_mark(), later, STATE, SOME) is None
    assert full_ranking_reason(None, later, STATE, SOME) == "first run"
    assert "requested" in str(full_ranking_reason(_mark(), later, STATE, SOME, requested=True))
    assert "days ago" in str(full_ranking_reason(_mark(), T + timedelta(days=6), STATE, SOME))
    assert "model version" in str(full_ranking_reason(_mark(model_version=2), later, STATE, SOME))
    assert "ranking score" in str(full_ranking_reason(_mark(ranked_by="rule"), later, STATE, SOME))
    assert "time zone" in str(full_ranking_reason(_mark(timezone="Asia/Tokyo"), later, STATE, SOME))
    assert "calling hours" in str(
        full_ranking_reason(_mark(calling_hours="09-17"), later, STATE, SOME)
    )
    assert "inputs" in str(full_ranking_reason(_mark(), later, STATE, None))
    assert "before" in str(full_ranking_reason(_mark(), T - timedelta(hours=1), STATE, SOME))
    no_start = watermarks.Watermark("x", T, last_full_at=T, state=STATE)
    assert "state" in str(full_ranking_reason(no_start, later, STATE, SOME))
