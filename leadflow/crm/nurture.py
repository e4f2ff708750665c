"""Nurture sequences: the steps format, and where an enrollment stands at a given time (pure).

Steps (`nurture_sequences.steps`) are a JSON array, the schema reference's format:

    [{"step": 1, "delay_days": 0, "channel": "sms", "template_id": "welcome_sms"},
     {"step": 2, "delay_days": 2, "channel": "email", "template_id": "intro_email"}]

- `step`: integers numbered 1..n, each exactly once (array order does not matter);
- `delay_days`: integer, 0..3650: days after the previous step was due; step 1's delay counts
  from enrollment (so the example's step 2 is due two days after step 1);
- `channel`: `sms`, `email` or `call`;
- `template_id`: non-empty string of at most 200 characters;
- no other keys, and at least one step.

An enrollment records the last step queued (`current_step`, 0 = none) and when the next one is
due (`next_step_scheduled_at`). `advance` queues every step due by `as_of` in one go (catch-up
after a missed run keeps each touch's own due time), schedules the next one relative to the
previous due time (not to the run), and completes the enrollment with the last step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

CHANNELS = ("sms", "email", "call")
MAX_DELAY_DAYS = 3650
MAX_TEMPLATE_ID = 200
_STEP_KEYS = ("step", "delay_days", "channel", "template_id")


class NurtureStepsError(ValueError):
    """A sequence's steps do not follow the format; the message names the offending path."""


@dataclass(frozen=True)
class NurtureStep:
    step: int
    delay_days: int
    channel: str
    template_id: str


@dataclass(frozen=True)
class Touch:
    """One step to queue for an enrollment."""

    step: int
    channel: str
    template_id: str
    due_at: datetime


@dataclass(frozen=True)
class Progress:
    """An enrollment after `advance`: the touches to queue and its new state."""

    touches: tuple[Touch, ...]
    current_step: int
    next_step_scheduled_at: datetime | None  # None once completed
    completed_at: datetime | None  # the last step's due time; None while steps remain

    @property
    def completed(self) -> bool:
        return self.completed_at is not None


def parse_steps(steps: Any) -> tuple[NurtureStep, ...]:
    """Validate a sequence's steps and return them ordered by step number."""
    if not isinstance(steps, list):
        raise NurtureStepsError(f"steps: expected a list of steps, got {type(steps).__name__}")
    if not steps:
        raise NurtureStepsError("steps: the sequence has no steps")
    parsed = [_parse_step(item, f"steps[{i}]") for i, item in enumerate(steps)]
    parsed.sort(key=lambda s: s.step)
    numbers = [s.step for s in parsed]
    if numbers != list(range(1, len(parsed) + 1)):
        raise NurtureStepsError(
            f"steps: step numbers must be 1..{len(parsed)}, each once; got {sorted(numbers)}"
        )
    return tuple(parsed)


def _parse_step(item: Any, path: str) -> NurtureStep:
    if not isinstance(item, dict):
        raise NurtureStepsError(f"{path}: expected an object, got {type(item).__name__}")
    unknown = sorted(str(key) for key in item if key not in _STEP_KEYS)
    if unknown:
        raise NurtureStepsError(f"{path}: unknown keys {unknown}; expected {list(_STEP_KEYS)}")
    missing = [key for key in _STEP_KEYS if key not in item]
    if missing:
        raise NurtureStepsError(f"{path}: missing {missing}")
    step, delay, channel, template = (item[key] for key in _STEP_KEYS)
    if not _is_int(step) or step < 1:
        raise NurtureStepsError(f"{path}.step: expected an integer >= 1, got {step!r}")
    if not _is_int(delay) or not 0 <= delay <= MAX_DELAY_DAYS:
        raise NurtureStepsError(
            f"{path}.delay_days: expected an integer 0..{MAX_DELAY_DAYS}, got {delay!r}"
        )
    if channel not in CHANNELS:
        raise NurtureStepsError(
            f"{path}.channel: expected one of {', '.join(CHANNELS)}, got {channel!r}"
        )
    if not isinstance(template, str) or not template.strip() or len(template) > MAX_TEMPLATE_ID:
        raise NurtureStepsError(
            f"{path}.template_id: expected a non-empty string of at most {MAX_TEMPLATE_ID}"
            f" characters, got {template!r}"
        )
    return NurtureStep(step, delay, channel, template)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def first_due(steps: tuple[NurtureStep, ...], enrolled_at: datetime) -> datetime:
    """When step 1 of a new enrollment is due."""
    return enrolled_at + timedelta(days=steps[0].delay_days)


def advance(
    steps: tuple[NurtureStep, ...],
    current_step: int,
    next_due: datetime | None,
    enrolled_at: datetime,
    as_of: datetime,
) -> Progress:
    """Queue every step due by `as_of` after `current_step`.

    `next_due` is the enrollment's next_step_scheduled_at; when it is missing the schedule is
    rebuilt from `enrolled_at` (each delay after the previous step, as if every step had gone
    out on time). An enrollment whose steps are all queued already (the sequence was shortened)
    completes at `as_of` without a touch.
    """
    total = len(steps)
    if current_step >= total:
        return Progress((), current_step, None, as_of)
    step = current_step + 1
    due = next_due
    if due is None:
        due = enrolled_at + timedelta(days=sum(s.delay_days for s in steps[:step]))
    touches: list[Touch] = []
    while due <= as_of:
        spec = steps[step - 1]
        touches.append(Touch(step, spec.channel, spec.template_id, due))
        if step == total:
            return Progress(tuple(touches), step, None, due)
        step += 1
        due += timedelta(days=steps[step - 1].delay_days)
    return Progress(tuple(touches), step - 1, due, None)
