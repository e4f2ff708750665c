"""The CRM graph sync: PostgreSQL (organizations, users, leads, assignments, referrals) → Bolt.

Per organization, in this order (PostgreSQL is only read, but for the watermark; pending
referrals are resolved before, by the ingest step `lead_referrals`):

    read       in one REPEATABLE READ transaction (one snapshot for every read): everything in
               full mode (first run, `full`, or a watermark the rule below cannot use), else the
               users, and the leads, changed since the watermark, plus leads with a new
               lead_assignments row or whose referrer changed
    write      Organization, Users (+MEMBER_OF), Lead batches (properties, BELONGS_TO,
               FROM_SOURCE, ASSIGNED_TO, PREVIOUSLY_ASSIGNED_TO; stale edges of the batch's
               leads dropped), one managed transaction per batch retried with backoff on
               transient errors; then REFERRED_BY (the referrer may be in a later batch);
               soft-deleted leads and users missing in PostgreSQL DETACH DELETEd; leads deleted
               for good removed (full mode: by comparing ids; incremental: when the graph holds
               more Lead nodes than PostgreSQL live leads, by comparing ids); Source nodes left
               without leads removed
    watermark  stored in sync_watermarks ('crm_graph:<org>', `leadflow.watermarks`) in the same
               transaction as the read and committed only after every graph write succeeded: a
               run that dies midway leaves the watermark where it was, and the next run (from the
               old watermark) completes the graph, since every statement is an idempotent MERGE
               or a delete of what must not be there

"Changed since the watermark" is exact, with no time window. The watermark keeps the read's
snapshot (`pg_current_snapshot()`: xmin, xmax, the in-progress ids, in 64-bit ids) and `seen`, the
ids in [xmin, xmax) of the rows that read saw (`model.ReadSnapshot`). A row version written by
transaction X (its `xmin`) was sent by that read iff X was visible to its snapshot, that is
X < xmin, or X < xmax and X in seen. So the next read takes exactly the rows with

    X >= xmax  or  (X >= xmin and X not in seen)

(`model.unseen`): a transaction that started before the read but committed after it, one still
in progress, or any later one; never one the read already saw, such as the writes of the
nightly's earlier steps, which commit before the sync reads. Membership in `seen` rather than
absence from the in-progress list, because `pg_current_snapshot()` lists top-level ids only:
rows written under a savepoint carry a subtransaction id. `updated_at` plays no part: it is the
writer's start time, which can be older than a read that missed the row.

Row xids are 32-bit and wrap around: each is placed in 64 bits as the latest id with its low
32 bits at or below the next id to be assigned when read (`model.full_xid`). That is exact for
every row PostgreSQL has not frozen (VACUUM keeps them within 2^31 of the counter); a frozen
row older than 2^32 transactions may come out as unseen and be sent once more (harmless), and
`seen` keeps only ids `pg_xact_status` reports committed, so such a row cannot pass for a
transaction still in progress. A watermark whose snapshot is 2^31 or more transactions old, or
ahead of the counter (a restored database, another server), cannot be used: that organization
gets a full sync (`model.incremental_blocker`). Physical replicas share the counter; after a
failover to a server with its own history (a logical replica), run `leadflow graph sync --full`.

In SQL the test reads `age(xmin)`, the 32-bit distance back from an id fixed for the
transaction, which `_begin_read` places in 64 bits once (`model.unseen_by_age`, equal to
`model.unseen` for every normal id). No index holds `xmin`: per organization the test passes
over its leads and over the whole of lead_assignments (which has no organization_id), a cheap
integer filter; only the rows that pass it are joined, shaped and sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import psycopg
from neo4j import Driver, ManagedTransaction, Session
from neo4j.exceptions import ServiceUnavailable, SessionExpired, TransientError
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from leadflow import watermarks
from leadflow.graph import model
from leadflow.graph.model import (
    DEFAULT_BATCH_SIZE,
    RetryPolicy,
    chunked,
    retry,
)
from leadflow.postgres import UnknownOrganization, one_row, organization_ids

log = logging.getLogger(__name__)

RETRIABLE = (ServiceUnavailable, SessionExpired, TransientError)
DEFAULT_RETRY = RetryPolicy()

#: called after each committed graph batch with (organization_id, phase, batch number); tests
#: raise from it to simulate a run that dies midway
BatchHook = Callable[[str, str, int], None]


@dataclass
class OrgGraphSync:
    organization_id: str
    mode: str  # 'full' | 'incremental'
    nodes_merged: int = 0
    edges_merged: int = 0
    leads_removed: int = 0
    edges_removed: int = 0
    batches: int = 0
    seconds: float = 0.0
    watermark: datetime | None = None
    users_removed: int = 0
    #: pending referrals resolved just before, by the caller (`leadflow graph sync`)
    referrals_resolved: int = 0
    #: why this run was a full sync ('first run', 'requested', …); None when incremental
    reason: str | None = None
    #: leads read from PostgreSQL and written to (or removed from) the graph
    leads_sent: int = 0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["watermark"] = self.watermark.isoformat() if self.watermark else None
        data["seconds"] = round(self.seconds, 3)
        return data


@dataclass
class GraphReconciliation:
    """One organization's comparison of the graph with PostgreSQL.

    `mode` 'nightly': node and edge counts, plus the content of the leads changed since the
    last passing reconciliation; 'full': the counts, every identity, every lead's content.
    Leads changed after the sync's read (`pending`) are not compared: the next sync sends them.
    """

    organization_id: str
    expected: dict[str, int]
    actual: dict[str, int]
    differences: dict[str, tuple[int, int]] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)
    ok: bool = True
    mode: str = "full"
    #: why this pass is full ('first run', 'requested (--full)', the weekly schedule …)
    reason: str | None = None
    #: leads whose content (properties, outgoing edges) was compared, and those that differ
    rows_compared: int = 0
    rows_differing: int = 0
    #: up to SAMPLE_SIZE of them: '<lead id>: <fields>'
    row_samples: list[str] = field(default_factory=list)
    pending: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["differences"] = {key: list(pair) for key, pair in self.differences.items()}
        data["seconds"] = round(self.seconds, 3)
        return data


# -- PostgreSQL reads ---------------------------------------------------------------------------

_LEADS_SQL = """
select l.id, l.organization_id, l.status, l.lead_score, l.tags, l.source, l.created_at,
       l.updated_at, l.deleted_at,
       owner.id as owner_id, cur.assigned_at as since, cur.strategy,
       referrer.id as referred_by,
       prev.user_ids as previous_user_ids, prev.froms as previous_from, prev.tos as previous_to
from leads l
left join users owner on owner.id = l.user_id and owner.organization_id = l.organization_id
left join leads referrer
       on referrer.id = l.referred_by_lead_id and referrer.deleted_at is null
      and referrer.organization_id = l.organization_id
left join lateral (
    select a.assigned_at, a.strategy
    from lead_assignments a
    where a.lead_id = l.id and a.to_user_id = owner.id
    order by a.assigned_at desc, a.id desc
    limit 1
) cur on true
left join lateral (
    -- one entry per earlier owner: first start and last end of their stints; a from_user_id
    -- that never appears as to_user_id (owner before the recorded history) has no start
    select array_agg(s.user_id order by s.user_id) as user_ids,
           array_agg(s.from_at order by s.user_id) as froms,
           array_agg(s.to_at order by s.user_id) as tos
    from (
        select stint.user_id, min(stint.from_at) as from_at, max(stint.to_at) as to_at
        from (
            select a.to_user_id as user_id, a.assigned_at as from_at,
                   lead(a.assigned_at) over (order by a.assigned_at, a.id) as to_at
            from lead_assignments a
            where a.lead_id = l.id
            union all
            select a.from_user_id, null, a.assigned_at
            from lead_assignments a
            where a.lead_id = l.id and a.from_user_id is not null
        ) stint
        join users pu on pu.id = stint.user_id and pu.organization_id = l.organization_id
        where stint.user_id is distinct from owner.id
        group by stint.user_id
    ) s
) prev on true
where l.organization_id = %(org)s
"""


def _changed_lead_ids(prefix: str = "") -> str:
    """The ids of the organization's leads whose graph rows may have changed since a read
    (`model.unseen`, parameters `ReadSnapshot.params(…, prefix)`): the lead's row, one of its
    lead_assignments rows or its referrer's row was written by a transaction that read did not
    see. One union, so that `l.id in (…)` is planned as a hashed semi-join: an `or` of `in`
    tests kept each as a subplan, and PostgreSQL runs one whose result it expects to exceed
    work_mem as a scan of that result per lead (1M leads: ~5 ms per changed lead)."""
    unseen = model.unseen_sql
    return f"""
  select c.id from leads c
  where c.organization_id = %(org)s and {unseen("c.xmin", prefix)}
  union
  select a.lead_id from lead_assignments a where {unseen("a.xmin", prefix)}
  union
  select c.id from leads c join leads r on r.id = c.referred_by_lead_id
  where c.organization_id = %(org)s and r.organization_id = %(org)s
    and {unseen("r.xmin", prefix)}
"""


def _changed_leads(prefix: str = "") -> str:
    """Leads `l` whose graph rows may have changed since a read (`_changed_lead_ids`)."""
    return f"l.id in ({_changed_lead_ids(prefix)})"


#: the 64-bit ids in [cur_xmin, cur_xmax) of the rows of one organization this read sees, as
#: `stable - age(xmin)` (`model.unseen_by_age`); committed before it (pg_xact_status guards
#: against a frozen row's 32-bit id wrapping onto an id still in progress)
_SEEN_SQL = f"""
select x from (
    select distinct %(stable)s::bigint - age(t.xid) as x from (
        select l.xmin as xid from leads l where l.organization_id = %(org)s
        union all
        select a.xmin from leads l join lead_assignments a on a.lead_id = l.id
        where l.organization_id = %(org)s
        union all
        select u.xmin from users u where u.organization_id = %(org)s
        union all
        select o.xmin from organizations o where o.id = %(org)s
    ) t
    where age(t.xid) > %(stable)s::bigint - %(cur_xmax)s::bigint
      and age(t.xid) <= %(stable)s::bigint - %(cur_xmin)s::bigint
) d
where pg_xact_status(x::text::xid8) = 'committed'
limit {model.MAX_SEEN_XIDS + 1}
"""

#: PostgreSQL's side of the per-organization counts (the nightly reconciliation): what
#: `model.expected_keys` counts, without reading every lead's row
_COUNTS_SQL = """
with live as (
    select l.id, l.user_id, l.referred_by_lead_id,
           nullif(btrim(l.source, E' \\t\\n\\r\\f\\v'), '') as source
    from leads l
    where l.organization_id = %(org)s and l.deleted_at is null
),
owned as (
    select l.id, u.id as owner_id
    from live l join users u on u.id = l.user_id and u.organization_id = %(org)s
)
select
    (select count(*) from organizations where id = %(org)s) as "Organization",
    (select count(*) from users where organization_id = %(org)s) as "User",
    (select count(*) from live) as "Lead",
    (select count(distinct source) from live) as "Source",
    (select count(*) from users where organization_id = %(org)s) as "MEMBER_OF",
    (select count(*) from live) as "BELONGS_TO",
    (select count(*) from owned) as "ASSIGNED_TO",
    (select count(*) from (
        select distinct l.id, x.user_id
        from live l
        join lateral (
            select a.to_user_id as user_id from lead_assignments a where a.lead_id = l.id
            union all
            select a.from_user_id from lead_assignments a where a.lead_id = l.id
        ) x on true
        join users pu on pu.id = x.user_id and pu.organization_id = %(org)s
        left join owned o on o.id = l.id
        where x.user_id is distinct from o.owner_id
    ) p) as "PREVIOUSLY_ASSIGNED_TO",
    (select count(*) from live where source is not null) as "FROM_SOURCE",
    (select count(*) from live l
     join leads r on r.id = l.referred_by_lead_id and r.organization_id = %(org)s
                 and r.deleted_at is null) as "REFERRED_BY"
"""


@dataclass(frozen=True)
class _Read:
    """An organization's open REPEATABLE READ transaction: its snapshot (`seen` not yet
    filled), its start time, the next transaction id when it began (`model.full_xid`) and the
    64-bit id its `age()` counts from (`model.unseen_by_age`)."""

    snapshot: model.ReadSnapshot
    at: datetime
    reference: int
    stable: int


def _begin_read(conn: psycopg.Connection) -> _Read:
    """Open the transaction whose single snapshot every read of the organization uses."""
    if conn.autocommit:
        raise ValueError("the graph sync needs a connection that is not in autocommit mode")
    if conn.info.transaction_status != TransactionStatus.IDLE:
        conn.commit()
    conn.execute("set transaction isolation level repeatable read")
    text, at, reference = one_row(
        conn.execute(
            "select pg_current_snapshot()::text, now(),"
            " pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
        )
    )
    # age() counts from an id fixed at its first call in the transaction: place it in 64 bits
    # from a normal id just below the reference
    probe = int(reference) - 1
    while probe % model.XID_MODULUS < model.FIRST_NORMAL_XID:
        probe -= 1
    age = one_row(conn.execute("select age(%s::text::xid)", (str(probe % model.XID_MODULUS),)))
    return _Read(model.ReadSnapshot.parse(text), at, int(reference), probe + int(age[0]))


def _seen(conn: psycopg.Connection, organization_id: str, read: _Read) -> model.ReadSnapshot:
    """The read's snapshot with `seen` filled (nothing to look up when nothing was in
    progress; more than MAX_SEEN_XIDS: none kept, the next run re-sends those rows)."""
    snapshot = read.snapshot
    if snapshot.xmin == snapshot.xmax:
        return snapshot
    params = {
        "org": organization_id,
        "stable": read.stable,
        "cur_xmin": snapshot.xmin,
        "cur_xmax": snapshot.xmax,
    }
    ids = [int(row[0]) for row in conn.execute(_SEEN_SQL, params)]
    if len(ids) > model.MAX_SEEN_XIDS:
        return snapshot
    return model.ReadSnapshot.parse(snapshot.text, ids)


def _organization(conn: psycopg.Connection, organization_id: str) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "select id, name, slug, updated_at, xmin::text::bigint as xid"
            " from organizations where id = %s::uuid",
            (organization_id,),
        ).fetchone()
    if row is None:
        raise UnknownOrganization(f"organization {organization_id} does not exist")
    return row


def _users(
    conn: psycopg.Connection, organization_id: str, since: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The organization's users (None: all; else those written since the read whose
    `ReadSnapshot.params` these are)."""
    query = "select id, organization_id, role, is_active from users where organization_id = %(org)s"
    if since is not None:
        query += " and " + model.unseen_sql("xmin")
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query + " order by id", {"org": organization_id, **(since or {})})
        return [model.user_row(row) for row in rows]


def _user_ids(conn: psycopg.Connection, organization_id: str) -> set[str]:
    rows = conn.execute(
        "select id::text from users where organization_id = %s", (organization_id,)
    ).fetchall()
    return {row[0] for row in rows}


def _live_lead_ids(conn: psycopg.Connection, organization_id: str) -> set[str]:
    rows = conn.execute(
        "select id::text from leads where organization_id = %s and deleted_at is null",
        (organization_id,),
    ).fetchall()
    return {row[0] for row in rows}


def _live_lead_count(conn: psycopg.Connection, organization_id: str) -> int:
    query = "select count(*) from leads where organization_id = %s and deleted_at is null"
    return int(one_row(conn.execute(query, (organization_id,)))[0])


def _leads(
    conn: psycopg.Connection,
    organization_id: str,
    condition: str = "",
    params: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """(lead rows of live leads, ids of soft-deleted leads) of the organization, those meeting
    `condition` (SQL over `l`, with its `params`) if given."""
    query = _LEADS_SQL + (f" and {condition}" if condition else "") + " order by l.id"
    live, deleted = [], []
    with conn.cursor(row_factory=dict_row) as cur:
        for record in cur.execute(query, {"org": organization_id, **(params or {})}):
            if record["deleted_at"] is not None:
                deleted.append(str(record["id"]))
            else:
                live.append(model.lead_row(record))
    return live, deleted


# -- graph access -------------------------------------------------------------------------------


def _write(
    session: Session,
    work: Callable[[ManagedTransaction], int],
    policy: RetryPolicy,
) -> int:
    def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
        log.warning("graph write failed (%s), try %d, retrying in %.1fs", exc, attempt, delay)

    return retry(lambda: session.execute_write(work), policy, RETRIABLE, on_retry=on_retry)


def _read(session: Session, query: str, policy: RetryPolicy, **params: Any) -> list[dict]:
    def work(tx: ManagedTransaction) -> list[dict]:
        return [record.data() for record in tx.run(query, **params)]

    return retry(lambda: session.execute_read(work), policy, RETRIABLE)


def _count_statement(query: str) -> str:
    return query.rstrip() + "\nRETURN count(*) AS n"


def _run_count(tx: ManagedTransaction, query: str, **params: Any) -> int:
    record = tx.run(_count_statement(query), **params).single()
    return int(record["n"]) if record else 0


def ensure_graph_schema(driver: Driver, database: str) -> None:
    """Uniqueness constraints and indexes of the model, each `IF NOT EXISTS` (idempotent)."""
    with driver.session(database=database) as session:
        for statement in model.SCHEMA_STATEMENTS:
            retry(partial(_run_schema_statement, session, statement), DEFAULT_RETRY, RETRIABLE)


def _run_schema_statement(session: Session, statement: str) -> None:
    session.run(statement).consume()


# -- the sync -----------------------------------------------------------------------------------


def sync_graph(
    conn: psycopg.Connection,
    driver: Driver,
    database: str,
    organization_ids: list[str] | None = None,
    *,
    full: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    retry_policy: RetryPolicy = DEFAULT_RETRY,
    on_batch: BatchHook | None = None,
) -> list[OrgGraphSync]:
    """Sync the given organizations (None: every one) into the graph; see the module doc."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, not {batch_size}")
    ensure_graph_schema(driver, database)
    every = organization_ids is None
    orgs = organization_ids if organization_ids is not None else _all_orgs(conn)
    results = []
    with driver.session(database=database) as session:
        if every and full:
            _remove_missing_organizations(session, orgs, retry_policy)
        for org in orgs:
            results.append(
                _sync_organization(
                    conn, session, str(org), full, batch_size, retry_policy, on_batch
                )
            )
    return results


def _all_orgs(conn: psycopg.Connection) -> list[str]:
    orgs = organization_ids(conn)
    conn.commit()
    return orgs


def _remove_missing_organizations(
    session: Session, orgs: Sequence[str], policy: RetryPolicy
) -> None:
    """Full resync of everything: organizations deleted in PostgreSQL leave the graph."""
    stale = [
        row["id"]
        for row in _read(session, "MATCH (o:Organization) RETURN o.id AS id", policy)
        if row["id"] not in set(orgs)
    ]
    for org in stale:
        for label in ("Lead", "User", "Source"):
            query = f"MATCH (n:{label} {{organization_id: $org}}) DETACH DELETE n"
            _write(session, partial(_run_count, query=query, org=org), policy)
        delete = "MATCH (n:Organization {id: $org}) DETACH DELETE n"
        _write(session, partial(_run_count, query=delete, org=org), policy)
        log.info("organization %s no longer exists: removed from the graph", org)


def _sync_mode(
    previous: watermarks.Watermark | None, full: bool, reference: int
) -> tuple[str | None, model.ReadSnapshot | None]:
    """(why this run is a full sync, or None; the snapshot to sync the changes since)."""
    if full:
        return "requested", None
    if previous is None:
        return "first run", None
    since = model.ReadSnapshot.from_state(previous.state)
    if since is None:
        return "the watermark records no snapshot", None
    blocker = model.incremental_blocker(since, reference)
    return (blocker, None) if blocker else (None, since)


def _sync_organization(
    conn: psycopg.Connection,
    session: Session,
    org: str,
    full: bool,
    batch_size: int,
    policy: RetryPolicy,
    on_batch: BatchHook | None,
) -> OrgGraphSync:
    started = time.monotonic()
    name = model.watermark_name(org)
    read = _begin_read(conn)
    try:
        organization = _organization(conn, org)
        previous = watermarks.read(conn, name, lock=True)
        reason, since = _sync_mode(previous, full, read.stable)
        result = _sync_in_transaction(
            conn, session, org, organization, read, reason, since, batch_size, policy, on_batch
        )
        watermarks.write(
            conn,
            name,
            read.at,
            detail=result.mode,
            full=result.mode == "full",
            state=_seen(conn, org, read).as_state(),
        )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    result.watermark = read.at
    result.seconds = time.monotonic() - started
    log.info("crm_graph %s: %s", org, result.as_dict())
    return result


def _sync_in_transaction(
    conn: psycopg.Connection,
    session: Session,
    org: str,
    organization: dict[str, Any],
    read: _Read,
    reason: str | None,
    since: model.ReadSnapshot | None,
    batch_size: int,
    policy: RetryPolicy,
    on_batch: BatchHook | None,
) -> OrgGraphSync:
    """The reads and graph writes of one organization, inside its read transaction."""
    mode = "full" if since is None else "incremental"
    result = OrgGraphSync(organization_id=org, mode=mode, reason=reason)
    params = since.params(read.stable) if since is not None else None
    users = _users(conn, org, params)
    live_user_ids = _user_ids(conn, org)
    if params is None:
        leads, deleted = _leads(conn, org)
    else:
        leads, deleted = _leads(conn, org, _changed_leads(), params)
    result.leads_sent = len(leads) + len(deleted)

    def hook(phase: str) -> None:
        result.batches += 1
        if on_batch is not None:
            on_batch(org, phase, result.batches)

    org_row = model.organization_row(organization)
    org_missing = not _read(
        session, "MATCH (o:Organization {id: $org}) RETURN o.id AS id", policy, org=org
    )
    if since is None or org_missing or model.unseen(organization["xid"], read.reference, since):
        _write(session, lambda tx: _run_count(tx, model.MERGE_ORGANIZATION, row=org_row), policy)
        result.nodes_merged += 1
        hook("organization")

    for batch in chunked(users, batch_size):
        rows = list(batch)
        _write(session, partial(_run_count, query=model.MERGE_USERS, rows=rows), policy)
        result.nodes_merged += len(rows)
        result.edges_merged += len(rows)
        hook("users")
    graph_users = {row["id"] for row in _read(session, model.GRAPH_USER_IDS, policy, org=org)}
    stale_users = sorted(graph_users - live_user_ids)
    for batch in chunked(stale_users, batch_size):
        ids = list(batch)
        result.users_removed += _write(
            session, partial(_run_count, query=model.DELETE_USERS, ids=ids), policy
        )
        hook("users_removed")

    sources: set[str] = set()
    for batch in chunked(leads, batch_size):
        rows = list(batch)
        removed = _write(session, partial(_write_lead_batch, org=org, rows=rows), policy)
        result.edges_removed += removed
        new_sources = {r["source_key"] for r in rows if r["source_key"]} - sources
        sources |= new_sources
        result.nodes_merged += len(rows) + len(new_sources)
        result.edges_merged += sum(
            1 + bool(row["source_key"]) + bool(row["owner_id"]) + len(row["previous"])
            for row in rows
        )
        hook("leads")

    referrals = [row for row in leads if row["referred_by"]]
    for batch in chunked(referrals, batch_size):
        rows = [{"id": row["id"], "referred_by": row["referred_by"]} for row in batch]
        _write(session, partial(_run_count, query=model.MERGE_REFERRED_BY, rows=rows), policy)
        result.edges_merged += len(rows)
        hook("referrals")

    gone = set(deleted)
    if since is None:  # soft- and hard-deleted alike: whatever PostgreSQL has not live
        graph_leads = {row["id"] for row in _read(session, model.GRAPH_LEAD_IDS, policy, org=org)}
        gone = graph_leads - {row["id"] for row in leads}
    for removal in chunked(sorted(gone), batch_size):
        result.leads_removed += _write(
            session, partial(_run_count, query=model.DELETE_LEADS, ids=list(removal)), policy
        )
        hook("leads_removed")
    if since is not None:
        _remove_hard_deleted_leads(conn, session, org, result, batch_size, policy, hook)

    _write(session, lambda tx: _run_count(tx, model.DELETE_ORPHAN_SOURCES, org=org), policy)
    return result


def _remove_hard_deleted_leads(
    conn: psycopg.Connection,
    session: Session,
    org: str,
    result: OrgGraphSync,
    batch_size: int,
    policy: RetryPolicy,
    hook: Callable[[str], None],
) -> None:
    """Incremental runs: a lead deleted for good leaves no row to read. After this run's
    writes the graph holds every lead live at the read's snapshot; more Lead nodes than that
    means some were deleted: compare the ids and remove those."""
    graph_count = _read(session, model.RECONCILE_QUERIES["Lead"][0], policy, org=org)
    if int(graph_count[0]["n"]) <= _live_lead_count(conn, org):
        return
    graph_leads = {row["id"] for row in _read(session, model.GRAPH_LEAD_IDS, policy, org=org)}
    gone = graph_leads - _live_lead_ids(conn, org)
    for batch in chunked(sorted(gone), batch_size):
        ids = list(batch)
        result.leads_removed += _write(
            session, partial(_run_count, query=model.DELETE_LEADS, ids=ids), policy
        )
        hook("leads_removed")


def _write_lead_batch(tx: ManagedTransaction, org: str, rows: list[dict[str, Any]]) -> int:
    """One batch of leads in one transaction; returns the number of stale edges deleted."""
    removed = 0
    for query, params in model.lead_batch_params(rows):
        if query is model.DELETE_STALE_LEAD_EDGES:
            removed += _run_count(tx, query, org=org, rows=params)
        else:
            tx.run(query, org=org, rows=params).consume()
    return removed


# -- reconciliation -----------------------------------------------------------------------------


def reconcile_graph(
    conn: psycopg.Connection,
    driver: Driver,
    database: str,
    organization_id: str,
    *,
    full_requested: str | None = None,
    every: timedelta | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> GraphReconciliation:
    """Compare one organization's graph with PostgreSQL (see `GraphReconciliation`).

    The full pass runs when `full_requested` (its reason, e.g. 'requested (--full)'), on the
    first run, and when the last one is `every` (LEADFLOW_NIGHTLY_FULL_EVERY_DAYS) or more old;
    otherwise the nightly one. The position ('crm_graph_reconcile:<org>': the sync snapshot
    the graph was compared against) advances only when the organization passes, so a
    difference is reported again until it is repaired (`leadflow graph sync --full`).
    """
    started = time.monotonic()
    org = str(organization_id)
    name = model.reconcile_watermark_name(org)
    read = _begin_read(conn)
    try:
        _organization(conn, org)
        previous = watermarks.read(conn, name, lock=True)
        synced = watermarks.read(conn, model.watermark_name(org))
        synced_at = model.ReadSnapshot.from_state(synced.state) if synced else None
        reason, since = _reconcile_mode(previous, synced_at, full_requested, every, read)
        with driver.session(database=database) as session:
            if since is None or synced_at is None:
                result = _full_comparison(conn, session, org, read, synced_at, batch_size)
            else:
                result = _nightly_comparison(conn, session, org, read, since, synced_at, batch_size)
        result.reason = reason
        if result.ok and synced is not None and synced_at is not None:
            watermarks.write(
                conn,
                name,
                synced.position,
                detail=result.mode,
                full=result.mode == "full",
                state=synced_at.as_state(),
            )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    result.seconds = time.monotonic() - started
    log.info("graph reconciliation %s: %s", org, result.as_dict())
    return result


def _reconcile_mode(
    previous: watermarks.Watermark | None,
    synced_at: model.ReadSnapshot | None,
    full_requested: str | None,
    every: timedelta | None,
    read: _Read,
) -> tuple[str | None, model.ReadSnapshot | None]:
    """(why this pass is full, or None; the snapshot of the last passing comparison)."""
    if full_requested:
        return full_requested, None
    every = every if every is not None else watermarks.full_every()
    reason = watermarks.full_due(previous, read.at, every)
    if reason:
        return reason, None
    since = model.ReadSnapshot.from_state(previous.state if previous else None)
    if since is None:
        return "the watermark records no snapshot", None
    if synced_at is None:
        return "the graph was never synced", None
    blocker = model.incremental_blocker(since, read.stable)
    return (blocker, None) if blocker else (None, since)


def _graph_counts(session: Session, org: str) -> dict[str, int]:
    """RECONCILE_QUERIES' counts: the nodes and MEMBER_OF one query each (indexed), the lead
    edges in one pass (`model.edge_counts`)."""
    actual: dict[str, int] = {}
    for key, (count_query, _) in model.RECONCILE_QUERIES.items():
        if key in model.LEAD_EDGE_TARGETS:
            continue
        rows = _read(session, count_query, DEFAULT_RETRY, org=org)
        actual[key] = int(rows[0]["n"]) if rows else 0
    edges = _read(session, model.GRAPH_LEAD_EDGE_COUNTS, DEFAULT_RETRY, org=org)
    actual.update(model.edge_counts(edges))
    return {key: actual[key] for key in model.RECONCILE_QUERIES}


def _samples(
    session: Session, org: str, keys: dict[str, set[str]], diffs: dict[str, tuple[int, int]]
) -> dict[str, list[str]]:
    """Up to SAMPLE_SIZE one-sided identities of every key whose counts differ."""
    samples = {}
    for key in diffs:
        identity_query = model.RECONCILE_QUERIES[key][1]
        graph_keys = {row["k"] for row in _read(session, identity_query, DEFAULT_RETRY, org=org)}
        samples[key] = model.one_sided_sample(keys[key], graph_keys)
    return samples


def _pending_ids(
    conn: psycopg.Connection, org: str, read: _Read, synced_at: model.ReadSnapshot | None
) -> set[str]:
    """Leads changed after the sync's read: the graph cannot hold them yet."""
    if synced_at is None:
        return set()
    query = (
        "select l.id::text from leads l where l.organization_id = %(org)s and "
        + _changed_leads("s_")
    )
    params = {"org": org, **synced_at.params(read.stable, "s_")}
    return {row[0] for row in conn.execute(query, params)}


def _full_comparison(
    conn: psycopg.Connection,
    session: Session,
    org: str,
    read: _Read,
    synced_at: model.ReadSnapshot | None,
    batch_size: int,
) -> GraphReconciliation:
    """Counts and identities of every label and edge type, and every live lead's content."""
    users = _users(conn, org, None)
    leads, _ = _leads(conn, org)
    keys = model.expected_keys(org, users, leads)
    expected = {key: len(ids) for key, ids in keys.items()}
    actual = _graph_counts(session, org)
    diffs = model.differences(expected, actual)
    pending = _pending_ids(conn, org, read, synced_at)
    compared = [row for row in leads if row["id"] not in pending]
    differing = _compare_content(session, compared, [], batch_size)
    return GraphReconciliation(
        organization_id=org,
        expected=expected,
        actual=actual,
        differences=diffs,
        samples=_samples(session, org, keys, diffs),
        ok=not diffs and not differing,
        mode="full",
        rows_compared=len(compared),
        rows_differing=len(differing),
        row_samples=model.content_sample(differing),
        pending=len(pending),
    )


def _nightly_comparison(
    conn: psycopg.Connection,
    session: Session,
    org: str,
    read: _Read,
    since: model.ReadSnapshot,
    synced_at: model.ReadSnapshot,
    batch_size: int,
) -> GraphReconciliation:
    """Counts, then the content of the leads changed since the last passing comparison (up to
    the sync's read): live ones as PostgreSQL has them, soft-deleted ones absent."""
    with conn.cursor(row_factory=dict_row) as cur:
        expected = {
            key: int(value)
            for key, value in one_row(cur.execute(_COUNTS_SQL, {"org": org})).items()
        }
    actual = _graph_counts(session, org)
    diffs = model.differences(expected, actual)
    samples: dict[str, list[str]] = {}
    if diffs:  # the identities, to say which: read like the full pass, only now
        keys = model.expected_keys(org, _users(conn, org, None), _leads(conn, org)[0])
        samples = _samples(session, org, keys, diffs)
    # one semi-join: `and not l.id in (…)` would again be a subplan scanned per lead
    condition = f"l.id in (({_changed_lead_ids('r_')}) except ({_changed_lead_ids('s_')}))"
    params = {**since.params(read.stable, "r_"), **synced_at.params(read.stable, "s_")}
    changed, deleted = _leads(conn, org, condition, params)
    differing = _compare_content(session, changed, deleted, batch_size)
    return GraphReconciliation(
        organization_id=org,
        expected=expected,
        actual=actual,
        differences=diffs,
        samples=samples,
        ok=not diffs and not differing,
        mode="nightly",
        rows_compared=len(changed) + len(deleted),
        rows_differing=len(differing),
        row_samples=model.content_sample(differing),
        pending=len(_pending_ids(conn, org, read, synced_at)),
    )


def _compare_content(
    session: Session, live: list[dict[str, Any]], absent: list[str], batch_size: int
) -> dict[str, list[str]]:
    """{lead id: differing fields} of live leads (`lead_row`s) against their graph nodes, and
    of leads that must not be in the graph."""
    expected = {row["id"]: model.lead_content(row) for row in live}
    differing: dict[str, list[str]] = {}
    for batch in chunked(sorted(expected) + sorted(absent), batch_size):
        ids = list(batch)
        found = {
            row["id"]: model.graph_lead_content(row["p"], row["edges"])
            for row in _read(session, model.GRAPH_LEAD_CONTENT, DEFAULT_RETRY, ids=ids)
        }
        differing.update(
            model.compare_contents(
                {k: expected[k] for k in ids if k in expected},
                [k for k in ids if k not in expected],
                found,
            )
        )
    return differing


# -- queries ------------------------------------------------------------------------------------


def referral_chain(
    driver: Driver, database: str, lead_id: str, max_depth: int = 10
) -> list[dict[str, Any]]:
    """The lead (depth 0), who referred it (1), who referred that one (2) … ([] if unknown)."""
    with driver.session(database=database) as session:
        rows = _read(
            session, model.referral_chain_query(max_depth), DEFAULT_RETRY, lead_id=str(lead_id)
        )
    for row in rows:
        row["created_at"] = model.utc(_native(row.get("created_at")))
    return rows


def top_referrers(
    driver: Driver, database: str, organization_id: str, limit: int = 10
) -> list[dict[str, Any]]:
    """Leads of the organization that referred the most leads (direct referrals)."""
    with driver.session(database=database) as session:
        return _read(
            session, model.TOP_REFERRERS, DEFAULT_RETRY, org=str(organization_id), limit=int(limit)
        )


def agent_reach(driver: Driver, database: str, user_id: str, max_depth: int = 3) -> dict:
    """An agent's current leads and the leads they referred, transitively up to `max_depth`.

    `found` is False when the user is not in the graph.
    """
    with driver.session(database=database) as session:
        agent = _read(session, model.AGENT, DEFAULT_RETRY, user_id=str(user_id))
        leads = _read(session, model.AGENT_LEADS, DEFAULT_RETRY, user_id=str(user_id))
        reached = _read(
            session, model.agent_reach_query(max_depth), DEFAULT_RETRY, user_id=str(user_id)
        )
    summary = model.reach_summary(str(user_id), leads, reached)
    summary["found"] = bool(agent)
    summary["role"] = agent[0]["role"] if agent else None
    summary["organization_id"] = agent[0]["org"] if agent else None
    summary["max_depth"] = max_depth
    return summary


def _native(value: Any) -> Any:
    to_native = getattr(value, "to_native", None)
    return to_native() if to_native else value
