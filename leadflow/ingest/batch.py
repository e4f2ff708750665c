"""One import batch's load: the sequence every source of leads goes through, in one transaction.

    lock the batch's organization -> its import_batches row (running) -> the staging table ->
    the source stages its rows (COPY into stg_leads) -> quarantined rows to import_rejects ->
    [source: before the fold] -> fold the in-file duplicates -> analyze the staging table ->
    lock every staged organization -> DNC screen -> insert + merge (audit log, status history,
    referrals) -> [source: after the load] -> the rows' notes (import_row_notes, note
    lead_notes) -> the batch's accounting (succeeded)

A file (leadflow/ingest/pipeline.py) and a CRM connection's new records (leadflow/crmsync/
load.py) are both a `BatchSource`: what differs is how rows reach stg_leads, the batch row's
file name, format and options, what the audit rows say wrote the change (`change_source`), and
the CRM's steps around the sequence (following a record's phone change before the fold, linking
record ids after the load). Survivorship and accounting are the same code for both: rows_read =
inserted + merged + duplicates_in_file + quarantined, `dnc` counting the loaded leads set to dnc.

The caller owns the transaction and what decides whether there is a batch at all (a file
already imported, a connection with nothing new): `load_batch` runs inside it, so a failure
or a killed process leaves no batch row, lead, reject or audit row behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import psycopg
from psycopg.types.json import Jsonb

from leadflow.ingest import sql
from leadflow.ingest.normalize import NormalizeContext, normalize_rows
from leadflow.leads.records import RawRow, Reject

#: the counts of a batch's accounting: rows_read = inserted + merged + duplicates_in_file +
#: quarantined; dnc counts the loaded leads set to dnc
ACCOUNTING_KEYS = ("rows_read", "inserted", "merged", "duplicates_in_file", "quarantined", "dnc")


@dataclass(kw_only=True)
class Accounting:
    """What one batch did: the counts of its accounting, the organizations its leads belong to
    and how long each phase took."""

    batch_id: str | None = None
    rows_read: int = 0
    inserted: int = 0
    merged: int = 0
    merged_unchanged: int = 0  # of `merged`: rows that changed nothing on their lead
    duplicates_in_file: int = 0
    quarantined: int = 0
    dnc: int = 0
    referrals: int = 0  # leads whose referrer this batch set (see referrals_sql.py)
    owners_dropped: int = 0  # owners ignored: not users of the lead's organization
    notes: dict[str, int] = field(default_factory=dict)  # import_row_notes per code
    lead_notes: int = 0  # the rows' own notes added to their leads (lead_notes)
    extra_fields: list[str] = field(default_factory=list)  # extra fields the leads carry
    organizations: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """The accounting, in the order every summary lists it (ACCOUNTING_KEYS)."""
        return {key: getattr(self, key) for key in ACCOUNTING_KEYS}


@dataclass(frozen=True)
class BatchRow:
    """What `import_batches` says of where a batch's rows come from."""

    file_name: str
    file_path: str | None
    file_format: str | None  # csv, tsv, xlsx, ... or 'api' for a CRM's records
    organization_id: str | None  # the batch's scope; None: the rows name their organizations
    sha256: str | None = None
    size: int | None = None
    options: Mapping[str, object] = field(default_factory=dict)


class BatchSource:
    """Where a batch's rows come from, and what it adds to the one load sequence."""

    #: what the audit rows say wrote the change: 'import' for files, 'crm:<vendor>' for a sync
    change_source = "import"

    def batch_row(self) -> BatchRow:
        raise NotImplementedError

    def stage(self, conn: psycopg.Connection) -> int:
        """Copy every row, clean or quarantined, into stg_leads (`staging_copy`, `staged_rows`);
        return how many rows were read."""
        raise NotImplementedError

    def before_fold(self, conn: psycopg.Connection, batch_id: str) -> None:
        """After the rejects left stg_leads, before the duplicates are folded."""

    def after_load(self, conn: psycopg.Connection, batch_id: str) -> None:
        """After the insert and merge, before the accounting is written."""


def staged_rows(
    rows: Iterable[RawRow],
    ctx: NormalizeContext,
    reject_organization: Callable[[Reject], str | None],
) -> bytes:
    """Raw rows normalized, as COPY data for stg_leads: the clean leads, then the quarantined
    rows with the organization they are shown to (`reject_organization`)."""
    leads, rejects = normalize_rows(rows, ctx)
    staged = [sql.stage_lead(lead) for lead in leads]
    staged += [sql.stage_reject(reject, reject_organization(reject)) for reject in rejects]
    return sql.copy_text(staged)


def owners_dropped_message(count: int) -> str:
    """What a batch says when owners were ignored (the file's summary, the CRM load's log)."""
    return f"{count} owner(s) not in the lead's organization ignored"


def timed(batch: Accounting, phase: str, started: float) -> float:
    """Add the time since `started` to the phase; returns now."""
    now = time.perf_counter()
    batch.timings[phase] = batch.timings.get(phase, 0.0) + now - started
    return now


def rounded(timings: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in timings.items()}


def insert_batch(
    conn: psycopg.Connection,
    batch: Accounting,
    row: BatchRow,
    status: str = "running",
    error: str | None = None,
) -> None:
    """The batch's import_batches row: running (its load follows in this transaction), or
    already failed (nothing of it was loaded)."""
    conn.execute(
        """
        insert into import_batches (id, file_name, file_path, file_sha256, file_size_bytes,
                                    file_format, organization_id, options, status, error,
                                    timings, finished_at)
        values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                case when %s = 'running' then null else now() end)
        """,
        (
            batch.batch_id,
            row.file_name,
            row.file_path,
            row.sha256,
            row.size,
            row.file_format,
            row.organization_id,
            Jsonb(dict(row.options)),
            status,
            error,
            Jsonb(rounded(batch.timings)),
            status,
        ),
    )


def load_batch(conn: psycopg.Connection, source: BatchSource, batch: Accounting) -> None:
    """Load one batch inside the caller's transaction (the sequence above): `batch.batch_id`
    names the new batch; its accounting, organizations and timings are filled in and the batch
    row ends succeeded."""
    batch_id = batch.batch_id
    if batch_id is None:
        raise ValueError("load_batch: batch.batch_id must name the new batch")
    row = source.batch_row()
    started = time.perf_counter()
    if row.organization_id:
        sql.lock_organizations(conn, [row.organization_id])
    insert_batch(conn, batch, row)
    sql.create_staging(conn)
    started = timed(batch, "prepare", started)
    batch.rows_read = source.stage(conn)
    started = timed(batch, "stream", started)
    batch.quarantined = sql.move_rejects(conn, batch_id)
    sql.collect_notes(conn)  # per row, before the fold merges rows
    sql.resolve_owners(conn)
    source.before_fold(conn, batch_id)
    batch.duplicates_in_file = sql.fold_duplicates(conn)
    sql.cap_staged_extras(conn)
    conn.execute("analyze stg_leads")  # a temp table: autovacuum never gives it statistics
    # a multi-organization file's leads: each organization locked, as a one-organization batch
    # is above (sorted, and again for that one: a no-op)
    batch.organizations = sql.staged_organizations(conn)
    sql.lock_organizations(conn, batch.organizations)
    started = timed(batch, "dedupe", started)
    batch.dnc = sql.screen_staged(conn)
    started = timed(batch, "screen", started)
    result = sql.load_staged(conn, batch_id, batch.organizations, batch.dnc, source.change_source)
    batch.inserted, batch.merged, batch.dnc = result.inserted, result.merged, result.dnc
    batch.merged_unchanged = result.merged_unchanged
    batch.referrals, batch.owners_dropped = result.referrals, result.owners_dropped
    source.after_load(conn, batch_id)
    subject = f"{source.change_source}: {row.file_name}"
    batch.notes, batch.lead_notes = sql.store_notes(conn, batch_id, subject)
    batch.extra_fields = sql.staged_extra_keys(conn)
    timed(batch, "load", started)
    conn.execute(
        """
        update import_batches set status = 'succeeded', rows_read = %s,
            inserted = %s, merged = %s, duplicates_in_file = %s, quarantined = %s,
            dnc = %s, timings = %s, finished_at = now()
        where id = %s
        """,
        (
            batch.rows_read,
            batch.inserted,
            batch.merged,
            batch.duplicates_in_file,
            batch.quarantined,
            batch.dnc,
            Jsonb(rounded(batch.timings)),
            batch.batch_id,
        ),
    )
