"""Labelled snapshot rows for the propensity model, made in Python (no database): numbers on
the scales the real snapshot has, sources with frequent, rare (fewer than the encoder's
min_frequency) and empty values, and a label driven by answered activity, so a model fits."""

from __future__ import annotations

import numpy as np

from leadflow.recommend.features import NEVER_DAYS, NUMERIC_FEATURES

SOURCES = ("referral", "facebook", "indeed", "linkedin", "job_fair", "website")
RARE_SOURCES = ("billboard", "radio", "trade_show")  # each fewer than 5 times


def training_rows(count: int = 1200, seed: int = 3) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        responsive = rng.beta(2, 5)
        calls = int(rng.integers(0, 12))
        sms = int(rng.integers(0, 8))
        emails = int(rng.integers(0, 6))
        contacted = rng.random() < 0.7
        row = {
            "lead_id": f"lead-{i}",
            "status": str(rng.choice(["new", "contacted", "qualified", "nurturing", "cold"])),
            "rule_score": int(rng.integers(0, 101)),
            "qualification": float(rng.integers(0, 30)),
            "engagement": float(rng.integers(0, 30)),
            "intent": float(rng.integers(0, 25)),
            "demographic": float(rng.integers(0, 15)),
            "calls": calls,
            "calls_answered": int(rng.binomial(calls, responsive)),
            "sms": sms,
            "sms_replied": int(rng.binomial(sms, responsive)),
            "emails": emails,
            "emails_replied": int(rng.binomial(emails, responsive)),
            "meetings_completed": int(rng.binomial(2, responsive)),
            "inbound": int(rng.poisson(responsive * 2)),
            "failed_attempts": int(rng.integers(0, 9)),
            "days_since_created": float(rng.uniform(0, 240)),
            "days_since_activity": float(rng.uniform(0, 90)) if contacted else NEVER_DAYS,
            "days_since_contact": float(rng.uniform(0, 120)) if contacted else NEVER_DAYS,
            "status_changes": int(rng.integers(0, 6)),
            "max_status_rank": int(rng.integers(0, 6)),
            "status_rank": int(rng.integers(0, 6)),
            "nurture_step": int(rng.integers(0, 4)),
            "nurture_active": int(rng.random() < 0.2),
            "nurture_completed": int(rng.random() < 0.1),
            "source": "" if i % 97 == 0 else str(rng.choice(SOURCES)),
            "on_dnc_list": False,
        }
        row["label"] = bool(rng.random() < 0.05 + 0.8 * responsive**2)
        rows.append(row)
    for i, source in enumerate(RARE_SOURCES):  # 1, 2 and 3 leads: folded into one column
        for j in range(i + 1):
            rows[(i * 7 + j * 13) % count]["source"] = source
    assert set(NUMERIC_FEATURES) <= set(rows[0])
    return rows
