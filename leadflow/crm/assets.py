"""CRM intelligence assets (group `crm`): lead scores, lead distribution, segment sizes and
nurture enrollments.

All are thin: the rules are pure functions in `scoring.py`, `assignment.py`, `segments.py` and
`nurture.py`, the SQL in the `*_sql.py` modules beside them. Each organization is processed in
its own transaction, so one organization's work is all-or-nothing and a large tenant does not
hold locks on the others. All take an explicit as-of time (config, default now) so that a rerun
for the same time gives the same answer.
"""

from collections.abc import Callable
from typing import TypeVar

import dagster as dg
import psycopg

from leadflow import settings, watermarks
from leadflow.crm import assignment_sql as assignment_db
from leadflow.crm import scoring_sql as scoring_db
from leadflow.crm.nurture_sql import COUNT_KEYS, nurture_organizations, run_organization
from leadflow.crm.segments_sql import count_segments
from leadflow.dagster_vocab import AsOfConfig, full_refresh_requested, parse_as_of
from leadflow.postgres import each_organization, organization_ids
from leadflow.resources import PostgresResource

GROUP = "crm"
#: upstream of segments and nurture: the leads and the fields filters read (status, tags, score,
#: owner)
LEAD_STATE = [dg.AssetKey("crm_leads"), dg.AssetKey("lead_scores"), dg.AssetKey("lead_assignments")]
#: at most this many segments are listed one by one in the metadata
LISTED = 200

_Config = TypeVar("_Config")


def _load_configs(
    postgres: PostgresResource, loader: Callable[[psycopg.Connection, str], _Config]
) -> dict[str, _Config]:
    """Every organization's configuration, validated before anything is written."""
    configs: dict[str, _Config] = {}
    errors: list[str] = []
    with postgres.connection() as conn:
        for org in organization_ids(conn):
            try:
                configs[org] = loader(conn, org)
            except ValueError as exc:
                errors.append(str(exc))
    if errors:
        raise dg.Failure("invalid system_config, nothing written: " + "; ".join(errors))
    return configs


def run_mode(full: dict[str, str | None], total: int) -> dict[str, dg.MetadataValue]:
    """`mode` (full, incremental, or mixed when only some organizations had their full pass),
    `full_reason` (the reasons of the full passes) and `full_organizations`."""
    reasons = {org: reason for org, reason in full.items() if reason}
    if not reasons:
        mode = "incremental"
    elif len(reasons) == total:
        mode = "full"
    else:
        mode = "mixed"
    return {
        "mode": dg.MetadataValue.text(mode),
        "full_reason": dg.MetadataValue.text("; ".join(sorted(set(reasons.values())))),
        "full_organizations": dg.MetadataValue.json(reasons),
    }


@dg.asset(
    group_name=GROUP,
    kinds={"python", "postgres"},
    deps=[dg.AssetKey("crm_leads"), dg.AssetKey("lead_activities")],
    description="Lead scores 0-100 of every live lead (factors qualification, engagement, "
    "intent, demographic; weights from system_config score_weights): leads.lead_score "
    "updated and a lead_score_history row appended when the total changed; a lead whose total "
    "did not change gets no write. Incremental per organization (watermark scores:<org>, "
    "committed with its scores): only the live leads that changed since the last run "
    "(leads.updated_at), got an activity loaded or matched since, had an activity enter or "
    "leave the scoring window between the last run's as_of and this one's, or whose total "
    "time alone moves by this as_of (lead_score_due.rescore_at, from the decay of their "
    "activities) are scored: exactly the leads whose total can differ from the last run's. "
    "Full pass (every live lead) on an organization's first run, on --full-refresh, weekly "
    "(LEADFLOW_NIGHTLY_FULL_EVERY_DAYS), when its score_weights or score_half_life_days "
    "changed, or when as_of is before the last run's.",
)
def lead_scores(
    context: dg.AssetExecutionContext, config: AsOfConfig, postgres: PostgresResource
) -> dg.MaterializeResult:
    as_of = parse_as_of(config.as_of)
    configs = _load_configs(postgres, scoring_db.load_scoring_config)
    with postgres.connection() as conn:
        with_activities = scoring_db.has_activities(conn)
    if not with_activities:
        context.log.warning("table lead_activities does not exist: engagement is 0 for all")
    requested = full_refresh_requested(context)
    siblings = watermarks.sibling_tag("lead_scores")

    def score(org: str) -> scoring_db.OrgScoring:
        with postgres.connection() as conn:
            watermarks.join_siblings(conn, siblings)  # not in the others' change floors
            return scoring_db.score_organization(
                conn,
                org,
                configs[org],
                as_of,
                with_activities=with_activities,
                full_requested=requested,
            )

    results = each_organization(list(configs), score, settings.current().nightly_workers)
    for result in results:
        org = result.organization_id
        how = f"full ({result.reason})" if result.reason else "incremental"
        context.log.info(
            f"organization {org}, {how}: {result.considered} leads considered, "
            f"{result.scored} scored, {result.changed} changed"
        )
    scored = sum(r.scored for r in results)
    changed = sum(r.changed for r in results)
    return dg.MaterializeResult(
        metadata={
            "as_of": dg.MetadataValue.text(as_of.isoformat()),
            **run_mode({r.organization_id: r.reason for r in results}, len(results)),
            "leads_considered": dg.MetadataValue.int(sum(r.considered for r in results)),
            "leads_scored": dg.MetadataValue.int(scored),
            "changed": dg.MetadataValue.int(changed),
            "unchanged": dg.MetadataValue.int(scored - changed),
            # the mean over the leads scored: every live lead only where the pass was full
            "average_score_by_organization": dg.MetadataValue.json(
                {r.organization_id: r.average for r in results if r.scored and r.reason}
            ),
            "organizations": dg.MetadataValue.int(len(configs)),
        }
    )


@dg.asset(
    group_name=GROUP,
    kinds={"python", "postgres"},
    deps=[dg.AssetKey("crm_leads")],
    description="Unassigned live leads (not dnc/recruited, phone not on the DNC list) given to "
    "the organization's active agents by its assignment_strategy (round_robin, "
    "load_balanced, weighted, territory): leads.user_id set, lead_assignments and "
    "lead_audit_log rows written. Always incremental: it reads only the leads waiting for an "
    "owner (a partial index), and the agents' open loads only when some wait; it has no full "
    "pass, as the waiting leads are its whole input.",
)
def lead_assignments(
    context: dg.AssetExecutionContext, config: AsOfConfig, postgres: PostgresResource
) -> dg.MaterializeResult:
    as_of = parse_as_of(config.as_of)
    configs = _load_configs(postgres, assignment_db.load_assignment_config)
    results = []
    for org, org_config in configs.items():
        with postgres.connection() as conn:
            result = assignment_db.distribute_organization(conn, org, org_config, as_of)
        results.append(result)
        context.log.info(
            f"organization {org}: {result.assigned} of {result.waiting} waiting leads assigned "
            f"({result.strategy}, {result.agents} active agents)"
        )
        if result.waiting and not result.agents:
            context.log.warning(f"organization {org} has no active agent: leads stay unassigned")
    waiting = sum(r.waiting for r in results)
    assigned = sum(r.assigned for r in results)
    return dg.MaterializeResult(
        metadata={
            "as_of": dg.MetadataValue.text(as_of.isoformat()),
            "mode": dg.MetadataValue.text("incremental"),
            "leads_considered": dg.MetadataValue.int(
                waiting + sum(r.skipped_dnc_list for r in results)
            ),
            "waiting": dg.MetadataValue.int(waiting),
            "assigned": dg.MetadataValue.int(assigned),
            "left_unassigned": dg.MetadataValue.int(waiting - assigned),
            "skipped_dnc_list": dg.MetadataValue.int(sum(r.skipped_dnc_list for r in results)),
            "by_organization": dg.MetadataValue.json(
                {
                    r.organization_id: {
                        "strategy": r.strategy,
                        "agents": r.agents,
                        "waiting": r.waiting,
                        "assigned": r.assigned,
                        "per_agent": r.per_agent,
                    }
                    for r in results
                }
            ),
        }
    )


@dg.asset(
    group_name=GROUP,
    kinds={"postgres"},
    deps=LEAD_STATE,
    description="Size of every saved segment: live leads of its organization matching its filter "
    "(segments.lead_count, last_counted_at) and a segment_count_history row per run. Segments "
    "with an invalid filter are listed in the metadata and keep their previous count. "
    "Incremental (watermark segment_counts): only segments whose organization has a lead "
    "changed since the last run (leads.updated_at), whose filter changed, or that have no count "
    "yet are recounted; the others carry their count (filters read only lead columns and "
    "absolute times, so it cannot have changed). Full pass on the first run, on --full-refresh, "
    "weekly (LEADFLOW_NIGHTLY_FULL_EVERY_DAYS) and when as_of is before the last run's.",
)
def segment_counts(
    context: dg.AssetExecutionContext, config: AsOfConfig, postgres: PostgresResource
) -> dg.MaterializeResult:
    as_of = config.as_of_datetime()
    with postgres.connection() as conn:
        run = count_segments(conn, as_of, full_requested=full_refresh_requested(context))
    results = run.segments
    invalid = [r.as_dict() for r in results if r.error]
    for item in invalid:
        context.log.warning(f"segment {item['segment_id']} ({item['name']}): {item['error']}")
    recounted = sum(1 for r in results if r.recounted and not r.error)
    context.log.info(
        f"segment_counts {run.mode}{f' ({run.reason})' if run.reason else ''}: "
        f"{recounted} of {len(results)} segments recounted, "
        f"{run.organizations_changed} organizations with changed leads"
    )
    return dg.MaterializeResult(
        metadata={
            "as_of": dg.MetadataValue.text(as_of.isoformat()),
            "mode": dg.MetadataValue.text(run.mode),
            "full_reason": dg.MetadataValue.text(run.reason or ""),
            "organizations_changed": dg.MetadataValue.int(run.organizations_changed),
            "segments": dg.MetadataValue.int(len(results)),
            "segments_counted": dg.MetadataValue.int(len(results) - len(invalid)),
            "segments_recounted": dg.MetadataValue.int(recounted),
            "segments_carried": dg.MetadataValue.int(len(results) - len(invalid) - recounted),
            "segments_invalid": dg.MetadataValue.int(len(invalid)),
            "invalid": dg.MetadataValue.json(invalid),
            "counts": dg.MetadataValue.json([r.as_dict() for r in results[:LISTED]]),
            "leads_in_segments": dg.MetadataValue.int(sum(r.lead_count or 0 for r in results)),
        }
    )


@dg.asset(
    group_name=GROUP,
    kinds={"postgres"},
    deps=LEAD_STATE,
    description="Nurture sequence enrollments and their outbound touch queue (nurture_touches): "
    "DNC leads' enrollments cancelled and recruited/deleted leads' exited (their queued touches "
    "cancelled), leads matching an active sequence's entry_filter enrolled, and every step due "
    "by as_of queued once; one transaction per organization. Incremental per organization "
    "(watermark nurture:<org>): exits and enrollments look only at leads changed since the last "
    "run (the lead row, its phone added to the DNC list, its enrollments), a changed sequence "
    "at all leads; due steps are found by index. Full pass on the first run, --full-refresh, "
    "weekly (LEADFLOW_NIGHTLY_FULL_EVERY_DAYS; it also re-enrolls after hand deletions) and "
    "when as_of is before the last run's.",
)
def nurture_enrollments(
    context: dg.AssetExecutionContext, config: AsOfConfig, postgres: PostgresResource
) -> dg.MaterializeResult:
    as_of = config.as_of_datetime()
    results = []
    with postgres.connection() as conn:
        for organization_id in nurture_organizations(conn):
            result = run_organization(
                conn, organization_id, as_of, full_requested=full_refresh_requested(context)
            )
            context.log.info(f"organization {organization_id}: {result.counts()}")
            for problem in result.problems:
                context.log.warning(f"sequence {problem['sequence_id']}: {problem['error']}")
            results.append(result)
    totals = {key: sum(getattr(r, key) for r in results) for key in COUNT_KEYS}
    return dg.MaterializeResult(
        metadata={
            "as_of": dg.MetadataValue.text(as_of.isoformat()),
            "organizations": dg.MetadataValue.int(len(results)),
            **run_mode({str(r.organization_id): r.reason for r in results}, len(results)),
            "leads_considered": dg.MetadataValue.int(sum(r.leads_considered or 0 for r in results)),
            **{key: dg.MetadataValue.int(value) for key, value in totals.items()},
            "by_organization": dg.MetadataValue.json(
                {str(r.organization_id): r.counts() for r in results}
            ),
            "invalid_sequences": dg.MetadataValue.json(
                [problem for r in results for problem in r.problems]
            ),
        }
    )


CRM_ASSETS = [lead_scores, lead_assignments, segment_counts, nurture_enrollments]
