"""Run Dagster jobs in this process: the ingest assets (`leadflow import`, the demo) and the
nightly job (`leadflow run`, the demo). It sits above `leadflow.definitions`, which never
imports it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg

from leadflow import settings
from leadflow.ingest.assets import (
    BAD_REQUEST,
    INGEST_ASSETS,
    OperatorFiles,
    import_partition,
    organization_partitions,
)
from leadflow.ingest.checks import INGEST_CHECKS
from leadflow.ingest.pipeline import ImportRequest, ImportRequestError, Progress
from leadflow.leads.ids import require_uuid
from leadflow.resources import PostgresResource


def _instance() -> dg.DagsterInstance:
    """The configured instance (DAGSTER_HOME) so runs show in the UI, else an ephemeral one."""
    if settings.env("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def dagster_instance() -> dg.DagsterInstance:
    """The instance of DAGSTER_HOME (default .leadflow/dagster, SQLite: no server needed), so
    runs started by `leadflow run` show up in `dagster dev`."""
    home = settings.env("DAGSTER_HOME")
    if not home:
        home = str(settings.leadflow_home() / "dagster")
        os.environ["DAGSTER_HOME"] = home
    os.makedirs(home, exist_ok=True)
    config = os.path.join(home, "dagster.yaml")
    if not os.path.exists(config):  # SQLite storage (the default), no telemetry
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(
                "# local instance written by leadflow; see deploy/dagster.yaml for production\n"
                "telemetry:\n  enabled: false\n"
            )
    return dg.DagsterInstance.get()


def run_nightly(
    *,
    full_refresh: bool = False,
    resources: Mapping[str, Any] | None = None,
    instance: dg.DagsterInstance | None = None,
    alert: bool = True,
) -> dg.ExecuteInProcessResult:
    """Execute nightly_sync_job in this process (same definition and retries as the schedule);
    post the failure alert itself, since no sensor daemon watches an in-process run.

    `resources` replaces the ones read from the environment (e.g. a test's scratch databases).
    """
    from leadflow.definitions import build_defs
    from leadflow.orchestration.alerts import alert_in_process_failure

    job = build_defs(resources=resources).resolve_job_def("nightly_sync_job")
    run_config = {
        "ops": {"analytics_models": {"config": {"full_refresh": full_refresh}}},
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }
    result = job.execute_in_process(
        run_config=run_config,
        instance=instance if instance is not None else dagster_instance(),
        raise_on_error=False,
        tags={"leadflow/trigger": "cli"},
    )
    if alert:
        alert_in_process_failure(job.name, result)
    return result


def partition_for(request: ImportRequest) -> str:
    """The run's partition key (import_partition). An --org that is no UUID names no partition:
    refused here, in the words of the asset's check (validate_request), as no key can be made
    of it."""
    if request.org:
        require_uuid(request.org, "--org", ImportRequestError)
    return import_partition(request)


def run_import_assets(
    request: ImportRequest,
    postgres: PostgresResource | None = None,
    instance: dg.DagsterInstance | None = None,
    log_level: str = "CRITICAL",
    progress: Progress | None = None,
) -> tuple[list[dict], dg.ExecuteInProcessResult]:
    """Materialize `crm_leads` (and its checks) for one request; return the file summaries.
    A request the asset refuses raises ImportRequestError (`leadflow import` exits 2).

    The run's console log is quiet by default: the caller prints each file's outcome (a file
    that failed says why in its summary), so Dagster's step-failure lines with their stack
    traces would only repeat it. The full event log is in the Dagster instance.

    The run reads the operator's files wherever they are (OperatorFiles, which also brings
    `progress`): this in-process run is the only one that gets that resource; the definitions'
    runs read landing files only."""
    instance = instance or _instance()
    partition = partition_for(request)
    added = not instance.has_dynamic_partition(organization_partitions.name, partition)
    if added:
        instance.add_dynamic_partitions(organization_partitions.name, [partition])
    result = dg.materialize(
        [*INGEST_ASSETS, *INGEST_CHECKS],
        partition_key=partition,
        instance=instance,
        resources={
            "postgres": postgres or PostgresResource(),
            "lead_files": OperatorFiles(follow=progress),
        },
        run_config={
            "ops": {"crm_leads": {"config": request.model_dump(exclude_none=True)}},
            "loggers": {"console": {"config": {"log_level": log_level}}},
        },
        raise_on_error=False,
        tags={"leadflow/trigger": "cli"},
    )
    try:
        return _summaries(result), result
    except ImportRequestError:
        if added:  # no partition for an organization the request may not name
            instance.delete_dynamic_partition(organization_partitions.name, partition)
        raise


def _summaries(result: dg.ExecuteInProcessResult) -> list[dict]:
    """Per-file summaries from crm_leads' materialization, or from the failure it raised
    (ImportRequestError when the request itself was refused)."""
    for materialization in result.asset_materializations_for_node("crm_leads"):
        if "files" in materialization.metadata:
            return list(materialization.metadata["files"].value)
    for event in result.all_events:
        if event.is_step_failure and event.step_key and event.step_key.startswith("crm_leads"):
            failure = event.step_failure_data
            metadata = (
                (failure.user_failure_data.metadata or {}) if failure.user_failure_data else {}
            )
            if BAD_REQUEST in metadata:
                raise ImportRequestError(metadata[BAD_REQUEST].value)
            files = metadata.get("files")
            if files is not None:
                return list(files.value)
            raise ImportFailed(failure.error.message.strip() if failure.error else "import failed")
    raise ImportFailed(_first_error(result))


def _first_error(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error:
            return f"{event.step_key}: {event.step_failure_data.error.message.strip()}"
    return "the import run failed"


class ImportFailed(RuntimeError):
    pass
