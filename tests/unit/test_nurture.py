"""Nurture steps format and enrollment schedule (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadflow.crm.nurture import (
    NurtureStep,
    NurtureStepsError,
    Touch,
    advance,
    first_due,
    parse_steps,
)

# The seed's "New lead welcome" sequence (the schema reference's format).
WELCOME = [
    {"step": 1, "delay_days": 0, "channel": "sms", "template_id": "welcome_sms"},
    {"step": 2, "delay_days": 2, "channel": "email", "template_id": "intro_email"},
    {"step": 3, "delay_days": 5, "channel": "call", "template_id": "intro_call"},
    {"step": 4, "delay_days": 10, "channel": "email", "template_id": "check_in_email"},
]
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def test_parse_steps_orders_by_step_number():
    steps = parse_steps(list(reversed(WELCOME)))
    assert [s.step for s in steps] == [1, 2, 3, 4]
    assert steps[0] == NurtureStep(1, 0, "sms", "welcome_sms")


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ({"step": 1}, "steps: expected a list of steps, got dict"),
        ([], "steps: the sequence has no steps"),
        (["sms"], "steps[0]: expected an object, got str"),
        ([{**WELCOME[0], "subject": "hi"}], "steps[0]: unknown keys ['subject']"),
        ([{"step": 1, "delay_days": 0, "channel": "sms"}], "steps[0]: missing ['template_id']"),
        ([{**WELCOME[0], "step": 0}], "steps[0].step: expected an integer >= 1, got 0"),
        ([{**WELCOME[0], "step": "1"}], "steps[0].step: expected an integer >= 1, got '1'"),
        ([{**WELCOME[0], "delay_days": -1}], "steps[0].delay_days: expected an integer 0..3650"),
        ([{**WELCOME[0], "delay_days": 1.5}], "steps[0].delay_days: expected an integer 0..3650"),
        ([{**WELCOME[0], "delay_days": True}], "steps[0].delay_days: expected an integer"),
        ([{**WELCOME[0], "channel": "fax"}], "steps[0].channel: expected one of sms, email, call"),
        ([{**WELCOME[0], "template_id": " "}], "steps[0].template_id: expected a non-empty"),
        ([WELCOME[0], {**WELCOME[1], "step": 3}], "steps: step numbers must be 1..2, each once"),
        ([WELCOME[0], WELCOME[0]], "steps: step numbers must be 1..2, each once; got [1, 1]"),
    ],
)
def test_parse_steps_refuses_bad_steps(steps, message):
    with pytest.raises(NurtureStepsError) as excinfo:
        parse_steps(steps)
    assert str(excinfo.value).startswith(message), str(excinfo.value)


def test_first_step_is_due_its_delay_after_enrollment():
    steps = parse_steps(WELCOME)
    assert first_due(steps, T0) == T0
    later = parse_steps([{**WELCOME[0], "delay_days": 3}])
    assert first_due(later, T0) == T0 + days(3)


def test_nothing_is_due_before_the_next_step_time():
    steps = parse_steps(WELCOME)
    progress = advance(steps, 1, T0 + days(2), T0, as_of=T0 + days(2) - timedelta(seconds=1))
    assert progress.touches == ()
    assert (progress.current_step, progress.next_step_scheduled_at) == (1, T0 + days(2))
    assert not progress.completed


def test_a_due_step_is_queued_and_the_next_is_relative_to_its_due_time():
    steps = parse_steps(WELCOME)
    progress = advance(steps, 0, T0, T0, as_of=T0)
    assert progress.touches == (Touch(1, "sms", "welcome_sms", T0),)
    assert (progress.current_step, progress.next_step_scheduled_at) == (1, T0 + days(2))
    # a run one day late still schedules step 3 from step 2's due time, not from the run
    progress = advance(steps, 1, T0 + days(2), T0, as_of=T0 + days(3))
    assert progress.touches == (Touch(2, "email", "intro_email", T0 + days(2)),)
    assert progress.next_step_scheduled_at == T0 + days(7)


def test_catch_up_queues_every_due_step_with_its_own_due_time_then_completes():
    steps = parse_steps(WELCOME)
    progress = advance(steps, 0, T0, T0, as_of=T0 + days(30))
    assert [(t.step, t.due_at) for t in progress.touches] == [
        (1, T0),
        (2, T0 + days(2)),
        (3, T0 + days(7)),
        (4, T0 + days(17)),
    ]
    assert progress.current_step == 4 and progress.next_step_scheduled_at is None
    assert progress.completed_at == T0 + days(17)


def test_partial_catch_up_stops_at_the_first_step_not_yet_due():
    steps = parse_steps(WELCOME)
    progress = advance(steps, 1, T0 + days(2), T0, as_of=T0 + days(10))
    assert [t.step for t in progress.touches] == [2, 3]
    assert (progress.current_step, progress.next_step_scheduled_at) == (3, T0 + days(17))


def test_a_missing_schedule_is_rebuilt_from_the_enrollment_time():
    steps = parse_steps(WELCOME)
    progress = advance(steps, 2, None, T0, as_of=T0 + days(7))
    assert progress.touches == (Touch(3, "call", "intro_call", T0 + days(7)),)


def test_an_enrollment_past_the_last_step_completes_without_a_touch():
    steps = parse_steps(WELCOME[:2])
    progress = advance(steps, 3, T0, T0, as_of=T0 + days(1))
    assert progress.touches == ()
    assert progress.completed_at == T0 + days(1) and progress.current_step == 3
