"""Run Dagster jobs in this process: the ingest assets (`leadflow leads import`, the demo) and the
nightly job (`leadflow run`, the demo), recorded in the instance of DAGSTER_HOME (see
`leadflow.cli.common.dagster_instance`). It sits above `leadflow.definitions`, which never
imports it, and it is the commands' door to Dagster: they import it only once their arguments
are checked and the work needs it.

An import loads only what it runs: `crm_leads` and its checks (leadflow.ingest), never the whole
`leadflow.definitions` (no dbt manifest, no CRM, graph or recommendation assets).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import dagster as dg

from leadflow.cli.common import dagster_instance
from leadflow.dagster_vocab import ORGANIZATION_PARTITIONS
from leadflow.ingest.assets import (
    INGEST_ASSETS,
    OperatorFiles,
    import_partition,
)
from leadflow.ingest.checks import INGEST_CHECKS
from leadflow.ingest.pipeline import ImportRequest, Progress, validate_request
from leadflow.resources import PostgresResource


def run_nightly(
    *,
    full_refresh: bool = False,
    resources: Mapping[str, Any] | None = None,
    instance: dg.DagsterInstance | None = None,
    alert: bool = True,
    tags: Mapping[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Execute nightly_sync_job in this process (same definition and retries as the schedule);
    post the failure alert itself, since no sensor daemon watches an in-process run.

    `resources` replaces the ones read from the environment (e.g. a test's scratch databases);
    `tags` are added to the run's (e.g. the one StepProgress follows it by).
    """
    from leadflow.dagster_vocab import FULL_REFRESH_TAG
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
        tags={
            "leadflow/trigger": "cli",
            FULL_REFRESH_TAG: "true" if full_refresh else "false",
            **(tags or {}),
        },
    )
    if alert:
        alert_in_process_failure(job.name, result)
    return result


def run_import_assets(
    request: ImportRequest,
    postgres: PostgresResource | None = None,
    instance: dg.DagsterInstance | None = None,
    log_level: str = "CRITICAL",
    progress: Progress | None = None,
    validated: bool = False,
) -> tuple[list[dict], dg.ExecuteInProcessResult]:
    """Materialize `crm_leads` (and its checks) for one request; return the file summaries.

    The request is checked once (validate_request), before the run: here, unless the caller
    did it already (`validated`: `leadflow leads import` checks it before it loads Dagster). A bad
    request raises ImportRequestError (`leadflow leads import` exits 2) and starts no run; the run is
    handed the checked request (OperatorFiles) and does not check it again.

    The run's console log is quiet by default: the caller prints each file's outcome (a file
    that failed says why in its summary), so Dagster's step-failure lines with their stack
    traces would only repeat it. The full event log is in the Dagster instance (default: the
    one of DAGSTER_HOME, which `make dev` shows).

    The run reads the operator's files wherever they are (OperatorFiles, which also brings
    `progress`): this in-process run is the only one that gets that resource; the definitions'
    runs read landing files only."""
    postgres = postgres or PostgresResource()
    if not validated:
        with postgres.connection() as conn:  # outside a run: one plain connection
            validate_request(conn, request)
    instance = instance or dagster_instance()
    partition = import_partition(request)
    if not instance.has_dynamic_partition(ORGANIZATION_PARTITIONS, partition):
        instance.add_dynamic_partitions(ORGANIZATION_PARTITIONS, [partition])
    result = dg.materialize(
        [*INGEST_ASSETS, *INGEST_CHECKS],
        partition_key=partition,
        instance=instance,
        resources={
            "postgres": postgres,
            "lead_files": OperatorFiles(follow=progress, validated_request=request),
        },
        run_config={
            "ops": {"crm_leads": {"config": request.model_dump(exclude_none=True)}},
            "loggers": {"console": {"config": {"log_level": log_level}}},
        },
        raise_on_error=False,
        tags={"leadflow/trigger": "cli"},
    )
    return _summaries(result), result


def _summaries(result: dg.ExecuteInProcessResult) -> list[dict]:
    """Per-file summaries from crm_leads' materialization, or from the failure it raised."""
    for materialization in result.asset_materializations_for_node("crm_leads"):
        if "files" in materialization.metadata:
            return cast(list[dict], materialization.metadata["files"].value)  # JSON metadata
    for event in result.all_events:
        if event.is_step_failure and event.step_key and event.step_key.startswith("crm_leads"):
            failure = event.step_failure_data
            metadata = (
                (failure.user_failure_data.metadata or {}) if failure.user_failure_data else {}
            )
            files = metadata.get("files")
            if files is not None:
                return cast(list[dict], files.value)  # JSON metadata
            raise ImportFailed(failure.error.message.strip() if failure.error else "import failed")
    raise ImportFailed(_first_error(result))


def _first_error(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error:
            return f"{event.step_key}: {event.step_failure_data.error.message.strip()}"
    return "the import run failed"


class ImportFailed(RuntimeError):
    pass
