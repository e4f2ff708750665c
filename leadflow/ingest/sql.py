"""One file's load in PostgreSQL: staged by COPY, then set-based SQL, in the caller's transaction.

The steps below run in the order of leadflow/ingest/batch.py (`load_batch`), for a file's rows
and a CRM connection's records alike.

Every row of the file is streamed into the temp table stg_leads (clean leads and quarantined
rows alike, one COPY), so nothing of the file is held in memory or on local disk and the whole
load is one transaction: a failure, or a killed process, leaves nothing behind. Then:
move_rejects moves the quarantined rows to import_rejects; fold_duplicates folds the rows of
the keys seen more than once in the file (one lead per organization and phone); screen_staged
marks the leads on their organization's DNC list; load_staged merges them with the live leads
already in the database, applying the survivorship rules of docs/importing.md ("Survivorship"), and
writes the audit log and status history. Imports of the same organization are serialised by an
advisory lock, so two files can never race to insert the same phone; different organizations
run in parallel.

Referrals: a lead's referral handle (leads.referred_by_ref, see referrals.py) is set on
insert and, on merge, only filled when empty (the first referral a lead was imported with is
kept, like the source). After the insert and merge, referrals are resolved set-based (see
referrals_sql.py): the file's leads whose handle is new or still pending, and pending leads of
the file's organizations whose referrer this file brought; so a referral to a lead of the same
file works. Each link set writes an audit row (referred_by_lead_id, with the load's
change_source: 'import' for a file).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Set
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from operator import attrgetter

import psycopg
from psycopg import abc, postgres, pq, sql

# psycopg's COPY row formatter (C in psycopg[binary]); private, so psycopg is pinned in
# constraints.txt and tests/integration/test_staging.py checks its output
from psycopg._copy_base import format_row_text
from psycopg.adapt import Transformer
from psycopg.types.json import Jsonb

from leadflow import settings
from leadflow.ingest.extras import EXTRA_FIELDS_CUT, MAX_EXTRA_FIELDS
from leadflow.ingest.referrals_sql import link_referrers
from leadflow.leads.ids import canonical_uuid
from leadflow.leads.records import STATUS_RANK, CleanLead, Reject
from leadflow.postgres import one_row

#: one row of the file as staged: a clean lead (reject_reason null) or a quarantined row. Clean
#: rows and rejects share one table, so one COPY stream carries the whole file.
STAGE_COLUMNS = (
    "row_number",
    "organization_id",
    "user_id",
    "first_name",
    "last_name",
    "phone_number",
    "phone_type",
    "email",
    "status",
    "tags",
    "source",
    "referred_by",
    "company",
    "crm_status",
    "phone_source",
    "reject_reason",
    "reject_detail",
    "raw_row",
    "reject_organization_id",
    # what the row carries besides the lead's fields (empty for a quarantined row)
    "lead_note",
    "row_notes",
    "owner_email",
    "extra_fields",
    # where a quarantined row is in its file (import_rejects.line_number); null for a lead
    "line_number",
)
# uuids travel as text: COPY's text format lets the server parse them; so do the tags, as
# their array literal (see stage_lead: psycopg's list dumper costs 5 us a row, this 1)
STAGE_TYPES = tuple(
    {"row_number": "int4", "line_number": "int4", "raw_row": "jsonb", "extra_fields": "jsonb"}.get(
        column, "text"
    )
    for column in STAGE_COLUMNS
)
#: lead columns of a staged clean row, in STAGE_COLUMNS order (the last four stay null)
_LEAD_COLUMNS = STAGE_COLUMNS[:15]
_lead_values = attrgetter(*_LEAD_COLUMNS)
_NO_REJECT = (None, None, None, None)
_NO_LEAD = (None,) * (len(_LEAD_COLUMNS) - 1)
_NO_EXTRAS = (None, None, None, None)

# lead statuses ranked along the funnel; imports only ever move a lead to a higher rank
_RANK_SQL = (
    "case {col} " + " ".join(f"when '{s}' then {r}" for s, r in STATUS_RANK.items()) + " end"
)


def _rank(column: str) -> str:
    return _RANK_SQL.format(col=column)


BULK_MIN_ROWS = 50_000


@dataclass(slots=True)
class LoadResult:
    inserted: int = 0
    merged: int = 0
    #: merged rows that changed nothing on their lead (issue 22: "merged 16" for 16 rows that
    #: carried nothing new said too little); part of `merged`, not an extra term of the identity
    merged_unchanged: int = 0
    dnc: int = 0
    audit_rows: int = 0
    status_rows: int = 0
    owners_dropped: int = 0
    referrals: int = 0  # leads whose referrer this load set (in the file or pending before)


def _tune_for_bulk(conn: psycopg.Connection) -> None:
    """Memory for one big set-based load: sorts and hash joins in RAM, staging tables in
    local buffers instead of spilling to disk. Transaction-scoped, except temp_buffers, which
    PostgreSQL only lets a session set before its first temp table (a pooled connection may
    have had one already: then the default stays)."""
    # GIN indexes (tags, trigram names) absorb a bulk insert in a larger pending list
    conn.execute("select set_config('gin_pending_list_limit', '65536', true)")
    conn.execute(
        "select set_config('work_mem', %s, true)",
        (settings.current().load_work_mem,),
    )
    try:
        with conn.transaction():
            conn.execute(
                "select set_config('temp_buffers', %s, false)",
                (settings.current().load_temp_buffers,),
            )
    except psycopg.errors.InvalidParameterValue:
        pass


@contextmanager
def _history_bulk_path(conn: psycopg.Connection, rows: int) -> Iterator[None]:
    """For big files, skip the per-row triggers on the audit/status-history inserts and the
    merge's update of the leads (foreign-key checks, updated_at: the update sets it itself).

    Those inserts reference only leads inserted or row-locked in this same transaction and the
    batch row itself, so the checks cannot fail; at a million rows they cost more than the
    inserts. The referral links use it too (referrals_sql.py: referrers locked first, the
    organization part of every join). Needs a role that may set session_replication_role
    (superuser, or PostgreSQL 15+ with the privilege granted); otherwise, and for small files,
    the normal path runs.
    LEADFLOW_BULK_MIN_ROWS (default 50000; 0 disables) sets the threshold.
    """
    threshold = settings.current().bulk_min_rows
    bulk = bool(threshold) and rows >= threshold
    if bulk:
        try:
            with conn.transaction():
                conn.execute("set local session_replication_role = replica")
        except psycopg.errors.InsufficientPrivilege:
            bulk = False
    try:
        yield
    finally:
        if bulk:
            conn.execute("set local session_replication_role = origin")


def lock_organizations(conn: psycopg.Connection, organization_ids: Iterable[str]) -> None:
    """Serialise imports per organization (transaction-scoped; sorted to avoid deadlocks)."""
    for org in sorted(set(organization_ids)):
        conn.execute(
            "select pg_advisory_xact_lock(hashtextextended('leadflow.import:' || %s, 0))", (org,)
        )


def reject_organization(
    reject: Reject, tenant_header: str | None, default: str | None, known: Set[str]
) -> str | None:
    """The organization a rejected row belongs to, for tenant visibility: the row's own value
    in the file's tenant column (`tenant_header`) when it names a real one, else the import's
    organization (--org); None if unknown."""
    if tenant_header is not None:
        value = reject.raw.get(tenant_header)
        if value:
            org = canonical_uuid(value)
            return org if org in known else None
    return default


def stage_lead(lead: CleanLead) -> tuple:
    """A clean lead as a stg_leads row, for `copy_text`."""
    values = _lead_values(lead)
    notes = lead.notes
    if notes and lead.note:  # the row's own note comes first (normalize_rows): not the importer's
        notes = notes[1:]
    return (
        *values[:_TAGS],
        text_array(values[_TAGS]),
        *values[_TAGS + 1 :],
        *_NO_REJECT,
        lead.note,
        text_array(notes) if notes else None,
        lead.owner_email,
        Jsonb(lead.extra_fields) if lead.extra_fields else None,
    )


_TAGS = _LEAD_COLUMNS.index("tags")


def text_array(items: list[str] | None) -> str:
    """A PostgreSQL text[] literal; every element quoted, so none can read as NULL."""
    if not items:
        return "{}"
    quoted = ['"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items]
    return "{" + ",".join(quoted) + "}"


def stage_reject(reject: Reject, organization_id: str | None) -> tuple:
    """A quarantined row as a stg_leads row (it leaves the table before the load)."""
    return (
        reject.row_number,
        *_NO_LEAD,
        reject.reason,
        reject.detail,
        Jsonb(reject.raw),
        organization_id,
        *_NO_EXTRAS,
        reject.line_number,
    )


def copy_text(rows: Iterable[tuple]) -> bytes:
    """Staged rows (`stage_lead` / `stage_reject`) as the data of a COPY into stg_leads.

    Worker processes format their chunk themselves (psycopg's own COPY row formatter, with the
    stg_leads column types), so the parent only hands bytes to the COPY stream: no objects to
    unpickle and adapt one by one in the one process that reads the file and feeds PostgreSQL.
    The bytes are UTF-8; create_staging sets the transaction's client encoding to match.
    """
    out = bytearray()
    transformer = _stage_transformer()
    width = len(STAGE_COLUMNS)
    for row in rows:
        if len(row) < width:  # a row made before the trailing columns: those stay null
            row = (*row, *(None,) * (width - len(row)))
        format_row_text(row, transformer, out)
    return bytes(out)


@cache
def _stage_transformer() -> abc.Transformer:
    transformer = Transformer()  # no connection: the default adapters, UTF-8
    oids = [postgres.types.get_oid(name) for name in STAGE_TYPES]
    transformer.set_dumper_types(oids, pq.Format.TEXT)
    return transformer


def create_staging(conn: psycopg.Connection) -> None:
    """stg_leads, the temp table of one file's load (dropped at commit): every row as read,
    then, once the rejects have left and the duplicates are folded, one lead per
    (organization, phone) with its DNC verdict and the live lead it merges into."""
    _tune_for_bulk(conn)
    conn.execute("set local client_encoding to 'UTF8'")  # what copy_text writes
    conn.execute(
        """
        create temp table stg_leads (
            row_number integer not null,
            organization_id uuid,
            user_id uuid,
            first_name text,
            last_name text,
            phone_number text,
            phone_type text,
            email text,
            status text,
            tags text[],
            source text,
            referred_by text,
            company text,
            crm_status text,
            phone_source text,
            reject_reason text,
            reject_detail text,
            raw_row jsonb,
            reject_organization_id uuid,
            lead_note text,
            row_notes text[],
            owner_email text,
            extra_fields jsonb,
            line_number integer,
            is_dnc boolean not null default false,
            lead_id uuid
        ) on commit drop
        """
    )


@contextmanager
def staging_copy(conn: psycopg.Connection) -> Iterator[psycopg.Copy]:
    """One COPY stream into stg_leads; write `copy_text` data to it."""
    statement = sql.SQL("copy stg_leads ({}) from stdin").format(
        sql.SQL(", ").join(map(sql.Identifier, STAGE_COLUMNS))
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        yield copy


def move_rejects(conn: psycopg.Connection, batch_id: str) -> int:
    """The quarantined rows of the file into import_rejects (with the batch), out of staging."""
    moved = conn.execute(
        """
        insert into import_rejects (batch_id, organization_id, row_number, line_number, reason,
                                    detail, raw_row)
        select %s, reject_organization_id, row_number, line_number, reject_reason,
               reject_detail, raw_row
        from stg_leads where reject_reason is not null
        order by row_number
        """,
        (batch_id,),
    ).rowcount
    if moved:
        conn.execute("delete from stg_leads where reject_reason is not null")
    return moved


def collect_notes(conn: psycopg.Connection) -> None:
    """The rows' notes, taken before the fold merges rows: the importer's notes on each row
    (stg_row_notes: code and detail, from "code: detail") and the rows' own notes
    (stg_lead_notes). Both find their lead by (organization, phone) after the load
    (store_notes)."""
    conn.execute(
        """
        create temp table stg_row_notes on commit drop as
        select s.row_number, s.organization_id, s.phone_number,
               case when position(': ' in n.note) > 0
                    then left(n.note, position(': ' in n.note) - 1) else 'note' end as code,
               case when position(': ' in n.note) > 0
                    then substr(n.note, position(': ' in n.note) + 2) else n.note end as detail
        from stg_leads s cross join lateral unnest(s.row_notes) with ordinality as n(note, i)
        where s.row_notes is not null
        """
    )
    conn.execute(
        """
        create temp table stg_lead_notes on commit drop as
        select row_number, organization_id, phone_number, lead_note as body
        from stg_leads where lead_note is not null and lead_note <> ''
        """
    )


def resolve_owners(conn: psycopg.Connection) -> None:
    """Owners given by e-mail become the user of that e-mail in the lead's organization
    (case-insensitive); an e-mail that names nobody there, and a user id of another
    organization, are row notes (owner_not_found, owner_not_in_organization). Per row, before
    the fold. The lead then keeps the default owner (--owner) or stays unowned."""
    conn.execute(
        """
        update stg_leads s set user_id = u.id
        from users u
        where s.owner_email is not null and u.organization_id = s.organization_id
          and lower(u.email) = s.owner_email
        """
    )
    conn.execute(
        """
        insert into stg_row_notes (row_number, organization_id, phone_number, code, detail)
        select s.row_number, s.organization_id, s.phone_number, 'owner_not_found',
               left(s.owner_email, 200)
        from stg_leads s
        where s.owner_email is not null and not exists (
            select 1 from users u
            where u.organization_id = s.organization_id and lower(u.email) = s.owner_email)
        union all
        select s.row_number, s.organization_id, s.phone_number, 'owner_not_in_organization',
               s.user_id::text
        from stg_leads s
        where s.user_id is not null and not exists (
            select 1 from users u where u.id = s.user_id and u.organization_id = s.organization_id)
        """
    )


def cap_staged_extras(conn: psycopg.Connection) -> None:
    """A lead folded from several rows keeps at most MAX_EXTRA_FIELDS extra fields (the first
    by name); the cut is a row note."""
    conn.execute(
        """
        with capped as (
            update stg_leads s set extra_fields = (
                select jsonb_object_agg(c.key, c.value)
                from (select key, value from jsonb_each(s.extra_fields)
                      order by key limit %(cap)s) c)
            where s.extra_fields is not null
              and (select count(*) from jsonb_object_keys(s.extra_fields)) > %(cap)s
            returning s.row_number, s.organization_id, s.phone_number
        )
        insert into stg_row_notes (row_number, organization_id, phone_number, code, detail)
        select row_number, organization_id, phone_number, %(code)s,
               'the rows of this lead carry more than ' || %(cap)s
               || ' extra fields: the first ' || %(cap)s || ' by name kept'
        from capped
        """,
        {"cap": MAX_EXTRA_FIELDS, "code": EXTRA_FIELDS_CUT},
    )


def store_notes(
    conn: psycopg.Connection, batch_id: str, subject: str
) -> tuple[dict[str, int], int]:
    """After the load: the importer's row notes into import_row_notes (with the lead each row
    loaded into), the rows' own notes into lead_notes (`subject` says where they came from; a
    note the lead already has, from this batch or an earlier one, is not added again).
    Returns (row notes per code, lead notes added)."""
    conn.execute(
        """
        insert into import_row_notes (batch_id, organization_id, row_number, lead_id, code,
                                      detail)
        select %s, n.organization_id, n.row_number, l.id, left(n.code, 64), left(n.detail, 500)
        from stg_row_notes n
        left join leads l on l.organization_id = n.organization_id
                         and l.phone_number = n.phone_number and l.deleted_at is null
        order by n.row_number
        """,
        (batch_id,),
    )
    counts = {
        str(code): int(count)
        for code, count in conn.execute(
            "select left(code, 64), count(*) from stg_row_notes group by 1 order by 1"
        )
    }
    added = conn.execute(
        """
        insert into lead_notes (organization_id, lead_id, body, source, batch_id)
        select l.organization_id, l.id, n.body, %(source)s, %(batch)s
        from stg_lead_notes n
        join leads l on l.organization_id = n.organization_id
                    and l.phone_number = n.phone_number and l.deleted_at is null
        order by n.row_number
        on conflict (lead_id, (md5(body))) do nothing
        """,
        {"batch": batch_id, "source": subject},
    ).rowcount
    return counts, added


def staged_extra_keys(conn: psycopg.Connection, limit: int = 200) -> list[str]:
    """The extra fields the batch's leads carry (what the summary lists), by name."""
    return [
        str(row[0])
        for row in conn.execute(
            "select distinct k from stg_leads, jsonb_object_keys(extra_fields) as k"
            " where extra_fields is not null order by 1 limit %s",
            (limit,),
        )
    ]


def fold_duplicates(conn: psycopg.Connection) -> int:
    """Fold the staged leads of each (organization, phone) key seen more than once in the file
    into one lead, with the survivorship rules of `dedupe.merge_duplicate` (docs/importing.md,
    "Survivorship") in file order; returns how many rows were folded away (the file's
    duplicates). Set-based, in PostgreSQL: nothing of the file comes back to Python.

    Per key: the first row's number and phone source; the last non-empty first name, last
    name, e-mail, owner, referral, phone type, company and CRM status (else the first row's
    empty value); the first non-empty source; the highest status along the funnel (earliest
    row on a tie); the tags of all rows, each once, in order of first appearance.
    tests/integration/test_fold.py checks this against `merge_duplicate` on random rows.
    """
    conn.execute(
        """
        create temp table stg_dup_keys on commit drop as
        select organization_id, phone_number, count(*) - 1 as folded
        from stg_leads group by organization_id, phone_number having count(*) > 1
        """
    )
    (folded,) = one_row(conn.execute("select coalesce(sum(folded), 0) from stg_dup_keys"))
    if not folded:
        return 0
    conn.execute(_FOLD_SQL)
    return int(folded)


def _last_value(column: str) -> str:
    """The last non-empty value of a key's rows, else the first row's (empty) value."""
    return (
        f"coalesce((array_agg(d.{column} order by d.row_number desc)"
        f" filter (where d.{column} is not null and d.{column}::text <> ''))[1],"
        f" (array_agg(d.{column} order by d.row_number))[1])"
    )


_FOLD_SQL = f"""
with dup as (
    delete from stg_leads s using stg_dup_keys k
    where k.organization_id = s.organization_id and k.phone_number = s.phone_number
    returning s.*
),
tag_first as (
    select d.organization_id, d.phone_number, t.tag,
           min(array[d.row_number::bigint, t.position]) as first_seen
    from dup d cross join lateral unnest(d.tags) with ordinality as t(tag, position)
    group by d.organization_id, d.phone_number, t.tag
),
tag_lists as (
    select organization_id, phone_number, array_agg(tag order by first_seen) as tags
    from tag_first group by organization_id, phone_number
),
extra_lists as (
    -- a later row's value of a key replaces an earlier one's (jsonb keeps a key's last value)
    select d.organization_id, d.phone_number,
           jsonb_object_agg(e.key, e.value order by d.row_number) as extra_fields
    from dup d cross join lateral jsonb_each(d.extra_fields) as e(key, value)
    group by d.organization_id, d.phone_number
)
insert into stg_leads (row_number, organization_id, phone_number, user_id, first_name,
                       last_name, phone_type, email, status, tags, source, referred_by,
                       company, crm_status, phone_source, extra_fields)
select min(d.row_number), d.organization_id, d.phone_number,
       {_last_value("user_id")},
       {_last_value("first_name")},
       {_last_value("last_name")},
       {_last_value("phone_type")},
       {_last_value("email")},
       (array_agg(d.status order by coalesce({_rank("d.status")}, -1) desc, d.row_number))[1],
       coalesce(min(t.tags), '{{}}'),
       coalesce((array_agg(d.source order by d.row_number)
                 filter (where d.source is not null and d.source <> ''))[1],
                (array_agg(d.source order by d.row_number))[1]),
       {_last_value("referred_by")},
       {_last_value("company")},
       {_last_value("crm_status")},
       (array_agg(d.phone_source order by d.row_number))[1],
       (array_agg(x.extra_fields))[1]
from dup d
left join tag_lists t on t.organization_id = d.organization_id and t.phone_number = d.phone_number
left join extra_lists x
  on x.organization_id = d.organization_id and x.phone_number = d.phone_number
group by d.organization_id, d.phone_number
"""


def staged_organizations(conn: psycopg.Connection) -> list[str]:
    return [row[0] for row in conn.execute("select distinct organization_id::text from stg_leads")]


def screen_staged(conn: psycopg.Connection) -> int:
    """Mark the staged leads whose phone is on their own organization's DNC list (the list as it
    is inside this transaction); returns how many are."""
    # one staged lead per (organization, phone) after the fold, at most one list entry per
    # (organization, phone): the updated rows are the DNC leads
    return conn.execute(
        """
        update stg_leads s set is_dnc = true
        from dnc_list d
        where d.organization_id = s.organization_id and d.phone_number = s.phone_number
        """
    ).rowcount


def load_staged(
    conn: psycopg.Connection,
    batch_id: str,
    organizations: list[str],
    dnc: int = 0,
    change_source: str = "import",
) -> LoadResult:
    """Insert the staged leads that are new and merge the others into the live leads; returns
    what happened. Expects stg_leads folded (fold_duplicates) and screened (screen_staged);
    `organizations` are the staged leads' (staged_organizations). `change_source` is what the
    audit rows say wrote the change ('import' for files, 'crm:<vendor>' for a CRM sync)."""
    result = LoadResult(dnc=dnc)
    # an owner must be a user of the lead's organization; otherwise the lead stays unowned
    result.owners_dropped = conn.execute(
        """
        update stg_leads s set user_id = null
        where s.user_id is not null and not exists (
            select 1 from users u where u.id = s.user_id and u.organization_id = s.organization_id)
        """
    ).rowcount
    conn.execute(
        """
        update stg_leads s set lead_id = l.id
        from leads l
        where l.organization_id = s.organization_id and l.phone_number = s.phone_number
          and l.deleted_at is null
        """
    )
    # rows folded in the file may make a lead refer to its own e-mail: not a referral
    conn.execute(
        "update stg_leads set referred_by = null where referred_by in (phone_number, email)"
    )
    _insert_new(conn, batch_id, result, change_source)
    _merge_existing(conn, batch_id, result, change_source)
    _link_referrals(conn, batch_id, organizations, result, change_source)
    return result


def _insert_new(
    conn: psycopg.Connection, batch_id: str, result: LoadResult, change_source: str
) -> None:
    conn.execute(
        """
        create temp table stg_inserted on commit drop as
        with ins as (
            insert into leads (organization_id, user_id, first_name, last_name, phone_number,
                               phone_type, email, status, tags, source, referred_by_ref,
                               company, crm_status, extra_fields)
            select organization_id, user_id, first_name, last_name, phone_number, phone_type,
                   email, case when is_dnc then 'dnc' else coalesce(status, 'new') end, tags,
                   source, referred_by, company, crm_status,
                   coalesce(extra_fields, '{}'::jsonb)
            from stg_leads where lead_id is null
            order by phone_number, organization_id  -- the unique index's order: its pages fill in sequence
            returning id, organization_id, phone_number
        )
        select ins.id, ins.organization_id, ins.phone_number, s.status as file_status, s.is_dnc,
               s.referred_by, s.phone_source
        from ins join stg_leads s
          on s.organization_id = ins.organization_id and s.phone_number = ins.phone_number
         and s.lead_id is null
        """
    )
    result.inserted = one_row(conn.execute("select count(*) from stg_inserted"))[0]
    # NULL -> the file's status (new by default); then -> dnc when the screen caught it
    with _history_bulk_path(conn, result.inserted):
        result.status_rows += _insert_new_history(conn, batch_id)
        # which column the phone came from, when it was not the main phone (a mobile column)
        result.audit_rows += conn.execute(
            """
            insert into lead_audit_log (lead_id, field_name, old_value, new_value, change_source,
                                        import_batch_id)
            select id, 'phone_source', null, phone_source, %s, %s
            from stg_inserted where phone_source is not null
            """,
            (change_source, batch_id),
        ).rowcount


def _insert_new_history(conn: psycopg.Connection, batch_id: str) -> int:
    return conn.execute(
        """
        insert into lead_status_history (lead_id, from_status, to_status, trigger_type, notes)
        select id, null, coalesce(file_status, 'new'), 'import', 'import batch ' || %(batch)s
        from stg_inserted
        union all
        select id, coalesce(file_status, 'new'), 'dnc', 'dnc',
               'on the organization''s DNC list (import batch ' || %(batch)s || ')'
        from stg_inserted where is_dnc and coalesce(file_status, 'new') <> 'dnc'
        """,
        {"batch": batch_id},
    ).rowcount


def _merge_existing(
    conn: psycopg.Connection, batch_id: str, result: LoadResult, change_source: str
) -> None:
    conn.execute(
        """
        select 1 from leads l join stg_leads s on s.lead_id = l.id
        order by l.id for update of l
        """
    )
    conn.execute(
        f"""
        create temp table stg_merge on commit drop as
        select s.lead_id,
               s.is_dnc,
               s.row_number,
               s.phone_number,
               l.organization_id,
               l.extra_fields as old_extra_fields,
               case when s.extra_fields is null then l.extra_fields
                    else (select coalesce(jsonb_object_agg(e.key, e.value), '{{}}'::jsonb)
                          from (select key, value
                                from jsonb_each(l.extra_fields || s.extra_fields)
                                order by l.extra_fields ? key desc, key
                                limit {MAX_EXTRA_FIELDS}) e)
               end as new_extra_fields,
               case when s.extra_fields is null then 0
                    else (select count(*)
                          from jsonb_object_keys(l.extra_fields || s.extra_fields))
                         - {MAX_EXTRA_FIELDS}
               end as extra_fields_over,
               l.referred_by_lead_id as old_referrer,
               l.first_name as old_first_name,
               case when s.first_name <> '' then s.first_name else l.first_name end
                   as new_first_name,
               l.last_name as old_last_name,
               case when s.last_name <> '' then s.last_name else l.last_name end
                   as new_last_name,
               l.email as old_email,
               coalesce(nullif(s.email, ''), l.email) as new_email,
               l.company as old_company,
               coalesce(nullif(s.company, ''), l.company) as new_company,
               l.crm_status as old_crm_status,
               coalesce(nullif(s.crm_status, ''), l.crm_status) as new_crm_status,
               l.phone_type as old_phone_type,
               coalesce(s.phone_type, l.phone_type) as new_phone_type,
               l.user_id as old_user_id,
               coalesce(l.user_id, s.user_id) as new_user_id,
               l.source as old_source,
               coalesce(l.source, s.source) as new_source,
               l.referred_by_ref as old_referred_by_ref,
               coalesce(l.referred_by_ref, s.referred_by) as new_referred_by_ref,
               l.tags as old_tags,
               l.tags || array(
                   select t from unnest(s.tags) with ordinality as u(t, i)
                   where not (t = any(l.tags)) order by i
               ) as new_tags,
               l.status as old_status,
               case
                   when l.status = 'dnc' or s.is_dnc then 'dnc'
                   when s.status is not null and {_rank("s.status")} > {_rank("l.status")}
                       then s.status
                   else l.status
               end as new_status
        from stg_leads s join leads l on l.id = s.lead_id
        """
    )
    result.merged = one_row(conn.execute("select count(*) from stg_merge"))[0]
    # a lead that would pass the cap keeps its own keys first: the newcomers over it are a note
    conn.execute(
        """
        insert into stg_row_notes (row_number, organization_id, phone_number, code, detail)
        select row_number, organization_id, phone_number, %s,
               extra_fields_over || ' new extra field(s) over the lead''s cap of ' || %s
               || ' not kept'
        from stg_merge where extra_fields_over > 0
        """,
        (EXTRA_FIELDS_CUT, MAX_EXTRA_FIELDS),
    )
    # audit and history rows reference leads locked above and this batch: bulk path
    with _history_bulk_path(conn, result.merged):
        result.audit_rows += conn.execute(
            """
            insert into lead_audit_log (lead_id, field_name, old_value, new_value, change_source,
                                        import_batch_id)
            select m.lead_id, v.field_name, v.old_value, v.new_value, %(source)s, %(batch)s
            from stg_merge m
            cross join lateral (values
                ('first_name', m.old_first_name, m.new_first_name),
                ('last_name', m.old_last_name, m.new_last_name),
                ('email', m.old_email, m.new_email),
                ('company', m.old_company, m.new_company),
                ('crm_status', m.old_crm_status, m.new_crm_status),
                ('phone_type', m.old_phone_type, m.new_phone_type),
                ('user_id', m.old_user_id::text, m.new_user_id::text),
                ('source', m.old_source, m.new_source),
                ('referred_by_ref', m.old_referred_by_ref, m.new_referred_by_ref),
                ('tags', m.old_tags::text, m.new_tags::text),
                ('status', m.old_status, m.new_status),
                ('extra_fields', m.old_extra_fields::text, m.new_extra_fields::text)
            ) as v(field_name, old_value, new_value)
            where v.old_value is distinct from v.new_value
            """,
            {"batch": batch_id, "source": change_source},
        ).rowcount
        result.status_rows += conn.execute(
            """
            insert into lead_status_history (lead_id, from_status, to_status, trigger_type, notes)
            select lead_id, old_status, new_status,
                   case when new_status = 'dnc' and is_dnc then 'dnc' else 'import' end,
                   'import batch ' || %(batch)s
            from stg_merge where old_status is distinct from new_status
            """,
            {"batch": batch_id},
        ).rowcount
        # the leads themselves: updated_at set here as trigger_leads_updated_at would (the
        # bulk path skips row triggers); the owners were checked against the organization
        # above and are key-share locked here, as the foreign key's check would lock them
        conn.execute(
            "select 1 from users where id in (select new_user_id from stg_merge"
            " where new_user_id is distinct from old_user_id) for key share"
        )
        changed = conn.execute(
            """
        update leads l set
            first_name = m.new_first_name, last_name = m.new_last_name, email = m.new_email,
            phone_type = m.new_phone_type, user_id = m.new_user_id, source = m.new_source,
            tags = m.new_tags, status = m.new_status, referred_by_ref = m.new_referred_by_ref,
            company = m.new_company, crm_status = m.new_crm_status,
            extra_fields = m.new_extra_fields, updated_at = now()
        from stg_merge m
        where l.id = m.lead_id and (
            (l.first_name, l.last_name, l.email, l.phone_type, l.user_id, l.source, l.tags,
             l.status, l.referred_by_ref, l.company, l.crm_status, l.extra_fields)
            is distinct from
            (m.new_first_name, m.new_last_name, m.new_email, m.new_phone_type, m.new_user_id,
             m.new_source, m.new_tags, m.new_status, m.new_referred_by_ref, m.new_company,
             m.new_crm_status, m.new_extra_fields)
        )
        """
        ).rowcount
        result.merged_unchanged = result.merged - changed


# Leads whose referral this load may resolve: new leads with a handle; merged leads whose
# handle was just filled or is still pending; and pending leads of the file's organizations
# whose handle is a phone or e-mail of this file (their referrer arrived, or got that e-mail).
# The first two come from the staging tables, so a file without referrals costs two scans.
_LOAD_CANDIDATES = """
select id, organization_id, referred_by as handle, null::uuid as old_referrer
from stg_inserted
where referred_by is not null
union
select lead_id, organization_id, new_referred_by_ref, old_referrer
from stg_merge
where new_referred_by_ref is not null and (old_referrer is null or old_referred_by_ref is null)
union
select l.id, l.organization_id, l.referred_by_ref, l.referred_by_lead_id
from leads l
where l.referred_by_ref is not null and l.referred_by_lead_id is null and l.deleted_at is null
  and l.organization_id = any(%(orgs)s::uuid[])
  and (l.referred_by_ref in (select phone_number from stg_leads)
       or l.referred_by_ref in (select email from stg_leads where email is not null))
"""


def _link_referrals(
    conn: psycopg.Connection, batch_id: str, orgs: list[str], result: LoadResult, change_source: str
) -> None:
    result.referrals = link_referrers(
        conn,
        sql.SQL(_LOAD_CANDIDATES),
        {"orgs": orgs},
        change_source=change_source,
        batch_id=batch_id,
        bulk_path=lambda rows: _history_bulk_path(conn, rows),
    )
    result.audit_rows += result.referrals
