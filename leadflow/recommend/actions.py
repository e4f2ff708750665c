"""Next best action, channel, hour and reasons for one lead: pure rules over its snapshot row.

- **Channel**: the channel the lead answers best: per channel, answered / attempted with the
  organization's answer rate as a prior worth `PRIOR_WEIGHT` attempts (so one lucky SMS does
  not beat a history of answered calls, and a lead never tried keeps the organization's best).
- **Hour**: the local hour (organization timezone) at which the lead most often answered or
  reached out; else the organization's best hour; else 10:00.
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


def best_hour(lead_hours: Sequence[int], org_hour: int | None) -> tuple[int, bool]:
    """(hour, from the lead's own answers?)"""
    if lead_hours:
        counts = Counter(lead_hours)
        top = max(counts.values())
        return min(h for h, c in counts.items() if c == top), True
    return (org_hour if org_hour is not None else DEFAULT_HOUR), False


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
) -> Recommendation:
    channel, rate, answers, attempts = best_channel(row, org_rates)
    hour, own = best_hour(lead_hours, org_hour)
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
    reasons.append(
        f"usually answers around {hour:02d}:00"
        if own
        else f"around {hour:02d}:00, when the organization's leads answer most"
    )
    if action == "nurture":
        return Recommendation(action, None, None, reasons)
    return Recommendation(action, channel, hour, reasons)
