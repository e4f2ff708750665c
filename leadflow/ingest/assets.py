"""The import asset (group `ingest`): lead files -> `crm_leads`, one run per organization.

One asset, not a chain of steps: a file's rows stream from the reader into PostgreSQL inside one
transaction (leadflow.ingest.pipeline), so there is nothing between steps that a second process
would have to read, and the run works the same on the in-process, multiprocess, celery or k8s
executors. What the asset produced is in PostgreSQL: `leads` (and their audit log and status
history), `import_batches` (one row per file with its accounting and timings) and
`import_rejects` (the quarantined rows with their reasons); the materialization's metadata
repeats the accounting per file. Runs are partitioned by organization (dynamic partitions
`organizations`, plus `multi_org` for files that carry their own organization column), so
different organizations import in parallel; re-running a partition with the same files is a
no-op (each file is recognised by its sha256).
"""

import shutil
from pathlib import Path

import dagster as dg
from pydantic import Field

from leadflow import settings
from leadflow.ingest.pipeline import FileJob, ImportRequest, ImportRequestError, run_import
from leadflow.leads.ids import canonical_uuid
from leadflow.recommend.cache import invalidate_changed
from leadflow.resources import PostgresResource

MULTI_ORG_PARTITION = "multi_org"
organization_partitions = dg.DynamicPartitionsDefinition(name="organizations")

GROUP = "ingest"
SUMMARY_KEYS = ("rows_read", "inserted", "merged", "duplicates_in_file", "quarantined", "dnc")


class ImportConfig(dg.Config):
    """What to import; `leadflow import` and the landing sensor fill this in."""

    files: list[str] = Field(description="Lead files (CSV/TSV/XLSX) to import.")
    org: str | None = Field(default=None, description="Organization UUID for files without one.")
    owner: str | None = Field(default=None, description="Default owner (user UUID).")
    source: str | None = Field(default=None, description="Default lead source.")
    region: str | None = Field(default=None, description="Phone region, overrides the org's.")
    mapping: str | None = Field(default=None, description="JSON header mapping file.")
    workers: int | None = Field(default=None, description="Normalization processes.")
    landing_dir: str | None = Field(
        default=None,
        description="Set by the landing sensor: move each file to processed/ or failed/ here.",
    )

    def request(self) -> ImportRequest:
        return ImportRequest(
            paths=list(self.files),
            organization_id=self.org,
            owner_id=self.owner,
            source=self.source,
            region=self.region,
            mapping_file=self.mapping,
            workers=self.workers,
        )


def landing_dir() -> Path:
    return Path(settings.env("LEADFLOW_LANDING_DIR") or settings.leadflow_home() / "landing")


def import_metadata(jobs: list[FileJob]) -> dict[str, dg.MetadataValue]:
    """The accounting of a run's files (totals and per file) and the organizations touched."""
    totals = {key: sum(getattr(job, key) for job in jobs) for key in SUMMARY_KEYS}
    return {
        **{key: dg.MetadataValue.int(value) for key, value in totals.items()},
        "files": dg.MetadataValue.json([job.summary() for job in jobs]),
        "organizations": dg.MetadataValue.json(
            sorted({org for job in jobs for org in job.organizations})
        ),
    }


def _check_partition(context: dg.AssetExecutionContext, request: ImportRequest) -> None:
    if not context.has_partition_key:
        return
    key = context.partition_key
    org = request.organization_id
    expected = (canonical_uuid(org) or org) if org else MULTI_ORG_PARTITION
    if key != expected:
        raise dg.Failure(f"partition {key!r} does not match the import's organization {expected!r}")


@dg.asset(
    group_name=GROUP,
    kinds={"python", "postgres"},
    partitions_def=organization_partitions,
    description="Lead files imported into PostgreSQL, one transaction per file: rows streamed "
    "from the file (CSV/TSV/XLSX, headers of HubSpot/Salesforce/Pipedrive/Zoho exports "
    "recognised) through normalization (E.164 phones, names, e-mails, tags, sources; rows "
    "that cannot be fixed quarantined with a reason) into a staging table, then in SQL: "
    "duplicates in the file folded, the organization's DNC list applied, new leads inserted "
    "and existing ones merged (audit log, status history), the batch's accounting written.",
)
def crm_leads(
    context: dg.AssetExecutionContext, config: ImportConfig, postgres: PostgresResource
) -> dg.MaterializeResult:
    request = config.request()
    _check_partition(context, request)
    try:
        jobs = run_import(request, postgres.connection)
    except ImportRequestError as exc:
        raise dg.Failure(str(exc)) from exc
    if config.landing_dir:
        _file_away(config.landing_dir, jobs)
    for job in jobs:
        context.log.info(f"{job.file_name}: {job.summary()}")
    metadata = import_metadata(jobs)
    touched = sorted(
        {org for job in jobs if job.status == "succeeded" for org in job.organizations}
    )
    if touched:
        invalidate_changed(postgres.connection, touched, context.log)
    failed = [job for job in jobs if job.status == "failed"]
    if failed:
        raise dg.Failure(
            f"{len(failed)} of {len(jobs)} file(s) could not be imported: "
            + "; ".join(f"{job.file_name}: {job.message}" for job in failed),
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)


def _file_away(root_text: str, jobs: list[FileJob]) -> None:
    """Landing-directory files go to processed/ (imported or skipped) or failed/."""
    root = Path(root_text)
    for job in jobs:
        path = Path(job.path)
        if not path.exists():
            continue
        target = root / ("failed" if job.status == "failed" else "processed")
        target.mkdir(parents=True, exist_ok=True)
        destination = target / path.name
        if destination.exists():
            destination = target / f"{path.stem}.{job.batch_id or 'x'}{path.suffix}"
        shutil.move(str(path), destination)


INGEST_ASSETS = [crm_leads]

import_job = dg.define_asset_job(
    "lead_import_job",
    selection=dg.AssetSelection.assets(crm_leads),
    description="Import lead files for one organization partition (or multi_org).",
    tags={"dagster/max_retries": "0"},
)

LEAD_FILE_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xlsm"}
_UNSORTED = {"processed", "failed"}


@dg.sensor(
    job=import_job,
    minimum_interval_seconds=30,
    description="One import run per new file in LEADFLOW_LANDING_DIR (default .leadflow/landing):"
    " files in <landing>/<organization uuid>/ import into that organization, files at the top "
    "need an organization_id column. Files move to processed/ or failed/ afterwards.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def landing_dir_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    root = landing_dir()
    requests: list[dg.RunRequest] = []
    partitions: set[str] = set()
    if root.is_dir():
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if (
                not path.is_file()
                or path.suffix.lower() not in LEAD_FILE_SUFFIXES
                or relative.parts[0] in _UNSORTED
                or path.name.startswith(".")
                or len(relative.parts) > 2
            ):
                continue
            org = relative.parts[0] if len(relative.parts) == 2 else None
            partition = org or MULTI_ORG_PARTITION
            partitions.add(partition)
            stat = path.stat()
            requests.append(
                dg.RunRequest(
                    run_key=f"{relative}:{stat.st_size}:{stat.st_mtime_ns}",
                    partition_key=partition,
                    run_config={
                        "ops": {
                            "crm_leads": {
                                "config": {
                                    "files": [str(path)],
                                    "org": org,
                                    "landing_dir": str(root),
                                }
                            }
                        }
                    },
                    tags={"leadflow/file": str(relative)},
                )
            )
    new_partitions = [
        key
        for key in sorted(partitions)
        if not context.instance.has_dynamic_partition(organization_partitions.name, key)
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=(
            [organization_partitions.build_add_request(new_partitions)] if new_partitions else []
        ),
    )
