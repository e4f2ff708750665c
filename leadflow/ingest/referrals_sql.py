"""Resolve referral handles (leads.referred_by_ref) to the referring lead (referred_by_lead_id).

A handle (E.164 phone or lower-case e-mail, see referrals.py) resolves to the live lead of
the SAME organization with that phone (at most one: one live lead per phone), else the oldest
live lead with that e-mail (ties by id); never to the lead itself. A handle that matches nobody
stays pending (referred_by_lead_id null) until the referrer arrives: the importer resolves the
referrals its file makes possible, and the graph sync calls `resolve_pending_referrals` first.
The organization is part of every join, so a link never crosses tenants even where the
same-organization trigger does not run. Every link written gets a `lead_audit_log` row.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import psycopg
from psycopg import sql

from leadflow.postgres import one_row

#: change_source of the audit rows written outside an import
RESOLVER_SOURCE = "referral_resolution"

# Steps over analyzed temp tables, so each is planned with real row counts: the candidates
# (`{candidates}` yields id, organization_id, handle, old_referrer), their matches, and the
# links made. Phone handles are probes of the unique (phone_number, organization_id) index of
# live leads. There is no e-mail index, so e-mail handles cost one hash join over the leads
# table: that step only runs when some candidate has an e-mail handle.
_CANDIDATES_SQL = """
create temp table referral_candidates on commit drop as
select c.*, strpos(c.handle, '@') > 0 as by_email from ({candidates}) as c
"""

_PHONE_MATCHES_SQL = """
create temp table referral_matches on commit drop as
select c.id, r.id as referrer_id
from referral_candidates c
join leads r on r.phone_number = c.handle and r.organization_id = c.organization_id
where not c.by_email and r.deleted_at is null and r.id <> c.id
"""

_EMAIL_MATCHES_SQL = """
insert into referral_matches (id, referrer_id)
select distinct on (c.id) c.id, r.id
from referral_candidates c
join leads r on lower(r.email) = c.handle and r.organization_id = c.organization_id
where c.by_email and r.deleted_at is null and r.id <> c.id
order by c.id, r.created_at, r.id
"""

# The referrers are locked as the foreign key's check would (for key share), set-based, so the
# update stays correct where the bulk path skips per-row triggers (and sets updated_at itself).
_LOCK_REFERRERS_SQL = """
select count(*) from (
    select id from leads
    where id in (select referrer_id from referral_matches)
    order by id
    for key share
) as locked
"""

_LINK_SQL = """
create temp table referral_links on commit drop as
with linked as (
    update leads l set referred_by_lead_id = m.referrer_id, updated_at = now()
    from referral_matches m
    join referral_candidates c on c.id = m.id
    where l.id = m.id and l.referred_by_lead_id is distinct from m.referrer_id
    returning l.id as lead_id, c.old_referrer, m.referrer_id
)
select lead_id, old_referrer, referrer_id from linked
"""

_TEMP_TABLES = ("referral_candidates", "referral_matches", "referral_links")

_AUDIT_SQL = """
insert into lead_audit_log (lead_id, field_name, old_value, new_value, change_source,
                            import_batch_id)
select lead_id, 'referred_by_lead_id', old_referrer::text, referrer_id::text, %(source)s,
       %(batch)s
from referral_links
"""

_PENDING = """
select id, organization_id, referred_by_ref as handle, referred_by_lead_id as old_referrer
from leads
where referred_by_ref is not null and referred_by_lead_id is null and deleted_at is null
"""


def link_referrers(
    conn: psycopg.Connection,
    candidates: sql.Composable,
    params: dict[str, Any] | None = None,
    *,
    change_source: str,
    batch_id: str | None = None,
    bulk_path: Callable[[int], AbstractContextManager[Any]] | None = None,
) -> int:
    """Resolve the candidates' handles and link them; returns the number of leads linked.

    `candidates` is a query yielding (id, organization_id, handle, old_referrer); a candidate
    is only updated when its resolved referrer differs from the current one, and a handle
    that matches nobody leaves the lead as it is. `bulk_path(rows)` wraps the update and the
    audit insert (the loader passes its bulk path, which skips per-row triggers for big
    files: the joins keep the same-organization rule, the lock keeps the foreign key's). Runs
    in its own transaction, or a savepoint of the caller's.
    """
    with conn.transaction():
        _drop_temp_tables(conn)
        conn.execute(sql.SQL(_CANDIDATES_SQL).format(candidates=candidates), params or {})
        conn.execute("analyze referral_candidates")
        conn.execute(_PHONE_MATCHES_SQL)
        (emails,) = one_row(
            conn.execute("select exists (select 1 from referral_candidates where by_email)")
        )
        if emails:
            conn.execute(_EMAIL_MATCHES_SQL)
        conn.execute("analyze referral_matches")
        (matches,) = one_row(conn.execute("select count(*) from referral_matches"))
        linked = 0
        if matches:
            conn.execute(_LOCK_REFERRERS_SQL)
            with (bulk_path or _no_bulk)(matches):
                conn.execute(_LINK_SQL)
                (linked,) = one_row(conn.execute("select count(*) from referral_links"))
                conn.execute(_AUDIT_SQL, {"source": change_source, "batch": batch_id})
        _drop_temp_tables(conn)
    return linked


def _drop_temp_tables(conn: psycopg.Connection) -> None:
    conn.execute("drop table if exists " + ", ".join(f"pg_temp.{t}" for t in _TEMP_TABLES))


def _no_bulk(_rows: int) -> AbstractContextManager[None]:
    return nullcontext()


def resolve_pending_referrals(conn: psycopg.Connection, organization_id: str | None = None) -> int:
    """Link every live lead whose referral is still pending (its referrer was imported later,
    or came back); all organizations, or one. Returns the number of leads linked.

    Cheap when nothing is pending: the pending leads come from the partial index
    idx_leads_unresolved_referral.
    """
    if organization_id is None:
        return link_referrers(conn, sql.SQL(_PENDING), change_source=RESOLVER_SOURCE)
    candidates = sql.SQL(_PENDING + " and organization_id = %(org)s::uuid")
    return link_referrers(conn, candidates, {"org": organization_id}, change_source=RESOLVER_SOURCE)


def referral_stats(conn: psycopg.Connection, organization_id: str | None) -> dict[str, int]:
    """Live leads of an organization (None: all) with a referrer, and with a referral still
    pending: {"resolved": n, "unresolved": m}."""
    cursor = conn.execute(
        """
        select
            (select count(*) from leads
             where referred_by_lead_id is not null and deleted_at is null
               and (%(org)s::uuid is null or organization_id = %(org)s::uuid)),
            (select count(*) from leads
             where referred_by_ref is not null and referred_by_lead_id is null
               and deleted_at is null
               and (%(org)s::uuid is null or organization_id = %(org)s::uuid))
        """,
        {"org": organization_id},
    )
    resolved, unresolved = one_row(cursor)
    return {"resolved": resolved, "unresolved": unresolved}
