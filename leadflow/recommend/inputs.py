"""The organization-wide inputs of a ranking, kept with the model version they were computed for.

An entry depends on its lead's own rows and on four numbers of the whole organization: the
propensity of its bottom and top decile (`close_cold` and `nurture` compare against them), the
answer rate per channel (the prior of the channel choice) and the answered hours per local hour
(the organization's best hour). Recomputed every night they would move with every activity
anywhere in the organization, and every lead's entry with them: no ranking could then touch
only what changed. So they are computed once per model version (by the first ranking with it:
its full pass), stored beside the version (lead_conversion_models.ranking_inputs, migration 019)
and read by every later ranking with that version, full or incremental. They follow the data
when the model does: a retrain (service.retrain_reason: weekly by default, on drift, on
`--full-refresh`) starts a new version and a full ranking.

A stored value is data a tenant's row could have shaped: `parse` accepts only the exact shape
with bounded numbers, else None (recomputed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from leadflow.recommend.actions import answer_rates
from leadflow.recommend.features import CHANNELS
from leadflow.recommend.hours import CallingHours

FORMAT = "leadflow.ranking_inputs/1"


@dataclass(frozen=True)
class RankingInputs:
    low_cut: float
    high_cut: float
    answer_rates: dict[str, float]
    #: answered or inbound activities per local hour 0..23 (the organization's time zone)
    hour_counts: tuple[int, ...]

    def org_hour(self, window: CallingHours) -> int | None:
        """The organization's best hour, as actions.org_best_hour says it from every answered
        hour: the most frequent inside `window` (the earlier on a tie), else the most frequent
        of all; None without any."""
        counts = {hour: count for hour, count in enumerate(self.hour_counts) if count}
        pool = {h: c for h, c in counts.items() if window.allows(h)} or counts
        if not pool:
            return None
        top = max(pool.values())
        return min(h for h, c in pool.items() if c == top)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "low_cut": self.low_cut,
            "high_cut": self.high_cut,
            "answer_rates": {channel: self.answer_rates[channel] for channel in CHANNELS},
            "hour_counts": list(self.hour_counts),
        }


def compute(
    rows: Sequence[Mapping], propensities: Sequence[float], hours: Mapping[str, Sequence[int]]
) -> RankingInputs:
    """The inputs from every eligible lead's snapshot row and propensity, and the answered hours
    of every lead of the organization."""
    values = np.asarray(propensities, dtype=np.float64)
    counts = [0] * 24
    for lead_hours in hours.values():
        for hour in lead_hours:
            counts[hour] += 1
    return RankingInputs(
        low_cut=float(np.percentile(values, 10)) if len(values) else 0.0,
        high_cut=float(np.percentile(values, 90)) if len(values) else 1.0,
        answer_rates=answer_rates(rows),
        hour_counts=tuple(counts),
    )


def _unit(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and 0.0 <= number <= 1.0 else None


def parse(value: Any) -> RankingInputs | None:
    """Stored inputs back, or None when they are absent or not exactly what `to_json` writes."""
    if not isinstance(value, dict) or set(value) != {
        "format",
        "low_cut",
        "high_cut",
        "answer_rates",
        "hour_counts",
    }:
        return None
    if value["format"] != FORMAT:
        return None
    low, high = _unit(value["low_cut"]), _unit(value["high_cut"])
    rates = value["answer_rates"]
    counts = value["hour_counts"]
    if low is None or high is None or not isinstance(rates, dict) or set(rates) != set(CHANNELS):
        return None
    parsed_rates = {channel: _unit(rates[channel]) for channel in CHANNELS}
    if any(rate is None for rate in parsed_rates.values()):
        return None
    if (
        not isinstance(counts, list)
        or len(counts) != 24
        or not all(
            isinstance(c, int) and not isinstance(c, bool) and 0 <= c < 2**31 for c in counts
        )
    ):
        return None
    return RankingInputs(
        low_cut=low,
        high_cut=high,
        answer_rates={channel: float(rate or 0.0) for channel, rate in parsed_rates.items()},
        hour_counts=tuple(counts),
    )
