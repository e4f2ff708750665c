"""CRM intelligence assets (group `crm`): lead scores and lead distribution.

Both are thin: the rules are pure functions in `core/scoring.py` and `core/assignment.py`, the
SQL is in `db/scoring.py` and `db/assignment.py`. Each organization is processed in its own
transaction, so one organization's work is all-or-nothing and a large tenant does not hold
locks on the others. Both take an explicit as-of time (config, default now) so that a rerun
for the same time gives the same answer.
"""

from collections.abc import Callable

import dagster as dg
import psycopg

from dagster_project.assets.common import AsOfConfig, parse_as_of
from dagster_project.db import assignment as assignment_db
from dagster_project.db import scoring as scoring_db
from dagster_project.resources import PostgresResource

GROUP = "crm"


def _load_configs(
    postgres: PostgresResource, loader: Callable[[psycopg.Connection, str], object]
) -> dict[str, object]:
    """Every organization's configuration, validated before anything is written."""
    configs, errors = {}, []
    with postgres.connection() as conn:
        for org in scoring_db.organization_ids(conn):
            try:
                configs[org] = loader(conn, org)
            except ValueError as exc:
                errors.append(str(exc))
    if errors:
        raise dg.Failure("invalid system_config, nothing written: " + "; ".join(errors))
    return configs


@dg.asset(
    group_name=GROUP,
    kinds={"python", "postgres"},
    deps=[dg.AssetKey("crm_leads"), dg.AssetKey("lead_activities")],
    description="Lead scores 0-100 of every live lead (factors qualification, engagement, "
    "intent, demographic; weights from system_config score_weights): leads.lead_score "
    "updated and a lead_score_history row appended when the total changed.",
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
    results = []
    for org, org_config in configs.items():
        with postgres.connection() as conn:
            result = scoring_db.score_organization(
                conn, org, org_config, as_of, with_activities=with_activities
            )
        results.append(result)
        context.log.info(
            f"organization {org}: {result.scored} leads scored, {result.changed} changed"
        )
    scored = sum(r.scored for r in results)
    changed = sum(r.changed for r in results)
    return dg.MaterializeResult(
        metadata={
            "as_of": dg.MetadataValue.text(as_of.isoformat()),
            "leads_scored": dg.MetadataValue.int(scored),
            "changed": dg.MetadataValue.int(changed),
            "unchanged": dg.MetadataValue.int(scored - changed),
            "average_score_by_organization": dg.MetadataValue.json(
                {r.organization_id: r.average for r in results if r.scored}
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
    "lead_audit_log rows written.",
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


CRM_SCORING_ASSETS = [lead_scores, lead_assignments]
