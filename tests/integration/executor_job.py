"""The import job on the multiprocess executor, as a deployment's run worker loads it.

Its own module, apart from the test: every run worker and step process the test spawns
re-imports the module that defines the job, and this one imports only Dagster and the ingest
asset (the test module brings dagster-k8s, dagster-celery and the fixtures, ~5 s a process).
"""

from __future__ import annotations

import dagster as dg

from leadflow.ingest.assets import INGEST_ASSETS, LandingFiles, import_job
from leadflow.resources import PostgresResource


def import_job_on(executor: dg.ExecutorDefinition) -> dg.JobDefinition:
    """The product's `lead_import_job` on `executor` (what a deployment's Definitions set),
    PostgreSQL from POSTGRES_URL, landing files from LEADFLOW_LANDING_DIR."""
    return dg.Definitions(
        assets=INGEST_ASSETS,
        jobs=[import_job],
        executor=executor,
        resources={
            "postgres": PostgresResource(url=dg.EnvVar("POSTGRES_URL")),
            "lead_files": LandingFiles(),
        },
    ).resolve_job_def(import_job.name)


def multiprocess_import_job() -> dg.JobDefinition:
    """`lead_import_job` on the multiprocess executor: what a run worker loads (rebuilt in
    every step process, hence a function)."""
    return import_job_on(dg.multiprocess_executor)


def run_partition(dagster_home: str, org: str, path: str) -> tuple[bool, str]:
    """One run of `lead_import_job` for one organization partition, as a run worker executes
    it: in a process of its own, on the multiprocess executor (its step in yet another one)."""
    instance = dg.DagsterInstance.from_config(dagster_home)
    try:
        config = {"ops": {"crm_leads": {"config": {"files": [path], "org": org}}}}
        result = dg.execute_job(
            dg.reconstructable(multiprocess_import_job),
            instance,
            run_config=config,
            tags={"dagster/partition": org},
        )
        return result.success, result.run_id
    finally:
        instance.dispose()
