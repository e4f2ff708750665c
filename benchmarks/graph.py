"""`python -m benchmarks graph`: throughput of the CRM graph sync against a bare MERGE loop (the
floor).

The PostgreSQL side is generated set-based in SQL (one statement per table, deterministic for a
given N) in its own database (`leadflow_bench_graph`): 10 organizations with 5 agents each, N leads
(E.164 phones, statuses, scores, tags, sources, a year of creation times), a round-robin first
assignment per lead plus a manual reassignment for ~10% of them, and ~5% of leads referred by
another lead of their organization (migration 007).

The graph side is its own database (`leadflow_bench`) on the configured Bolt server, dropped and
recreated before each measured write (on a Neo4j given by NEO4J_URI, where databases cannot be
created, the database must exist and is emptied in batches instead).

Figures, in this order:

* floor: as many nodes and edges as the PostgreSQL data implies for the graph, sent as bare
  `UNWIND $rows AS r MERGE (l:Lead {id: r.id}) SET l += r.props` batches (a lead's properties,
  its two datetimes included) and then `MERGE (a:Lead)-[:BELONGS_TO]->(b:Organization)`
  batches of the same size, uniqueness constraints in place, rows prepared in memory
  beforehand: the cost of writing through the driver, without reads or row building;
* full sync: `sync_graph(full=True)` of every organization into the emptied graph, as nodes/s,
  edges/s and its wall time against the floor's time for the same numbers of nodes and edges
  (target: at most 1.5x);
* incremental sync after ~1% of leads changed in PostgreSQL (status and score, a third of them
  reassigned), as a share of the full sync's time (target: under 5%), then an incremental sync
  with nothing changed (its watermark is exact: it sends nothing);
* `reconcile_graph` of every organization: the full comparison after the full sync, the
  nightly one (counts and the changed leads) after each incremental sync, and the full one
  again at the end, each timed.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from neo4j import Driver

from benchmarks.common import Echo, database_exists, recreate_database, with_dbname
from leadflow.graph.sync import ensure_graph_schema, reconcile_graph, sync_graph
from leadflow.platform.services import GraphService
from leadflow.platform.services.graph import create_database, drop_database
from leadflow.postgres import one_row
from leadflow.resources import Neo4jResource

DATABASE = "leadflow_bench_graph"
GRAPH_DATABASE = "leadflow_bench"
ORGANIZATIONS = 10
AGENTS_PER_ORGANIZATION = 5
#: share of leads reassigned once after their first assignment
REASSIGNED_FRACTION = 0.10
#: every REFERRAL_EVERY-th lead (~5%) is referred by another lead of its organization
REFERRAL_EVERY = 20
#: share of leads changed before the incremental sync, and of those, the share reassigned
CHANGE_FRACTION = 0.01
CHANGE_REASSIGNED = 1 / 3
#: phones are '+1415' || 7 digits
MAX_LEADS = 9_999_999
STATUSES = ["new", "contacted", "qualified", "nurturing", "hot", "cold", "recruited", "dnc"]
#: None: a lead without a source (no FROM_SOURCE edge)
SOURCES = ["facebook", "linkedin", "indeed", "referral", "website", "job_fair", "google", None]
TAGS = ["hot", "referral", "exec", "night shift", "cdl", "bilingual"]
WIPE_BATCH = 5_000


# -- results ------------------------------------------------------------------------------------


@dataclass
class SyncFigures:
    """One timed `sync_graph` call over every organization (wall time of the call)."""

    label: str
    seconds: float
    #: the modes the organizations ran in: 'full', 'incremental' (or both, joined by +)
    mode: str
    nodes: int
    edges: int
    leads_removed: int = 0
    edges_removed: int = 0
    batches: int = 0
    #: leads read from PostgreSQL and sent to the graph (written or removed)
    leads_sent: int = 0

    @property
    def nodes_per_second(self) -> float:
        return self.nodes / self.seconds if self.seconds else 0.0

    @property
    def edges_per_second(self) -> float:
        return self.edges / self.seconds if self.seconds else 0.0


@dataclass
class FloorFigures:
    """The bare UNWIND … MERGE loop: node and edge writes timed separately."""

    nodes: int
    edges: int
    node_seconds: float
    edge_seconds: float
    batch_size: int

    @property
    def nodes_per_second(self) -> float:
        return self.nodes / self.node_seconds if self.node_seconds else 0.0

    @property
    def edges_per_second(self) -> float:
        return self.edges / self.edge_seconds if self.edge_seconds else 0.0

    @property
    def seconds(self) -> float:
        return self.node_seconds + self.edge_seconds

    def equivalent_seconds(self, nodes: int, edges: int) -> float:
        """What writing `nodes` nodes and `edges` edges costs at the floor's rates."""
        node_part = nodes / self.nodes_per_second if self.nodes_per_second else 0.0
        edge_part = edges / self.edges_per_second if self.edges_per_second else 0.0
        return node_part + edge_part


@dataclass
class ReconcileFigures:
    """One timed `reconcile_graph` of every organization."""

    label: str
    seconds: float
    #: the modes the organizations ran in: 'full', 'nightly' (or both, joined by +)
    mode: str
    ok: bool
    #: leads whose content was compared
    rows_compared: int
    differences: dict[str, Any] = field(default_factory=dict)


@dataclass
class GraphBenchResult:
    database_url: str
    graph_uri: str
    graph_database: str
    leads: int
    batch_size: int
    #: PostgreSQL rows: organizations, users, leads, lead_assignments, referrals
    rows: dict[str, int]
    #: the graph the PostgreSQL data implies, per label and edge type
    expected_graph: dict[str, int]
    generation_seconds: float
    floor: FloorFigures
    full: SyncFigures
    changed_leads: int
    reassigned_leads: int
    incremental: SyncFigures
    unchanged: SyncFigures
    #: organization id -> reconcile_graph(...).ok, and the differences of those not ok
    reconciled: dict[str, bool]
    differences: dict[str, Any] = field(default_factory=dict)
    reused: bool = False
    #: the timed reconciliations, in the order they ran
    reconciliations: list[ReconcileFigures] = field(default_factory=list)

    @property
    def floor_equivalent_seconds(self) -> float:
        """The floor's time for the full sync's numbers of nodes and edges."""
        return self.floor.equivalent_seconds(self.full.nodes, self.full.edges)

    @property
    def full_vs_floor(self) -> float:
        """Full sync time / floor time for the same writes (1.0 = the floor; target <= 1.5)."""
        floor = self.floor_equivalent_seconds
        return self.full.seconds / floor if floor else math.inf

    @property
    def floor_ratio(self) -> float:
        """Floor time equivalent / full sync time (1.0 = the floor; target >= 1 / 1.5)."""
        return self.floor_equivalent_seconds / self.full.seconds if self.full.seconds else 0.0

    @property
    def incremental_share(self) -> float:
        """Incremental sync time as a share of the full sync's (target < 5%)."""
        return self.incremental.seconds / self.full.seconds if self.full.seconds else math.inf

    @property
    def unchanged_share(self) -> float:
        return self.unchanged.seconds / self.full.seconds if self.full.seconds else math.inf

    @property
    def reconciled_ok(self) -> bool:
        return bool(self.reconciled) and all(self.reconciled.values())

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            floor_nodes_per_second=self.floor.nodes_per_second,
            floor_edges_per_second=self.floor.edges_per_second,
            full_nodes_per_second=self.full.nodes_per_second,
            full_edges_per_second=self.full.edges_per_second,
            floor_equivalent_seconds=self.floor_equivalent_seconds,
            full_vs_floor=self.full_vs_floor,
            floor_ratio=self.floor_ratio,
            incremental_share=self.incremental_share,
            unchanged_share=self.unchanged_share,
            reconciled_ok=self.reconciled_ok,
        )
        return data


# -- PostgreSQL data ----------------------------------------------------------------------------


def _u(value_sql: str, seed: int) -> str:
    """SQL for a uniform draw in [0, 1) from a bigint and a seed (one independent draw per seed)."""
    return (
        f"((hashint8extended(({value_sql})::bigint, {seed}) & 2147483647)::float8 / 2147483648.0)"
    )


def _pick(values: Sequence[str | None], draw: str) -> str:
    items = ", ".join("null" if v is None else f"'{v}'" for v in values)
    return f"(array[{items}]::text[])[1 + floor({draw} * {len(values)})::int]"


def _organization_id(ordinal_sql: str) -> str:
    return f"md5('bench-graph-org:' || ({ordinal_sql}))::uuid"


def _agent_id(ordinal_sql: str, agent_sql: str) -> str:
    return f"md5('bench-graph-user:' || ({ordinal_sql}) || ':' || ({agent_sql}))::uuid"


_ORGANIZATIONS_SQL = f"""
    insert into organizations (id, name, slug, timezone)
    select {_organization_id("o")}, 'Graph Bench Org ' || o, 'graph-bench-' || o, 'UTC'
    from generate_series(0, {ORGANIZATIONS - 1}) as o
"""

_USERS_SQL = f"""
    insert into users (id, organization_id, email, first_name, last_name, role)
    select {_agent_id("o", "a")}, {_organization_id("o")},
           'agent' || a || '@graph-bench-' || o || '.example.com', 'Agent', a::text, 'agent'
    from generate_series(0, {ORGANIZATIONS - 1}) as o
    cross join generate_series(1, {AGENTS_PER_ORGANIZATION}) as a
"""

#: one row per lead n (1..N): organization n % 10, round-robin first agent within it, and every
#: draw the inserts need; `anchor` is the generation time minus 2 hours, so that every generated
#: change lies well before the benchmark's own changes
_PLAN_SQL = f"""
    create temp table graph_bench_plan as
    with drawn as (
        select n, mod(n, {ORGANIZATIONS}) as o,
               1 + mod(n / {ORGANIZATIONS}, {AGENTS_PER_ORGANIZATION}) as first_agent,
               {_u("n", 1)} as u_created, {_u("n", 2)} as u_updated, {_u("n", 3)} as u_status,
               {_u("n", 4)} as u_score, {_u("n", 5)} as u_source, {_u("n", 6)} as u_tags,
               {_u("n", 7)} as u_reassign, {_u("n", 8)} as u_new_agent, {_u("n", 9)} as u_at,
               {_u("n", 10)} as u_referrer
        from generate_series(1, %(leads)s::bigint) as n
    ),
    timed as (
        select d.*,
               date_trunc('second', %(anchor)s::timestamptz - interval '2 days'
                   - interval '363 days' * d.u_created) as created_at
        from drawn d
    )
    select t.n, t.o, t.first_agent,
           md5('bench-graph-lead:' || t.n)::uuid as id,
           {_organization_id("t.o")} as organization_id,
           '+1415' || lpad(t.n::text, 7, '0') as phone_number,
           {_pick(STATUSES, "t.u_status")} as status,
           floor(t.u_score * 101)::int as lead_score,
           {_pick(SOURCES, "t.u_source")} as source,
           case when t.u_tags < 0.4 then '{{}}'::text[]
                when t.u_tags < 0.8 then array[{_pick(TAGS, _u("t.n", 11))}]
                else array[{_pick(TAGS[:3], _u("t.n", 12))}, {_pick(TAGS[3:], _u("t.n", 13))}]
           end as tags,
           t.created_at,
           t.created_at + interval '1 minute' as first_assigned_at,
           t.u_reassign < {REASSIGNED_FRACTION} as reassigned,
           1 + mod(t.first_agent + floor(t.u_new_agent * {AGENTS_PER_ORGANIZATION - 1})::int,
                   {AGENTS_PER_ORGANIZATION}) as second_agent,
           t.created_at + interval '2 minutes' + interval '2 days' * t.u_updated as updated_at,
           t.u_at,
           case when mod(t.n, {REFERRAL_EVERY}) = 0 and t.n >= {REFERRAL_EVERY} then
               t.n - {ORGANIZATIONS} * (2 * floor(t.u_referrer
                   * least(50, t.n / {REFERRAL_EVERY}))::bigint + 1)
           end as referrer_n
    from timed t
"""

#: referred leads (n % 20 = 0) go in a second insert, after their referrers (n % 20 = 10, same
#: organization): the same-organization trigger then sees every referrer committed
_LEADS_SQL = f"""
    insert into leads (id, organization_id, user_id, first_name, last_name, phone_number, email,
                       status, lead_score, tags, source, created_at, updated_at,
                       referred_by_lead_id, referred_by_ref)
    select p.id, p.organization_id,
           {_agent_id("p.o", "case when p.reassigned then p.second_agent else p.first_agent end")},
           'Lead', p.n::text, p.phone_number, 'lead' || p.n || '@example.com',
           p.status, p.lead_score, p.tags, p.source, p.created_at, p.updated_at,
           r.id, r.phone_number
    from graph_bench_plan p
    left join graph_bench_plan r on r.n = p.referrer_n
    where (p.referrer_n is not null) = %(referred)s
    order by p.n
"""

_ASSIGNMENTS_SQL = f"""
    insert into lead_assignments (lead_id, from_user_id, to_user_id, strategy, reason,
                                  assigned_by, assigned_at)
    select id, null, {_agent_id("o", "first_agent")}, 'round_robin', null::text, null::uuid,
           first_assigned_at
    from graph_bench_plan
    union all
    select id, {_agent_id("o", "first_agent")}, {_agent_id("o", "second_agent")}, 'manual',
           'workload rebalanced', null,
           first_assigned_at + (updated_at - first_assigned_at) * u_at
    from graph_bench_plan
    where reassigned
"""

_ROW_COUNTS_SQL = """
    select (select count(*) from organizations),
           (select count(*) from users),
           (select count(*) from leads where deleted_at is null),
           (select count(*) from lead_assignments),
           (select count(*) from leads where referred_by_lead_id is not null)
"""

#: the graph the data implies (leadflow/graph/model.py): nodes per label, edges per type
_EXPECTED_GRAPH_SQL = """
    with live as (select * from leads where deleted_at is null),
    previous as (
        select distinct a.lead_id, a.to_user_id
        from lead_assignments a
        join live l on l.id = a.lead_id
        where a.to_user_id is not null and a.to_user_id is distinct from l.user_id
    )
    select (select count(*) from organizations),
           (select count(*) from users),
           (select count(*) from live),
           (select count(*) from (select distinct organization_id, btrim(source) from live
                                  where btrim(coalesce(source, '')) <> '') s),
           (select count(*) from users),
           (select count(*) from live),
           (select count(*) from live where user_id is not null),
           (select count(*) from previous),
           (select count(*) from live where btrim(coalesce(source, '')) <> ''),
           (select count(*) from live l join live r on r.id = l.referred_by_lead_id)
"""
GRAPH_KEYS = (
    "Organization",
    "User",
    "Lead",
    "Source",
    "MEMBER_OF",
    "BELONGS_TO",
    "ASSIGNED_TO",
    "PREVIOUSLY_ASSIGNED_TO",
    "FROM_SOURCE",
    "REFERRED_BY",
)
NODE_KEYS = GRAPH_KEYS[:4]


def row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        values = one_row(conn.execute(_ROW_COUNTS_SQL))
    keys = ("organizations", "users", "leads", "lead_assignments", "referrals")
    return dict(zip(keys, values, strict=True))


def expected_graph(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        values = one_row(conn.execute(_EXPECTED_GRAPH_SQL))
    return dict(zip(GRAPH_KEYS, values, strict=True))


def is_complete(url: str, leads: int) -> bool:
    """The database holds exactly `leads` live leads of a finished generation."""
    try:
        counts = row_counts(url)
    except psycopg.Error:
        return False
    return (
        counts["leads"] == leads
        and counts["organizations"] == ORGANIZATIONS
        and counts["lead_assignments"] >= leads
    )


def generate_data(url: str, leads: int, echo: Echo = print) -> dict[str, int]:
    """Fill a migrated, empty database: organizations, agents, leads, assignments, referrals."""
    if not 1 <= leads <= MAX_LEADS:
        raise ValueError(f"leads must be between 1 and {MAX_LEADS:,}, not {leads:,}")
    params = {"leads": leads, "anchor": datetime.now(UTC) - timedelta(hours=2)}
    steps = [
        ("organizations", _ORGANIZATIONS_SQL, None),
        ("users", _USERS_SQL, None),
        ("plan", _PLAN_SQL, params),
        ("leads", _LEADS_SQL, {"referred": False}),
        ("referred leads", _LEADS_SQL, {"referred": True}),
        ("lead_assignments", _ASSIGNMENTS_SQL, None),
    ]
    with psycopg.connect(url) as conn:
        for name, statement, values in steps:
            t0 = time.perf_counter()
            rows = conn.execute(statement, values).rowcount
            echo(f"  {name:<18} {rows:>12,} rows {time.perf_counter() - t0:8.1f}s")
        conn.execute("drop table graph_bench_plan")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("analyze")
    return row_counts(url)


def prepare_database(
    server_url: str, database: str, leads: int, *, reuse: bool, echo: Echo = print
) -> tuple[str, bool, float]:
    """(url, reused, generation seconds): reuse a complete database or recreate and fill one."""
    url = with_dbname(server_url, database)
    if reuse and database_exists(server_url, database) and is_complete(url, leads):
        echo(f"reusing PostgreSQL database {database}: {leads:,} leads")
        return url, True, 0.0
    echo(f"generating {leads:,} leads in PostgreSQL database {database}")
    t0 = time.perf_counter()
    recreate_database(server_url, database)
    generate_data(url, leads, echo)
    seconds = time.perf_counter() - t0
    echo(f"  {'generation total':<18} {'':>17} {seconds:8.1f}s")
    return url, False, seconds


_CHANGE_SQL = [
    f"""
    create temp table graph_bench_change as
    select p.id, p.organization_id, p.old_owner,
           (uuid_hash_extended(p.id, %(salt)s + 1) & 1023) < {round(1024 * CHANGE_REASSIGNED)}
               as reassign,
           (select u.id from users u
            where u.organization_id = p.organization_id and u.id is distinct from p.old_owner
              and u.is_active
            order by uuid_hash_extended(u.id, %(salt)s + 2) # uuid_hash_extended(p.id, 0)
            limit 1) as new_owner,
           case p.status when 'new' then 'contacted' when 'contacted' then 'qualified'
                         when 'qualified' then 'nurturing' when 'nurturing' then 'hot'
                         when 'hot' then 'recruited' when 'cold' then 'contacted'
                         when 'recruited' then 'cold' else 'new' end as new_status,
           mod(p.lead_score + 17, 101) as new_score
    from (
        select l.id, l.organization_id, l.user_id as old_owner, l.status, l.lead_score
        from leads l
        where l.deleted_at is null
        order by uuid_hash_extended(l.id, %(salt)s)
        limit %(count)s
    ) p
    """,
    """
    update leads l
    set status = c.new_status,
        lead_score = c.new_score,
        user_id = case when c.reassign and c.new_owner is not null then c.new_owner
                       else l.user_id end
    from graph_bench_change c
    where l.id = c.id
    """,
    """
    insert into lead_assignments (lead_id, from_user_id, to_user_id, strategy, reason,
                                  assigned_by, assigned_at)
    select id, old_owner, new_owner, 'manual', 'benchmark change', null, now()
    from graph_bench_change
    where reassign and new_owner is not null
    """,
]


def change_leads(
    url: str, fraction: float = CHANGE_FRACTION, salt: int | None = None
) -> tuple[int, int]:
    """Move `fraction` of live leads on (status, score; a third reassigned): (changed, reassigned).

    The update moves their updated_at (trigger), which is what an incremental sync picks up.
    """
    salt = salt if salt is not None else int(time.time())
    with psycopg.connect(url) as conn:
        live = one_row(conn.execute("select count(*) from leads where deleted_at is null"))[0]
        count = max(1, round(live * fraction))
        params = {"salt": salt, "count": count}
        conn.execute(_CHANGE_SQL[0], params)
        changed = conn.execute(_CHANGE_SQL[1]).rowcount
        reassigned = conn.execute(_CHANGE_SQL[2]).rowcount
        conn.execute("drop table graph_bench_change")
    return changed, reassigned


# -- graph database -----------------------------------------------------------------------------


def reset_graph_database(driver: Driver, database: str, echo: Echo = print) -> str:
    """Empty the benchmark's graph database: drop and create it on the local ArcadeDB server,
    or delete everything in batches on an external server (where the database must exist).

    Returns how it was done.
    """
    service = GraphService()
    if not service.is_external():
        drop_database(database, service)
        create_database(database, service)
        return "dropped and recreated"
    deleted = 0
    with driver.session(database=database) as session:
        while True:
            count = session.execute_write(
                lambda tx: tx.run(
                    "MATCH (n) WITH n LIMIT $limit DETACH DELETE n RETURN count(*) AS c",
                    limit=WIPE_BATCH,
                ).single(strict=True)["c"]
            )
            deleted += count
            if count == 0:
                break
    echo(f"  deleted {deleted:,} nodes of graph database {database} in batches")
    return "emptied in batches"


# -- floor --------------------------------------------------------------------------------------

FLOOR_CONSTRAINTS = (
    "CREATE CONSTRAINT lead_id IF NOT EXISTS FOR (n:Lead) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT organization_id IF NOT EXISTS FOR (n:Organization) REQUIRE n.id IS UNIQUE",
)
FLOOR_NODES = "UNWIND $rows AS r MERGE (l:Lead {id: r.id}) SET l += r.props"
FLOOR_EDGES = (
    "UNWIND $rows AS r MATCH (a:Lead {id: r.a}) MATCH (b:Organization {id: r.b}) "
    "MERGE (a)-[:BELONGS_TO]->(b)"
)


def floor_rows(
    nodes: int, edges: int, batch_size: int, seed: int = 7
) -> tuple[list[str], list[list[dict]], list[list[dict]]]:
    """(organization ids, node batches, edge batches) for the floor loop, all in memory.

    Nodes carry a lead's properties. Edge i joins node i % nodes to organization i // nodes, so
    that every edge is new even when there are more edges than nodes.
    """
    rng = random.Random(seed)
    organizations = [
        str(uuid.UUID(int=rng.getrandbits(128), version=4))
        for _ in range(max(1, math.ceil(edges / max(nodes, 1))))
    ]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(nodes)]
    node_rows = [
        {
            "id": node_id,
            "props": {
                "organization_id": organizations[0],
                "status": STATUSES[i % len(STATUSES)],
                "score": rng.randrange(101),
                "tags": TAGS[: i % 3],
                "source": SOURCES[i % (len(SOURCES) - 1)],
                "created_at": start + timedelta(minutes=i),
                "updated_at": start + timedelta(minutes=i, seconds=30),
            },
        }
        for i, node_id in enumerate(ids)
    ]
    edge_rows = [{"a": ids[i % nodes], "b": organizations[i // nodes]} for i in range(edges)]
    return (
        organizations,
        [node_rows[i : i + batch_size] for i in range(0, len(node_rows), batch_size)],
        [edge_rows[i : i + batch_size] for i in range(0, len(edge_rows), batch_size)],
    )


def _write_batches(driver: Driver, database: str, query: str, batches: list[list[dict]]) -> float:
    t0 = time.perf_counter()
    with driver.session(database=database) as session:
        for batch in batches:
            session.execute_write(lambda tx, rows: tx.run(query, rows=rows).consume(), batch)
    return time.perf_counter() - t0


def run_floor(
    driver: Driver, database: str, nodes: int, edges: int, batch_size: int, echo: Echo = print
) -> FloorFigures:
    """The bare MERGE loop on an emptied database, with the uniqueness constraints in place."""
    organizations, node_batches, edge_batches = floor_rows(nodes, edges, batch_size)
    with driver.session(database=database) as session:
        for statement in FLOOR_CONSTRAINTS:
            session.run(statement).consume()
        session.run("UNWIND $ids AS id MERGE (:Organization {id: id})", ids=organizations).consume()
    node_seconds = _write_batches(driver, database, FLOOR_NODES, node_batches)
    echo(f"  floor nodes {nodes:>10,} in {node_seconds:8.1f}s")
    edge_seconds = _write_batches(driver, database, FLOOR_EDGES, edge_batches)
    echo(f"  floor edges {edges:>10,} in {edge_seconds:8.1f}s")
    with driver.session(database=database) as session:
        written = session.run("MATCH (l:Lead) RETURN count(l) AS n").single(strict=True)["n"]
        edges_query = "MATCH (:Lead)-[e:BELONGS_TO]->() RETURN count(e) AS n"
        linked = session.run(edges_query).single(strict=True)["n"]
    if written != nodes or linked != edges:
        raise RuntimeError(
            f"floor wrote {written:,} nodes / {linked:,} edges, not {nodes:,} / {edges:,}"
        )
    return FloorFigures(nodes, edges, node_seconds, edge_seconds, batch_size)


# -- sync ---------------------------------------------------------------------------------------


def timed_sync(
    label: str,
    url: str,
    driver: Driver,
    database: str,
    *,
    full: bool,
    batch_size: int,
) -> SyncFigures:
    """`sync_graph` of every organization, timed from the call to its return."""
    with psycopg.connect(url) as conn:
        t0 = time.perf_counter()
        results = sync_graph(conn, driver, database, None, full=full, batch_size=batch_size)
        seconds = time.perf_counter() - t0
    return SyncFigures(
        label=label,
        seconds=seconds,
        mode="+".join(sorted({r.mode for r in results})),
        nodes=sum(r.nodes_merged for r in results),
        edges=sum(r.edges_merged for r in results),
        leads_removed=sum(r.leads_removed for r in results),
        edges_removed=sum(r.edges_removed for r in results),
        batches=sum(r.batches for r in results),
        leads_sent=sum(r.leads_sent for r in results),
    )


def reconcile_all(
    url: str, driver: Driver, database: str, label: str = "reconciliation", full: bool = False
) -> ReconcileFigures:
    """`reconcile_graph` of every organization (`full`: the full comparison), timed."""
    results = []
    with psycopg.connect(url) as conn:
        organizations = [
            str(row[0]) for row in conn.execute("select id from organizations order by slug")
        ]
        conn.commit()
        t0 = time.perf_counter()
        for organization_id in organizations:
            results.append(
                reconcile_graph(
                    conn,
                    driver,
                    database,
                    organization_id,
                    full_requested="benchmark" if full else None,
                )
            )
        seconds = time.perf_counter() - t0
    return ReconcileFigures(
        label=label,
        seconds=seconds,
        mode="+".join(sorted({r.mode for r in results})),
        ok=all(r.ok for r in results),
        rows_compared=sum(r.rows_compared for r in results),
        differences={
            r.organization_id: {
                **{key: list(pair) for key, pair in r.differences.items()},
                **({"leads": r.row_samples} if r.rows_differing else {}),
            }
            for r in results
            if not r.ok
        },
    )


def _organization_ids(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [str(row[0]) for row in conn.execute("select id from organizations order by slug")]


# -- report -------------------------------------------------------------------------------------


def _rate(value: float) -> str:
    return f"{value:>12,.0f}"


def report(result: GraphBenchResult, echo: Echo = print) -> None:
    floor, full = result.floor, result.full
    echo("")
    echo(
        f"graph bench: {result.leads:,} leads, batch size {result.batch_size:,}, "
        f"graph database {result.graph_database} on {result.graph_uri}"
    )
    header = (
        f"  {'run':<34} {'seconds':>9} {'nodes':>10} {'edges':>10} "
        f"{'nodes/s':>12} {'edges/s':>12}  vs"
    )
    echo(header)
    echo("  " + "-" * (len(header) - 2))
    echo(
        f"  {'floor: bare UNWIND ... MERGE':<34} {floor.seconds:9.2f} {floor.nodes:>10,} "
        f"{floor.edges:>10,} {_rate(floor.nodes_per_second)} "
        f"{_rate(floor.edges_per_second)}  1.00x floor"
    )
    echo(
        f"  {'full sync':<34} {full.seconds:9.2f} {full.nodes:>10,} {full.edges:>10,} "
        f"{_rate(full.nodes_per_second)} {_rate(full.edges_per_second)}  "
        f"{result.full_vs_floor:.2f}x floor (target <= 1.50x)"
    )
    for run, share, note in (
        (result.incremental, result.incremental_share, "of full (target < 5%)"),
        (result.unchanged, result.unchanged_share, "of full"),
    ):
        echo(
            f"  {run.label:<34} {run.seconds:9.2f} {run.nodes:>10,} {run.edges:>10,} "
            f"{_rate(run.nodes_per_second)} {_rate(run.edges_per_second)}  "
            f"{share:.1%} {note}, {run.leads_sent:,} leads sent"
        )
    echo(
        f"  floor time for the full sync's writes: {result.floor_equivalent_seconds:.2f}s "
        f"(floor / full = {result.floor_ratio:.2f})"
    )
    for check in result.reconciliations:
        echo(
            f"  {check.label:<34} {check.seconds:9.2f}s  {check.mode}, "
            f"{check.rows_compared:,} leads compared, {'ok' if check.ok else 'DIFFERS'}"
        )
    bad = [org for org, ok in result.reconciled.items() if not ok]
    echo(
        f"  reconciliation: {len(result.reconciled) - len(bad)}/{len(result.reconciled)} "
        f"organizations ok"
    )
    for org in bad:
        echo(f"    {org}: {result.differences.get(org)}")


# -- entry point --------------------------------------------------------------------------------


def run_graph_bench(
    server_url: str,
    leads: int,
    workdir: Path,
    *,
    batch_size: int = 1000,
    reuse: bool = False,
    echo: Echo = print,
    database: str = DATABASE,
    graph_database: str = GRAPH_DATABASE,
    graph: Neo4jResource | None = None,
) -> GraphBenchResult:
    """Generate (or reuse) the data, time the floor, the full and the incremental syncs.

    `server_url` is the PostgreSQL server's URL; `graph` the Bolt server (default: the one of
    NEO4J_URI). `database` / `graph_database` let tests use scratch databases. The result is
    also written as JSON to `workdir`.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, not {batch_size}")
    workdir.mkdir(parents=True, exist_ok=True)
    url, reused, generation_seconds = prepare_database(
        server_url, database, leads, reuse=reuse, echo=echo
    )
    rows = row_counts(url)
    expected = expected_graph(url)
    echo("rows: " + ", ".join(f"{name} {count:,}" for name, count in rows.items()))
    nodes = sum(expected[key] for key in NODE_KEYS)
    edges = sum(count for key, count in expected.items() if key not in NODE_KEYS)
    echo(
        f"expected graph: {nodes:,} nodes, {edges:,} edges ("
        + ", ".join(f"{key} {count:,}" for key, count in expected.items())
        + ")"
    )

    graph = graph or Neo4jResource()
    resource = Neo4jResource(
        uri=graph.resolved_uri(), user=graph.user, password=graph.password, database=graph_database
    )
    graph_uri = resource.resolved_uri()
    driver = resource.get_driver()
    try:
        echo(f"\nfloor on {graph_uri}, database {graph_database}")
        how = reset_graph_database(driver, graph_database, echo)
        echo(f"  graph database {graph_database} {how}")
        floor = run_floor(driver, graph_database, nodes, edges, batch_size, echo)

        echo("\nfull sync")
        reset_graph_database(driver, graph_database, echo)
        ensure_graph_schema(driver, graph_database)
        full = timed_sync(
            "full sync", url, driver, graph_database, full=True, batch_size=batch_size
        )
        echo(
            f"  {full.nodes:,} nodes, {full.edges:,} edges, {full.batches:,} batches "
            f"in {full.seconds:.1f}s"
        )
        checks = [reconcile_all(url, driver, graph_database, "reconciliation, full", full=True)]

        changed, reassigned = change_leads(url)
        echo(
            f"\nchanged {changed:,} leads ({changed / max(rows['leads'], 1):.2%}) in "
            f"PostgreSQL: status and score, {reassigned:,} of them reassigned"
        )
        incremental = timed_sync(
            f"incremental ({CHANGE_FRACTION:.0%} changed)",
            url,
            driver,
            graph_database,
            full=False,
            batch_size=batch_size,
        )
        echo(
            f"  {incremental.nodes:,} nodes, {incremental.edges:,} edges "
            f"(removed {incremental.edges_removed:,}) in {incremental.seconds:.2f}s"
        )
        checks.append(
            reconcile_all(url, driver, graph_database, "reconciliation, nightly (1% changed)")
        )
        unchanged = timed_sync(
            "incremental (nothing changed)",
            url,
            driver,
            graph_database,
            full=False,
            batch_size=batch_size,
        )
        echo(
            f"  nothing changed: {unchanged.nodes:,} nodes, {unchanged.edges:,} edges "
            f"in {unchanged.seconds:.2f}s"
        )
        checks.append(
            reconcile_all(url, driver, graph_database, "reconciliation, nightly (unchanged)")
        )
        checks.append(reconcile_all(url, driver, graph_database, "reconciliation, full", True))
        final = checks[-1]
        reconciled = {org: org not in final.differences for org in _organization_ids(url)}
        differences = final.differences
    finally:
        driver.close()

    result = GraphBenchResult(
        database_url=url,
        graph_uri=graph_uri,
        graph_database=graph_database,
        leads=rows["leads"],
        batch_size=batch_size,
        rows=rows,
        expected_graph=expected,
        generation_seconds=generation_seconds,
        floor=floor,
        full=full,
        changed_leads=changed,
        reassigned_leads=reassigned,
        incremental=incremental,
        unchanged=unchanged,
        reconciled=reconciled,
        differences=differences,
        reused=reused,
        reconciliations=checks,
    )
    report(result, echo)
    out = workdir / f"bench_graph_{leads}.json"
    out.write_text(json.dumps(result.as_dict(), indent=2, default=str))
    echo(f"  figures written to {out}")
    return result
