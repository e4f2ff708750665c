"""The CRM graph sync: PostgreSQL (organizations, users, leads, assignments, referrals) → Bolt.

Per organization, in this order (PostgreSQL is only read, but for the watermark; pending
referrals are resolved before, by the ingest step `lead_referrals`):

    read       the changed rows: everything in full mode (or on the first run), else users and
               leads with updated_at >= watermark - lookback, plus leads with a new
               lead_assignments row or whose referrer changed
    write      Organization, Users (+MEMBER_OF), Lead batches (properties, BELONGS_TO,
               FROM_SOURCE, ASSIGNED_TO, PREVIOUSLY_ASSIGNED_TO; stale edges of the batch's
               leads dropped), one managed transaction per batch retried with backoff on
               transient errors; then REFERRED_BY (the referrer may be in a later batch);
               soft-deleted leads and users missing in PostgreSQL DETACH DELETEd; full mode also
               removes leads missing in PostgreSQL; Source nodes left without leads removed
    watermark  stored in sync_watermarks ('crm_graph:<org>') and committed only after every
               graph write succeeded: a run that dies midway leaves a graph that the next run
               (from the old watermark) completes, since every statement is an idempotent MERGE
               or a delete of what must not be there

The PostgreSQL connection is committed once per organization (with the watermark).
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
from psycopg.rows import dict_row

from leadflow.graph import model
from leadflow.graph.model import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LOOKBACK,
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

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["watermark"] = self.watermark.isoformat() if self.watermark else None
        data["seconds"] = round(self.seconds, 3)
        return data


@dataclass
class GraphReconciliation:
    organization_id: str
    expected: dict[str, int]
    actual: dict[str, int]
    differences: dict[str, tuple[int, int]] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)
    ok: bool = True

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["differences"] = {key: list(pair) for key, pair in self.differences.items()}
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

_CHANGED_LEADS = """
  and (l.updated_at >= %(since)s
       or exists (select 1 from lead_assignments a
                  where a.lead_id = l.id and a.assigned_at >= %(since)s)
       or l.referred_by_lead_id in (select r.id from leads r
                                    where r.organization_id = %(org)s
                                      and r.updated_at >= %(since)s))
"""


def _organization(conn: psycopg.Connection, organization_id: str) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "select id, name, slug, updated_at from organizations where id = %s::uuid",
            (organization_id,),
        ).fetchone()
    if row is None:
        raise UnknownOrganization(f"organization {organization_id} does not exist")
    return row


def _users(
    conn: psycopg.Connection, organization_id: str, since: datetime | None
) -> list[dict[str, Any]]:
    query = "select id, organization_id, role, is_active from users where organization_id = %s"
    params: tuple = (organization_id,)
    if since is not None:
        query += " and updated_at >= %s"
        params += (since,)
    with conn.cursor(row_factory=dict_row) as cur:
        return [model.user_row(row) for row in cur.execute(query + " order by id", params)]


def _user_ids(conn: psycopg.Connection, organization_id: str) -> set[str]:
    rows = conn.execute(
        "select id::text from users where organization_id = %s", (organization_id,)
    ).fetchall()
    return {row[0] for row in rows}


def _leads(
    conn: psycopg.Connection, organization_id: str, since: datetime | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """(lead rows of live leads, ids of soft-deleted leads) changed since `since` (None: all)."""
    query = _LEADS_SQL + (_CHANGED_LEADS if since is not None else "") + " order by l.id"
    live, deleted = [], []
    with conn.cursor(row_factory=dict_row) as cur:
        for record in cur.execute(query, {"org": organization_id, "since": since}):
            if record["deleted_at"] is not None:
                deleted.append(str(record["id"]))
            else:
                live.append(model.lead_row(record))
    return live, deleted


def _read_watermark(conn: psycopg.Connection, name: str) -> datetime | None:
    row = conn.execute(
        "select last_occurred_at from sync_watermarks where name = %s", (name,)
    ).fetchone()
    return row[0] if row else None


def _write_watermark(conn: psycopg.Connection, name: str, value: datetime, mode: str) -> None:
    conn.execute(
        """
        insert into sync_watermarks (name, last_occurred_at, last_source_id, updated_at)
        values (%s, %s, %s, now())
        on conflict (name) do update
        set last_occurred_at = excluded.last_occurred_at,
            last_source_id = excluded.last_source_id,
            updated_at = now()
        """,
        (name, value, mode),
    )


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
    lookback: timedelta = DEFAULT_LOOKBACK,
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
                    conn, session, str(org), full, batch_size, lookback, retry_policy, on_batch
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


def _sync_organization(
    conn: psycopg.Connection,
    session: Session,
    org: str,
    full: bool,
    batch_size: int,
    lookback: timedelta,
    policy: RetryPolicy,
    on_batch: BatchHook | None,
) -> OrgGraphSync:
    started = time.monotonic()
    name = model.watermark_name(org)
    organization = _organization(conn, org)
    watermark = _read_watermark(conn, name)
    mode = "full" if full or watermark is None else "incremental"
    since = None if full or watermark is None else watermark - lookback
    result = OrgGraphSync(organization_id=org, mode=mode)
    high = one_row(conn.execute("select now()"))[0]
    users = _users(conn, org, since)
    live_user_ids = _user_ids(conn, org)
    leads, deleted = _leads(conn, org, since)

    def hook(phase: str) -> None:
        result.batches += 1
        if on_batch is not None:
            on_batch(org, phase, result.batches)

    org_row = model.organization_row(organization)
    org_missing = not _read(
        session, "MATCH (o:Organization {id: $org}) RETURN o.id AS id", policy, org=org
    )
    if mode == "full" or org_missing or organization["updated_at"] >= since:
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

    if mode == "full":  # soft- and hard-deleted alike: whatever PostgreSQL has not live
        graph_leads = {row["id"] for row in _read(session, model.GRAPH_LEAD_IDS, policy, org=org)}
        gone = graph_leads - {row["id"] for row in leads}
    else:
        gone = set(deleted)
    for batch in chunked(sorted(gone), batch_size):
        ids = list(batch)
        result.leads_removed += _write(
            session, partial(_run_count, query=model.DELETE_LEADS, ids=ids), policy
        )
        hook("leads_removed")

    _write(session, lambda tx: _run_count(tx, model.DELETE_ORPHAN_SOURCES, org=org), policy)

    _write_watermark(conn, name, high, mode)
    conn.commit()
    result.watermark = high
    result.seconds = time.monotonic() - started
    log.info("crm_graph %s: %s", org, result.as_dict())
    return result


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
    conn: psycopg.Connection, driver: Driver, database: str, organization_id: str
) -> GraphReconciliation:
    """Node and edge counts of one organization in the graph against PostgreSQL.

    Expected identities come from the same reads the sync does (live leads, members, live
    referrers); the graph side is counted, and listed only for the keys whose counts differ.
    """
    org = str(organization_id)
    _organization(conn, org)
    users = _users(conn, org, None)
    leads, _ = _leads(conn, org, None)
    conn.rollback()
    keys = model.expected_keys(org, users, leads)
    expected = {name: len(ids) for name, ids in keys.items()}
    actual: dict[str, int] = {}
    with driver.session(database=database) as session:
        for name, (count_query, _) in model.RECONCILE_QUERIES.items():
            rows = _read(session, count_query, DEFAULT_RETRY, org=org)
            actual[name] = int(rows[0]["n"]) if rows else 0
        diffs = model.differences(expected, actual)
        samples = {}
        for name in diffs:
            key_query = model.RECONCILE_QUERIES[name][1]
            graph_keys = {row["k"] for row in _read(session, key_query, DEFAULT_RETRY, org=org)}
            samples[name] = model.one_sided_sample(keys[name], graph_keys)
    return GraphReconciliation(
        organization_id=org,
        expected=expected,
        actual=actual,
        differences=diffs,
        samples=samples,
        ok=not diffs,
    )


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
