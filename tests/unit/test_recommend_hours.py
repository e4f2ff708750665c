"""Calling hours (parsing hostile config, slots, the best hour inside them) and the honest score
of a served entry: a probability only when a model produced it."""

from __future__ import annotations

import pytest

from leadflow.cli.recommend import _line, score_text
from leadflow.recommend import cache
from leadflow.recommend.actions import best_hour, org_best_hour, recommend
from leadflow.recommend.hours import (
    DEFAULT_CALLING_HOURS,
    CallingHours,
    CallingHoursError,
    hour_window,
    parse_calling_hours,
)
from tests.unit.test_recommend_rules import ORG_RATES, row


def test_the_default_is_the_tcpa_window():
    assert DEFAULT_CALLING_HOURS.label() == "08:00–21:00"
    assert DEFAULT_CALLING_HOURS.slots == list(range(8, 21))
    assert DEFAULT_CALLING_HOURS.as_config() == {"start": "08:00", "end": "21:00"}


@pytest.mark.parametrize(
    ("value", "slots"),
    [
        ({"start": "09:00", "end": "17:00"}, list(range(9, 17))),
        ({"start": "8:30", "end": "12:15"}, [9, 10, 11]),  # whole hours only
        ({"start": "00:00", "end": "24:00"}, list(range(24))),
        ({"start": " 10:00 ", "end": "11:00"}, [10]),
    ],
)
def test_parse_calling_hours(value, slots):
    assert parse_calling_hours(value).slots == slots


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "must be an object"),
        ("08:00-21:00", "must be an object"),
        ([8, 21], "must be an object"),
        ({"start": "08:00"}, 'needs both "start" and "end"'),
        ({"start": "08:00", "end": "21:00", "tz": "UTC"}, "unknown key(s) ['tz']"),
        ({"start": 8, "end": 21}, 'start must be a time "HH:MM", not 8'),
        ({"start": "8am", "end": "21:00"}, 'start must be a time "HH:MM"'),
        ({"start": "08:00", "end": "25:00"}, 'end must be a time "HH:MM"'),
        ({"start": "08:00", "end": "24:30"}, 'end must be a time "HH:MM"'),
        ({"start": "08:00", "end": "21:60"}, 'end must be a time "HH:MM"'),
        ({"start": "21:00", "end": "08:00"}, "must come before end"),
        ({"start": "09:00", "end": "09:00"}, "must come before end"),
        ({"start": "09:10", "end": "10:05"}, "holds no whole hour"),
        ({"start": True, "end": "21:00"}, 'start must be a time "HH:MM", not True'),
        ({"start": "0" * 10_000, "end": "21:00"}, "…"),  # a huge value is not echoed whole
    ],
)
def test_bad_calling_hours_are_refused_with_a_reason(value, message):
    with pytest.raises(CallingHoursError) as refused:
        parse_calling_hours(value)
    assert message in str(refused.value)
    assert len(str(refused.value)) < 200


def test_nearest_allowed_hour():
    window = CallingHours(9 * 60, 17 * 60)
    assert [window.nearest(h) for h in (3, 9, 12, 16, 17, 23)] == [9, 9, 12, 16, 16, 16]
    assert window.allows(16) and not window.allows(17) and not window.allows(8)


def test_the_best_hour_is_always_inside_the_calling_hours():
    window = CallingHours(9 * 60, 17 * 60)
    # the most frequent hour inside the window wins over a more frequent one outside it
    assert best_hour([3, 3, 3, 14], None, window) == (14, True)
    # only answers outside: the nearest allowed hour
    assert best_hour([22, 22, 7], None, window) == (16, True)
    assert best_hour([3], None, window) == (9, True)
    assert best_hour([], 3, window) == (9, False)
    assert best_hour([], None, CallingHours(12 * 60, 15 * 60)) == (12, False)
    for hours in ([0], [23, 23], [5, 6, 20], []):
        for org_hour in (None, 0, 12, 23):
            hour, _ = best_hour(hours, org_hour)
            assert DEFAULT_CALLING_HOURS.allows(hour)


def test_the_organizations_best_hour_prefers_the_window():
    assert org_best_hour([3, 3, 3, 11], DEFAULT_CALLING_HOURS) == 11
    assert org_best_hour([3, 3], DEFAULT_CALLING_HOURS) == 3  # moved later, by best_hour
    assert org_best_hour([], DEFAULT_CALLING_HOURS) is None


def test_a_moved_hour_says_so_in_the_reasons():
    rec = recommend(
        row(calls=3, calls_answered=3),
        0.7,
        low_cut=0.05,
        high_cut=0.9,
        org_rates=ORG_RATES,
        lead_hours=[3, 3],
        org_hour=11,
        contributions=None,
        window=DEFAULT_CALLING_HOURS,
    )
    assert rec.best_hour == 8
    assert rec.reasons[-1] == (
        "usually answers around 03:00; 08:00 is the nearest within calling hours 08:00–21:00"
    )


def test_hour_window_names_the_zone():
    assert hour_window(9, "America/New_York") == "09:00–10:00 America/New_York"
    assert hour_window(23, "UTC") == "23:00–00:00 UTC"
    assert hour_window(None, "UTC") is None
    assert hour_window(9, None) == "09:00–10:00"


def _entry(**values) -> dict:
    base = {
        "lead_id": "b1000000-0000-4000-8000-000000000001",
        "first_name": "Marcus",
        "last_name": "Hamilton",
        "phone_number": "+12125550101",
        "status": "contacted",
        "user_id": "a1000000-0000-4000-8000-000000000003",
        "agent_rank": 1,
        "action": "call",
        "channel": "call",
        "best_hour": 9,
        "timezone": "America/New_York",
        "propensity": 0.51,
        "rule_score": 51,
        "ranked_by": "rule",
        "model_version": None,
        "reasons": ["lead score 51"],
        "computed_at": None,
    }
    return base | values


def test_a_rule_ranked_entry_shows_no_probability():
    served = cache.public(_entry())
    assert served["score_kind"] == "rule" and served["probability"] is None
    assert served["propensity"] == 0.51 and served["rule_score"] == 51  # kept: a contract
    assert served["best_window"] == "09:00–10:00 America/New_York"
    assert score_text(served) == "rule score 51"
    assert _line(served)[0] == (
        "  1. Marcus Hamilton  +12125550101  [contacted]  call 09:00–10:00 America/New_York"
        "  rule score 51"
    )


def test_a_model_ranked_entry_shows_its_probability():
    served = cache.public(_entry(ranked_by="model", model_version=3, propensity=0.73412))
    assert served["score_kind"] == "model" and served["probability"] == 0.7341
    assert score_text(served) == "p=0.734 (model v3)"
    assert set(cache.CURRENT_KEYS) <= set(served)


def test_an_entry_cached_by_an_older_version_is_not_current():
    old = cache.public(_entry())
    for key in cache.CURRENT_KEYS:
        del old[key]
    assert not cache._current(old)
    assert cache._current(cache.public(_entry()))
    assert score_text(old) == "rule score 51"  # still said honestly if shown
