"""The import stages shared by the Dagster assets, `leadflow import`, the sensor and the bench.

    prepare  -> inspect each file, refuse unknown organizations, skip files already imported,
                open an import batch
    normalize-> stream rows, E.164 + cleaning, quarantine what cannot be fixed   (process pool)
    dedupe   -> collapse duplicates inside each file per (organization, phone)
    screen   -> mark leads whose phone is on their organization's DNC list
    load     -> one transaction per file: COPY, merge into PostgreSQL, rejects, batch accounting

Each stage takes and returns the list of `FileJob`s; records travel between stages in spool
files (see spool.py). A file that fails at any stage is marked failed with a clear message and
the others go on; nothing of a failed file is loaded.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from leadflow import settings
from leadflow.ingest.dedupe import InFileDeduper
from leadflow.ingest.normalize import NormalizeContext, normalize_rows
from leadflow.ingest.reading import (
    FileFormatError,
    FileInfo,
    RowPlan,
    inspect_file,
    iter_cell_chunks,
    load_mapping_file,
)
from leadflow.ingest.spool import SpoolWriter, read_chunks, read_items, write_items
from leadflow.ingest.sql import copy_rejects, load_leads, lock_organizations
from leadflow.leads.ids import require_uuid
from leadflow.leads.records import CLEAN_LEAD_FIELDS, lead_from_tuple, lead_to_tuple
from leadflow.postgres import ConnectionFactory, config_values, organization_ids

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]  # (stage, rows done) -> None

CHUNK_SIZE = 20_000
# positions in a lead tuple (see records.CLEAN_LEAD_FIELDS)
ORG = CLEAN_LEAD_FIELDS.index("organization_id")
PHONE = CLEAN_LEAD_FIELDS.index("phone_number")
#: files with more rows than one chunk are normalized in a process pool
PARALLEL_MIN_CHUNKS = 2


_progress_hook: Progress | None = None


def set_progress_hook(hook: Progress | None) -> None:
    """Let an in-process caller (the CLI's progress bar) follow the stages."""
    global _progress_hook
    _progress_hook = hook


class ImportRequestError(ValueError):
    """The import request itself is wrong (unknown --org, bad --owner, bad mapping file)."""


@dataclass
class ImportRequest:
    paths: list[str]
    organization_id: str | None = None
    owner_id: str | None = None
    source: str | None = None
    region: str | None = None
    mapping_file: str | None = None
    workers: int | None = None

    def options(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if k != "paths" and v is not None}


@dataclass
class FileJob:
    path: str
    organization_id: str | None  # the import's scope: --org, or None for multi-org files
    options: dict = field(default_factory=dict)
    status: str = "pending"  # pending | skipped | failed | succeeded
    message: str | None = None
    batch_id: str | None = None
    sha256: str | None = None
    size: int | None = None
    kind: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    organizations: list[str] = field(default_factory=list)  # organizations the rows belong to
    info: FileInfo | None = None  # what inspection found; reading starts from it
    rows_read: int = 0
    quarantined: int = 0
    duplicates_in_file: int = 0
    inserted: int = 0
    merged: int = 0
    dnc: int = 0
    referrals: int = 0  # leads whose referrer this file set (see referrals_sql.py)
    spool: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def file_name(self) -> str:
        return Path(self.path).name

    @property
    def active(self) -> bool:
        return self.status == "pending"

    def summary(self) -> dict:
        """The accounting of this file: the keys `leadflow import --json` promises."""
        return {
            "file": self.path,
            "batch_id": self.batch_id,
            "organization_id": self.organization_id,
            "status": self.status,
            "message": self.message,
            "rows_read": self.rows_read,
            "inserted": self.inserted,
            "merged": self.merged,
            "duplicates_in_file": self.duplicates_in_file,
            "quarantined": self.quarantined,
            "dnc": self.dnc,
            "referrals": self.referrals,
            "sha256": self.sha256,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


# -- helpers ----------------------------------------------------------------------------------
def spool_dir() -> Path:
    return settings.leadflow_home() / "spool"


def _sha256_of(path: Path) -> str | None:
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except OSError:
        return None


def _canonical_uuid(value: str | None, what: str) -> str | None:
    return None if value is None else require_uuid(str(value), what, ImportRequestError)


def build_context(conn: psycopg.Connection, request: ImportRequest) -> NormalizeContext:
    organizations = frozenset(organization_ids(conn))
    default_region, regions = config_values(conn, "default_region")
    default_region = str(default_region or "US").upper()
    region_map = {org: str(regions.get(org) or default_region).upper() for org in organizations}
    global_aliases, org_aliases = config_values(conn, "source_aliases")
    aliases: dict[str, str] = dict(global_aliases or {}) if isinstance(global_aliases, dict) else {}
    if request.organization_id and isinstance(org_aliases.get(request.organization_id), dict):
        aliases.update(org_aliases[request.organization_id])
    return NormalizeContext(
        known_organizations=organizations,
        regions=region_map,
        organization_id=request.organization_id,
        owner_id=request.owner_id,
        source=request.source,
        region=request.region.upper() if request.region else None,
        source_aliases=aliases or None,
    )


def _fail(job: FileJob, message: str, connect: ConnectionFactory | None = None) -> None:
    job.status = "failed"
    job.message = message
    log.error("import of %s failed: %s", job.path, message)
    if connect and job.batch_id:
        with connect() as conn:
            conn.execute(
                "update import_batches set status = 'failed', error = %s, finished_at = now(),"
                " timings = %s where id = %s and status = 'running'",
                (message, Jsonb(job.timings), job.batch_id),
            )


def _timed(job: FileJob, stage: str, started: float) -> None:
    job.timings[stage] = job.timings.get(stage, 0.0) + time.perf_counter() - started


# -- stage 1: prepare -------------------------------------------------------------------------
def validate_request(conn: psycopg.Connection, request: ImportRequest) -> ImportRequest:
    """Canonicalise ids and refuse an unknown --org / --owner before touching any file."""
    request.organization_id = _canonical_uuid(request.organization_id, "--org")
    request.owner_id = _canonical_uuid(request.owner_id, "--owner")
    if request.organization_id:
        found = conn.execute(
            "select 1 from organizations where id = %s", (request.organization_id,)
        ).fetchone()
        if not found:
            raise ImportRequestError(f"unknown organization --org {request.organization_id}")
    if request.owner_id:
        row = conn.execute(
            "select organization_id::text from users where id = %s", (request.owner_id,)
        ).fetchone()
        if not row:
            raise ImportRequestError(f"unknown user --owner {request.owner_id}")
        if request.organization_id and row[0] != request.organization_id:
            raise ImportRequestError(
                f"--owner {request.owner_id} is not a user of organization {request.organization_id}"
            )
    if request.region:
        import phonenumbers

        if request.region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ImportRequestError(f"--region {request.region!r} is not a known region code")
    if request.mapping_file:
        try:
            load_mapping_file(Path(request.mapping_file))
        except FileFormatError as exc:
            raise ImportRequestError(f"--mapping: {exc}") from exc
    return request


def prepare(request: ImportRequest, connect: ConnectionFactory) -> list[FileJob]:
    with connect() as conn:
        validate_request(conn, request)
    overrides = load_mapping_file(Path(request.mapping_file)) if request.mapping_file else None
    jobs: list[FileJob] = []
    for raw_path in request.paths:
        started = time.perf_counter()
        path = Path(raw_path).resolve()
        job = FileJob(str(path), request.organization_id, request.options())
        jobs.append(job)
        try:
            info = inspect_file(path, overrides)
        except FileFormatError as exc:
            job.sha256 = _sha256_of(path)
            if job.sha256:
                _open_batch(job, connect, size=path.stat().st_size if path.exists() else None)
            _fail(job, str(exc), connect)
            continue
        job.sha256, job.size, job.kind = info.sha256, info.size, info.kind
        job.encoding, job.delimiter = info.encoding, info.delimiter
        job.mapping, job.unmapped = info.mapping, info.unmapped
        job.info = info
        if job.organization_id is None and "organization_id" not in info.mapping.values():
            job.sha256 = info.sha256
            _open_batch(job, connect, size=info.size)
            _fail(
                job,
                f"{job.file_name} has no organization_id column: pass --org UUID",
                connect,
            )
            continue
        with connect() as conn:
            previous = conn.execute(
                "select id::text, finished_at from import_batches where file_sha256 = %s"
                " and organization_id is not distinct from %s and status = 'succeeded'",
                (info.sha256, job.organization_id),
            ).fetchone()
        if previous:
            job.status = "skipped"
            job.batch_id = previous[0]
            job.message = (
                f"already imported (same sha256) as batch {previous[0]} at {previous[1]:%Y-%m-%d %H:%M:%S%z};"
                " nothing to do"
            )
            continue
        _open_batch(job, connect, size=info.size)
        _timed(job, "prepare", started)
    return jobs


def _open_batch(job: FileJob, connect: ConnectionFactory, size: int | None) -> None:
    with connect() as conn:
        job.batch_id = conn.execute(
            """
            insert into import_batches (file_name, file_path, file_sha256, file_size_bytes,
                                        file_format, organization_id, options)
            values (%s, %s, %s, %s, %s, %s, %s) returning id::text
            """,
            (
                job.file_name,
                job.path,
                job.sha256,
                size,
                job.kind,
                job.organization_id,
                Jsonb({**job.options, "mapping": job.mapping, "unmapped": job.unmapped}),
            ),
        ).fetchone()[0]


# -- stage 2: normalize -----------------------------------------------------------------------
def _pool_workers(request_workers: int | None) -> int:
    configured = request_workers or settings.env_int("LEADFLOW_IMPORT_WORKERS")
    return max(1, configured or os.cpu_count() or 1)


def normalize(jobs: list[FileJob], connect: ConnectionFactory, request: ImportRequest,
              progress: Progress | None = None) -> list[FileJob]:  # fmt: skip
    active = [job for job in jobs if job.active]
    if not active:
        return jobs
    with connect() as conn:
        ctx = build_context(conn, request)
    workers = _pool_workers(request.workers)
    progress = progress or _progress_hook
    for job in active:
        started = time.perf_counter()
        spool = spool_dir() / job.batch_id
        job.spool["clean"] = str(spool / "clean.pkl")
        job.spool["rejects"] = str(spool / "rejects.pkl")
        try:
            if not Path(job.path).exists():
                raise FileFormatError(f"{job.file_name} disappeared before it could be read")
            plan = RowPlan.for_info(job.info)
            chunks = (
                (plan, first, cells) for first, cells in iter_cell_chunks(job.info, CHUNK_SIZE)
            )
            with (
                SpoolWriter(Path(job.spool["clean"])) as clean,
                SpoolWriter(Path(job.spool["rejects"])) as rejects,
            ):
                for rows_count, leads, bad in _normalized_chunks(chunks, ctx, workers):
                    job.rows_read += rows_count
                    clean.write(leads)
                    rejects.write(bad)
                    if progress:
                        progress("normalize", job.rows_read)
                job.quarantined = rejects.count
        except FileFormatError as exc:
            _fail(job, str(exc), connect)
        except OSError as exc:
            _fail(job, f"{job.file_name} could not be read: {exc}", connect)
        _timed(job, "normalize", started)
    return jobs


def _normalize_chunk(
    chunk: tuple[RowPlan, int, list[list[str]]], ctx: NormalizeContext
) -> tuple[int, list[tuple], list]:
    """Cells -> RawRows -> normalized leads (as tuples, cheap to send back) and rejects.

    Runs in a worker process for big files: the parent only parses the CSV.
    """
    plan, first_row, cells = chunk
    leads, rejects = normalize_rows(plan.make_rows(first_row, cells), ctx)
    return len(cells), [lead_to_tuple(lead) for lead in leads], rejects


def _normalized_chunks(chunks: Iterator[tuple], ctx: NormalizeContext, workers: int):
    """Yield (rows in chunk, clean leads, rejects) in file order, in parallel for big files."""
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
    # fork: workers start at once with the code already loaded, and unlike spawn/forkserver
    # they do not re-import the caller's __main__. They only compute (no I/O, no logging,
    # no connections), so inheriting the parent's threads' state is harmless.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending = []
        for chunk in itertools.chain((first, second), chunks):
            pending.append(pool.submit(_normalize_chunk, chunk, ctx))
            # a bounded number of chunks in flight: memory stays flat on huge files
            while len(pending) > workers * 2:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


# -- stage 3: dedupe --------------------------------------------------------------------------
def dedupe(jobs: list[FileJob], connect: ConnectionFactory) -> list[FileJob]:
    for job in jobs:
        if not job.active:
            continue
        started = time.perf_counter()
        deduper = InFileDeduper()
        for chunk in read_chunks(Path(job.spool["clean"])):
            deduper.add_all(map(lead_from_tuple, chunk))
        job.duplicates_in_file = deduper.duplicates
        job.spool["deduplicated"] = str(Path(job.spool["clean"]).with_name("deduplicated.pkl"))
        survivors = map(lead_to_tuple, deduper.survivors())
        write_items(Path(job.spool["deduplicated"]), survivors, CHUNK_SIZE)
        Path(job.spool["clean"]).unlink(missing_ok=True)
        _timed(job, "dedupe", started)
    return jobs


# -- stage 4: DNC screen ----------------------------------------------------------------------
def screen(jobs: list[FileJob], connect: ConnectionFactory) -> list[FileJob]:
    for job in jobs:
        if not job.active:
            continue
        started = time.perf_counter()
        source = Path(job.spool["deduplicated"])
        organizations = sorted({lead[ORG] for lead in read_items(source)})
        job.organizations = organizations
        with connect() as conn:
            dnc = {
                (org, phone)
                for org, phone in conn.execute(
                    "select organization_id::text, phone_number from dnc_list"
                    " where organization_id = any(%s::uuid[])",
                    (organizations,),
                )
            }
        job.spool["screened"] = str(source.with_name("screened.pkl"))
        flagged = 0
        with SpoolWriter(Path(job.spool["screened"])) as out:
            for chunk in read_chunks(source):
                screened = [(*lead, (lead[ORG], lead[PHONE]) in dnc) for lead in chunk]
                flagged += sum(1 for lead in screened if lead[-1])
                out.write(screened)
        job.dnc = flagged
        source.unlink(missing_ok=True)
        _timed(job, "screen", started)
    return jobs


# -- stage 5: load ----------------------------------------------------------------------------
def load(jobs: list[FileJob], connect: ConnectionFactory) -> list[FileJob]:
    for job in jobs:
        if not job.active:
            continue
        started = time.perf_counter()
        screened = Path(job.spool["screened"])
        try:
            with connect() as conn, conn.transaction():
                lock_organizations(conn, job.organizations)
                result = load_leads(conn, job.batch_id, read_items(screened))
                quarantined = copy_rejects(
                    conn, job.batch_id, read_items(Path(job.spool["rejects"])), job.organization_id
                )
                job.inserted, job.merged, job.dnc = result.inserted, result.merged, result.dnc
                job.referrals = result.referrals
                job.quarantined = quarantined
                _timed(job, "load", started)
                conn.execute(
                    """
                    update import_batches set status = 'succeeded', rows_read = %s,
                        inserted = %s, merged = %s, duplicates_in_file = %s, quarantined = %s,
                        dnc = %s, timings = %s, finished_at = now()
                    where id = %s
                    """,
                    (job.rows_read, job.inserted, job.merged, job.duplicates_in_file,
                     job.quarantined, job.dnc, Jsonb(job.timings), job.batch_id),
                )  # fmt: skip
            job.status = "succeeded"
            if result.owners_dropped:
                job.message = (
                    f"{result.owners_dropped} owner(s) not in the lead's organization ignored"
                )
        except psycopg.Error as exc:
            job.inserted = job.merged = job.referrals = 0
            _timed(job, "load", started)
            _fail(job, f"loading {job.file_name} failed, nothing was imported: {exc}", connect)
        finally:
            shutil.rmtree(screened.parent, ignore_errors=True)
    return jobs


def run_import(request: ImportRequest, connect: ConnectionFactory,
               progress: Progress | None = None) -> list[FileJob]:  # fmt: skip
    """All five stages, in-process (the bench and tests use this directly)."""
    jobs = prepare(request, connect)
    jobs = normalize(jobs, connect, request, progress)
    jobs = dedupe(jobs, connect)
    jobs = screen(jobs, connect)
    return load(jobs, connect)
