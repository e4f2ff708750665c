"""Recommendation assets (group `recommendations`, in the nightly job after scores and
assignments, before the dbt marts):

    lead_scores, lead_activities, nurture_enrollments ─► lead_conversion_model ─┐
    lead_assignments ──────────────────────────────────────────────────────────┴► lead_recommendations

`lead_conversion_model` trains an organization's model (a new version in
`lead_conversion_models`) when its retrain rule says so (service.retrain_reason: asked by
`leadflow run --full-refresh`, no model yet, another horizon, LEADFLOW_RECO_RETRAIN_DAYS old, or
LEADFLOW_RECO_RETRAIN_DRIFT of the leads moved since its as-of), else keeps it; it is checked by
`lead_conversion_model_quality`. `lead_recommendations` ranks with the newest model (or the rule
score) per organization: in full the first time, on `--full-refresh`, weekly, after a retrain or
a change of time zone or calling hours; otherwise only the leads whose entry can have changed
since its watermark (service.rank_changed, store.CHANGED_SQL: changed rows, and leads whose age
crossed a boundary, features.AGE_BOUNDARIES_DAYS) and the agent lists they sit in, to the same
rows a full ranking gives. It writes `lead_recommendations` and its watermark in one transaction
per organization, then fills the Redis cache (full) or deletes the changed leads' entries and
lists (incremental) (the `redis` resource, REDIS_URL; without it, or with Redis down, a warning
and PostgreSQL only). An organization that fails keeps its rows and watermark; the others
commit, and the step fails naming it.

`recommendation_cache_invalidation` keeps the cache fresh after leads change: downstream of
every asset that writes leads (LEAD_WRITERS), it deletes the cached entries of the leads changed
since each organization's watermark (cache.invalidate). It is part of the nightly job, and its
automation condition runs it after the others materialize in a deployment (a launched import, a
CRM sync); freshness only: every cache hit is checked against PostgreSQL anyway (cache.py).
"""

import threading
import time
from typing import Any

import dagster as dg
from redis.exceptions import RedisError

from leadflow import settings, watermarks
from leadflow.dagster_vocab import AsOfConfig, full_refresh_requested, run_organization
from leadflow.postgres import each_organization, organization_ids
from leadflow.recommend import cache, served, store
from leadflow.recommend.service import (
    RecoSettings,
    rank_organization,
    retrain_reason,
    train_organization,
)
from leadflow.resources import PostgresResource, RedisResource

GROUP = "recommendations"


def _quality_table(results: list[dict]) -> str:
    lines = [
        "| organization | version | status | AUC | rule AUC | Brier | rule Brier | calibration error | GBM AUC | holdout leads (recruited) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['organization_id'][:8]} | {r['version']} | {r['status']} | {r['auc']} |"
            f" {r['baseline_auc']} | {r['brier']} | {r['baseline_brier']} |"
            f" {r['calibration_error']} | {r['gbm_auc']} | {r['holdout_leads']}"
            f" ({r['holdout_recruited']}) |"
        )
    return "\n".join(lines)


@dg.asset(
    group_name=GROUP,
    deps=[
        dg.AssetKey("lead_scores"),
        dg.AssetKey("lead_activities"),
        dg.AssetKey("nurture_enrollments"),
    ],
    kinds={"scikitlearn", "postgres"},
    description=(
        "Per organization, a conversion-propensity model (logistic regression) trained on past"
        " snapshots and judged on a time-based holdout against the rule lead_score; stored as"
        " a new version in lead_conversion_models. Retrained only on `--full-refresh`, with no"
        " model, another horizon, a model LEADFLOW_RECO_RETRAIN_DAYS (7) old, or when the leads"
        " with a status change or created since its as-of reach LEADFLOW_RECO_RETRAIN_DRIFT"
        " (0.05) of the live leads; else kept (metadata `decisions`: retrained or kept, why)."
    ),
)
def lead_conversion_model(
    context: dg.AssetExecutionContext, config: AsOfConfig, postgres: PostgresResource
) -> dg.MaterializeResult:
    as_of = config.as_of_datetime()
    reco = RecoSettings.from_env()
    requested = full_refresh_requested(context)
    with postgres.connection() as conn:
        orgs = organization_ids(conn)

    def decide(org: str) -> tuple[str | None, dict[str, Any] | None, dict[str, Any] | None]:
        """(why retrained, or None; the kept model; the training's result)."""
        with postgres.connection() as conn:
            reason = retrain_reason(conn, org, as_of, reco, requested=requested)
            latest = store.latest_model(conn, org)
        if reason is None and latest is not None:  # no model: retrain_reason says retrain
            return None, latest, None
        with postgres.connection() as conn:
            return reason, None, train_organization(conn, org, as_of, reco)

    results, decisions = [], {}
    outcomes = each_organization(orgs, decide, settings.current().nightly_workers)
    for org, (reason, latest, result) in zip(orgs, outcomes, strict=True):
        if result is None:
            assert latest is not None
            decisions[org] = {"model": "kept", "version": latest["version"], "why": _kept(latest)}
            context.log.info(f"{org}: model v{latest['version']} kept ({decisions[org]['why']})")
            continue
        results.append(result)
        decisions[org] = {"model": "retrained", "version": result["version"], "why": str(reason)}
        context.log.info(
            f"{org}: model v{result['version']} {result['status']} ({reason};"
            f" AUC {result['auc']} vs rule {result['baseline_auc']})"
        )
    statuses = [r["status"] for r in results]
    return dg.MaterializeResult(
        metadata={
            "organizations": len(orgs),
            "retrained": len(results),
            "kept": len(orgs) - len(results),
            "active": statuses.count("active"),
            "flagged": statuses.count("flagged"),
            "insufficient_data": statuses.count("insufficient_data"),
            "horizon_days": reco.horizon_days,
            "retrain_days": reco.retrain_days,
            "retrain_drift": reco.retrain_drift,
            "quality": dg.MetadataValue.md(_quality_table(results)),
            "decisions": decisions,
            "models": results,
        }
    )


def _kept(latest: dict) -> str:
    return f"trained as of {latest['as_of']:%Y-%m-%d %H:%M}, no retrain rule applies"


@dg.asset_check(
    asset=lead_conversion_model,
    description=(
        "Every organization with enough history has a model that beats the rule lead_score on"
        " the holdout (a flagged model falls back to the rule score: a warning, not a stop), and"
        " every active model's stored parameters pass the served model's checks (a model that"
        " does not was tampered with or corrupted: an error; its organization ranks by rule)."
    ),
)
def lead_conversion_model_quality(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        rows = conn.execute(
            """
            select m.organization_id::text, m.version, m.status, m.metrics ->> 'auc',
                   m.baseline ->> 'auc', m.model_parameters::text, m.feature_names
            from (select distinct on (organization_id) id from lead_conversion_models
                  order by organization_id, version desc) latest
            join lead_conversion_models m on m.id = latest.id
            order by m.organization_id
            """
        ).fetchall()
    flagged = [
        f"{org[:8]} v{v}: AUC {auc} vs rule {base}"
        for org, v, st, auc, base, *_ in rows
        if st == "flagged"
    ]
    refused = []
    for org, version, status, _, _, parameters, names in rows:
        if status != "active" or parameters is None:  # None: nothing served (migration 012)
            continue
        try:
            served.load(parameters, organization_id=org, version=version, feature_names=names)
        except served.ModelFormatError as exc:
            refused.append(str(exc))
    return dg.AssetCheckResult(
        passed=not flagged and not refused,
        severity=dg.AssetCheckSeverity.ERROR if refused else dg.AssetCheckSeverity.WARN,
        metadata={
            "models": len(rows),
            "active": sum(1 for r in rows if r[2] == "active"),
            "flagged": flagged,
            "insufficient_data": sum(1 for r in rows if r[2] == "insufficient_data"),
            "refused": refused,
        },
    )


@dg.asset(
    group_name=GROUP,
    deps=[lead_conversion_model, dg.AssetKey("lead_assignments"), dg.AssetKey("lead_scores")],
    kinds={"postgres", "redis"},
    description=(
        "Next best action, channel, hour and reasons per eligible lead (never DNC, never"
        " recruited), ranked per agent; written to lead_recommendations and cached in Redis."
        " Incremental per organization (watermark lead_recommendations:<org>): only leads whose"
        " rows changed or whose age crossed a boundary are scored again, and their agents'"
        " lists re-ranked; full on the first run, `--full-refresh`, weekly, or a new model."
    ),
)
def lead_recommendations(
    context: dg.AssetExecutionContext,
    config: AsOfConfig,
    postgres: PostgresResource,
    redis: RedisResource,
) -> dg.MaterializeResult:
    as_of = config.as_of_datetime()
    reco = RecoSettings.from_env()
    requested = full_refresh_requested(context)
    client = cache.connect(redis.resolved_url())
    if client is None:
        context.log.warning("REDIS_URL is not set: recommendations go to PostgreSQL only")
    with postgres.connection() as conn:
        orgs = organization_ids(conn)
    cache_down = threading.Event()
    siblings = watermarks.sibling_tag("lead_recommendations")

    def rank(org: str) -> tuple[dict[str, Any] | None, str | None, dict[str, int], float]:
        """(the ranking's summary, or None; why it failed; cache keys written; seconds)."""
        try:
            with postgres.connection() as conn:  # the ranking and its watermark: one transaction
                watermarks.join_siblings(conn, siblings)  # not in the others' change floors
                ranked = rank_organization(conn, org, as_of, reco, requested=requested)
        except Exception as exc:  # noqa: BLE001 - the others still run; the step fails below
            return None, repr(exc)[:500], {}, 0.0
        summary = ranked.summary
        if client is None or cache_down.is_set():
            return summary, None, {}, 0.0
        began = time.perf_counter()
        version = summary["model_version"] if summary["ranked_by"] == "model" else None
        try:
            if ranked.changes is None:
                keys = cache.fill(client, org, version, ranked.entries, reco.list_size)
                written = {"lead_keys": keys["lead_keys"], "agent_keys": keys["agent_keys"]}
            else:
                refreshed = cache.refresh(
                    client, org, version, ranked.changes.stale_leads, ranked.changes.stale_agents
                )
                written = {"deleted_keys": refreshed["deleted_keys"]}
        except RedisError as exc:
            context.log.warning(f"recommendation cache unavailable ({exc}): PostgreSQL only")
            cache_down.set()
            written = {}
        return summary, None, written, time.perf_counter() - began

    summaries, failed = [], {}
    cached = {"lead_keys": 0, "agent_keys": 0, "deleted_keys": 0}
    cache_seconds = 0.0
    for org, (summary, error, written, seconds) in zip(
        orgs, each_organization(orgs, rank, settings.current().nightly_workers), strict=True
    ):
        if summary is None:
            context.log.error(f"{org}: ranking failed, its watermark stays: {error}")
            failed[org] = error
            continue
        summaries.append(summary)
        context.log.info(
            f"{org}: {summary['mode']} ({summary['why']}), {summary['leads']} leads ranked"
        )
        if summary["model_error"]:
            context.log.error(f"{summary['model_error']}: {org} ranks by the rule score")
        if summary["calling_hours_error"]:
            context.log.warning(summary["calling_hours_error"])
        for key, count in written.items():
            cached[key] += count
        cache_seconds += seconds
    if cache_down.is_set():
        client = None
    if failed:
        raise dg.Failure(
            description=(
                f"{len(failed)} of {len(orgs)} organizations failed; their rankings and"
                " watermarks are unchanged and the next run redoes them"
            ),
            metadata={"failed": failed, "ranked": len(summaries)},
        )
    mix: dict[str, int] = {}
    for summary in summaries:
        for action, count in summary["actions"].items():
            mix[action] = mix.get(action, 0) + count
    return dg.MaterializeResult(
        metadata={
            "leads": sum(s["leads"] for s in summaries),
            "full": sum(1 for s in summaries if s["mode"] == "full"),
            "incremental": sum(1 for s in summaries if s["mode"] == "incremental"),
            "changed_leads": sum(s.get("changed_leads", s["leads"]) for s in summaries),
            "rank_moves": sum(s.get("rank_moves", 0) for s in summaries),
            "ranked_by_model": sum(1 for s in summaries if s["ranked_by"] == "model"),
            "ranked_by_rule": sum(1 for s in summaries if s["ranked_by"] == "rule"),
            "actions": mix,
            "cache": "filled" if client is not None else "unavailable",
            "cache_keys": cached,
            "cache_fill_seconds": round(cache_seconds, 3),
            # per organization, summed: choosing and scoring the leads and ranking the lists;
            # writing the entries and rank moves to PostgreSQL
            "ranking_seconds": round(sum(s["seconds"] for s in summaries), 3),
            "write_seconds": round(sum(s["write_seconds"] for s in summaries), 3),
            "refused_models": [s["model_error"] for s in summaries if s["model_error"]],
            "calling_hours_errors": [
                s["calling_hours_error"] for s in summaries if s["calling_hours_error"]
            ],
            "organizations": [
                {k: v for k, v in s.items() if k != "new_ranking_inputs"} for s in summaries
            ],
        }
    )


#: the assets that change leads (merges, status, score, owner, DNC screen, referrer): their
#: changes make cached recommendations stale
LEAD_WRITERS = [
    dg.AssetKey("crm_leads"),
    dg.AssetKey("crm_api_leads"),
    dg.AssetKey("lead_scores"),
    dg.AssetKey("lead_assignments"),
    dg.AssetKey("lead_referrals"),
]

#: after any lead writer materialized in a run that did not include the invalidation (a
#: launched import or CRM sync, a manual materialization), once, never two at a time
AFTER_LEAD_CHANGES = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.in_progress()
).with_label("after a lead writer")


@dg.asset(
    group_name=GROUP,
    deps=LEAD_WRITERS,
    kinds={"redis", "postgres"},
    automation_condition=AFTER_LEAD_CHANGES,
    description=(
        "The recommendation cache kept fresh: the cached entries (and agents' lists) of the"
        " leads changed since each organization's watermark deleted, the watermark moved. The"
        " run's organization partition, if it has one, else every organization. No cache"
        " configured, or Redis down: nothing moves (a warning), the next run catches up."
    ),
)
def recommendation_cache_invalidation(
    context: dg.AssetExecutionContext, postgres: PostgresResource, redis: RedisResource
) -> dg.MaterializeResult:
    org = run_organization(context)
    client = cache.connect(redis.resolved_url())
    if client is None:
        context.log.warning("REDIS_URL is not set: no recommendation cache to invalidate")
        return dg.MaterializeResult(metadata={"cache": "not configured"})
    try:
        result = cache.invalidate_changed(
            client, postgres.connection, [org] if org else None, context.log
        )
    finally:
        client.close()
    unavailable = "error" in result or bool(result["skipped_organizations"])
    return dg.MaterializeResult(
        metadata={
            "cache": "unavailable" if unavailable else "invalidated",
            "changed_leads": result.get("changed_leads", 0),
            "deleted_keys": result.get("deleted_keys", 0),
            "skipped_organizations": result.get("skipped_organizations", []),
        }
    )


RECOMMEND_ASSETS = [lead_conversion_model, lead_recommendations, recommendation_cache_invalidation]
RECOMMEND_CHECKS = [lead_conversion_model_quality]
