"""The import asset (group `ingest`): lead files -> `crm_leads`, one run per organization.

One asset, not a chain of steps: a file's rows stream from the reader into PostgreSQL inside one
transaction (leadflow.ingest.pipeline), so there is nothing between steps that a second process
would have to read, and the run works the same on the in-process, multiprocess, celery or k8s
executors. What the asset produced is in PostgreSQL: `leads` (and their audit log and status
history), `import_batches` (one row per file with its accounting and timings) and
`import_rejects` (the quarantined rows with their reasons); the materialization's metadata
repeats the accounting per file. Runs are partitioned by organization (the shared
`organization_partitions`, whose `multi_org` key is for files that carry their own organization
column), so different organizations import in parallel; re-running a partition with the same
files is a no-op (each file is recognised by its sha256).

Which files a run may read is the `lead_files` resource's decision, not the run config's: the
definitions bind `LandingFiles` (landing files only, see leadflow/ingest/landing.py), which has no
configuration a launchpad could change; `leadflow leads import` passes `OperatorFiles` to its own
in-process run, and no launched run can have it. That resource also brings the command's
progress display, the only one that follows an import, and the request as the command
validated it before the run (a bad one is refused before Dagster even loads), so that the
run does not check it a second time; every other run checks its request itself.

`lead_referrals` (same group, unpartitioned, in the nightly job before the graph) links the
referrals still pending after the imports and the CRM loads, so that the graph sync only reads.
"""

import dagster as dg
from pydantic import Field

from leadflow.checked_files import CheckedFile
from leadflow.dagster_vocab import (
    MULTI_ORG_PARTITION,
    ORGANIZATION_PARTITIONS,
    organization_partitions,
    run_organization,
)
from leadflow.ingest.landing import check_landing_file, file_away, landing_root, list_landing
from leadflow.ingest.pipeline import (
    FileJob,
    ImportRequest,
    ImportRequestError,
    Progress,
    operator_file,
    run_import,
)
from leadflow.ingest.referrals_sql import resolve_pending_referrals
from leadflow.postgres import organization_ids, set_tenant
from leadflow.resources import PostgresResource

GROUP = "ingest"
SUMMARY_KEYS = ("rows_read", "inserted", "merged", "duplicates_in_file", "quarantined", "dnc")
#: the metadata key of a run's failure that says the request itself was refused
BAD_REQUEST = "bad_request"


class ImportConfig(ImportRequest, dg.Config):
    """What to import: the import request itself (`leadflow leads import` builds it, the landing
    sensor's run requests and the launchpad fill it in), taken by `run_import` as it is."""

    landing_dir: str | None = Field(
        default=None,
        description="Removed: the landing root is LEADFLOW_LANDING_DIR; a run that sets it is "
        "refused.",
    )


class LeadFiles(dg.ConfigurableResource):
    """Which files a run of `crm_leads` may read, and what becomes of them afterwards.

    Deliberately without configuration: what it allows is its class, chosen in code (the
    definitions bind LandingFiles; only `leadflow leads import` passes OperatorFiles), so no run
    config can widen it."""

    def refusal(self, config: ImportConfig) -> str | None:
        """Why the run config is refused before any file is touched, or None."""
        if config.landing_dir is not None:
            return (
                "landing_dir is no longer accepted in run config: the landing root is the "
                "deployment's LEADFLOW_LANDING_DIR (default <LEADFLOW_HOME>/landing) and landing "
                "files are filed away below it; remove the key"
            )
        return None

    def check(self, raw_path: str, organization_id: str | None) -> CheckedFile:
        raise NotImplementedError

    def file_away(self, jobs: list[FileJob], log: dg.DagsterLogManager) -> None:
        """After the import: nothing by default."""

    def progress(self) -> Progress | None:
        """Who follows the import (rows streamed so far): nobody but `leadflow leads import`."""
        return None

    def validated(self, config: ImportConfig) -> bool:
        """Whether this run's request was checked (validate_request) before the run started,
        so that the run does not check it again: never, but in `leadflow leads import`'s own run."""
        return False


class LandingFiles(LeadFiles):
    """What every launched run of `lead_import_job` (the sensor's, the UI's) may read: landing
    files below LEADFLOW_LANDING_DIR, each imported into the organization of its folder only,
    never through a link; afterwards they move to processed/ or failed/."""

    def refusal(self, config: ImportConfig) -> str | None:
        if config.mapping is not None:
            return (
                "mapping files are not accepted in runs of lead_import_job (a run config must "
                "not name files outside the landing folders); the operator imports with a "
                "mapping through `leadflow leads import FILE --mapping MAP.json`"
            )
        return super().refusal(config)

    def check(self, raw_path: str, organization_id: str | None) -> CheckedFile:
        return check_landing_file(raw_path, organization_id, landing_root())

    def file_away(self, jobs: list[FileJob], log: dg.DagsterLogManager) -> None:
        for job in jobs:
            if job.checked is None:  # refused or unreachable: never read, left where it is
                continue
            moved = file_away(job.checked, job.status == "failed", job.batch_id)
            if moved is None:
                log.warning(f"{job.path} was not filed away: it is no longer the imported file")


class OperatorFiles(LeadFiles):
    """`leadflow leads import FILE`'s: any readable regular file the operator names, left in place,
    the command's progress display and the request the command validated before it started
    the run (resource values, never config). Passed only to the command's own in-process
    materialize, never bound in the definitions."""

    # Dagster takes None for an unset dependency; its annotation types only the wrapper
    follow: dg.ResourceDependency[Progress | None] = None  # type: ignore[assignment]
    validated_request: dg.ResourceDependency[ImportRequest | None] = None  # type: ignore[assignment]

    def check(self, raw_path: str, organization_id: str | None) -> CheckedFile:
        return operator_file(raw_path, organization_id)

    def progress(self) -> Progress | None:
        return self.follow

    def validated(self, config: ImportConfig) -> bool:
        """The run's request is the one validated before the run (same fields, same values)."""
        if self.validated_request is None:
            return False
        return self.validated_request == ImportRequest(**config.model_dump(exclude={"landing_dir"}))


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


def import_partition(request: ImportRequest) -> str:
    """The partition of an import: its organization (canonical, see ImportRequest), else
    multi_org."""
    return request.org or MULTI_ORG_PARTITION


def _check_partition(context: dg.AssetExecutionContext, request: ImportRequest) -> None:
    if not context.has_partition_key:
        return
    key = context.partition_key
    expected = import_partition(request)
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
    context: dg.AssetExecutionContext,
    config: ImportConfig,
    postgres: PostgresResource,
    lead_files: LeadFiles,
) -> dg.MaterializeResult:
    refusal = lead_files.refusal(config)
    if refusal:
        raise dg.Failure(refusal)
    _check_partition(context, config)
    try:
        jobs = run_import(
            config,
            postgres.connection,
            lead_files.progress(),
            lead_files.check,
            validated=lead_files.validated(config),
        )
    except ImportRequestError as exc:  # the request's one check, when not done before the run
        raise dg.Failure(str(exc), metadata={BAD_REQUEST: str(exc)}) from exc
    lead_files.file_away(jobs, context.log)
    for job in jobs:
        context.log.info(f"{job.file_name}: {job.summary()}")
    metadata = import_metadata(jobs)
    failed = [job for job in jobs if job.status == "failed"]
    if failed:
        raise dg.Failure(
            f"{len(failed)} of {len(jobs)} file(s) could not be imported: "
            + "; ".join(f"{job.file_name}: {job.message}" for job in failed),
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    group_name=GROUP,
    kinds={"postgres"},
    # every step that adds leads may bring a referrer that earlier leads are waiting for
    deps=[crm_leads, dg.AssetKey("crm_api_leads")],
    description="Pending referrals resolved: live leads whose referral handle (E.164 phone or "
    "e-mail) names no lead yet are linked to the lead of their organization it names now, "
    "one transaction per organization, each link audited (lead_audit_log). An import links "
    "what its own file makes possible; this step, in the nightly job before the graph, links "
    "the rest (a referrer loaded by the CRM sync, restored, or whose phone changed).",
)
def lead_referrals(
    context: dg.AssetExecutionContext, postgres: PostgresResource
) -> dg.MaterializeResult:
    scoped = run_organization(context)
    with postgres.connection() as conn:
        organizations = [scoped] if scoped else organization_ids(conn)
    linked: dict[str, int] = {}
    for org in organizations:
        with postgres.connection() as conn:
            set_tenant(conn, org)
            linked[org] = resolve_pending_referrals(conn, org)
    for org, count in linked.items():
        if count:
            context.log.info(f"organization {org}: {count} pending referrals resolved")
    return dg.MaterializeResult(
        metadata={
            "referrals_resolved": dg.MetadataValue.int(sum(linked.values())),
            "organizations": dg.MetadataValue.int(len(organizations)),
            "by_organization": dg.MetadataValue.json({o: n for o, n in linked.items() if n}),
        }
    )


#: the per-file import: what `leadflow leads import` and every run of `lead_import_job` materialize
INGEST_ASSETS = [crm_leads]

import_job = dg.define_asset_job(
    "lead_import_job",
    selection=dg.AssetSelection.assets(crm_leads),
    description="Import lead files for one organization partition (or multi_org).",
    tags={"dagster/max_retries": "0"},
)


@dg.sensor(
    job=import_job,
    minimum_interval_seconds=30,
    description="One import run per new file in LEADFLOW_LANDING_DIR (default .leadflow/landing):"
    " files in <landing>/<organization uuid>/ import into that organization, files at the top "
    "need an organization_id column. Symbolic links, hard-linked files and folders that name no "
    "organization are passed over (with a warning). Files move to processed/ or failed/ "
    "afterwards.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def landing_dir_sensor(
    context: dg.SensorEvaluationContext, postgres: PostgresResource
) -> dg.SensorResult:
    with postgres.connection() as conn:
        organizations = set(organization_ids(conn))
    files, passed = list_landing(landing_root(), organizations)
    for note in passed:
        context.log.warning(f"landing folder: {note}")
    requests: list[dg.RunRequest] = []
    partitions: set[str] = set()
    for file in files:
        org = file.where.organization_id
        partition = org or MULTI_ORG_PARTITION
        partitions.add(partition)
        requests.append(
            dg.RunRequest(
                run_key=f"{file.where.relative}:{file.size}:{file.mtime_ns}",
                partition_key=partition,
                run_config={
                    "ops": {"crm_leads": {"config": {"files": [str(file.where.path)], "org": org}}}
                },
                tags={"leadflow/file": file.where.relative},
            )
        )
    new_partitions = [
        key
        for key in sorted(partitions)
        if not context.instance.has_dynamic_partition(ORGANIZATION_PARTITIONS, key)
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=(
            [organization_partitions.build_add_request(new_partitions)] if new_partitions else []
        ),
    )
