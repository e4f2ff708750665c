"""Ingestion assets (group `ingest`): files → normalized → deduplicated → DNC-screened → CRM.

Thin wrappers over `leadflow.ingest.stages`; each asset hands the next an `ImportRun`
(the request and one `FileJob` per file, with spool paths and counts). Runs are partitioned by
organization (dynamic partitions `organizations`, plus `multi_org` for files that carry their
own organization_id column) so different organizations import in parallel.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

from leadflow import settings
from leadflow.ingest import stages
from leadflow.ingest.stages import FileJob, ImportRequest
from leadflow.resources import PostgresResource

MULTI_ORG_PARTITION = "multi_org"
organization_partitions = dg.DynamicPartitionsDefinition(name="organizations")

GROUP = "ingest"


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


@dataclass
class ImportRun:
    request: ImportRequest
    jobs: list[FileJob]
    landing_dir: str | None = None

    def summaries(self) -> list[dict]:
        return [job.summary() for job in self.jobs]


def landing_dir() -> Path:
    return Path(settings.env("LEADFLOW_LANDING_DIR") or settings.leadflow_home() / "landing")


def _metadata(run: ImportRun) -> dict[str, dg.MetadataValue]:
    totals = {
        key: sum(getattr(job, key) for job in run.jobs)
        for key in ("rows_read", "inserted", "merged", "duplicates_in_file", "quarantined", "dnc")
    }
    return {
        **{key: dg.MetadataValue.int(value) for key, value in totals.items()},
        "files": dg.MetadataValue.json(run.summaries()),
        "organizations": dg.MetadataValue.json(
            sorted({org for job in run.jobs for org in job.organizations})
        ),
    }


def _check_partition(context: dg.AssetExecutionContext, request: ImportRequest) -> None:
    if not context.has_partition_key:
        return
    key = context.partition_key
    expected = request.organization_id or MULTI_ORG_PARTITION
    if key != expected:
        raise dg.Failure(f"partition {key!r} does not match the import's organization {expected!r}")


@dg.asset(
    group_name=GROUP,
    kinds={"python", "file"},
    partitions_def=organization_partitions,
    description="Lead files inspected (format, encoding, delimiter, header mapping, sha256); "
    "files already imported are skipped; an import batch is opened per file.",
)
def raw_lead_files(
    context: dg.AssetExecutionContext, config: ImportConfig, postgres: PostgresResource
) -> ImportRun:
    request = ImportRequest(
        paths=list(config.files),
        organization_id=config.org,
        owner_id=config.owner,
        source=config.source,
        region=config.region,
        mapping_file=config.mapping,
        workers=config.workers,
    )
    try:
        jobs = stages.prepare(request, postgres.connection)
    except stages.ImportRequestError as exc:
        raise dg.Failure(str(exc)) from exc
    _check_partition(context, request)
    run = ImportRun(request, jobs, config.landing_dir)
    for job in jobs:
        context.log.info(f"{job.file_name}: {job.status} {job.message or ''}".strip())
    context.add_output_metadata({"files": dg.MetadataValue.json(run.summaries())})
    return run


@dg.asset(
    group_name=GROUP,
    kinds={"python"},
    partitions_def=organization_partitions,
    description="Rows parsed and cleaned: phones in E.164 (phonenumbers), names, emails, tags "
    "and sources normalized; rows that cannot be fixed are quarantined with a reason.",
)
def normalized_leads(
    context: dg.AssetExecutionContext, raw_lead_files: ImportRun, postgres: PostgresResource
) -> ImportRun:
    stages.normalize(raw_lead_files.jobs, postgres.connection, raw_lead_files.request)
    context.add_output_metadata(_metadata(raw_lead_files))
    return raw_lead_files


@dg.asset(
    group_name=GROUP,
    kinds={"python"},
    partitions_def=organization_partitions,
    description="Duplicates inside each file collapsed per (organization, E.164 phone) with the "
    "survivorship rules; duplicates against PostgreSQL are merged when loading.",
)
def deduplicated_leads(
    context: dg.AssetExecutionContext, normalized_leads: ImportRun, postgres: PostgresResource
) -> ImportRun:
    stages.dedupe(normalized_leads.jobs, postgres.connection)
    context.add_output_metadata(_metadata(normalized_leads))
    return normalized_leads


@dg.asset(
    group_name=GROUP,
    kinds={"python", "postgres"},
    partitions_def=organization_partitions,
    description="Leads whose phone is on their own organization's Do-Not-Call list are marked; "
    "they are loaded with status 'dnc' whatever the file says.",
)
def dnc_screened_leads(
    context: dg.AssetExecutionContext, deduplicated_leads: ImportRun, postgres: PostgresResource
) -> ImportRun:
    stages.screen(deduplicated_leads.jobs, postgres.connection)
    context.add_output_metadata(_metadata(deduplicated_leads))
    return deduplicated_leads


@dg.asset(
    group_name=GROUP,
    kinds={"postgres"},
    partitions_def=organization_partitions,
    description="Leads in PostgreSQL: new leads inserted, existing ones merged (audit log, "
    "status history), rejects and accounting in import_batches/import_rejects; one "
    "transaction per file.",
)
def crm_leads(
    context: dg.AssetExecutionContext, dnc_screened_leads: ImportRun, postgres: PostgresResource
) -> ImportRun:
    run = dnc_screened_leads
    try:
        stages.load(run.jobs, postgres.connection)
    finally:
        if run.landing_dir:
            _file_away(run)
    context.add_output_metadata(_metadata(run))
    failed = [job for job in run.jobs if job.status == "failed"]
    for job in run.jobs:
        context.log.info(f"{job.file_name}: {job.summary()}")
    if failed:
        raise dg.Failure(
            f"{len(failed)} of {len(run.jobs)} file(s) could not be imported: "
            + "; ".join(f"{job.file_name}: {job.message}" for job in failed),
            metadata=_metadata(run),
        )
    return run


def _file_away(run: ImportRun) -> None:
    """Landing-directory files go to processed/ (imported or skipped) or failed/."""
    root = Path(run.landing_dir)
    for job in run.jobs:
        path = Path(job.path)
        if not path.exists():
            continue
        target = root / ("failed" if job.status == "failed" else "processed")
        target.mkdir(parents=True, exist_ok=True)
        destination = target / path.name
        if destination.exists():
            destination = target / f"{path.stem}.{job.batch_id or 'x'}{path.suffix}"
        shutil.move(str(path), destination)


INGEST_ASSETS = [
    raw_lead_files,
    normalized_leads,
    deduplicated_leads,
    dnc_screened_leads,
    crm_leads,
]

import_job = dg.define_asset_job(
    "lead_import_job",
    selection=dg.AssetSelection.assets(*INGEST_ASSETS).upstream(),
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
                            "raw_lead_files": {
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
