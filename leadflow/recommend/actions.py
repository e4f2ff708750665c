"""Next best action, channel, hour and reasons for one lead: pure rules over its snapshot row.

- **Channel**: the channel the lead answers best: per channel, answered / attempted with the
  organization's answer rate as a prior worth `PRIOR_WEIGHT` attempts (so one lucky SMS does
  not beat a history of answered calls, and a lead never tried keeps the organization's best).
- **Hour**: the local hour (organization timezone) at which the lead most often answered or
  reached out; else the organization's best hour; else 10:00; always a slot inside the
  organization's calling hours (hours.py, default 08:00–21:00): the most frequent hour inside
  them, else the allowed hour nearest the most frequent one.
- **Action**:
  `close_cold` — cold or long silent after many unanswered attempts, and in the organization's
  bottom decile of propensity; `re_engage` — cold, or reached before but silent for
  `SILENT_DAYS`; `nurture` — in an active nurture sequence at status nurturing, not in the top
  decile (let the sequence work); otherwise contact on the best channel (`call`, `sms`,
  `email`).
- **Reasons**: the features that push the lead up most, in words, then why the channel/hour.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from leadflow.recommend.features import CHANNELS, NEVER_DAYS, phrase
from leadflow.recommend.hours import DEFAULT_CALLING_HOURS, CallingHours

PRIOR_WEIGHT = 3.0
SILENT_DAYS = 45.0
CLOSE_AFTER_ATTEMPTS = 6
DEFAULT_HOUR = 10
MAX_REASONS = 3

_ATTEMPTS = {"call": "calls", "sms": "sms", "email": "emails"}
_ANSWERS = {"call": "calls_answered", "sms": "sms_replied", "email": "emails_replied"}


@dataclass(frozen=True)
class Recommendation:
    action: str
    channel: str | None
    best_hour: int | None
    reasons: list[str]


def answer_rates(rows: Sequence[Mapping]) -> dict[str, float]:
    """The organization's answer rate per channel (answered / attempted over all its leads),
    at most 1."""
    rates = {}
    for channel in CHANNELS:
        attempts = sum(float(r[_ATTEMPTS[channel]] or 0) for r in rows)
        # a lead's answers count up to its attempts: an SMS it sent on its own is an answer
        # feature, not a second answer to one message
        answers = sum(
            min(float(r[_ANSWERS[channel]] or 0), float(r[_ATTEMPTS[channel]] or 0)) for r in rows
        )
        rates[channel] = answers / attempts if attempts else 0.0
    return rates


def best_channel(row: Mapping, org_rates: Mapping[str, float]) -> tuple[str, float, float, float]:
    """(channel, smoothed rate, answers, attempts) of the channel the lead answers best."""
    scored = []
    for channel in CHANNELS:
        attempts = float(row[_ATTEMPTS[channel]] or 0)
        answers = min(float(row[_ANSWERS[channel]] or 0), attempts) if attempts else 0.0
        prior = org_rates.get(channel, 0.0)
        rate = (answers + PRIOR_WEIGHT * prior) / (attempts + PRIOR_WEIGHT)
        scored.append((rate, -CHANNELS.index(channel), channel, answers, attempts))
    rate, _, channel, answers, attempts = max(scored)
    return channel, rate, answers, attempts


def best_hour(
    lead_hours: Sequence[int],
    org_hour: int | None,
    window: CallingHours = DEFAULT_CALLING_HOURS,
) -> tuple[int, bool]:
    """(hour, from the lead's own answers?): an hour `window` allows, always."""
    hour, own, _ = _hour_choice(lead_hours, org_hour, window)
    return hour, own


def _hour_choice(
    lead_hours: Sequence[int], org_hour: int | None, window: CallingHours
) -> tuple[int, bool, int | None]:
    """(hour inside the window, from the lead's own answers?, the hour the answers point to)"""
    preferred, own = _preferred_hour(lead_hours, window)
    if preferred is None:
        preferred, own = org_hour, False
    hour = preferred if preferred is not None else DEFAULT_HOUR
    return (hour if window.allows(hour) else window.nearest(hour)), own, preferred


def _preferred_hour(hours: Sequence[int], window: CallingHours) -> tuple[int | None, bool]:
    """The most frequent of `hours` inside the window (the earlier on a tie), else the most
    frequent of all (to be moved into the window); None without hours."""
    if not hours:
        return None, False
    counts = Counter(hours)
    allowed = {h: c for h, c in counts.items() if window.allows(h)}
    pool = allowed or counts
    top = max(pool.values())
    return min(h for h, c in pool.items() if c == top), True


def org_best_hour(hours: Sequence[int], window: CallingHours = DEFAULT_CALLING_HOURS) -> int | None:
    """The organization's best hour from all its leads' answer hours, preferring the window."""
    return _preferred_hour(hours, window)[0]


def _hour_reason(hour: int, own: bool, preferred: int | None, window: CallingHours) -> str:
    """Why this hour; when the answers point outside the calling hours, that it was moved."""
    if preferred is None:
        return f"around {hour:02d}:00 (no answers recorded yet)"
    said = (
        f"usually answers around {preferred:02d}:00"
        if own
        else f"around {preferred:02d}:00, when the organization's leads answer most"
    )
    if preferred != hour:
        said += f"; {hour:02d}:00 is the nearest within calling hours {window.label()}"
    return said


def choose_action(
    row: Mapping, propensity: float, low_cut: float, high_cut: float, channel: str
) -> str:
    status = row["status"]
    silent = float(row["days_since_contact"])
    failed = float(row["failed_attempts"] or 0)
    if (
        propensity <= low_cut
        and failed >= CLOSE_AFTER_ATTEMPTS
        and (status == "cold" or silent >= SILENT_DAYS)
    ):
        return "close_cold"
    if status == "cold" or SILENT_DAYS <= silent < NEVER_DAYS:
        return "re_engage"
    if status == "nurturing" and row["nurture_active"] and propensity < high_cut:
        return "nurture"
    return channel


def reasons_from(row: Mapping, contributions: Sequence[tuple[str, float]] | None) -> list[str]:
    """The features pushing the lead up most (model), or its strongest score factors (rule)."""
    said: list[str] = []
    if contributions is not None:
        for name, value in sorted(contributions, key=lambda item: -item[1]):
            if value <= 0 or len(said) >= MAX_REASONS:
                break
            text = phrase(name, row, positive=True)
            if text and text not in said:
                said.append(text)
        return said
    factors = sorted(
        (
            (name, float(row[name] or 0))
            for name in ("qualification", "engagement", "intent", "demographic")
        ),
        key=lambda item: -item[1],
    )
    said.append(f"lead score {float(row['rule_score']):.0f}")
    said += [f"{name} {value:.0f}" for name, value in factors[:2] if value > 0]
    return said


def recommend(
    row: Mapping,
    propensity: float,
    *,
    low_cut: float,
    high_cut: float,
    org_rates: Mapping[str, float],
    lead_hours: Sequence[int],
    org_hour: int | None,
    contributions: Sequence[tuple[str, float]] | None,
    window: CallingHours = DEFAULT_CALLING_HOURS,
) -> Recommendation:
    channel, rate, answers, attempts = best_channel(row, org_rates)
    hour, own, preferred = _hour_choice(lead_hours, org_hour, window)
    action = choose_action(row, propensity, low_cut, high_cut, channel)
    reasons = reasons_from(row, contributions)
    if action == "close_cold":
        reasons.append(f"{int(row['failed_attempts'])} unanswered attempts and little chance left")
        return Recommendation(action, None, None, reasons)
    if attempts:
        reasons.append(
            f"answers {channel.upper() if channel == 'sms' else channel + 's'}:"
            f" {answers:.0f} of {attempts:.0f}"
        )
    else:
        reasons.append(f"{channel} is the organization's best channel ({rate:.0%} answered)")
    reasons.append(_hour_reason(hour, own, preferred, window))
    if action == "nurture":
        return Recommendation(action, None, None, reasons)
    return Recommendation(action, channel, hour, reasons)
