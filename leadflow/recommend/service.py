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

from leadflow import settings, watermarks
from leadflow.recommend import inputs as ranking_inputs
from leadflow.recommend import model as propensity
from leadflow.recommend import served, store
from leadflow.recommend.actions import recommend
from leadflow.recommend.hours import calling_hours
from leadflow.recommend.inputs import RankingInputs
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
    retrain_days: int = settings.Settings.reco_retrain_days.fixed_default
    retrain_drift: float = settings.Settings.reco_retrain_drift.fixed_default

    @classmethod
    def from_env(cls) -> RecoSettings:
        current = settings.current()
        return cls(
            horizon_days=current.reco_horizon_days,
            train_snapshots=current.reco_train_snapshots,
            min_gain=current.reco_min_auc_gain,
            list_size=current.reco_list_size,
            retrain_days=current.reco_retrain_days,
            retrain_drift=current.reco_retrain_drift,
        )


def retrain_reason(
    conn: psycopg.Connection,
    org: str,
    as_of: datetime,
    reco: RecoSettings,
    *,
    requested: bool = False,
) -> str | None:
    """Why the organization's model must be trained again at `as_of`, or None (keep it).

    The rule, in order: the run asks for it (`leadflow run --full-refresh`); the organization
    has no model; its newest model was trained for another horizon (LEADFLOW_RECO_HORIZON_DAYS
    changed) or as of a later time than `as_of` (a replay of the past); it is
    LEADFLOW_RECO_RETRAIN_DAYS (7) days old or older; or the
    data moved: the leads with a status change after the model's as-of plus the leads created
    after it are LEADFLOW_RECO_RETRAIN_DRIFT (0.05) or more of the organization's live leads.
    """
    if requested:
        return "requested (--full-refresh)"
    latest = store.latest_model(conn, org)
    if latest is None:
        return "no model yet"
    if latest["horizon_days"] != reco.horizon_days:
        return f"horizon changed ({latest['horizon_days']} -> {reco.horizon_days} days)"
    trained_as_of = latest["as_of"]
    if trained_as_of > as_of:
        return "the model is newer than the as-of"
    age = as_of - trained_as_of
    if age >= timedelta(days=reco.retrain_days):
        return f"model {age.total_seconds() / 86400:.1f} days old (every {reco.retrain_days})"
    moved, live = store.drift(conn, org, trained_as_of)
    if live and moved / live >= reco.retrain_drift:
        return (
            f"data moved: {moved} of {live} leads ({moved / live:.1%} >= {reco.retrain_drift:.0%})"
        )
    return None


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


@dataclass(frozen=True)
class Ranker:
    """What ranks an organization's leads: its newest model row and, when that is an active
    model whose stored parameters pass served.load, the served model; else the rule score."""

    latest: dict[str, Any] | None
    model: served.ServedModel | None
    error: str | None

    @property
    def ranked_by(self) -> str:
        return "model" if self.model is not None else "rule"

    @property
    def model_version(self) -> int | None:
        """The version entries name (None: ranked by the rule score)."""
        return self.latest["version"] if self.model is not None and self.latest else None

    @property
    def stored_inputs(self) -> RankingInputs | None:
        """The newest version's ranking inputs (inputs.py), when stored and valid."""
        return ranking_inputs.parse(self.latest["ranking_inputs"]) if self.latest else None


def ranker(conn: psycopg.Connection, org: str) -> Ranker:
    latest = store.latest_model(conn, org)
    if not latest or latest["status"] != "active" or latest["model_parameters"] is None:
        return Ranker(latest, None, None)
    try:
        model = served.load(
            latest["model_parameters"],
            organization_id=org,
            version=latest["version"],
            feature_names=latest["feature_names"],
        )
    except ModelFormatError as exc:  # tampered or corrupt: this organization ranks by rule
        return Ranker(latest, None, str(exc))
    return Ranker(latest, model, None)


def _scores(rows: list[dict], ranking: Ranker) -> tuple[np.ndarray, list[str], np.ndarray | None]:
    """(propensity per row, in [0, 1]; encoded feature names; contributions per row)."""
    if ranking.model is not None:
        scores, pushes = ranking.model.predict_with_contributions(rows)
        return np.clip(scores, 0.0, 1.0), list(ranking.model.feature_names), pushes
    scores = np.array([float(r["rule_score"] or 0) / 100.0 for r in rows])
    return np.clip(scores, 0.0, 1.0), [], None


def _entries(
    conn: psycopg.Connection,
    org: str,
    as_of: datetime,
    rows: list[dict],
    ranking: Ranker,
    inputs: RankingInputs | None,
    *,
    lead_ids: list[str] | None = None,
) -> tuple[list[dict], RankingInputs, dict[str, Any]]:
    """The entries of `rows` (without agent_rank), the ranking inputs they used (`inputs`, or
    computed from `rows` when None: then `rows` must be every eligible lead), and context."""
    scores, names, pushes = _scores(rows, ranking)
    timezone = store.organization_timezone(conn, org)
    window, window_error = calling_hours(conn, org)
    if window_error:  # tenant-written: a bad value falls back to the default, never fails
        log.warning(window_error)
    hours, _ = store.answered_hours(conn, org, as_of, timezone, lead_ids=lead_ids)
    if inputs is None:
        inputs = ranking_inputs.compute(rows, [float(v) for v in scores], hours)
    org_hour = inputs.org_hour(window)
    entries = []
    for i, row in enumerate(rows):
        contributions = list(zip(names, pushes[i], strict=True)) if pushes is not None else None
        rec = recommend(
            row,
            float(scores[i]),
            low_cut=inputs.low_cut,
            high_cut=inputs.high_cut,
            org_rates=inputs.answer_rates,
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
                "model_version": ranking.model_version,
                "ranked_by": ranking.ranked_by,
                "propensity": float(scores[i]),
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
    context = {
        "timezone": timezone,
        "calling_hours": window.label(),
        "calling_hours_error": window_error,
    }
    return entries, inputs, context


def rank_key(propensity: float, rule_score: int, lead_id: str) -> tuple[float, int, str]:
    """The order of an agent's list: propensity, then rule score, high first; then lead id."""
    return (-propensity, -rule_score, lead_id)


def _mix(entries: list[dict]) -> dict[str, int]:
    mix: dict[str, int] = {}
    for entry in entries:
        mix[entry["action"]] = mix.get(entry["action"], 0) + 1
    return dict(sorted(mix.items()))


def _summary(org: str, ranking: Ranker, context: dict[str, Any]) -> dict[str, Any]:
    latest = ranking.latest
    return {
        "organization_id": org,
        "ranked_by": ranking.ranked_by,
        "model_version": latest["version"] if latest else None,
        "model_status": latest["status"] if latest else "none",
        "model_error": ranking.error,
        **context,
    }


def score_organization(
    conn: psycopg.Connection,
    org: str,
    as_of: datetime,
    reco: RecoSettings,
    ranking: Ranker | None = None,
) -> tuple[list[dict], dict[str, Any]]:
    """Every eligible lead's entry (rank, action, channel, hour, reasons) as of `as_of`, with
    the organization's active model, or the rule score when it has none that beats it.

    The organization-wide inputs (inputs.py) are the model version's stored ones; a version
    without them gets them computed from this snapshot (`summary["new_ranking_inputs"]`, for
    the caller to keep with the version: store.save_ranking_inputs)."""
    started = time.perf_counter()
    ranking = ranking or ranker(conn, org)
    rows = store.snapshot(conn, org, as_of, reco.horizon_days, labelled=False).rows
    stored = ranking.stored_inputs
    entries, inputs, context = _entries(conn, org, as_of, rows, ranking, stored)
    scored_at = time.perf_counter()
    by_agent: dict[str | None, list[dict]] = {}
    for entry in entries:
        by_agent.setdefault(entry["user_id"], []).append(entry)
    for items in by_agent.values():
        items.sort(key=lambda e: rank_key(e["propensity"], e["rule_score"], e["lead_id"]))
        for rank, entry in enumerate(items, 1):
            entry["agent_rank"] = rank
    summary = {
        **_summary(org, ranking, context),
        "leads": len(entries),
        "actions": _mix(entries),
        "agents": sum(1 for agent in by_agent if agent),
        "new_ranking_inputs": inputs.to_json() if stored is None else None,
        "scoring_seconds": round(scored_at - started, 3),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return entries, summary


@dataclass
class Changes:
    """What an incremental ranking changed in the stored entries of one organization."""

    entries: list[dict]  # the changed leads' new entries, with agent_rank
    removed: list[str]  # leads whose stored entry was deleted (changed or no longer eligible)
    ranks: list[tuple[str, int]]  # unchanged entries whose agent_rank moved
    stale_agents: set[str]  # agents whose cached list (its first list_size) changed
    stale_leads: set[str]  # leads whose cached entry changed (or is gone)


def rank_changed(
    conn: psycopg.Connection,
    org: str,
    as_of: datetime,
    reco: RecoSettings,
    ranking: Ranker,
    inputs: RankingInputs,
    *,
    prev: datetime,
    since: datetime,
) -> tuple[Changes, dict[str, Any]]:
    """The entries that differ from what the ranking at `prev` stored, as of `as_of`: the
    changed leads (store.changed_leads) scored again, and the lists they sit in (or sat in)
    ranked again from the stored propensities of the others. With the same model version and
    ranking inputs this is exactly what a full ranking at `as_of` stores."""
    started = time.perf_counter()
    changed = store.changed_leads(conn, org, prev=prev, as_of=as_of, since=since)
    rows = store.snapshot(
        conn, org, as_of, reco.horizon_days, labelled=False, lead_ids=changed
    ).rows
    entries, _, context = _entries(conn, org, as_of, rows, ranking, inputs, lead_ids=changed)
    scored_at = time.perf_counter()
    changed_set = set(changed)
    before = store.stored_entries(conn, org, changed)
    agents = {row[1] for row in before} | {e["user_id"] for e in entries}
    stored = [row for row in store.stored_lists(conn, org, agents) if row[0] not in changed_set]
    lists: dict[str | None, list[tuple[tuple[float, int, str], dict | tuple]]] = {}
    for row in stored:
        lists.setdefault(row[1], []).append((rank_key(row[2], row[3], row[0]), row))
    for entry in entries:
        key = rank_key(entry["propensity"], entry["rule_score"], entry["lead_id"])
        lists.setdefault(entry["user_id"], []).append((key, entry))
    ranks: list[tuple[str, int]] = []
    stale_leads = set(changed)
    stale_agents = {
        row[1] for row in before if row[1] and (row[4] or 0) <= reco.list_size
    }  # a list that showed a changed lead
    for agent, items in lists.items():
        items.sort(key=lambda item: item[0])
        for rank, (_, item) in enumerate(items, 1):
            if isinstance(item, dict):
                item["agent_rank"] = rank
                touched = rank <= reco.list_size
            elif item[4] != rank:
                ranks.append((item[0], rank))
                stale_leads.add(item[0])
                touched = rank <= reco.list_size or (item[4] or 0) <= reco.list_size
            else:
                touched = False
            if touched and agent:
                stale_agents.add(agent)
    changes = Changes(entries, changed, ranks, stale_agents, stale_leads)
    summary = {
        **_summary(org, ranking, context),
        "leads": len(entries),
        "changed_leads": len(changed),
        "rank_moves": len(ranks),
        "agents_reranked": sum(1 for agent in lists if agent),
        "actions": _mix(entries),
        "scoring_seconds": round(scored_at - started, 3),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return changes, summary


def durable_rows(entries: list[dict]) -> list[tuple]:
    """Entries as lead_recommendations rows for COPY (reasons as JSON text)."""
    return [
        tuple(json.dumps(e[c]) if c == "reasons" else e.get(c) for c in store.REC_COLUMNS)
        for e in entries
    ]


#: sync_watermarks name of an organization's ranking: `lead_recommendations:<organization id>`
WATERMARK_PREFIX = "lead_recommendations:"


@dataclass
class Ranked:
    """One organization's ranking, committed: full (`entries`: every entry, for the cache
    fill) or incremental (`changes`), and why."""

    full_reason: str | None
    entries: list[dict]
    changes: Changes | None
    summary: dict[str, Any]


def full_ranking_reason(
    watermark: watermarks.Watermark | None,
    as_of: datetime,
    state: dict[str, Any],
    inputs: RankingInputs | None,
    *,
    requested: bool = False,
) -> str | None:
    """Why the organization is ranked in full, or None (only what changed): the first ranking,
    `--full-refresh`, the weekly full pass (watermarks.full_due), a model version other than the
    last ranking's (a retrain, or an active model refused since), no stored ranking inputs, a
    changed time zone or calling hours, or an as-of before the last ranking's."""
    reason = watermarks.full_due(watermark, as_of, watermarks.full_every(), requested=requested)
    if reason or watermark is None or watermark.position is None:
        return reason or "first run"
    last = watermark.state
    if "started" not in last:
        return "no incremental state recorded"
    for key, what in (
        ("model_version", "model version"),
        ("ranked_by", "ranking score"),
        ("timezone", "time zone"),
        ("calling_hours", "calling hours"),
    ):
        if last.get(key) != state[key]:
            return f"{what} changed ({last.get(key)} -> {state[key]})"
    if inputs is None:
        return "no ranking inputs stored for the model version"
    if as_of < watermark.position:
        return "as-of before the last ranking's"
    return None


def rank_organization(
    conn: psycopg.Connection,
    org: str,
    as_of: datetime,
    reco: RecoSettings,
    *,
    requested: bool = False,
) -> Ranked:
    """Rank one organization in the caller's transaction, with its watermark (watermarks.py,
    WATERMARK_PREFIX) written in it: in full when full_ranking_reason says so, else only what
    changed since the last ranking (rank_changed). Either way the stored entries are what a
    full ranking at `as_of` stores (computed_at: the as-of an entry was last computed at)."""
    name = WATERMARK_PREFIX + org
    watermark = watermarks.read(conn, name, lock=True)
    started = watermarks.changes_since(conn)
    ranking = ranker(conn, org)
    window, _ = calling_hours(conn, org)
    state = {
        "model_version": ranking.latest["version"] if ranking.latest else None,
        "ranked_by": ranking.ranked_by,
        "timezone": store.organization_timezone(conn, org),
        "calling_hours": window.label(),
    }
    inputs = ranking.stored_inputs
    reason = full_ranking_reason(watermark, as_of, state, inputs, requested=requested)
    changes = None
    entries: list[dict] = []
    if reason is not None:
        entries, summary = score_organization(conn, org, as_of, reco, ranking)
        written = time.perf_counter()
        store.replace_recommendations(conn, org, durable_rows(entries))
        if summary["new_ranking_inputs"] is not None and ranking.latest:
            store.save_ranking_inputs(
                conn, org, ranking.latest["version"], summary["new_ranking_inputs"]
            )
    else:
        assert watermark is not None and watermark.position is not None and inputs is not None
        since = datetime.fromisoformat(watermark.state["started"])
        changes, summary = rank_changed(
            conn, org, as_of, reco, ranking, inputs, prev=watermark.position, since=since
        )
        written = time.perf_counter()
        store.apply_changes(
            conn,
            org,
            removed=changes.removed,
            rows=durable_rows(changes.entries),
            ranks=changes.ranks,
        )
    summary["write_seconds"] = round(time.perf_counter() - written, 3)
    # the cache's invalidation watermark: what changed before this ranking is in it
    store.set_watermark(conn, org, started)
    watermarks.write(
        conn,
        name,
        as_of,
        full=reason is not None,
        state=state | {"started": started.isoformat()},
    )
    summary["mode"] = "full" if reason else "incremental"
    summary["why"] = reason or "only what changed"
    return Ranked(reason, entries, changes, summary)
