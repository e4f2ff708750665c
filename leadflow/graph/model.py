"""The CRM graph model: Cypher statements, row shaping, chunking and the retry policy (no I/O).

Model (see README, "Graph"):

    (:User)-[:MEMBER_OF]->(:Organization)<-[:BELONGS_TO]-(:Lead)-[:FROM_SOURCE]->(:Source)
    (:Lead)-[:ASSIGNED_TO {since, strategy}]->(:User)        the current owner (leads.user_id)
    (:Lead)-[:PREVIOUSLY_ASSIGNED_TO {from, to}]->(:User)    one edge per earlier owner
    (:Lead)-[:REFERRED_BY]->(:Lead)                          leads.referred_by_lead_id

Every statement is plain Neo4j 5 Cypher that the local ArcadeDB Bolt server also runs: no APOC,
no CALL {} IN TRANSACTIONS, variable-length bounds written into the text (they cannot be
parameters). Datetimes are sent as timezone-aware UTC datetimes; ArcadeDB stores them in UTC
and returns them without a zone, so readers treat a naive value as UTC.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from leadflow import settings

T = TypeVar("T")

DEFAULT_BATCH_SIZE: int = settings.Settings.graph_batch_size.fixed_default
#: rows are stamped with their transaction's start time, so a transaction that commits after a
#: sync read its snapshot carries an updated_at before the new watermark: re-read this much
DEFAULT_LOOKBACK = timedelta(minutes=5)
WATERMARK_PREFIX = "crm_graph:"

NODE_LABELS = ("Organization", "User", "Lead", "Source")
EDGE_TYPES = (
    "MEMBER_OF",
    "BELONGS_TO",
    "ASSIGNED_TO",
    "PREVIOUSLY_ASSIGNED_TO",
    "FROM_SOURCE",
    "REFERRED_BY",
)
SAMPLE_SIZE = 5

SCHEMA_STATEMENTS = (
    "CREATE CONSTRAINT organization_id IF NOT EXISTS FOR (n:Organization) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT user_id IF NOT EXISTS FOR (n:User) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT lead_id IF NOT EXISTS FOR (n:Lead) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT source_key IF NOT EXISTS FOR (n:Source) REQUIRE n.key IS UNIQUE",
    "CREATE INDEX lead_organization_id IF NOT EXISTS FOR (n:Lead) ON (n.organization_id)",
    "CREATE INDEX lead_status IF NOT EXISTS FOR (n:Lead) ON (n.status)",
    "CREATE INDEX user_organization_id IF NOT EXISTS FOR (n:User) ON (n.organization_id)",
    "CREATE INDEX source_organization_id IF NOT EXISTS FOR (n:Source) ON (n.organization_id)",
)

# -- writes -------------------------------------------------------------------------------------

MERGE_ORGANIZATION = """
MERGE (o:Organization {id: $row.id})
SET o.name = $row.name, o.slug = $row.slug
"""

MERGE_USERS = """
UNWIND $rows AS r
MATCH (o:Organization {id: r.organization_id})
MERGE (u:User {id: r.id})
SET u.organization_id = r.organization_id, u.role = r.role, u.is_active = r.is_active
MERGE (u)-[:MEMBER_OF]->(o)
"""

#: User nodes of the organization (to find the ones deleted in PostgreSQL)
GRAPH_USER_IDS = "MATCH (u:User {organization_id: $org}) RETURN u.id AS id"
GRAPH_LEAD_IDS = "MATCH (l:Lead {organization_id: $org}) RETURN l.id AS id"

DELETE_USERS = "UNWIND $ids AS id MATCH (u:User {id: id}) DETACH DELETE u"
DELETE_LEADS = "UNWIND $ids AS id MATCH (l:Lead {id: id}) DETACH DELETE l"

#: Lead batch statements. Each receives only the keys it reads (`lead_batch_params` projects
#: the `lead_row`s): the organization once as `$org` (every lead of a batch is of it), each
#: datetime once, in the statement that sets it (the driver packs datetimes slowly).
#: One statement per batch drops the edges of the batch's leads that no longer hold (it runs
#: first: leads not yet in the graph cost nothing); idempotent like the MERGEs that follow.
DELETE_STALE_LEAD_EDGES = """
UNWIND $rows AS r
MATCH (:Lead {id: r.id})-[e]->(x)
WHERE (type(e) = 'FROM_SOURCE' AND x:Source
       AND (r.source_key IS NULL OR x.key <> r.source_key))
   OR (type(e) = 'ASSIGNED_TO' AND x:User AND (r.owner_id IS NULL OR x.id <> r.owner_id))
   OR (type(e) = 'PREVIOUSLY_ASSIGNED_TO' AND x:User AND NOT x.id IN r.previous_ids)
   OR (type(e) = 'REFERRED_BY' AND x:Lead
       AND (r.referred_by IS NULL OR x.id <> r.referred_by))
   OR (type(e) = 'BELONGS_TO' AND x:Organization AND x.id <> $org)
DELETE e
"""

MERGE_LEADS = """
MATCH (o:Organization {id: $org})
UNWIND $rows AS r
MERGE (l:Lead {id: r.id})
SET l.organization_id = $org, l.status = r.status, l.score = r.score,
    l.tags = r.tags, l.source = r.source, l.created_at = r.created_at,
    l.updated_at = r.updated_at
MERGE (l)-[:BELONGS_TO]->(o)
"""

#: rows: leads with a source only
MERGE_SOURCES = """
UNWIND $rows AS r
MATCH (l:Lead {id: r.id})
MERGE (s:Source {key: r.source_key})
SET s.organization_id = $org, s.name = r.source
MERGE (l)-[:FROM_SOURCE]->(s)
"""

#: rows: leads with an owner only
MERGE_ASSIGNED_TO = """
UNWIND $rows AS r
MATCH (l:Lead {id: r.id})
MATCH (u:User {id: r.owner_id})
MERGE (l)-[e:ASSIGNED_TO]->(u)
SET e.since = r.since, e.strategy = r.strategy
"""

#: rows: one per (lead, earlier owner)
MERGE_PREVIOUSLY_ASSIGNED_TO = """
UNWIND $rows AS r
MATCH (l:Lead {id: r.id})
MATCH (u:User {id: r.user_id})
MERGE (l)-[e:PREVIOUSLY_ASSIGNED_TO]->(u)
SET e.from = r.from, e.to = r.to
"""

#: second pass, after every lead of the run exists: the referrer may be in a later batch
MERGE_REFERRED_BY = """
UNWIND $rows AS r
MATCH (l:Lead {id: r.id})
MATCH (x:Lead {id: r.referred_by})
MERGE (l)-[:REFERRED_BY]->(x)
"""

DELETE_ORPHAN_SOURCES = """
MATCH (s:Source {organization_id: $org})
WHERE NOT (s)<-[:FROM_SOURCE]-(:Lead)
DETACH DELETE s
"""

# -- reconciliation -----------------------------------------------------------------------------

#: per key: (count query, identity query); `$org` is the organization id
RECONCILE_QUERIES: dict[str, tuple[str, str]] = {
    "Organization": (
        "MATCH (o:Organization {id: $org}) RETURN count(o) AS n",
        "MATCH (o:Organization {id: $org}) RETURN o.id AS k",
    ),
    "User": (
        "MATCH (u:User {organization_id: $org}) RETURN count(u) AS n",
        "MATCH (u:User {organization_id: $org}) RETURN u.id AS k",
    ),
    "Lead": (
        "MATCH (l:Lead {organization_id: $org}) RETURN count(l) AS n",
        "MATCH (l:Lead {organization_id: $org}) RETURN l.id AS k",
    ),
    "Source": (
        "MATCH (s:Source {organization_id: $org}) RETURN count(s) AS n",
        "MATCH (s:Source {organization_id: $org}) RETURN s.key AS k",
    ),
    "MEMBER_OF": (
        "MATCH (u:User {organization_id: $org})-[e:MEMBER_OF]->(:Organization {id: $org}) "
        "RETURN count(e) AS n",
        "MATCH (u:User {organization_id: $org})-[e:MEMBER_OF]->(:Organization {id: $org}) "
        "RETURN u.id AS k",
    ),
    "BELONGS_TO": (
        "MATCH (l:Lead {organization_id: $org})-[e:BELONGS_TO]->(:Organization {id: $org}) "
        "RETURN count(e) AS n",
        "MATCH (l:Lead {organization_id: $org})-[e:BELONGS_TO]->(:Organization {id: $org}) "
        "RETURN l.id AS k",
    ),
    "ASSIGNED_TO": (
        "MATCH (l:Lead {organization_id: $org})-[e:ASSIGNED_TO]->(u:User) RETURN count(e) AS n",
        "MATCH (l:Lead {organization_id: $org})-[e:ASSIGNED_TO]->(u:User) "
        "RETURN l.id + '->' + u.id AS k",
    ),
    "PREVIOUSLY_ASSIGNED_TO": (
        "MATCH (l:Lead {organization_id: $org})-[e:PREVIOUSLY_ASSIGNED_TO]->(u:User) "
        "RETURN count(e) AS n",
        "MATCH (l:Lead {organization_id: $org})-[e:PREVIOUSLY_ASSIGNED_TO]->(u:User) "
        "RETURN l.id + '->' + u.id AS k",
    ),
    "FROM_SOURCE": (
        "MATCH (l:Lead {organization_id: $org})-[e:FROM_SOURCE]->(s:Source) RETURN count(e) AS n",
        "MATCH (l:Lead {organization_id: $org})-[e:FROM_SOURCE]->(s:Source) "
        "RETURN l.id + '->' + s.key AS k",
    ),
    "REFERRED_BY": (
        "MATCH (l:Lead {organization_id: $org})-[e:REFERRED_BY]->(x:Lead) RETURN count(e) AS n",
        "MATCH (l:Lead {organization_id: $org})-[e:REFERRED_BY]->(x:Lead) "
        "RETURN l.id + '->' + x.id AS k",
    ),
}

# -- queries users run (README shows them with literal values) -----------------------------------


def referral_chain_query(max_depth: int) -> str:
    """The lead, its referrer, the referrer's referrer … up to `max_depth` hops."""
    depth = _depth(max_depth)
    return f"""
MATCH p = (start:Lead {{id: $lead_id}})-[:REFERRED_BY*0..{depth}]->(r:Lead)
OPTIONAL MATCH (r)-[:ASSIGNED_TO]->(owner:User)
RETURN r.id AS id, length(p) AS depth, r.status AS status, r.score AS score,
       r.source AS source, r.created_at AS created_at, owner.id AS owner_id,
       r.organization_id AS organization_id
ORDER BY depth
"""


TOP_REFERRERS = """
MATCH (r:Lead {organization_id: $org})<-[:REFERRED_BY]-(x:Lead)
WITH r, count(x) AS referrals
OPTIONAL MATCH (r)-[:ASSIGNED_TO]->(owner:User)
RETURN r.id AS id, referrals, r.status AS status, r.score AS score, r.source AS source,
       owner.id AS owner_id
ORDER BY referrals DESC, id
LIMIT $limit
"""

AGENT = "MATCH (u:User {id: $user_id}) RETURN u.id AS id, u.role AS role, u.organization_id AS org"

AGENT_LEADS = """
MATCH (:User {id: $user_id})<-[:ASSIGNED_TO]-(l:Lead)
RETURN l.id AS id, l.status AS status, l.score AS score
ORDER BY l.score DESC, id
"""


def agent_reach_query(max_depth: int) -> str:
    """Leads referred (transitively) by the agent's leads, with their shortest distance."""
    depth = _depth(max_depth, minimum=1)
    return f"""
MATCH (:User {{id: $user_id}})<-[:ASSIGNED_TO]-(l:Lead)
MATCH p = (l)<-[:REFERRED_BY*1..{depth}]-(x:Lead)
RETURN x.id AS id, min(length(p)) AS depth
"""


def _depth(value: int, minimum: int = 0) -> int:
    depth = int(value)
    if depth < minimum or depth > 100:
        raise ValueError(f"depth must be between {minimum} and 100, not {value}")
    return depth


# -- row shaping --------------------------------------------------------------------------------


def watermark_name(organization_id: str) -> str:
    return f"{WATERMARK_PREFIX}{organization_id}"


def source_key(organization_id: str, source: str | None) -> str | None:
    """Source nodes are per organization: `<organization_id>:<source>`; blank means none."""
    if source is None or not source.strip():
        return None
    return f"{organization_id}:{source.strip()}"


def utc(value: datetime | None) -> datetime | None:
    """An aware UTC datetime (naive values, as ArcadeDB returns them, are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def lead_row(record: dict[str, Any]) -> dict[str, Any]:
    """Parameters of one live lead for the MERGE statements (from `db.graph`'s lead query)."""
    org = str(record["organization_id"])
    owner = _str(record.get("owner_id"))
    previous_users = record.get("previous_user_ids") or []
    previous_from = record.get("previous_from") or [None] * len(previous_users)
    previous_to = record.get("previous_to") or [None] * len(previous_users)
    previous: list[dict[str, Any]] = [
        {"user_id": str(user), "from": utc(start), "to": utc(end)}
        for user, start, end in zip(previous_users, previous_from, previous_to, strict=True)
        if user is not None and str(user) != owner
    ]
    previous.sort(key=lambda item: item["user_id"])
    source: str | None = record.get("source")
    key = source_key(org, source)
    return {
        "id": str(record["id"]),
        "organization_id": org,
        "status": record["status"],
        "score": int(record["lead_score"]),
        "tags": list(record.get("tags") or []),
        "source": source.strip() if key and source is not None else None,
        "source_key": key,
        "created_at": utc(record["created_at"]),
        "updated_at": utc(record["updated_at"]),
        "owner_id": owner,
        "since": utc(record.get("since")) if owner else None,
        "strategy": record.get("strategy") if owner else None,
        "previous": previous,
        "previous_ids": [item["user_id"] for item in previous],
        "referred_by": _str(record.get("referred_by")),
    }


def lead_batch_params(rows: Sequence[dict[str, Any]]) -> list[tuple[str, list[dict]]]:
    """(statement, its rows) for one batch of `lead_row`s, in the order to run them.

    Each statement gets only the keys it reads; a statement with no rows is left out (the
    stale-edge deletion and the lead MERGE always run for a non-empty batch).
    """
    if not rows:
        return []
    stale = [
        {
            "id": r["id"],
            "source_key": r["source_key"],
            "owner_id": r["owner_id"],
            "previous_ids": r["previous_ids"],
            "referred_by": r["referred_by"],
        }
        for r in rows
    ]
    leads = [
        {
            "id": r["id"],
            "status": r["status"],
            "score": r["score"],
            "tags": r["tags"],
            "source": r["source"],
            "created_at": r["created_at"],
            "updated_at": r["updated_at"],
        }
        for r in rows
    ]
    sources = [
        {"id": r["id"], "source_key": r["source_key"], "source": r["source"]}
        for r in rows
        if r["source_key"] is not None
    ]
    assigned = [
        {"id": r["id"], "owner_id": r["owner_id"], "since": r["since"], "strategy": r["strategy"]}
        for r in rows
        if r["owner_id"] is not None
    ]
    previous = [
        {"id": r["id"], "user_id": p["user_id"], "from": p["from"], "to": p["to"]}
        for r in rows
        for p in r["previous"]
    ]
    batch = [(DELETE_STALE_LEAD_EDGES, stale), (MERGE_LEADS, leads)]
    batch += [
        (query, params)
        for query, params in (
            (MERGE_SOURCES, sources),
            (MERGE_ASSIGNED_TO, assigned),
            (MERGE_PREVIOUSLY_ASSIGNED_TO, previous),
        )
        if params
    ]
    return batch


def user_row(record: dict[str, Any]) -> dict[str, Any]:
    """Only what graph queries need: no names or e-mail addresses."""
    return {
        "id": str(record["id"]),
        "organization_id": str(record["organization_id"]),
        "role": record["role"],
        "is_active": bool(record["is_active"]),
    }


def organization_row(record: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(record["id"]), "name": record["name"], "slug": record.get("slug")}


def expected_keys(
    organization_id: str, users: Iterable[dict[str, Any]], leads: Iterable[dict[str, Any]]
) -> dict[str, set[str]]:
    """The identities the graph must hold for one organization, per label and edge type.

    `users` are `user_row`s, `leads` are `lead_row`s of live leads; a referral counts only
    when the referrer is live (the lead query already nulls it otherwise).
    """
    keys: dict[str, set[str]] = {name: set() for name in (*NODE_LABELS, *EDGE_TYPES)}
    keys["Organization"].add(organization_id)
    for user in users:
        keys["User"].add(user["id"])
        keys["MEMBER_OF"].add(user["id"])
    for lead in leads:
        keys["Lead"].add(lead["id"])
        keys["BELONGS_TO"].add(lead["id"])
        if lead["source_key"]:
            keys["Source"].add(lead["source_key"])
            keys["FROM_SOURCE"].add(f"{lead['id']}->{lead['source_key']}")
        if lead["owner_id"]:
            keys["ASSIGNED_TO"].add(f"{lead['id']}->{lead['owner_id']}")
        for user_id in lead["previous_ids"]:
            keys["PREVIOUSLY_ASSIGNED_TO"].add(f"{lead['id']}->{user_id}")
        if lead["referred_by"]:
            keys["REFERRED_BY"].add(f"{lead['id']}->{lead['referred_by']}")
    return keys


def differences(expected: dict[str, int], actual: dict[str, int]) -> dict[str, tuple[int, int]]:
    """(expected, actual) for every key whose counts differ."""
    return {
        key: (expected.get(key, 0), actual.get(key, 0))
        for key in (*NODE_LABELS, *EDGE_TYPES)
        if expected.get(key, 0) != actual.get(key, 0)
    }


def one_sided_sample(expected: set[str], actual: set[str], size: int = SAMPLE_SIZE) -> list[str]:
    """Up to `size` identities on one side only, marked `missing:` (PG only) / `extra:`."""
    missing = [f"missing:{key}" for key in sorted(expected - actual)]
    extra = [f"extra:{key}" for key in sorted(actual - expected)]
    return (missing + extra)[:size] if missing and extra else (missing or extra)[:size]


def reach_summary(
    user_id: str, leads: list[dict[str, Any]], reached: list[dict[str, Any]], sample: int = 10
) -> dict[str, Any]:
    """The agent's leads and the leads they referred (transitively), counted per depth.

    A referred lead that is also one of the agent's own leads counts once, at depth 0.
    """
    own = {lead["id"] for lead in leads}
    by_depth: dict[int, list[str]] = {}
    for item in sorted(reached, key=lambda r: (r["depth"], r["id"])):
        if item["id"] in own:
            continue
        by_depth.setdefault(int(item["depth"]), []).append(item["id"])
    statuses: dict[str, int] = {}
    for lead in leads:
        statuses[lead["status"]] = statuses.get(lead["status"], 0) + 1
    reach_sample = [
        {"id": lead_id, "depth": depth}
        for depth, ids in sorted(by_depth.items())
        for lead_id in ids
    ][:sample]
    return {
        "user_id": user_id,
        "leads": len(leads),
        "leads_by_status": dict(sorted(statuses.items())),
        "lead_sample": leads[:sample],
        "reach_by_depth": {str(depth): len(ids) for depth, ids in sorted(by_depth.items())},
        "reach_total": sum(len(ids) for ids in by_depth.values()),
        "reach_sample": reach_sample,
    }


# -- batching and retries -----------------------------------------------------------------------


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    if size < 1:
        raise ValueError(f"batch size must be >= 1, not {size}")
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: `tries` attempts, waiting first_delay, ×factor, … between them."""

    tries: int = 5
    first_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 30.0

    def delays(self) -> list[float]:
        return [
            min(self.first_delay * self.factor**attempt, self.max_delay)
            for attempt in range(self.tries - 1)
        ]


def retry(
    call: Callable[[], T],
    policy: RetryPolicy,
    retriable: tuple[type[BaseException], ...],
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Run `call`; on a retriable error wait and try again, re-raising after the last try."""
    delays = policy.delays()
    for attempt in range(policy.tries):
        try:
            return call()
        except retriable as exc:
            if attempt >= len(delays):
                raise
            if on_retry is not None:
                on_retry(attempt + 1, exc, delays[attempt])
            sleep(delays[attempt])
    raise AssertionError("unreachable")  # pragma: no cover


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
