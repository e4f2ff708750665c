"""Training and recommending for one organization: the steps the assets, the CLI and the
benchmark share."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from leadflow import settings
from leadflow.recommend import model as propensity
from leadflow.recommend import served, store
from leadflow.recommend.actions import answer_rates, org_best_hour, recommend
from leadflow.recommend.hours import calling_hours
from leadflow.recommend.served import ModelFormatError

log = logging.getLogger(__name__)

DEFAULT_HORIZON_DAYS: int = settings.Settings.reco_horizon_days.fixed_default
DEFAULT_TRAIN_SNAPSHOTS: int = settings.Settings.reco_train_snapshots.fixed_default
DEFAULT_MIN_AUC_GAIN: float = settings.Settings.reco_min_auc_gain.fixed_default


@dataclass(frozen=True)
class RecoSettings:
    horizon_days: int = DEFAULT_HORIZON_DAYS
    train_snapshots: int = DEFAULT_TRAIN_SNAPSHOTS
    min_gain: float = DEFAULT_MIN_AUC_GAIN
    list_size: int = settings.Settings.reco_list_size.fixed_default

    @classmethod
    def from_env(cls) -> RecoSettings:
        current = settings.current()
        return cls(
            horizon_days=current.reco_horizon_days,
            train_snapshots=current.reco_train_snapshots,
            min_gain=current.reco_min_auc_gain,
            list_size=current.reco_list_size,
        )


def train_organization(
    conn: psycopg.Connection, org: str, as_of: datetime, reco: RecoSettings
) -> dict[str, Any]:
    """Train on past snapshots, judge on the latest fully observed one, store the version."""
    started = time.perf_counter()
    horizon = timedelta(days=reco.horizon_days)
    holdout_at = as_of - horizon
    train_rows: list[dict] = []
    for k in range(1, reco.train_snapshots + 1):
        train_rows += store.snapshot(
            conn, org, holdout_at - k * horizon, reco.horizon_days, labelled=True
        ).rows
    holdout_rows = store.snapshot(conn, org, holdout_at, reco.horizon_days, labelled=True).rows
    result = propensity.train(train_rows, holdout_rows, reco.min_gain)
    parameters = None
    if result.pipeline is not None:
        try:
            parameters = propensity.export(result.pipeline).to_json()
        except ModelFormatError as exc:  # e.g. thousands of distinct sources: not servable
            result.status = "flagged"
            result.reason = f"the fitted model cannot be stored as a served model: {exc}"
    seconds = round(time.perf_counter() - started, 3)
    result.metrics["training_seconds"] = seconds
    version = store.save_model(
        conn,
        org,
        as_of=as_of,
        horizon_days=reco.horizon_days,
        algorithm=propensity.ALGORITHM,
        status=result.status,
        metrics=result.metrics,
        baseline=result.baseline,
        beats_baseline=result.beats_baseline,
        feature_names=result.feature_names,
        parameters=parameters,
    )
    return {
        "organization_id": org,
        "version": version,
        "status": result.status,
        "auc": result.metrics.get("auc"),
        "baseline_auc": result.baseline.get("auc"),
        "brier": result.metrics.get("brier"),
        "baseline_brier": result.baseline.get("brier"),
        "calibration_error": result.metrics.get("calibration_error"),
        "gbm_auc": result.metrics.get("gbm_auc"),
        "train_leads": result.metrics.get("train_leads"),
        "holdout_leads": result.metrics.get("holdout_leads"),
        "holdout_recruited": result.metrics.get("holdout_recruited"),
        "reason": result.reason,
        "seconds": seconds,
    }


def score_organization(
    conn: psycopg.Connection, org: str, as_of: datetime, reco: RecoSettings
) -> tuple[list[dict], dict[str, Any]]:
    """Every eligible lead's entry (rank, action, channel, hour, reasons) as of `as_of`, with
    the organization's active model, or the rule score when it has none that beats it."""
    started = time.perf_counter()
    latest = store.latest_model(conn, org)
    rows = store.snapshot(conn, org, as_of, reco.horizon_days, labelled=False).rows
    model, model_error = None, None
    if latest and latest["status"] == "active" and latest["model_parameters"] is not None:
        try:
            model = served.load(
                latest["model_parameters"],
                organization_id=org,
                version=latest["version"],
                feature_names=latest["feature_names"],
            )
        except ModelFormatError as exc:  # tampered or corrupt: this organization ranks by rule
            model_error = str(exc)
    use_model = model is not None
    if model is not None:
        scores, pushes = model.predict_with_contributions(rows)
        names = list(model.feature_names)
    else:
        scores = np.array([float(r["rule_score"] or 0) / 100.0 for r in rows])
        names, pushes = [], None
    scored_at = time.perf_counter()
    low_cut = float(np.percentile(scores, 10)) if len(scores) else 0.0
    high_cut = float(np.percentile(scores, 90)) if len(scores) else 1.0
    org_rates = answer_rates(rows)
    timezone = store.organization_timezone(conn, org)
    window, window_error = calling_hours(conn, org)
    if window_error:  # tenant-written: a bad value falls back to the default, never fails
        log.warning(window_error)
    hours, _ = store.answered_hours(conn, org, as_of, timezone)
    org_hour = org_best_hour([hour for lead in hours.values() for hour in lead], window)
    entries = []
    for i, row in enumerate(rows):
        contributions = list(zip(names, pushes[i], strict=True)) if pushes is not None else None
        rec = recommend(
            row,
            float(scores[i]),
            low_cut=low_cut,
            high_cut=high_cut,
            org_rates=org_rates,
            lead_hours=hours.get(row["lead_id"], ()),
            org_hour=org_hour,
            contributions=contributions,
            window=window,
        )
        entries.append(
            {
                "lead_id": row["lead_id"],
                "organization_id": org,
                "user_id": row["user_id"],
                "model_version": latest["version"] if use_model and latest else None,
                "ranked_by": "model" if use_model else "rule",
                "propensity": float(min(max(scores[i], 0.0), 1.0)),
                "rule_score": int(row["rule_score"]),
                "action": rec.action,
                "channel": rec.channel,
                "best_hour": rec.best_hour,
                "timezone": timezone,
                "reasons": rec.reasons,
                "computed_at": as_of,
                "first_name": row["first_name"],
                "last_name": row["last_name"],
                "phone_number": row["phone_number"],
                "status": row["status"],
            }
        )
    by_agent: dict[str | None, list[dict]] = {}
    for entry in entries:
        by_agent.setdefault(entry["user_id"], []).append(entry)
    for items in by_agent.values():
        items.sort(key=lambda e: (-e["propensity"], -e["rule_score"], e["lead_id"]))
        for rank, entry in enumerate(items, 1):
            entry["agent_rank"] = rank
    mix: dict[str, int] = {}
    for entry in entries:
        mix[entry["action"]] = mix.get(entry["action"], 0) + 1
    summary = {
        "organization_id": org,
        "leads": len(entries),
        "ranked_by": "model" if use_model else "rule",
        "model_version": latest["version"] if latest else None,
        "model_status": latest["status"] if latest else "none",
        "model_error": model_error,
        "timezone": timezone,
        "calling_hours": window.label(),
        "calling_hours_error": window_error,
        "actions": dict(sorted(mix.items())),
        "agents": sum(1 for agent in by_agent if agent),
        "scoring_seconds": round(scored_at - started, 3),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return entries, summary


def durable_rows(entries: list[dict]) -> list[tuple]:
    """Entries as lead_recommendations rows for COPY (reasons as JSON text)."""
    return [
        tuple(json.dumps(e[c]) if c == "reasons" else e.get(c) for c in store.REC_COLUMNS)
        for e in entries
    ]
