"""Importing lead files: one streaming pipeline per file, in one PostgreSQL transaction.

    prepare -> check the request (the one check of `leadflow leads import`'s and a run config's
               request; unless its caller checked it already), inspect each file (format, encoding, delimiter, headers, sha256,
               which column is the tenant), skip files already imported
    load    -> per file, in one transaction: the one load sequence of every batch
               (leadflow/ingest/batch.py), the file's rows staged by read -> normalize -> COPY,
               overlapped (the parent parses and copies while worker processes normalize and
               format COPY data); then set-based SQL: rejects, in-file dedupe (fold), DNC
               screen, insert + merge with audit and status history, the batch's accounting

Nothing travels between steps through local files or pickled objects: a file's rows go
straight from the reader into PostgreSQL, and the transaction makes the import all or
nothing (a killed process leaves no batch and no lead behind; rerunning completes it).
`run_import` is what the `crm_leads` asset (`leadflow leads import` and the landing sensor's runs are
runs of it) and the benchmark call; whoever follows the progress is its `progress` argument.

Which files may be read is the caller's `check_file` (the operator's: any regular file; a
Dagster run's: landing files only, see leadflow/ingest/landing.py); every read of a file goes
through the CheckedFile it returns. An import into one organization runs every transaction
with that tenant set (leadflow.postgres.set_tenant), so it works as the application role under
row-level security; a multi-organization file needs the pipeline role.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from pydantic import BaseModel, ConfigDict, Field, field_validator

from leadflow import settings
from leadflow.checked_files import CheckedFile, check_path
from leadflow.ingest import sql
from leadflow.ingest.batch import (
    Accounting,
    BatchRow,
    BatchSource,
    insert_batch,
    load_batch,
    owners_dropped_message,
    staged_rows,
    timed,
)
from leadflow.ingest.extras import owner_reference
from leadflow.ingest.normalize import NormalizeContext
from leadflow.ingest.reading import (
    FileFormatError,
    FileInfo,
    RowPlan,
    inspect_file,
    iter_cell_chunks,
    load_mapping_file,
    settle_tenant,
)
from leadflow.leads.ids import canonical_uuid, require_uuid
from leadflow.postgres import ConnectionFactory, config_values, organization_ids, set_tenant
from leadflow.tabular import cannot_read

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]  # (phase, rows done) -> None
#: (path as listed, the import's organization or None) -> the file, checked; FileFormatError
#: (RefusedFile) or OSError when it must not or cannot be read
FileCheck = Callable[[str, str | None], CheckedFile]

CHUNK_SIZE = 20_000
#: what a worker gets: the row plan, the file's tenant column (if any), the first row's number
#: and the chunk's cells
Chunk = tuple[RowPlan, str | None, int, list[list[str]], list[int]]
#: chunks normalized at a time per worker process: bounds memory on huge files
IN_FLIGHT_PER_WORKER = 2


class ImportRequestError(ValueError):
    """The import request itself is wrong (unknown --org, bad --owner, bad mapping file)."""


#: the request's options as import_batches.options has always named them
_BATCH_OPTIONS = {
    "org": "organization_id",
    "owner": "owner_id",
    "source": "source",
    "region": "region",
    "mapping": "mapping_file",
    "workers": "workers",
}


class ImportRequest(BaseModel):
    """What to import, in one type from `leadflow leads import` to the `crm_leads` asset: the
    command's options by their names, the run config of a launched run (the asset's config,
    `ImportConfig`, is this type) and what `run_import` takes. Checked once (validate_request):
    by `prepare`, or before the run by a caller that tells it so (`leadflow leads import`, so that a
    bad request is refused before Dagster loads); an id is canonical as soon as the request is
    made (a UUID in any spelling; anything else stays as given, for validate_request to
    refuse)."""

    model_config = ConfigDict(frozen=True)

    files: list[str] = Field(
        description="Lead files (CSV/TSV/XLSX) to import: in a launched run, landing files "
        "(<LEADFLOW_LANDING_DIR>/<organization uuid>/<file>, or <LEADFLOW_LANDING_DIR>/<file> "
        "for files with an organization_id column)."
    )
    org: str | None = Field(
        default=None,
        description="Organization UUID for files without one; a landing file's folder decides.",
    )
    owner: str | None = Field(
        default=None,
        description="Default owner: a user UUID, or an e-mail (case-insensitive) of a user of "
        "each lead's organization.",
    )
    source: str | None = Field(default=None, description="Default lead source.")
    region: str | None = Field(default=None, description="Phone region, overrides the org's.")
    mapping: str | None = Field(
        default=None,
        description="JSON header mapping file: `leadflow leads import --mapping` only (refused in "
        "launched runs).",
    )
    workers: int | None = Field(default=None, description="Normalization processes.")

    @field_validator("org", "owner")
    @classmethod
    def _canonical_id(cls, value: str | None) -> str | None:
        return canonical_uuid(value) or value

    def options(self) -> dict[str, object]:
        """The options given (not the files), as the batches record them."""
        given = {stored: getattr(self, name) for name, stored in _BATCH_OPTIONS.items()}
        return {key: value for key, value in given.items() if value is not None}


@dataclass
class FileJob(Accounting):
    """One file of a request: what inspection found, its batch and its accounting."""

    path: str
    organization_id: str | None  # the import's scope: --org, or None for multi-org files
    options: dict = field(default_factory=dict)
    status: str = "pending"  # pending | skipped | failed | succeeded
    message: str | None = None
    sha256: str | None = None
    size: int | None = None
    kind: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    info: FileInfo | None = None  # what inspection found; reading starts from it
    checked: CheckedFile | None = None  # how the file is opened; None: it was never read

    @property
    def file_name(self) -> str:
        return Path(self.path).name

    @property
    def active(self) -> bool:
        return self.status == "pending"

    def batch_row(self) -> BatchRow:
        return BatchRow(
            file_name=self.file_name,
            file_path=self.path,
            file_format=self.kind,
            organization_id=self.organization_id,
            sha256=self.sha256,
            size=self.size,
            options={**self.options, "mapping": self.mapping, "unmapped": self.unmapped},
        )

    def summary(self) -> dict:
        """The accounting of this file: the keys `leadflow leads import --json` promises."""
        return {
            "file": self.path,
            "batch_id": self.batch_id,
            "organization_id": self.organization_id,
            "status": self.status,
            "message": self.message,
            **self.counts(),
            "referrals": self.referrals,
            # added by issue 22: of `merged`, the rows that changed nothing on their lead
            "merged_unchanged": self.merged_unchanged,
            # what the rows carried besides the lead's fields (issue 20): the importer's row
            # notes per code (import_row_notes), the rows' own notes added to their leads, the
            # extra fields kept on the leads (leads.extra_fields)
            "notes": dict(self.notes),
            "lead_notes": self.lead_notes,
            "extra_fields": list(self.extra_fields),
            "sha256": self.sha256,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


# -- helpers ----------------------------------------------------------------------------------
def operator_file(raw_path: str, organization_id: str | None) -> CheckedFile:
    """The operator's file check (`leadflow leads import FILE`, scripts, benchmarks): any readable
    regular file, wherever it is."""
    return check_path(Path(raw_path).resolve())


def tenant_connections(
    connect: ConnectionFactory, organization_id: str | None
) -> ConnectionFactory:
    """`connect` whose transactions are scoped to the organization (set_tenant first), so an
    import into one organization works, and stays in it, under row-level security; `connect`
    itself for a multi-organization import."""
    if not organization_id:
        return connect

    @contextmanager
    def scoped() -> Iterator[psycopg.Connection]:
        with connect() as conn:
            set_tenant(conn, organization_id)
            yield conn

    return scoped


def _sha256_of(checked: CheckedFile) -> str | None:
    try:
        digest = hashlib.sha256()
        with checked.open() as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except (OSError, FileFormatError):
        return None


def _database_error(exc: psycopg.Error) -> str:
    """What a failed load says: PostgreSQL's primary message, without the DETAIL and CONTEXT
    lines, which quote the failing row (the file's content)."""
    primary = exc.diag.message_primary if exc.diag else None
    return primary or f"{type(exc).__name__} (SQLSTATE {exc.sqlstate or 'unknown'})"


def _canonical_uuid(value: str | None, what: str) -> str | None:
    return None if value is None else require_uuid(str(value), what, ImportRequestError)


def organization_slugs(conn: psycopg.Connection) -> dict[str, str]:
    """lower-case slug -> organization id: a tenant column may name organizations by slug."""
    return {
        slug.lower(): org
        for org, slug in conn.execute(
            "select id::text, slug from organizations where slug is not null"
        )
    }


def build_context(
    conn: psycopg.Connection,
    organization_id: str | None,
    *,
    owner_id: str | None = None,
    source: str | None = None,
    region: str | None = None,
) -> NormalizeContext:
    """What normalizing a batch's rows needs: the database's organizations, regions and source
    aliases, and the batch's defaults (organization, owner, source, region)."""
    organizations = frozenset(organization_ids(conn))
    default_region, regions = config_values(conn, "default_region")
    default_region = str(default_region or "US").upper()
    region_map = {org: str(regions.get(org) or default_region).upper() for org in organizations}
    global_aliases, org_aliases = config_values(conn, "source_aliases")
    aliases: dict[str, str] = dict(global_aliases or {}) if isinstance(global_aliases, dict) else {}
    org_specific = org_aliases.get(organization_id) if organization_id else None
    if isinstance(org_specific, dict):
        aliases.update(org_specific)
    return NormalizeContext(
        known_organizations=organizations,
        regions=region_map,
        organization_id=organization_id,
        owner_id=owner_id,
        source=source,
        region=region.upper() if region else None,
        source_aliases=aliases or None,
        organization_slugs=organization_slugs(conn),
    )


def _fail(job: FileJob, message: str, connect: ConnectionFactory) -> None:
    """Mark the file failed and record its batch as failed (nothing of it was loaded)."""
    job.status = "failed"
    job.message = message
    job.inserted = job.merged = job.merged_unchanged = job.referrals = 0
    log.error("import of %s failed: %s", job.path, message)
    if not job.sha256:
        job.batch_id = None  # nothing to name the file by: no batch row
        return
    job.batch_id = job.batch_id or str(uuid.uuid4())
    with connect() as conn:
        insert_batch(conn, job, job.batch_row(), status="failed", error=message)


def _previous_import(conn: psycopg.Connection, job: FileJob) -> tuple[str, object] | None:
    return conn.execute(
        "select id::text, finished_at from import_batches where file_sha256 = %s"
        " and organization_id is not distinct from %s and status = 'succeeded'",
        (job.sha256, job.organization_id),
    ).fetchone()


def _skip(job: FileJob, previous: tuple[str, object]) -> None:
    job.status = "skipped"
    job.batch_id = previous[0]
    job.message = (
        f"already imported (same sha256) as batch {previous[0]} at {previous[1]:%Y-%m-%d %H:%M:%S%z};"
        " nothing to do"
    )


# -- prepare ----------------------------------------------------------------------------------
def validate_request(conn: psycopg.Connection, request: ImportRequest) -> None:
    """Refuse a request whose ids are no UUIDs, an unknown --org / --owner, an unknown region or
    a bad mapping file, before touching any file: the one check of a request.

    With --org the transaction is scoped to it (set_tenant): under row-level security an
    organization is visible only to itself."""
    org = _canonical_uuid(request.org, "--org")
    owner_id, owner_email = owner_reference(request.owner)
    if request.owner and not (owner_id or owner_email):
        raise ImportRequestError(f"--owner {request.owner!r} is not a user id or an e-mail")
    owner = _canonical_uuid(owner_id, "--owner")
    if org:
        set_tenant(conn, org)
        found = conn.execute("select 1 from organizations where id = %s", (org,)).fetchone()
        if not found:
            raise ImportRequestError(f"unknown organization --org {org}")
    if owner_email:
        # an e-mail names a user per organization: each lead's own (sql.resolve_owners)
        orgs = [
            row[0]
            for row in conn.execute(
                "select organization_id::text from users where lower(email) = %s", (owner_email,)
            )
        ]
        if not orgs or (org and org not in orgs):
            where = f" of organization {org}" if org else ""
            raise ImportRequestError(f"unknown user --owner {owner_email}{where}")
    if owner:
        row = conn.execute(
            "select organization_id::text from users where id = %s", (owner,)
        ).fetchone()
        if not row:
            raise ImportRequestError(f"unknown user --owner {owner}")
        if org and row[0] != org:
            raise ImportRequestError(f"--owner {owner} is not a user of organization {org}")
    if request.region:
        import phonenumbers

        if request.region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ImportRequestError(f"--region {request.region!r} is not a known region code")
    if request.mapping:
        try:
            load_mapping_file(Path(request.mapping))
        except FileFormatError as exc:
            raise ImportRequestError(f"--mapping: {exc}") from exc


def prepare(
    request: ImportRequest,
    connect: ConnectionFactory,
    check_file: FileCheck = operator_file,
    validated: bool = False,
) -> list[FileJob]:
    """Check the request and inspect every file; a file that cannot be imported is failed (and
    its batch recorded as failed) with a clear message, the others stay pending. A file that
    `check_file` refuses is failed without a byte of it read (no batch: it has no sha256).

    `validated`: the caller ran validate_request on this request already (`leadflow leads import`
    does, before it starts the run), so it is not checked twice."""
    with connect() as conn:
        if validated:
            if request.org:
                set_tenant(conn, request.org)
        else:
            validate_request(conn, request)  # scopes the connection to --org
        known, slugs = frozenset(organization_ids(conn)), organization_slugs(conn)
    connect = tenant_connections(connect, request.org)
    overrides = load_mapping_file(Path(request.mapping)) if request.mapping else None
    jobs: list[FileJob] = []
    for raw_path in request.files:
        started = time.perf_counter()
        job = FileJob(str(raw_path), request.org, request.options())
        jobs.append(job)
        try:
            job.checked = check_file(str(raw_path), request.org)
        except FileFormatError as exc:
            _fail(job, str(exc), connect)
            continue
        except OSError as exc:
            _fail(job, str(cannot_read(raw_path, exc)), connect)
            continue
        path = job.checked.path
        job.path = str(path)
        try:
            # which column is the tenant: --org wins; an "Organization" column only when its
            # values are this database's organizations (else it is the lead's company)
            inspected = inspect_file(path, overrides, job.checked.open)
            info = settle_tenant(inspected, known, slugs, job.organization_id)
        except FileFormatError as exc:
            job.sha256 = _sha256_of(job.checked)
            job.size = job.checked.size if job.sha256 else None
            _fail(job, str(exc), connect)
            continue
        job.sha256, job.size, job.kind = info.sha256, info.size, info.kind
        job.encoding, job.delimiter = info.encoding, info.delimiter
        job.mapping, job.unmapped = info.mapping, info.unmapped
        job.info = info
        if job.organization_id is None and "organization_id" not in info.mapping.values():
            _fail(
                job,
                f"{job.file_name} has no organization_id column (no column names organizations"
                " of this database): pass --org UUID",
                connect,
            )
            continue
        with connect() as conn:
            previous = _previous_import(conn, job)
        if previous:
            _skip(job, previous)
            continue
        job.batch_id = str(uuid.uuid4())
        timed(job, "prepare", started)
    return jobs


# -- load -------------------------------------------------------------------------------------
def _pool_workers(request_workers: int | None) -> int:
    configured = request_workers or settings.current().import_workers
    return max(1, configured or os.cpu_count() or 1)


def load(
    jobs: list[FileJob],
    request: ImportRequest,
    connect: ConnectionFactory,
    progress: Progress | None = None,
) -> list[FileJob]:
    """Import every pending file (as `prepare` left them), each in its own transaction."""
    active = [job for job in jobs if job.active]
    if not active:
        return jobs
    connect = tenant_connections(connect, request.org)
    with connect() as conn:
        owner = _default_owner(conn, request)
        ctx = build_context(
            conn, request.org, owner_id=owner, source=request.source, region=request.region
        )
    workers = _pool_workers(request.workers)
    for job in active:
        _import_file(job, ctx, connect, workers, progress)
    return jobs


def _default_owner(conn: psycopg.Connection, request: ImportRequest) -> str | None:
    """--owner as the normalizer takes it: a user id; an e-mail stays one (resolved in each
    lead's organization at load) unless --org names the organization, where it is that user's
    id, so that it is also the default of a row whose own owner is not found."""
    owner_id, owner_email = owner_reference(request.owner)
    if owner_email and request.org:
        row = conn.execute(
            "select id::text from users where organization_id = %s and lower(email) = %s",
            (request.org, owner_email),
        ).fetchone()
        if row:
            return str(row[0])
    return owner_id or owner_email


def run_import(
    request: ImportRequest,
    connect: ConnectionFactory,
    progress: Progress | None = None,
    check_file: FileCheck = operator_file,
    validated: bool = False,
) -> list[FileJob]:
    """prepare + load: the whole import of a request, in this process."""
    return load(prepare(request, connect, check_file, validated), request, connect, progress)


def _lock_file(conn: psycopg.Connection, job: FileJob) -> None:
    """Serialise imports of the same file into the same scope, so a second one sees the first
    one's batch (and skips) instead of merging everything again."""
    conn.execute(
        "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
        (f"leadflow.import.file:{job.sha256}:{job.organization_id or ''}",),
    )


class _FileRows(BatchSource):
    """A file as a batch: its rows streamed into staging (see _stream)."""

    def __init__(
        self, job: FileJob, ctx: NormalizeContext, workers: int, progress: Progress | None
    ) -> None:
        self.job, self.ctx, self.workers, self.progress = job, ctx, workers, progress

    def batch_row(self) -> BatchRow:
        return self.job.batch_row()

    def stage(self, conn: psycopg.Connection) -> int:
        return _stream(conn, self.job, self.ctx, self.workers, self.progress)


def _import_file(
    job: FileJob,
    ctx: NormalizeContext,
    connect: ConnectionFactory,
    workers: int,
    progress: Progress | None,
) -> None:
    try:
        if not os.path.lexists(job.path):
            raise FileFormatError(f"{job.file_name} disappeared before it could be read")
        with connect() as conn, conn.transaction():
            started = time.perf_counter()
            _lock_file(conn, job)
            previous = _previous_import(conn, job)
            if previous:  # imported meanwhile by a concurrent run
                _skip(job, previous)
                return
            timed(job, "prepare", started)
            load_batch(conn, _FileRows(job, ctx, workers, progress), job)
        job.status = "succeeded"
        if job.owners_dropped:
            job.message = owners_dropped_message(job.owners_dropped)
    except FileFormatError as exc:
        _fail(job, str(exc), connect)
    except OSError as exc:
        _fail(job, f"{job.file_name} could not be read: {exc}", connect)
    except psycopg.Error as exc:
        message = f"loading {job.file_name} failed, nothing was imported: {_database_error(exc)}"
        _fail(job, message, connect)


def _stream(
    conn: psycopg.Connection,
    job: FileJob,
    ctx: NormalizeContext,
    workers: int,
    progress: Progress | None,
) -> int:
    """Read -> normalize -> COPY into stg_leads, every chunk as soon as it is ready; returns the
    rows read. Nothing of the rows stays in this process."""
    info = job.info
    if info is None:  # prepare() inspected every pending file
        raise RuntimeError(f"{job.file_name} was not inspected before it was read")
    plan = RowPlan.for_info(info)
    tenant = next((h for h, f in info.mapping.items() if f == "organization_id"), None)
    chunks = (
        (plan, tenant, first, cells, lines)
        for first, cells, lines in iter_cell_chunks(info, CHUNK_SIZE)
    )
    rows_read = 0
    with sql.staging_copy(conn) as copy:
        for rows, text in _normalized_chunks(chunks, ctx, workers):
            copy.write(text)
            rows_read += rows
            if progress:
                progress("import", rows_read)
    return rows_read


def _normalize_chunk(chunk: Chunk, ctx: NormalizeContext) -> tuple[int, bytes]:
    """Cells -> RawRows -> staged rows: (rows in the chunk, the chunk as COPY data for
    stg_leads).

    Runs in a worker process for big files: the parent only parses the file and hands the
    data to COPY.
    """
    plan, tenant_header, first_row, cells, lines = chunk
    known = ctx.known_organizations
    text = staged_rows(
        plan.make_rows(first_row, cells, lines),
        ctx,
        lambda reject: sql.reject_organization(reject, tenant_header, ctx.organization_id, known),
    )
    return len(cells), text


def _normalized_chunks(
    chunks: Iterator[tuple], ctx: NormalizeContext, workers: int
) -> Iterator[tuple[int, bytes]]:
    """Yield normalized chunks in file order; in worker processes when the file is bigger than
    one chunk and workers > 1 (the parent keeps reading and copying meanwhile)."""
    first = next(chunks, None)
    if first is None:
        return
    second = next(chunks, None)
    if second is None or workers == 1:
        for chunk in (c for c in (first, second) if c is not None):
            yield _normalize_chunk(chunk, ctx)
        for chunk in chunks:
            yield _normalize_chunk(chunk, ctx)
        return
    # fork: workers start at once with the code already loaded and never re-import __main__.
    # They only compute (no I/O, no logging, no connection: the parent's COPY connection is
    # inherited but never touched, and they leave through os._exit), so that is safe.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending = [
            pool.submit(_normalize_chunk, first, ctx),
            pool.submit(_normalize_chunk, second, ctx),
        ]
        for chunk in chunks:
            pending.append(pool.submit(_normalize_chunk, chunk, ctx))
            while len(pending) > workers * IN_FLIGHT_PER_WORKER:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()
