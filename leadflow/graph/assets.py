"""Graph assets (group `graph`): the CRM in Neo4j (or the local ArcadeDB Bolt server).

`crm_graph` is a thin wrapper over `leadflow.graph.sync.sync_graph`, partitioned by
organization (`organization_partitions`, shared with the imports and the CRM sync). With a partition key it
syncs that organization; without one (the nightly job) every organization, registering the
missing ones as partitions; a run started with `leadflow run --full-refresh` resyncs in full.
`graph_matches_postgres` reconciles: each night the counts and the leads changed since the last
passing check, the full comparison weekly (LEADFLOW_NIGHTLY_FULL_EVERY_DAYS) and on
`--full-refresh`.
"""

import dagster as dg
from pydantic import Field

from leadflow import settings
from leadflow.dagster_vocab import (
    full_refresh_requested,
    organization_partitions,
    run_organization,
)
from leadflow.graph.sync import GraphReconciliation, OrgGraphSync, reconcile_graph, sync_graph
from leadflow.leads.ids import require_uuid
from leadflow.postgres import UnknownOrganization, each_organization, organization_ids
from leadflow.resources import Neo4jResource, PostgresResource

GROUP = "graph"
COUNT_KEYS = (
    "nodes_merged",
    "edges_merged",
    "leads_removed",
    "edges_removed",
    "batches",
    "leads_sent",
)


def default_batch_size() -> int:
    return settings.current().graph_batch_size


class GraphSyncConfig(dg.Config):
    full_resync: bool = Field(
        default=False,
        description="Rewrite every organization's graph from PostgreSQL instead of the changes "
        "since the watermark; also removes leads and users deleted for good.",
    )
    batch_size: int = Field(
        default_factory=default_batch_size,
        ge=1,
        description="Rows per graph transaction (env LEADFLOW_GRAPH_BATCH_SIZE, default 1000).",
    )


def _sync_metadata(results: list[OrgGraphSync]) -> dict[str, dg.MetadataValue]:
    totals = {key: sum(getattr(r, key) for r in results) for key in COUNT_KEYS}
    return {
        **{key: dg.MetadataValue.int(value) for key, value in totals.items()},
        "organizations": dg.MetadataValue.json(sorted(r.organization_id for r in results)),
        "by_organization": dg.MetadataValue.json({r.organization_id: r.as_dict() for r in results}),
        "seconds": dg.MetadataValue.float(round(sum(r.seconds for r in results), 3)),
        "full_organizations": dg.MetadataValue.json(
            {r.organization_id: r.reason for r in results if r.mode == "full"}
        ),
    }


@dg.asset(
    group_name=GROUP,
    kinds={"neo4j"},
    partitions_def=organization_partitions,
    # crm_leads reaches it through lead_scores / lead_assignments / lead_referrals (unpartitioned;
    # pending referrals resolved before the graph reads them): a direct dependency on the
    # partitioned crm_leads breaks the nightly job's unpartitioned run (Dagster 1.13 then asks
    # the run for a partition key to version the input).
    deps=[
        dg.AssetKey("lead_assignments"),
        dg.AssetKey("lead_scores"),
        dg.AssetKey("lead_referrals"),
    ],
    description="Organizations, users, live leads, sources, current and earlier assignments and "
    "referrals in the graph (Neo4j 5 Cypher over Bolt): idempotent UNWIND/MERGE batches, "
    "incremental by a per-organization snapshot watermark in sync_watermarks (rows written by "
    "transactions the last read did not see; committed after the graph writes), soft- and "
    "hard-deleted leads removed, reassignments moving ASSIGNED_TO.",
)
def crm_graph(
    context: dg.AssetExecutionContext,
    config: GraphSyncConfig,
    postgres: PostgresResource,
    neo4j: Neo4jResource,
) -> dg.MaterializeResult:
    org = run_organization(context)  # None (no key, multi_org): every organization
    driver, database = neo4j.get_driver(), neo4j.resolved_database()
    with postgres.connection() as conn:
        if org is None:
            known = set(context.instance.get_dynamic_partitions(organization_partitions.name))
            missing = [o for o in organization_ids(conn) if o not in known]
            if missing:
                context.instance.add_dynamic_partitions(organization_partitions.name, missing)
                context.log.info(f"registered organization partitions: {missing}")
        try:
            results = sync_graph(
                conn,
                driver,
                database,
                None if org is None else [org],
                full=config.full_resync or full_refresh_requested(context),
                batch_size=config.batch_size,
            )
        except UnknownOrganization as exc:
            raise dg.Failure(str(exc)) from exc
    for result in results:
        context.log.info(f"organization {result.organization_id}: {result.as_dict()}")
    return dg.MaterializeResult(metadata=_sync_metadata(results))


def _checked_organizations(context: dg.AssetCheckExecutionContext) -> list[str] | None:
    """The organizations the crm_graph materialization of this run synced (None: unknown)."""
    records = context.instance.get_records_for_run(
        run_id=context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    for record in reversed(records):
        materialization = record.event_log_entry.asset_materialization
        if materialization and materialization.asset_key == crm_graph.key:
            orgs = materialization.metadata.get("organizations")
            return [require_uuid(o, "organization") for o in orgs.value] if orgs else None
    return None


@dg.asset_check(
    asset=crm_graph,
    blocking=False,
    description="Per organization, node counts (Organization, User, Lead, Source) and edge counts "
    "(MEMBER_OF, BELONGS_TO, ASSIGNED_TO, PREVIOUSLY_ASSIGNED_TO, FROM_SOURCE, REFERRED_BY) in the "
    "graph equal PostgreSQL's, and so does every lead changed since the last passing check "
    "(properties, outgoing edges); weekly and on --full-refresh every identity and every lead. "
    "Differences listed with up to 5 one-sided ids or leads each.",
)
def graph_matches_postgres(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource, neo4j: Neo4jResource
) -> dg.AssetCheckResult:
    driver, database = neo4j.get_driver(), neo4j.resolved_database()
    with postgres.connection() as conn:
        orgs = _checked_organizations(context) or organization_ids(conn)
    requested = "requested (--full-refresh)" if full_refresh_requested(context) else None

    def reconcile(org: str) -> GraphReconciliation:
        with postgres.connection() as conn:
            return reconcile_graph(conn, driver, database, org, full_requested=requested)

    results = each_organization(orgs, reconcile, settings.current().nightly_workers)
    failing = [r for r in results if not r.ok]
    return dg.AssetCheckResult(
        passed=not failing,
        metadata={
            "organizations_checked": dg.MetadataValue.int(len(results)),
            "organizations_failing": dg.MetadataValue.int(len(failing)),
            "differences": dg.MetadataValue.json(
                {
                    r.organization_id: {
                        **{
                            key: {"postgres": pg, "graph": graph, "sample": r.samples.get(key, [])}
                            for key, (pg, graph) in r.differences.items()
                        },
                        **(
                            {"leads": {"differing": r.rows_differing, "sample": r.row_samples}}
                            if r.rows_differing
                            else {}
                        ),
                    }
                    for r in failing
                }
            ),
            "modes": dg.MetadataValue.json(
                {
                    r.organization_id: {
                        "mode": r.mode,
                        "reason": r.reason,
                        "rows_compared": r.rows_compared,
                        "pending": r.pending,
                        "seconds": round(r.seconds, 3),
                    }
                    for r in results
                }
            ),
            "full_organizations": dg.MetadataValue.int(sum(r.mode == "full" for r in results)),
            "rows_compared": dg.MetadataValue.int(sum(r.rows_compared for r in results)),
            "expected_counts": dg.MetadataValue.json(
                {r.organization_id: r.expected for r in results}
            ),
        },
    )


GRAPH_ASSETS = [crm_graph]
GRAPH_CHECKS = [graph_matches_postgres]
