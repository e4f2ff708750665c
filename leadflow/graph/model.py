"""The CRM graph model: Cypher statements, row shaping, chunking and the retry policy (no I/O).

Model (see docs/graph.md):

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
from datetime import UTC, datetime
from typing import Any, TypeVar

from leadflow import settings

T = TypeVar("T")

DEFAULT_BATCH_SIZE: int = settings.Settings.graph_batch_size.fixed_default
WATERMARK_PREFIX = "crm_graph:"
RECONCILE_WATERMARK_PREFIX = "crm_graph_reconcile:"
#: 32-bit row transaction ids wrap around modulo this
XID_MODULUS = 1 << 32
#: row xids below this are special (bootstrap, frozen): always older than any snapshot
FIRST_NORMAL_XID = 3
#: at most this many xids kept in a watermark's `seen` list (beyond: none kept, which only
#: makes the next run re-send the rows of those transactions)
MAX_SEEN_XIDS = 10_000

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

#: the label each lead edge type points to (`edge_counts`)
LEAD_EDGE_TARGETS = {
    "BELONGS_TO": "Organization",
    "ASSIGNED_TO": "User",
    "PREVIOUSLY_ASSIGNED_TO": "User",
    "FROM_SOURCE": "Source",
    "REFERRED_BY": "Lead",
}
#: the counts of every lead edge type in one pass over the organization's leads (one query per
#: type costs three to four times more)
GRAPH_LEAD_EDGE_COUNTS = """
MATCH (l:Lead {organization_id: $org})-[e]->(x)
RETURN type(e) AS t, labels(x) AS labels, coalesce(x.id = $org, false) AS own, count(e) AS n
"""


def edge_counts(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """GRAPH_LEAD_EDGE_COUNTS' rows as the RECONCILE_QUERIES count of each lead edge type: the
    edges to a node of the type's label (BELONGS_TO: to the organization itself)."""
    counts = dict.fromkeys(LEAD_EDGE_TARGETS, 0)
    for row in rows:
        target = LEAD_EDGE_TARGETS.get(row["t"])
        if target is None or target not in (row["labels"] or []):
            continue
        if row["t"] == "BELONGS_TO" and not row["own"]:
            continue
        counts[row["t"]] += int(row["n"])
    return counts


#: per lead id: its LEAD_PROPERTIES and outgoing edges (`graph_lead_content`)
GRAPH_LEAD_CONTENT = """
UNWIND $ids AS id
MATCH (l:Lead {id: id})
OPTIONAL MATCH (l)-[e]->(x)
RETURN l.id AS id,
       [l.organization_id, l.status, l.score, l.tags, l.source, l.created_at, l.updated_at] AS p,
       collect([type(e), coalesce(x.id, x.key), e.since, e.strategy, e.from, e.to]) AS edges
"""

# -- queries users run (docs/graph.md shows them with literal values) ----------------------------


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


def reconcile_watermark_name(organization_id: str) -> str:
    return f"{RECONCILE_WATERMARK_PREFIX}{organization_id}"


# -- what a read saw: the exact watermark (rule stated in leadflow.graph.sync) -------------------


@dataclass(frozen=True)
class ReadSnapshot:
    """The PostgreSQL snapshot a sync read under, kept in its watermark's `state`.

    `xmin`, `xmax` and `xip` are `pg_current_snapshot()`'s (64-bit transaction ids: no
    wraparound); `seen` are the ids in [xmin, xmax) of rows the read did see (committed before
    it). Those, and every id below `xmin`, were visible to the read; every other id was in
    progress, a subtransaction of one in progress (`pg_current_snapshot()` lists top-level ids
    only), or not yet started.
    """

    xmin: int
    xmax: int
    xip: tuple[int, ...] = ()
    seen: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str, seen: Iterable[int] = ()) -> ReadSnapshot:
        """From pg_snapshot's text form `xmin:xmax:xip1,xip2,…`."""
        try:
            low, high, listed = text.strip().split(":")
            xip = tuple(int(x) for x in listed.split(",") if x)
            snapshot = cls(int(low), int(high), xip, tuple(sorted({int(x) for x in seen})))
        except ValueError as exc:
            raise ValueError(f"not a pg_snapshot: {text!r}") from exc
        if not snapshot.xmin <= snapshot.xmax or any(
            not snapshot.xmin <= x < snapshot.xmax for x in (*snapshot.xip, *snapshot.seen)
        ):
            raise ValueError(f"inconsistent snapshot: {text!r}, seen {list(seen)}")
        return snapshot

    @property
    def text(self) -> str:
        return f"{self.xmin}:{self.xmax}:{','.join(map(str, self.xip))}"

    def as_state(self) -> dict[str, Any]:
        return {"snapshot": self.text, "seen": list(self.seen)}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> ReadSnapshot | None:
        """The snapshot a watermark's state recorded (None: none, or not one we can read)."""
        if not state or not isinstance(state.get("snapshot"), str):
            return None
        try:
            return cls.parse(state["snapshot"], state.get("seen") or ())
        except (TypeError, ValueError):
            return None

    def params(self, stable: int, prefix: str = "") -> dict[str, Any]:
        """The parameters of `unseen_sql` (same prefix) for this snapshot, in a transaction
        whose `age()` counts from the 64-bit id `stable` (`unseen_by_age`)."""
        return {
            f"{prefix}age_new": stable - self.xmax,
            f"{prefix}age_old": stable - self.xmin,
            f"{prefix}seen_ages": [stable - x for x in self.seen],
        }


def full_xid(xid: int, reference: int) -> int:
    """The 64-bit id of a 32-bit row xid, taken as the latest id with those low 32 bits at or
    below `reference` (the next id to be assigned when read; no visible row carries it). Exact
    for every row PostgreSQL has not frozen: their xids are less than 2^31 old."""
    return reference - ((reference - xid) % XID_MODULUS)


def unseen(xid: int, reference: int, snapshot: ReadSnapshot) -> bool:
    """Whether a row version written by (32-bit) `xid` was invisible to `snapshot`'s read."""
    if xid < FIRST_NORMAL_XID:
        return False
    full = full_xid(xid, reference)
    return full >= snapshot.xmax or (full >= snapshot.xmin and full not in snapshot.seen)


def unseen_by_age(age: int, stable: int, snapshot: ReadSnapshot) -> bool:
    """`unseen` as SQL evaluates it, from PostgreSQL's `age(xmin)`: the 32-bit distance from
    the transaction's stable id (`stable`, in 64 bits) back to the row's id, INT_MAX for the
    special ids. The row's id is `stable - age`, so X >= xmax is age <= stable - xmax, etc."""
    return age <= stable - snapshot.xmax or (
        age <= stable - snapshot.xmin and stable - age not in snapshot.seen
    )


def unseen_sql(column: str, prefix: str = "") -> str:
    """SQL for `unseen_by_age(age(column), …)`: `column` is a row's xmin; parameters from
    `ReadSnapshot.params`. One C function and integer comparisons per row."""
    age = f"age({column})"
    return (
        f"({age} <= %({prefix}age_new)s::bigint or ({age} <= %({prefix}age_old)s::bigint"
        f" and {age} <> all(%({prefix}seen_ages)s::bigint[])))"
    )


def incremental_blocker(previous: ReadSnapshot, reference: int) -> str | None:
    """Why rows can no longer be placed against `previous` (a full pass is needed), or None."""
    if reference < previous.xmax:
        return (
            "the transaction counter is behind the watermark's snapshot "
            "(a restored database or another server)"
        )
    if reference - previous.xmin >= XID_MODULUS // 2:
        return "2^31 or more transactions since the watermark's snapshot"
    return None


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


#: per edge type, the edge properties the sync sets
EDGE_PROPERTIES: dict[str, tuple[str, ...]] = {
    "ASSIGNED_TO": ("since", "strategy"),
    "PREVIOUSLY_ASSIGNED_TO": ("from", "to"),
}
LEAD_PROPERTIES = (
    "organization_id",
    "status",
    "score",
    "tags",
    "source",
    "created_at",
    "updated_at",
)


def lead_content(row: dict[str, Any]) -> dict[str, Any]:
    """What the graph must hold for one live lead (a `lead_row`): its properties and its
    outgoing edges (type, target id or key, properties), in a form `graph_lead_content` gives
    for what the graph holds."""
    edges: list[tuple[str, Any, tuple[tuple[str, Any], ...]]] = [
        ("BELONGS_TO", row["organization_id"], ())
    ]
    if row["source_key"]:
        edges.append(("FROM_SOURCE", row["source_key"], ()))
    if row["owner_id"]:
        props = {"since": row["since"], "strategy": row["strategy"]}
        edges.append(("ASSIGNED_TO", row["owner_id"], _edge_props(props)))
    for item in row["previous"]:
        props = {"from": item["from"], "to": item["to"]}
        edges.append(("PREVIOUSLY_ASSIGNED_TO", item["user_id"], _edge_props(props)))
    if row["referred_by"]:
        edges.append(("REFERRED_BY", row["referred_by"], ()))
    content = {key: row[key] for key in LEAD_PROPERTIES}
    content["edges"] = sorted(edges, key=repr)
    return content


#: the edge properties GRAPH_LEAD_CONTENT returns after an edge's type and target, in order
EDGE_PROPERTY_ORDER = ("since", "strategy", "from", "to")


def graph_lead_content(values: Sequence[Any], edges: Iterable[Sequence[Any]]) -> dict:
    """`lead_content` of a Lead node as GRAPH_LEAD_CONTENT reads it back: its LEAD_PROPERTIES
    values in order, and its outgoing edges as [type, target id or key, *EDGE_PROPERTY_ORDER
    values] (OPTIONAL MATCH: an entry of nulls means none). Flat lists, not maps: the driver
    decodes maps much more slowly."""
    content: dict[str, Any] = {}
    for key, raw in zip(LEAD_PROPERTIES, values, strict=True):
        value = _plain(raw)
        content[key] = list(value) if key == "tags" and value is not None else value
    found = []
    for edge_type, target, *props in edges:
        if edge_type is None:
            continue
        named = dict(zip(EDGE_PROPERTY_ORDER, props, strict=True))
        kept = {name: _plain(named[name]) for name in EDGE_PROPERTIES.get(edge_type, ())}
        found.append((edge_type, target, _edge_props(kept)))
    content["edges"] = sorted(found, key=repr)
    return content


def content_differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """The fields (properties, `edges`) in which two `lead_content`s differ."""
    return [key for key in (*LEAD_PROPERTIES, "edges") if expected.get(key) != actual.get(key)]


def compare_contents(
    expected: dict[str, dict[str, Any]], absent: Iterable[str], found: dict[str, dict[str, Any]]
) -> dict[str, list[str]]:
    """{lead id: what differs} between `lead_content`s expected and those `found` in the graph
    (by id): a field list, ['missing'] for a lead not in the graph, ['deleted in PostgreSQL']
    for one of `absent` that is."""
    differing: dict[str, list[str]] = {}
    for lead_id, content in expected.items():
        if lead_id not in found:
            differing[lead_id] = ["missing"]
        elif fields := content_differences(content, found[lead_id]):
            differing[lead_id] = fields
    for lead_id in absent:
        if lead_id in found:
            differing[lead_id] = ["deleted in PostgreSQL"]
    return differing


def content_sample(differing: dict[str, list[str]], size: int = SAMPLE_SIZE) -> list[str]:
    """Up to `size` of `compare_contents`'s findings as '<lead id>: <fields>', by id."""
    return [f"{lead_id}: {', '.join(differing[lead_id])}" for lead_id in sorted(differing)[:size]]


def _edge_props(props: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Sorted (name, value) pairs without nulls (the graph stores no null property)."""
    return tuple(sorted((k, v) for k, v in props.items() if v is not None))


def _plain(value: Any) -> Any:
    """A graph value as the sync sent it: datetimes back to aware UTC."""
    to_native = getattr(value, "to_native", None)
    if to_native is not None:
        value = to_native()
    return utc(value) if isinstance(value, datetime) else value


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
