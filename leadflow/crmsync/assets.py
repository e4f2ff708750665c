"""The CRM sync in Dagster: per vendor a dlt asset, then leads, then the push; partitioned by
organization (group `crm_sync`).

    raw_hubspot/contacts ─┐
    raw_salesforce/leads ─┼─> crm_api_leads ─> crm_pushback
    raw_pipedrive/persons ┘

Partition keys are organization ids: the `organization_partitions` the imports and the graph
use too (leadflow.dagster_vocab); the schedule adds every organization with a connection. The
imports' `multi_org` key names no organization and has no connection: a run for it syncs
nothing. `crm_sync_schedule` runs at LEADFLOW_CRM_CRON (default 01:30, before the nightly job's
02:00, in LEADFLOW_TIMEZONE) one run per organization that selects the raw assets of the vendors
it is connected to, its leads and its push. The raw assets are `@dlt_assets` (dagster-dlt):
each connection's pull goes through `DagsterDltResource.run` with the connection's own source
and pipeline; an organization with two accounts of one vendor gets one materialization with both
in its metadata.

A failure's text passes the redactor (leadflow.redaction) before it becomes a Dagster event,
and is raised without its cause chain (`from None`): a run's failure event, its log and the
alert webhook carry the one redacted line, never an exception text holding a URL or header.
"""

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import dlt
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.sources.rest_api import rest_api_source

from leadflow.crmsync import pull as crm_pull
from leadflow.crmsync.connections import Connection, CrmError, list_connections
from leadflow.crmsync.load import load_connection
from leadflow.crmsync.sync import failure_text, push_back, record_pull
from leadflow.crmsync.vendors import VENDORS, rest_api_config, spec
from leadflow.dagster_vocab import (
    ORGANIZATION_PARTITIONS,
    organization_partitions,
    partition_organization,
)
from leadflow.redaction import redact, redact_value
from leadflow.resources import PostgresResource
from leadflow.settings import NightlySettings

GROUP = "crm_sync"


def raw_asset_key(vendor: str) -> dg.AssetKey:
    vendor_spec = spec(vendor)
    return dg.AssetKey([vendor_spec.raw_schema, vendor_spec.raw_table])


class CrmDltTranslator(DagsterDltTranslator):
    """raw_<vendor>/<table> keys in group crm_sync, described by what they hold."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        default = super().get_asset_spec(data)
        vendor = data.resource.source_name  # every connection's source is named by its vendor
        return default.replace_attributes(
            key=raw_asset_key(vendor),
            group_name=GROUP,
            deps=[],
            description=(
                f"{vendor} records as the API returned them, appended per pull with their"
                f" connection_id (schema {spec(vendor).raw_schema}); the dlt cursor is committed"
                " with them."
            ),
        ).merge_attributes(kinds={vendor})


def _definition_pipeline(vendor: str) -> dlt.Pipeline:
    """The pipeline the asset specs are read from (never run: each connection runs its own)."""
    return dlt.pipeline(
        pipeline_name=f"crm_definition_{vendor}",
        pipelines_dir=str(Path(tempfile.gettempdir()) / "leadflow-dlt-definitions"),
        destination=dlt.destinations.postgres(),
        dataset_name=spec(vendor).raw_schema,
    )


def _definition_source(vendor: str) -> Any:
    config = rest_api_config(vendor, "https://crm.invalid", "definition", "definition", None)
    return rest_api_source(config, name=vendor)


def _org_connections(
    postgres: PostgresResource, partition_key: str, vendor: str | None = None
) -> list[Connection]:
    """The connections of the partition's organization; none for `multi_org` (never read as
    an organization slug)."""
    organization_id = partition_organization(partition_key)
    if organization_id is None:
        return []
    with postgres.connection() as conn:
        return list_connections(conn, organization_id, vendor=vendor)


def _pull_vendor(
    context: dg.AssetExecutionContext,
    dlt_resource: DagsterDltResource,
    postgres: PostgresResource,
    vendor: str,
) -> Iterator[dg.MaterializeResult]:
    """Every pull-enabled connection of the partition's organization with this vendor."""
    connections = [
        c for c in _org_connections(postgres, context.partition_key, vendor) if c.pull_enabled
    ]
    url = postgres.resolved_url()
    pulled: list[dict] = []
    failures: list[str] = []
    for connection in connections:
        try:
            with crm_pull.prepared(connection, url) as (pipeline, source, cursor):
                try:
                    for _ in dlt_resource.run(
                        context=context, dlt_source=source, dlt_pipeline=pipeline
                    ):
                        pass  # one materialization per asset below, for all connections
                except PipelineStepFailed as exc:
                    raise crm_pull.explain(connection, exc) from exc
                result = crm_pull.result_of(connection, pipeline, None, cursor)
        except Exception as exc:  # the partition's other connections still pull
            error = exc if isinstance(exc, CrmError) else crm_pull.explain(connection, exc)
            text = failure_text(connection, error, "the pull")
            failures.append(text)
            record_pull(postgres.connection, connection, error=text)
            continue
        record_pull(postgres.connection, connection, pulled=result)
        pulled.append({"connection": connection.name, **result.as_dict()})
        context.log.info(f"{connection.label}: {result.mode} pull fetched {result.fetched}")
    if failures:
        raise dg.Failure("; ".join(failures), metadata={"pulled": redact_value(pulled)}) from None
    yield dg.MaterializeResult(
        asset_key=raw_asset_key(vendor),
        metadata={
            "connections": len(connections),
            "fetched": sum(p["fetched"] for p in pulled),
            "pulls": pulled,
        },
    )


def _raw_assets(vendor: str) -> dg.AssetsDefinition:
    @dlt_assets(
        dlt_source=_definition_source(vendor),
        dlt_pipeline=_definition_pipeline(vendor),
        name=f"raw_{vendor}",
        partitions_def=organization_partitions,
        dagster_dlt_translator=CrmDltTranslator(),
        op_tags={"leadflow/vendor": vendor},
    )
    def raw_vendor(
        context: dg.AssetExecutionContext, dlt: DagsterDltResource, postgres: PostgresResource
    ) -> Iterator[dg.MaterializeResult]:
        yield from _pull_vendor(context, dlt, postgres, vendor)

    return raw_vendor


RAW_ASSETS = [_raw_assets(vendor) for vendor in VENDORS]


@dg.asset(
    group_name=GROUP,
    partitions_def=organization_partitions,
    deps=[raw_asset_key(vendor) for vendor in VENDORS],
    kinds={"postgres"},
    description=(
        "The organization's new CRM records turned into leads through the import path"
        " (normalize, quarantine, dedupe, DNC, merge; one import batch per connection), linked"
        " by external id (lead_external_ids)."
    ),
)
def crm_api_leads(
    context: dg.AssetExecutionContext, postgres: PostgresResource
) -> dg.MaterializeResult:
    loads = []
    for connection in _org_connections(postgres, context.partition_key):
        if not connection.pull_enabled:
            continue
        try:
            outcome = load_connection(postgres.connection, connection)
        except Exception as exc:
            raise dg.Failure(failure_text(connection, exc, "loading")) from None
        loads.append(
            {"connection": connection.name, "vendor": connection.vendor, **outcome.summary()}
        )
    totals = {
        key: sum(load[key] for load in loads)
        for key in (
            "rows_read",
            "inserted",
            "merged",
            "duplicates_in_file",
            "quarantined",
            "dnc",
            "phone_changes",
        )
    }
    return dg.MaterializeResult(metadata={**totals, "loads": loads})


@dg.asset(
    group_name=GROUP,
    partitions_def=organization_partitions,
    deps=[crm_api_leads, dg.AssetKey("lead_scores")],
    kinds={"postgres"},
    description=(
        "Status, score and do-not-call flag of the organization's changed leads written back"
        " to each CRM record (HubSpot batch update, Salesforce composite, Pipedrive PUT)."
    ),
)
def crm_pushback(
    context: dg.AssetExecutionContext, postgres: PostgresResource
) -> dg.MaterializeResult:
    pushes, failures = [], []
    for connection in _org_connections(postgres, context.partition_key):
        if not connection.push_enabled:
            continue
        summary = push_back(postgres.connection, connection)
        pushes.append(summary)
        if summary["status"] != "succeeded":
            failures.append(summary.get("error", f"{connection.label}: push failed"))
    if failures:
        raise dg.Failure(redact("; ".join(failures)), metadata={"pushes": pushes}) from None
    pushed = sum(p["push"]["pushed"] for p in pushes)
    return dg.MaterializeResult(metadata={"pushed": pushed, "pushes": pushes})


CRM_SYNC_ASSETS = [*RAW_ASSETS, crm_api_leads, crm_pushback]

crm_sync_job = dg.define_asset_job(
    name="crm_sync_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="One organization's CRM sync: pull (dlt) -> leads -> push.",
    tags={"leadflow/kind": "crm_sync"},
)


def crm_run_requests(connections: list[Connection], tick: str) -> list[dg.RunRequest]:
    """One run per organization, selecting the raw assets of the vendors it pulls from;
    `tick` (the scheduled time) makes the run keys unique per tick."""
    by_org: dict[str, set[str]] = {}
    for connection in connections:
        vendors = by_org.setdefault(connection.organization_id, set())
        if connection.pull_enabled:
            vendors.add(connection.vendor)
    return [
        dg.RunRequest(
            partition_key=org,
            run_key=f"crm_sync:{org}:{tick}",
            asset_selection=[
                *(raw_asset_key(v) for v in sorted(vendors)),
                crm_api_leads.key,
                crm_pushback.key,
            ],
            tags={"leadflow/kind": "crm_sync"},
        )
        for org, vendors in sorted(by_org.items())
    ]


def crm_sync_tick(
    context: dg.ScheduleEvaluationContext, postgres: PostgresResource
) -> dg.SkipReason | list[dg.RunRequest]:
    """One tick of crm_sync_schedule: every organization with a connection registered as a
    partition, and one run each."""
    with postgres.connection() as conn:
        connections = list_connections(conn)
    known = set(context.instance.get_dynamic_partitions(ORGANIZATION_PARTITIONS))
    missing = sorted({c.organization_id for c in connections} - known)
    if missing:
        context.instance.add_dynamic_partitions(ORGANIZATION_PARTITIONS, missing)
    requests = crm_run_requests(connections, context.scheduled_execution_time.isoformat())
    if not requests:
        return dg.SkipReason("no CRM connection: add one with `leadflow crm connect`")
    return requests


def build_crm_sync_schedule(settings: NightlySettings) -> dg.ScheduleDefinition:
    """crm_sync_schedule with the deployment's LEADFLOW_CRM_CRON, LEADFLOW_TIMEZONE and
    LEADFLOW_NIGHTLY_ENABLED, read by whoever builds the definitions (not at import)."""

    @dg.schedule(
        name="crm_sync_schedule",
        job=crm_sync_job,
        cron_schedule=settings.crm_cron,
        execution_timezone=settings.timezone,
        default_status=(
            dg.DefaultScheduleStatus.RUNNING
            if settings.schedule_running
            else dg.DefaultScheduleStatus.STOPPED
        ),
        description="Per organization with a CRM connection: pull, load and push"
        " (LEADFLOW_CRM_CRON).",
    )
    def crm_sync_schedule(
        context: dg.ScheduleEvaluationContext, postgres: PostgresResource
    ) -> dg.SkipReason | list[dg.RunRequest]:
        return crm_sync_tick(context, postgres)

    return crm_sync_schedule
