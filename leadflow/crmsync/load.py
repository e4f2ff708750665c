"""Turning a connection's new raw CRM records into leads: the load of a file, plus ids.

The records dlt appended since the last load (`crm_sync_state.last_load_id`) become the rows of
one import batch (`import_batches.file_format = 'api'`, file name `<vendor>:<connection>`), in
one transaction: every record is mapped by its vendor's one mapping (vendors.py) to the
canonical fields of a lead file, normalized as a file's rows are, and loaded by the one load
sequence of every batch (leadflow/ingest/batch.py: stage -> quarantine -> fold -> DNC screen ->
insert/merge -> accounting), with the same accounting (rows_read = inserted + merged +
duplicates_in_file + quarantined) and survivorship. The audit rows say `crm:<vendor>`.

What files do not have, the CRM record's id (`lead_external_ids`), is this batch's part of the
sequence (`CrmRecords`):
- before the fold, a record whose id is linked to a live lead whose phone differs has changed
  its phone in the CRM: the lead takes the new phone (audit `phone_number`), so the record
  merges into the same lead. Not when another live lead of the organization already has that
  phone (the record merges into that lead and its id moves there, audit `crm_record`), nor when
  other CRM records are linked to the same lead (two records of one person, or the person in
  two CRMs): the lead keeps its phone for them and the changed record becomes or joins the
  lead of its new phone, so the records never pull the lead back and forth;
- after the load, every record's id is linked to the lead its (organization, phone) is now.
The transaction also moves the connection's last_load_id: a crash leaves everything as it was
and the next load takes the same records again. It is scoped to the connection's organization
(set_tenant), and reads only the raw rows of the connection and of its organization.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field

import psycopg
from psycopg import sql as pgsql
from psycopg.rows import dict_row

from leadflow.crmsync.connections import Connection
from leadflow.crmsync.vendors import external_id, raw_row, spec
from leadflow.ingest import sql
from leadflow.ingest.batch import (
    Accounting,
    BatchRow,
    BatchSource,
    load_batch,
    owners_dropped_message,
    staged_rows,
)
from leadflow.ingest.normalize import NormalizeContext
from leadflow.ingest.pipeline import build_context
from leadflow.postgres import ConnectionFactory, copy_rows, one_row, set_tenant

log = logging.getLogger(__name__)


@dataclass
class LoadOutcome(Accounting):
    """What one load of a connection's raw records did: the keys of `leadflow crm sync --json`."""

    connection_id: str
    vendor: str
    organization_id: str
    phone_changes: int = 0  # leads that took their CRM record's new phone
    linked: int = 0  # CRM record ids newly linked to a lead (or moved to another)
    load_ids: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "batch_id": self.batch_id,
            **self.counts(),
            "phone_changes": self.phone_changes,
            "linked": self.linked,
            "load_ids": self.load_ids,
        }


def _raw_table_exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    (found,) = one_row(conn.execute("select to_regclass(%s)", (f"{schema}.{table}",)))
    (loads,) = one_row(conn.execute("select to_regclass(%s)", (f"{schema}._dlt_loads",)))
    return found is not None and loads is not None


def new_records(
    conn: psycopg.Connection, connection: Connection, after_load_id: str | None
) -> tuple[list[dict], list[str]]:
    """The connection's records of the completed dlt loads after `after_load_id`, the newest
    version of each record once, oldest change first; and those loads' ids."""
    vendor_spec = spec(connection.vendor)
    if not _raw_table_exists(conn, vendor_spec.raw_schema, vendor_spec.raw_table):
        return [], []
    table = pgsql.Identifier(vendor_spec.raw_schema, vendor_spec.raw_table)
    loads = pgsql.Identifier(vendor_spec.raw_schema, "_dlt_loads")
    record_id = pgsql.Identifier(vendor_spec.id_field)
    modified = pgsql.Identifier(vendor_spec.modified_field)
    query = pgsql.SQL(
        """
        select * from (
            select distinct on (r.{id}) r.*
            from {table} r
            where r.connection_id = %(conn)s and r.organization_id = %(org)s
              and r._dlt_load_id::numeric > %(after)s::numeric
              and r._dlt_load_id in (select load_id from {loads} where status = 0)
            order by r.{id}, r._dlt_load_id::numeric desc, r.{modified} desc nulls last
        ) newest
        order by {modified} nulls first, {id}
        """
    ).format(id=record_id, table=table, loads=loads, modified=modified)
    with conn.cursor(row_factory=dict_row) as cur:
        records = cur.execute(
            query,
            {
                "conn": connection.id,
                "org": connection.organization_id,
                "after": after_load_id or "0",
            },
        ).fetchall()
    load_ids = sorted({r["_dlt_load_id"] for r in records}, key=float)
    return records, load_ids


def _batch_sha256(connection: Connection, load_ids: list[str]) -> str:
    return hashlib.sha256(f"{connection.id}:{','.join(load_ids)}".encode()).hexdigest()


_FOLLOW_PHONE_CHANGES = """
with moved as (
    select distinct on (e.lead_id) e.lead_id, l.phone_number as old_phone,
           k.phone_number as new_phone
    from stg_crm_links k
    join lead_external_ids e on e.connection_id = %(conn)s and e.external_id = k.external_id
    join leads l on l.id = e.lead_id and l.deleted_at is null
    where l.phone_number <> k.phone_number
      -- the record is the lead's only CRM identity: a lead that other records (this CRM's
      -- duplicates, or another CRM's) share keeps its phone, and the record moves on
      and not exists (
          select 1 from lead_external_ids o
          where o.lead_id = e.lead_id
            and (o.connection_id, o.external_id) <> (e.connection_id, e.external_id))
      and not exists (
          select 1 from leads o
          where o.organization_id = l.organization_id and o.phone_number = k.phone_number
            and o.deleted_at is null)
    order by e.lead_id, k.row_number desc
),
one_per_phone as (
    select distinct on (new_phone) * from moved order by new_phone, lead_id
),
changed as (
    update leads l set phone_number = m.new_phone, updated_at = now()
    from one_per_phone m where l.id = m.lead_id
    returning l.id, m.old_phone, m.new_phone
)
insert into lead_audit_log (lead_id, field_name, old_value, new_value, change_source,
                            import_batch_id)
select id, 'phone_number', old_phone, new_phone, %(source)s, %(batch)s from changed
"""

_LINK_RECORDS = """
with current_links as (
    select distinct on (k.external_id) k.external_id, l.id as lead_id
    from stg_crm_links k
    join leads l on l.organization_id = k.organization_id and l.phone_number = k.phone_number
                and l.deleted_at is null
    order by k.external_id, k.row_number desc
),
previous as (
    select c.external_id, c.lead_id, e.lead_id as old_lead_id
    from current_links c
    left join lead_external_ids e on e.connection_id = %(conn)s and e.external_id = c.external_id
),
upserted as (
    insert into lead_external_ids (connection_id, external_id, organization_id, vendor, lead_id)
    select %(conn)s, external_id, %(org)s, %(vendor)s, lead_id from previous
    on conflict (connection_id, external_id) do update
        set lead_id = excluded.lead_id, last_seen_at = now()
    returning external_id
)
insert into lead_audit_log (lead_id, field_name, old_value, new_value, change_source,
                            import_batch_id)
select p.lead_id, 'crm_record', null, %(vendor)s || ':' || p.external_id, %(source)s, %(batch)s
from previous p
where p.old_lead_id is distinct from p.lead_id
  and p.external_id in (select external_id from upserted)
"""


class CrmRecords(BatchSource):
    """A connection's new records as a batch: staged with their record ids, which follow a
    changed phone before the fold and are linked to their leads after the load."""

    def __init__(
        self,
        connection: Connection,
        records: list[dict],
        ctx: NormalizeContext,
        outcome: LoadOutcome,
    ) -> None:
        self.connection, self.records, self.ctx, self.outcome = connection, records, ctx, outcome
        self.change_source = f"crm:{connection.vendor}"

    def batch_row(self) -> BatchRow:
        connection = self.connection
        return BatchRow(
            file_name=f"{connection.vendor}:{connection.name}",
            file_path=connection.base_url,
            file_format="api",
            organization_id=connection.organization_id,
            sha256=_batch_sha256(connection, self.outcome.load_ids),
            options={
                "connection_id": connection.id,
                "vendor": connection.vendor,
                "load_ids": self.outcome.load_ids,
            },
        )

    def stage(self, conn: psycopg.Connection) -> int:
        vendor, org = self.connection.vendor, self.connection.organization_id
        owners, notes = self.connection.owners(), self.connection.notes_property()
        rows = [
            raw_row(vendor, n, record, owners, notes_property=notes)
            for n, record in enumerate(self.records, 1)
        ]
        with sql.staging_copy(conn) as copy:
            copy.write(staged_rows(rows, self.ctx, lambda reject: org))
        conn.execute(
            "create temp table stg_crm_ids (row_number integer primary key, external_id text)"
            " on commit drop"
        )
        copy_rows(
            conn,
            "stg_crm_ids",
            ("row_number", "external_id"),
            ("int4", "text"),
            ((n, external_id(vendor, record)) for n, record in enumerate(self.records, 1)),
        )
        return len(self.records)

    def _params(self, batch_id: str) -> dict[str, str]:
        connection = self.connection
        return {
            "conn": connection.id,
            "org": connection.organization_id,
            "vendor": connection.vendor,
            "source": self.change_source,
            "batch": batch_id,
        }

    def before_fold(self, conn: psycopg.Connection, batch_id: str) -> None:
        conn.execute(
            """
            create temp table stg_crm_links on commit drop as
            select s.row_number, s.organization_id, s.phone_number, i.external_id
            from stg_leads s join stg_crm_ids i using (row_number)
            """
        )
        self.outcome.phone_changes = conn.execute(
            _FOLLOW_PHONE_CHANGES, self._params(batch_id)
        ).rowcount

    def after_load(self, conn: psycopg.Connection, batch_id: str) -> None:
        self.outcome.linked = conn.execute(_LINK_RECORDS, self._params(batch_id)).rowcount


def load_connection(connect: ConnectionFactory, connection: Connection) -> LoadOutcome:
    """Load the connection's records pulled since the last load into leads (nothing to do ->
    an outcome with rows_read 0 and no batch)."""
    outcome = LoadOutcome(connection.id, connection.vendor, connection.organization_id)
    with connect() as conn, conn.transaction():
        set_tenant(conn, connection.organization_id)
        conn.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"leadflow.crm.load:{connection.id}",),
        )
        state = conn.execute(
            "select last_load_id from crm_sync_state where connection_id = %s for update",
            (connection.id,),
        ).fetchone()
        records, outcome.load_ids = new_records(conn, connection, state[0] if state else None)
        if not records:
            return outcome
        outcome.batch_id = str(uuid.uuid4())
        ctx = build_context(conn, connection.organization_id, source=connection.vendor)
        load_batch(conn, CrmRecords(connection, records, ctx, outcome), outcome)
        conn.execute(
            """
            insert into crm_sync_state (connection_id, organization_id, last_load_id, last_pull_at)
            values (%s, %s, %s, now())
            on conflict (connection_id) do update
                set last_load_id = excluded.last_load_id, last_pull_at = now()
            """,
            (connection.id, connection.organization_id, outcome.load_ids[-1]),
        )
    if outcome.owners_dropped:  # an owners map naming users of another organization
        log.warning("%s: %s", connection.label, owners_dropped_message(outcome.owners_dropped))
    return outcome
