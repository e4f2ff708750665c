"""Run the ingest assets in-process (what `leadflow import` and the demo do)."""

from __future__ import annotations

import dagster as dg

from dagster_project import settings
from dagster_project.assets.ingest import (
    INGEST_ASSETS,
    MULTI_ORG_PARTITION,
    ImportRun,
    organization_partitions,
)
from dagster_project.checks.ingest import INGEST_CHECKS
from dagster_project.ingest.stages import ImportRequest
from dagster_project.resources import PostgresResource


def _instance() -> dg.DagsterInstance:
    """The configured instance (DAGSTER_HOME) so runs show in the UI, else an ephemeral one."""
    if settings.env("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def partition_for(request: ImportRequest) -> str:
    return request.organization_id or MULTI_ORG_PARTITION


def run_import_assets(
    request: ImportRequest,
    postgres: PostgresResource | None = None,
    instance: dg.DagsterInstance | None = None,
    log_level: str = "WARNING",
) -> tuple[list[dict], dg.ExecuteInProcessResult]:
    """Materialize the ingest chain (and its checks) for one request; return file summaries."""
    instance = instance or _instance()
    partition = partition_for(request)
    if not instance.has_dynamic_partition(organization_partitions.name, partition):
        instance.add_dynamic_partitions(organization_partitions.name, [partition])
    config = {
        "files": request.paths,
        "org": request.organization_id,
        "owner": request.owner_id,
        "source": request.source,
        "region": request.region,
        "mapping": request.mapping_file,
        "workers": request.workers,
    }
    result = dg.materialize(
        [*INGEST_ASSETS, *INGEST_CHECKS],
        partition_key=partition,
        instance=instance,
        resources={"postgres": postgres or PostgresResource()},
        run_config={
            "ops": {"raw_lead_files": {"config": config}},
            "loggers": {"console": {"config": {"log_level": log_level}}},
        },
        raise_on_error=False,
        tags={"leadflow/trigger": "cli"},
    )
    return _summaries(result), result


def _summaries(result: dg.ExecuteInProcessResult) -> list[dict]:
    """Per-file summaries from crm_leads' output, or from the failure metadata it raised."""
    if result.success:
        run: ImportRun = result.output_for_node("crm_leads")
        return run.summaries()
    for event in result.all_events:
        if (
            event.is_step_failure
            and event.step_key
            and event.step_key.startswith(("crm_leads", "raw_lead_files"))
        ):
            failure = event.step_failure_data
            metadata = (
                (failure.user_failure_data.metadata or {}) if failure.user_failure_data else {}
            )
            files = metadata.get("files")
            if files is not None:
                return list(files.value)
            raise ImportFailed(failure.error.message.strip() if failure.error else "import failed")
    try:
        run = result.output_for_node("crm_leads")
        return run.summaries()
    except Exception as exc:  # a failure outside the assets (e.g. a blocking check)
        raise ImportFailed(_first_error(result)) from exc


def _first_error(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error:
            return f"{event.step_key}: {event.step_failure_data.error.message.strip()}"
    return "the import run failed"


class ImportFailed(RuntimeError):
    pass
