"""`python -m benchmarks dbt`: time of `dbt build` on N leads with a year of CRM history.

Leads come from the ingest benchmark's messy file through the real import (`pipeline.run_import`);
everything else a recruiting CRM accumulates around them is generated set-based in SQL, from
hashes of each lead's organization and phone (lead ids are random), so the same N gives the same
data, its times relative to the run. Nothing is disabled while writing: the foreign-key
triggers are part of the cost (at 20,000 leads about half the time of the activity insert).

* users: per organization a manager and 5 agents;
* leads: created_at spread over the last 12 months, owned by one of the organization's agents
  (the owner of the last assignment), status = the last status reached, lead_score = the last
  score, last_contact_date = the last activity that is not a note;
* lead_status_history: the import's null -> new row moved to created_at, then a path through
  the funnel (contacted 60%, qualified 35%, nurturing 20%, hot 10%, recruited 4% of leads) and
  possibly an exit (cold for ~15% of all leads, dnc for ~2%), 1 hour to 3 weeks between steps;
  a step that would lie in the future is not taken (recent leads are earlier in the funnel);
* lead_score_history: 2-4 scores per lead on different days, factors shaped like
  leadflow/crm/scoring.py's {qualification, engagement, intent, demographic, total};
* lead_assignments: a round_robin first assignment minutes after creation, and a manual
  reassignment by the manager for ~10% of leads;
* lead_activities: 0-4 plus one per funnel step reached per lead (calls, SMS, e-mails, meetings
  and notes in the sample's proportions), all matched to their lead;
* lead_source_costs: per agent, paid source and calendar month the leads span;
* segments: the seed's three per organization, each with 30 daily counts.

Then the last step ("today's activity") moves ~1% of leads one stage on, so the newest change
time is held by few leads, as in a live CRM. The benchmark times a first `dbt build`, an
incremental `dbt build` after another ~1% of leads changed, and `dbt build --full-refresh`, and
prints the slowest nodes of each. The incremental build sets the incremental models' lookback
vars to 0: every generated row is younger than their one-hour lookback, which would otherwise
turn the first incremental run after generation into a full one (between nightly runs the
lookback only re-reads the last hour of changes).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from benchmarks.common import Echo, database_exists, recreate_database, with_dbname
from benchmarks.ingest import ORGANIZATIONS, bench_organizations, generate_file
from leadflow.analytics.project import DbtError, run_dbt
from leadflow.ingest import pipeline
from leadflow.postgres import one_row

DATABASE = "leadflow_bench_dbt"
#: share of the generated file's rows that become leads (the rest repeat a phone or are invalid)
LEAD_YIELD = 0.779
#: share of leads changed before the incremental build
CHANGE_FRACTION = 0.01
#: vars of the incremental models named like this are set to NO_LOOKBACK for the incremental
#: build: generation stamped every lead within the last hour, which a one-hour lookback (there
#: for late commits between nightly runs) would otherwise count as changed
LOOKBACK_VAR = re.compile(r"""var\(\s*['"](\w*lookback\w*)['"]""")
NO_LOOKBACK = "0 seconds"
AGENTS_PER_ORGANIZATION = 5
#: the seed that picks the leads of "today's activity", the last generation step
TODAY_SALT = 1
TIMEZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Phoenix",
]
FUNNEL = ["new", "contacted", "qualified", "nurturing", "hot", "recruited"]
PAID_SOURCES = {"facebook": 420, "linkedin": 560, "indeed": 310, "google": 380, "job_fair": 250}
HISTORY_TABLES = (
    "users",
    "leads",
    "lead_status_history",
    "lead_score_history",
    "lead_assignments",
    "lead_activities",
    "lead_source_costs",
    "segments",
    "segment_count_history",
)
DBT_SCHEMAS = ("analytics", "analytics_intermediate", "analytics_staging")


@dataclass
class NodeTiming:
    unique_id: str
    seconds: float
    status: str
    rows_affected: int | None = None
    materialized: str | None = None


@dataclass
class BuildTiming:
    label: str
    seconds: float
    nodes: list[NodeTiming] = field(default_factory=list)

    def slowest(self, count: int = 10) -> list[NodeTiming]:
        return sorted(self.nodes, key=lambda node: node.seconds, reverse=True)[:count]

    def seconds_by_kind(self) -> dict[str, float]:
        """Node seconds summed per resource type (model, test, unit_test, ...), over all threads."""
        totals: dict[str, float] = {}
        for node in self.nodes:
            kind = node.unique_id.split(".", 1)[0]
            totals[kind] = totals.get(kind, 0.0) + node.seconds
        return totals


@dataclass
class DbtBenchResult:
    database_url: str
    leads: int
    rows: dict[str, int]
    generation_seconds: dict[str, float]
    changed_leads: int
    full_build_seconds: float
    incremental_build_seconds: float
    full_refresh_seconds: float
    slowest_nodes: list[NodeTiming]
    builds: list[BuildTiming]
    reused: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The figures `--json` prints (every build's node timings included)."""
        return asdict(self)


# -- deterministic draws ------------------------------------------------------------------------


def _u(uuid_sql: str, seed: int | str) -> str:
    """SQL for a uniform draw in [0, 1) from a uuid and a seed (one independent draw per seed).

    uuid_hash_extended is an order of magnitude cheaper than md5 of the id's text.
    """
    return f"((uuid_hash_extended({uuid_sql}, {seed}) & 2147483647)::float8 / 2147483648.0)"


def _status_intent(column: str) -> str:
    return (
        f"case {column} when 'new' then 20 when 'contacted' then 30 when 'nurturing' then 40"
        " when 'qualified' then 60 when 'hot' then 80 when 'recruited' then 100"
        " when 'cold' then 5 else 0 end"
    )


def _stage_rank(column: str) -> str:
    cases = " ".join(f"when '{stage}' then {rank}" for rank, stage in enumerate(FUNNEL))
    return f"(case {column} {cases} else 0 end)"


#: what the draws of a lead hash: its phone and organization, so that the same file gives the
#: same history (lead ids are random)
_LEAD_KEY = "md5(l.organization_id::text || l.phone_number)::uuid"
_NEXT_STAGE = (
    "case l.status when 'new' then 'contacted' when 'contacted' then 'qualified'"
    " when 'qualified' then 'nurturing' when 'nurturing' then 'hot' when 'hot' then 'recruited'"
    " when 'cold' then 'contacted' end"
)
_TOTAL = "round(0.3 * {q} + 0.3 * {e} + 0.25 * {i} + 0.15 * {d})::int"


# -- database -----------------------------------------------------------------------------------


def prepare_database(server_url: str, database: str = DATABASE) -> str:
    """bench._prepare_database for another database name, with US organization timezones."""
    url = recreate_database(server_url, database)
    with psycopg.connect(url) as conn:
        with (
            conn.cursor() as cur,
            cur.copy("copy organizations (id, name, slug, timezone) from stdin") as cp,
        ):
            for i, org in enumerate(bench_organizations()):
                cp.write_row((org, f"Bench Org {i}", f"bench-{i}", TIMEZONES[i % len(TIMEZONES)]))
        conn.execute(
            "insert into system_config (organization_id, config_key, config_value)"
            " values (null, 'default_region', '\"US\"')"
        )
    return url


def _live_leads(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(one_row(conn.execute("select count(*) from leads where deleted_at is null"))[0])


def is_complete(url: str, leads: int) -> bool:
    """The database holds >= leads live leads and a finished generation (its last table)."""
    with psycopg.connect(url) as conn:
        finished = one_row(conn.execute("select exists (select from segment_count_history)"))[0]
    return finished and _live_leads(url) >= leads


def count_rows(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = {}
        for table in HISTORY_TABLES:
            where = " where deleted_at is null" if table == "leads" else ""
            query = sql.SQL("select count(*) from {}" + where).format(sql.Identifier(table))
            rows[table] = one_row(conn.execute(query))[0]
    return rows


# -- leads through the import -------------------------------------------------------------------


def import_leads(
    url: str, leads: int, workdir: Path, *, workers: int | None = None, echo: Echo = print
) -> int:
    """Import generated files until the database holds at least `leads` live leads."""
    connect = partial(psycopg.connect, url)
    rows, seed, count = math.ceil(leads / LEAD_YIELD), 7, 0
    while count < leads:
        path = workdir / f"bench_dbt_{rows}_{seed}.csv"
        t0 = time.perf_counter()
        generate_file(path, rows, seed=seed)
        generated = time.perf_counter() - t0
        t0 = time.perf_counter()
        [job] = pipeline.run_import(
            pipeline.ImportRequest(files=[str(path)], workers=workers), connect
        )
        path.unlink()
        if job.status != "succeeded":
            raise RuntimeError(f"import of {path.name} {job.status}: {job.message}")
        count = _live_leads(url)
        echo(
            f"  import       {rows:>10,} rows -> {job.inserted:,} new leads "
            f"({count:,} in all) in {time.perf_counter() - t0:.1f}s "
            f"(file generated in {generated:.1f}s)"
        )
        seed += 1
        rows = math.ceil((leads - count) / LEAD_YIELD * 1.05) + 10
    return count


# -- history ------------------------------------------------------------------------------------


def _users_sql() -> str:
    return f"""
        insert into users (id, organization_id, email, first_name, last_name, role,
                           created_at, updated_at)
        select md5('bench-user:' || o.id || ':' || n.n)::uuid, o.id,
               case when n.n = 0 then 'manager' else 'agent' || n.n end
                   || '@' || o.slug || '.example.com',
               (array['Maya', 'Liam', 'Ava', 'Noah', 'Zara', 'Omar'])[n.n + 1],
               (array['Chen', 'Okafor', 'Garcia', 'Kowalski', 'Nguyen', 'Smith',
                      'Müller'])[1 + mod(o.ord + n.n, 7)::int],
               case when n.n = 0 then 'manager' else 'agent' end,
               %(anchor)s - interval '400 days', %(anchor)s - interval '400 days'
        from (select id, slug, row_number() over (order by slug) as ord from organizations) o
        cross join generate_series(0, {AGENTS_PER_ORGANIZATION}) as n (n)
        on conflict do nothing
    """


def _plan_sql() -> str:
    """One row per live lead: every draw the later steps need, owners and the funnel path."""
    reach = [(0.04, 5), (0.10, 4), (0.20, 3), (0.35, 2), (0.60, 1)]
    depth = " ".join(f"when u_depth < {p} then {d}" for p, d in reach)
    return f"""
        create temp table bench_plan as
        with staff as (
            select o.id as organization_id, n.n,
                   md5('bench-user:' || o.id || ':' || n.n)::uuid as user_id
            from organizations o
            cross join generate_series(0, {AGENTS_PER_ORGANIZATION}) as n (n)
        ),
        keyed as (
            select l.id, l.organization_id, l.phone_number, l.email, l.first_name, l.last_name,
                   l.source, l.tags, l.phone_type, {_LEAD_KEY} as key
            from leads l
            where l.deleted_at is null
        ),
        drawn as (
            select k.*,
                   {_u("k.key", 1)} as u_created, {_u("k.key", 2)} as u_owner,
                   {_u("k.key", 3)} as u_depth, {_u("k.key", 4)} as u_exit,
                   {_u("k.key", 5)} as u_reassign, {_u("k.key", 6)} as u_new_owner,
                   {_u("k.key", 7)} as u_scores, {_u("k.key", 8)} as u_acts,
                   {_u("k.key", 9)} as u_assign, {_u("k.key", 10)} as u_reassign_at
            from keyed k
        ),
        timed as (
            select d.*,
                   date_trunc('second', %(anchor)s - interval '2 hours'
                       - interval '363 days' * d.u_created) as created_at,
                   floor(d.u_owner * {AGENTS_PER_ORGANIZATION})::int + 1 as first_agent,
                   mod(floor(d.u_owner * {AGENTS_PER_ORGANIZATION})::int + 1
                       + floor(d.u_new_owner * {AGENTS_PER_ORGANIZATION - 1})::int,
                       {AGENTS_PER_ORGANIZATION}) + 1 as second_agent,
                   case {depth} else 0 end as depth,
                   case
                       when d.u_depth < 0.04 then null
                       when d.u_exit < 0.021 then 'dnc'
                       when d.u_exit < 0.177 then 'cold'
                   end as exit_status
            from drawn d
        ),
        assigned as (
            select t.*,
                   t.created_at + interval '1 minute' * (1 + floor(t.u_assign * 119))
                       as first_assigned_at,
                   case when t.u_reassign < 0.10 then
                       t.created_at + interval '1 day'
                       + interval '1 minute' * floor(t.u_reassign_at * 64800)
                   end as planned_reassign_at
            from timed t
        )
        select a.*,
               first_owner.user_id as first_owner_id,
               case when a.planned_reassign_at <= %(anchor)s then a.planned_reassign_at end
                   as reassigned_at,
               case when a.planned_reassign_at <= %(anchor)s then second_owner.user_id
                    else first_owner.user_id end as owner_id,
               manager.user_id as manager_id
        from assigned a
        join staff first_owner
          on first_owner.organization_id = a.organization_id and first_owner.n = a.first_agent
        join staff second_owner
          on second_owner.organization_id = a.organization_id and second_owner.n = a.second_agent
        join staff manager on manager.organization_id = a.organization_id and manager.n = 0
    """


_STEPS_SQL = f"""
    create temp table bench_steps as
    with steps as (
        select p.id, p.key, s.k, p.depth, p.exit_status, p.created_at, p.reassigned_at,
               p.first_owner_id, p.owner_id
        from bench_plan p
        cross join lateral generate_series(
            1, p.depth + (p.exit_status is not null)::int) as s (k)
    ),
    timed as (
        select s.*,
               case when s.k <= s.depth then (%(funnel)s::text[])[s.k + 1]
                    else s.exit_status end as stage,
               s.created_at + sum(
                   interval '1 minute' * (60 + floor(30180 * {_u("s.key", "100 + s.k")} ^ 2))
               ) over (partition by s.id order by s.k) as changed_at,
               {_u("s.key", "200 + s.k")} as u_trigger
        from steps s
    )
    select id, k, stage, changed_at,
           case
               when stage = 'dnc' then 'dnc'
               when stage = 'cold' then case when u_trigger < 0.7 then 'automation'
                                             else 'manual' end
               when stage = 'recruited' or u_trigger < 0.70 then 'manual'
               when u_trigger < 0.85 then 'sequence'
               when u_trigger < 0.95 then 'scoring'
               else 'automation'
           end as trigger_type,
           case when reassigned_at <= changed_at then owner_id else first_owner_id end
               as owner_then
    from timed
    where changed_at <= %(anchor)s
"""

_FINAL_SQL = """
    create temp table bench_final as
    select p.id,
           coalesce(s.status, 'new') as status,
           coalesce(s.reached, 0) as reached
    from bench_plan p
    left join (
        select id, (array_agg(stage order by k desc))[1] as status,
               count(*) filter (where stage not in ('cold', 'dnc'))::int as reached
        from bench_steps
        group by id
    ) s on s.id = p.id
"""

_STATUS_HISTORY_SQL = [
    """
    update lead_status_history h set changed_at = p.created_at
    from bench_plan p
    where h.lead_id = p.id and h.from_status is null
    """,
    """
    insert into lead_status_history (lead_id, from_status, to_status, trigger_type, changed_by,
                                     changed_at)
    select id, coalesce(lag(stage) over (partition by id order by k), 'new'), stage,
           trigger_type, case when trigger_type = 'manual' then owner_then end, changed_at
    from bench_steps
    order by changed_at
    """,
]


def _scores_sql() -> list[str]:
    qualification = """least(100,
        30 * (coalesce(p.email, '') <> '')::int + 10 * (p.first_name <> '')::int
        + 10 * (p.last_name <> '')::int + 10 * (p.source is not null)::int
        + case p.phone_type when 'mobile' then 40 when 'fixed_line_or_mobile' then 30
                            when 'fixed_line' then 20 else 10 end)"""
    demographic = """least(100,
        case when p.source is null then 10 when p.source = 'referral' then 60
             when p.source = 'linkedin' then 45 when p.source in ('indeed', 'job_fair') then 40
             when p.source = 'website' then 35 when p.source = 'google' then 30 else 25 end
        + 15 * (p.tags @> '{referral}')::int + 20 * (p.tags && '{exec,executive}')::int
        + 10 * (p.tags && '{cdl,veteran,nurse,bilingual}')::int)"""
    intent = f"greatest(0, least(100, {_status_intent('f.stage_at')} - 5 + floor(21 * f.u_i)::int))"
    engagement = f"least(100, floor(35 * f.u_e)::int + 12 * {_stage_rank('f.stage_at')})"
    total = _TOTAL.format(q="q", e="e", i="i", d="d")
    return [
        f"""
        create temp table bench_score_times as
        with scores as (
            select p.id, p.key, s.k, p.created_at
            from bench_plan p
            cross join lateral generate_series(1, 2 + floor(p.u_scores * 3)::int) as s (k)
        )
        select id, key, k,
               created_at + interval '10 minutes' + sum(
                   case when k = 1 then interval '0'
                        else interval '1 day'
                             + interval '1 minute' * floor(28800 * {_u("key", "300 + k")} ^ 2) end
               ) over (partition by id order by k) as calculated_at
        from scores
        """,
        "delete from bench_score_times where calculated_at > %(anchor)s",
        f"""
        create temp table bench_scores as
        with events as (
            select id, null::uuid as key, changed_at as at, stage, null::int as k
            from bench_steps
            union all
            select id, key, calculated_at, null, k from bench_score_times
        ),
        grouped as (
            select *, count(stage) over (
                partition by id order by at, stage is null, k
                rows between unbounded preceding and current row) as grp
            from events
        ),
        filled as (
            select id, k, at, coalesce(max(stage) over (partition by id, grp), 'new') as stage_at,
                   {_u("key", "400 + k")} as u_i, {_u("key", "500 + k")} as u_e
            from grouped
        ),
        factors as (
            select f.id, f.k, f.at as calculated_at, f.stage_at,
                   {qualification} as q, {engagement} as e, {intent} as i, {demographic} as d
            from filled f
            join bench_plan p on p.id = f.id
            where f.k is not null
        )
        select id, k, calculated_at, q, e, i, d,
               case when stage_at = 'dnc' then 0 else {total} end as total
        from factors
        """,
        """
        insert into lead_score_history (lead_id, score, factors, calculated_at)
        select id, total,
               jsonb_build_object('qualification', q, 'engagement', e, 'intent', i,
                                  'demographic', d, 'total', total),
               calculated_at
        from bench_scores
        order by calculated_at
        """,
    ]


_ASSIGNMENTS_SQL = """
    insert into lead_assignments (lead_id, from_user_id, to_user_id, strategy, reason,
                                  assigned_by, assigned_at)
    select id, null, first_owner_id, 'round_robin', null, null, first_assigned_at
    from bench_plan
    union all
    select id, first_owner_id, owner_id, 'manual', 'workload rebalanced', manager_id,
           reassigned_at
    from bench_plan
    where reassigned_at is not null
    order by 7
"""


def _activities_sql() -> str:
    kinds = (
        "when u_type < 0.40 then 'call' when u_type < 0.61 then 'sms'"
        " when u_type < 0.78 then 'email' when u_type < 0.86 then 'meeting' else 'note'"
    )
    when = _u("a.key", "1100 + a.k")
    return f"""
        insert into lead_activities (source_id, event_id, organization_id, lead_id, lead_phone,
                                     lead_ref, user_id, activity_type, direction, outcome,
                                     occurred_at, duration_seconds, subject, body, matched_at,
                                     loaded_at)
        with acts as (
            select p.id, p.key, p.organization_id, p.phone_number, p.created_at,
                   p.reassigned_at,
                   p.first_owner_id, p.owner_id, s.k
            from bench_plan p
            join bench_final f on f.id = p.id
            cross join lateral generate_series(1, floor(p.u_acts * 5)::int + f.reached) as s (k)
        ),
        drawn as (
            select a.*,
                   {_u("a.key", "600 + a.k")} as u_type, {_u("a.key", "700 + a.k")} as u_dir,
                   {_u("a.key", "800 + a.k")} as u_outcome,
                   {_u("a.key", "900 + a.k")} as u_duration,
                   {_u("a.key", "1000 + a.k")} as u_text,
                   date_trunc('second', case
                       when a.k = 1 then a.created_at + interval '10 minutes'
                                         + interval '1 minute' * floor(2820 * {when})
                       else a.created_at + interval '1 hour'
                            + interval '1 minute' * floor(172800 * {when} ^ 2)
                   end) as occurred_at
            from acts a
        ),
        typed as (
            select d.*,
                   case {kinds} end as activity_type
            from drawn d
            where d.occurred_at <= %(anchor)s
        ),
        described as (
            select t.*,
                   case when t.activity_type = 'note' then null
                        when t.k = 1 or t.u_dir >= 0.25 then 'outbound'
                        else 'inbound' end as direction,
                   case t.activity_type
                       when 'call' then case when t.u_outcome < 0.44 then 'answered'
                                             when t.u_outcome < 0.76 then 'no_answer'
                                             when t.u_outcome < 0.93 then 'voicemail'
                                             else 'busy' end
                       when 'sms' then case when t.u_outcome < 0.60 then 'delivered'
                                            when t.u_outcome < 0.90 then 'replied'
                                            else 'failed' end
                       when 'email' then case when t.u_outcome < 0.38 then 'sent'
                                              when t.u_outcome < 0.75 then 'opened'
                                              when t.u_outcome < 0.91 then 'replied'
                                              else 'bounced' end
                       when 'meeting' then case when t.u_outcome < 0.37 then 'scheduled'
                                                when t.u_outcome < 0.90 then 'completed'
                                                else 'no_show' end
                   end as outcome
            from typed t
        )
        select 'bench:' || id || ':' || k, 'bench-evt:' || id || ':' || k, organization_id, id,
               phone_number, id::text,
               case when reassigned_at <= occurred_at then owner_id else first_owner_id end,
               activity_type, direction, outcome, occurred_at,
               case when outcome = 'answered' then 30 + floor(u_duration * 1770)::int
                    when outcome = 'voicemail' then 15 + floor(u_duration * 60)::int
                    when activity_type = 'meeting' and outcome = 'completed'
                        then 900 + floor(u_duration * 2700)::int
               end,
               case activity_type
                   when 'email' then (array['Next steps', 'Your application',
                       'Documents needed', 'Your interview on Thursday'])[1 + floor(u_text * 4)]
                   when 'meeting' then (array['Interview', 'Client site visit',
                       'Onboarding call'])[1 + floor(u_text * 3)]
               end,
               case activity_type
                   when 'note' then (array['Left a voicemail, will retry',
                       'Strong referral, fast-track', 'Asked to be contacted by e-mail only',
                       'Wants a higher hourly rate', 'Available from next month'])
                       [1 + floor(u_text * 5)]
                   when 'sms' then (array['Thanks, got it', 'Can we move it to Friday?',
                       'Could you confirm your notice period?'])[1 + floor(u_text * 3)]
               end,
               occurred_at + interval '5 minutes', occurred_at + interval '5 minutes'
        from described
        order by occurred_at
    """


_LEADS_SQL = """
    update leads l
    set created_at = p.created_at,
        user_id = p.owner_id,
        status = f.status,
        lead_score = coalesce(sc.total, 0),
        last_contact_date = ac.last_contact_at
    from bench_plan p
    join bench_final f on f.id = p.id
    left join (
        select distinct on (id) id, total from bench_scores order by id, k desc
    ) sc on sc.id = p.id
    left join (
        select lead_id, max(occurred_at) as last_contact_at
        from lead_activities
        where activity_type <> 'note'
        group by lead_id
    ) ac on ac.lead_id = p.id
    where l.id = p.id
"""


def _source_costs_sql() -> str:
    sources = ", ".join(
        f"('{source}', {base}, {seed})" for seed, (source, base) in enumerate(PAID_SOURCES.items())
    )
    draw = _u("u.id", "s.seed * 100 + extract(month from m.month)::int")
    return f"""
        insert into lead_source_costs (organization_id, user_id, source, period, cost_usd,
                                       created_at, updated_at)
        select u.organization_id, u.id, s.source, to_char(m.month, 'YYYY-MM'),
               round((s.base * (0.6 + 0.8 * {draw}))::numeric, 2),
               least(m.month + interval '1 month', %(anchor)s),
               least(m.month + interval '1 month', %(anchor)s)
        from users u
        cross join (values {sources}) as s (source, base, seed)
        cross join generate_series(
            date_trunc('month', %(anchor)s - interval '365 days'),
            date_trunc('month', %(anchor)s), interval '1 month') as m (month)
        where u.role = 'agent'
        order by 1, 2, 3, 4
    """


_SEGMENT_DRAW = _u("md5(s.organization_id || s.name)::uuid", "d.d")
_SEGMENTS_SQL = [
    """
    insert into segments (organization_id, user_id, name, description, filter, lead_count,
                          last_counted_at, created_at, updated_at)
    select o.id,
           case s.n when 1 then md5('bench-user:' || o.id || ':0')::uuid
                    when 2 then md5('bench-user:' || o.id || ':1')::uuid end,
           s.name, s.description, s.filter::jsonb,
           coalesce(case s.n when 1 then c.hot when 2 then c.social else c.pool end, 0),
           date_trunc('day', %(anchor)s) - interval '18 hours',
           %(anchor)s - interval '60 days', %(anchor)s - interval '60 days'
    from organizations o
    cross join (values
        (1, 'Hot prospects', 'Hot or qualified leads scoring 70 or more.',
         '{"status": ["hot", "qualified"], "score": {"min": 70}}'),
        (2, 'Social media leads', 'Leads from Facebook and LinkedIn campaigns.',
         '{"sources": ["facebook", "linkedin"]}'),
        (3, 'Re-engagement pool', 'Cold or nurturing leads scoring at most 50.',
         '{"status": ["cold", "nurturing"], "score": {"max": 50}}')
    ) as s (n, name, description, filter)
    left join (
        select organization_id,
               count(*) filter (where status in ('hot', 'qualified') and lead_score >= 70) as hot,
               count(*) filter (where source in ('facebook', 'linkedin')) as social,
               count(*) filter (where status in ('cold', 'nurturing') and lead_score <= 50)
                   as pool
        from leads
        where deleted_at is null
        group by organization_id
    ) c on c.organization_id = o.id
    """,
    f"""
    insert into segment_count_history (segment_id, organization_id, counted_at, lead_count)
    select s.id, s.organization_id,
           date_trunc('day', %(anchor)s) - interval '1 day' * (31 - d.d) + interval '6 hours',
           greatest(0, round(s.lead_count * (0.85 + 0.15 * d.d / 30.0)
               + ({_SEGMENT_DRAW} - 0.5) * (2 + 0.04 * s.lead_count)))::int
    from segments s
    cross join generate_series(1, 30) as d (d)
    """,
]


def _change_sql(salt: int) -> list[str]:
    """Move ~CHANGE_FRACTION of the open leads one stage on: a status row, a score, a call."""
    pick = _u(_LEAD_KEY, salt)
    total = _TOTAL.format(q="q", e="e", i="i", d="d")
    return [
        f"""
        create temp table bench_change on commit drop as
        select l.id, l.organization_id, l.user_id, l.phone_number, l.status,
               {_NEXT_STAGE} as next_status
        from leads l
        where l.deleted_at is null and l.status not in ('recruited', 'dnc')
          and {pick} < {CHANGE_FRACTION}
        """,
        f"""
        create temp table bench_change_scores on commit drop as
        with last_scores as (
            select distinct on (h.lead_id) h.lead_id, h.factors
            from lead_score_history h
            where h.lead_id in (select id from bench_change)
            order by h.lead_id, h.calculated_at desc, h.id desc
        ),
        factors as (
            select c.id,
                   coalesce((s.factors ->> 'qualification')::int, 50) as q,
                   least(100, coalesce((s.factors ->> 'engagement')::int, 0) + 15) as e,
                   {_status_intent("c.next_status")} as i,
                   coalesce((s.factors ->> 'demographic')::int, 25) as d
            from bench_change c
            left join last_scores s on s.lead_id = c.id
        )
        select id, q, e, i, d, {total} as total from factors
        """,
        """
        insert into lead_status_history (lead_id, from_status, to_status, trigger_type,
                                         changed_by)
        select id, status, next_status, 'manual', user_id from bench_change
        """,
        """
        insert into lead_score_history (lead_id, score, factors)
        select id, total,
               jsonb_build_object('qualification', q, 'engagement', e, 'intent', i,
                                  'demographic', d, 'total', total)
        from bench_change_scores
        """,
        f"""
        insert into lead_activities (source_id, event_id, organization_id, lead_id, lead_phone,
                                     lead_ref, user_id, activity_type, direction, outcome,
                                     occurred_at, duration_seconds, matched_at)
        select 'bench:{salt}:' || id, 'bench-evt:{salt}:' || id, organization_id, id,
               phone_number, id::text, user_id, 'call', 'outbound', 'answered',
               now(), 240, now()
        from bench_change
        """,
        """
        update leads l
        set status = c.next_status, lead_score = s.total, last_contact_date = now()
        from bench_change c
        join bench_change_scores s on s.id = c.id
        where l.id = c.id
        """,
    ]


def change_leads(url: str, salt: int) -> int:
    """One transaction: ~1% of open leads advance a stage; returns how many changed."""
    with psycopg.connect(url) as conn, conn.transaction():
        statements = _change_sql(salt)
        conn.execute(statements[0])
        for statement in statements[1:]:
            conn.execute(statement)
        return int(one_row(conn.execute("select count(*) from bench_change"))[0])


def generate_history(url: str, echo: Echo = print) -> dict[str, float]:
    """Everything around the imported leads; returns seconds per step."""
    seconds: dict[str, float] = {}
    with psycopg.connect(url) as conn:
        conn.execute("set temp_buffers = '512MB'")
        conn.execute("set work_mem = '256MB'")
        conn.execute("set maintenance_work_mem = '512MB'")
        anchor = one_row(
            conn.execute("select date_trunc('minute', now()) - interval '30 minutes'")
        )[0]
        params = {"anchor": anchor, "funnel": FUNNEL}

        def step(name: str, statements: list[str], table: str | None) -> None:
            t0 = time.perf_counter()
            with conn.transaction():
                for statement in statements:
                    conn.execute(statement, params if "%(" in statement else None)
            seconds[name] = time.perf_counter() - t0
            if table:
                query = sql.SQL("select count(*) from {}").format(sql.Identifier(table))
                count = one_row(conn.execute(query))[0]
                echo(f"  {name:<22} {seconds[name]:8.1f}s  {count:>12,} rows")
            else:
                echo(f"  {name:<22} {seconds[name]:8.1f}s")

        step("users", [_users_sql()], "users")
        step(
            "plan (temp tables)",
            [
                _plan_sql(),
                "alter table bench_plan add primary key (id)",
                "analyze bench_plan",
                _STEPS_SQL,
                "analyze bench_steps",
                _FINAL_SQL,
                "alter table bench_final add primary key (id)",
                "analyze bench_final",
            ],
            None,
        )
        step("lead_status_history", _STATUS_HISTORY_SQL, "lead_status_history")
        step("lead_score_history", [*_scores_sql()], "lead_score_history")
        step("lead_assignments", [_ASSIGNMENTS_SQL], "lead_assignments")
        step("lead_activities", [_activities_sql()], "lead_activities")
        step("leads (update)", [_LEADS_SQL], "leads")
        step("lead_source_costs", [_source_costs_sql()], "lead_source_costs")
        step("segments", _SEGMENTS_SQL[:1], "segments")
        step("segment_count_history", _SEGMENTS_SQL[1:], "segment_count_history")
        for table in (
            "bench_plan",
            "bench_steps",
            "bench_final",
            "bench_score_times",
            "bench_scores",
        ):
            conn.execute(sql.SQL("drop table {}").format(sql.Identifier(table)))
        conn.commit()
    t0 = time.perf_counter()
    changed = change_leads(url, TODAY_SALT)
    seconds["today's activity"] = time.perf_counter() - t0
    label = "today's activity"
    echo(f"  {label:<22} {seconds[label]:8.1f}s  {changed:>12,} leads moved on")
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("analyze")
    seconds["analyze"] = time.perf_counter() - t0
    echo(f"  {'analyze':<22} {seconds['analyze']:8.1f}s")
    return seconds


# -- dbt ----------------------------------------------------------------------------------------


def drop_dbt_relations(url: str) -> int:
    """Drop what dbt built (tables and views of its schemas), so the next build is a first one."""
    with psycopg.connect(url, autocommit=True) as conn:
        relations = conn.execute(
            """
            select n.nspname, c.relname, c.relkind
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = any(%s) and c.relkind in ('r', 'v', 'm', 'p')
            """,
            (list(DBT_SCHEMAS),),
        ).fetchall()
        for schema, name, kind in relations:
            keyword = {"v": "view", "m": "materialized view"}.get(kind, "table")
            conn.execute(
                sql.SQL("drop {} if exists {} cascade").format(
                    sql.SQL(keyword), sql.Identifier(schema, name)
                )
            )
    return len(relations)


def _read_nodes(target: Path) -> list[NodeTiming]:
    results_path = target / "run_results.json"
    if not results_path.exists():
        return []
    materialized: dict[str, str] = {}
    manifest_path = target / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        materialized = {
            uid: node.get("config", {}).get("materialized")
            for uid, node in manifest.get("nodes", {}).items()
        }
    nodes = []
    for result in json.loads(results_path.read_text()).get("results", []):
        response = result.get("adapter_response") or {}
        nodes.append(
            NodeTiming(
                unique_id=result["unique_id"],
                seconds=float(result.get("execution_time") or 0.0),
                status=str(result.get("status")),
                rows_affected=response.get("rows_affected"),
                materialized=materialized.get(result["unique_id"]),
            )
        )
    return nodes


def lookback_vars(target: Path) -> dict[str, str]:
    """The lookback vars the incremental models of the last build's manifest read (in their own
    code or in the project's macros their hooks call), set to none."""
    manifest_path = target / "manifest.json"
    if not manifest_path.exists():
        return {}
    manifest = json.loads(manifest_path.read_text())
    codes = [
        node.get("raw_code") or ""
        for node in manifest.get("nodes", {}).values()
        if node.get("config", {}).get("materialized") == "incremental"
    ]
    if codes:
        codes += [
            macro.get("macro_sql") or ""
            for macro in manifest.get("macros", {}).values()
            if macro.get("package_name") == "leadflow"
        ]
    names = {name for code in codes for name in LOOKBACK_VAR.findall(code)}
    return dict.fromkeys(sorted(names), NO_LOOKBACK)


def timed_build(
    label: str, args: list[str], url: str, target: Path, echo: Echo = print
) -> BuildTiming:
    """Run one dbt command, time it, and read its nodes; on failure name the failing nodes."""
    (target / "run_results.json").unlink(missing_ok=True)
    echo(f"\n{label}: dbt {' '.join(args)}")
    t0 = time.perf_counter()
    try:
        run_dbt(args, url, target_path=target)
    except DbtError:
        failed = [n for n in _read_nodes(target) if n.status not in ("success", "pass", "skipped")]
        for node in failed:
            echo(f"  {node.status:<6} {node.unique_id}")
        raise
    build = BuildTiming(label, time.perf_counter() - t0, _read_nodes(target))
    slug = label.split(" ", 1)[0]
    shutil.copyfile(target / "run_results.json", target / f"run_results_{slug}.json")
    kinds = ", ".join(f"{kind} {seconds:.0f}s" for kind, seconds in build.seconds_by_kind().items())
    echo(f"  {build.seconds:.1f}s wall, {len(build.nodes)} nodes (node time: {kinds}); slowest:")
    for node in build.slowest(10):
        rows = ""
        if node.unique_id.startswith("model.") and node.rows_affected is not None:
            rows = f"  {node.rows_affected:>10,} rows"
        echo(f"  {node.seconds:8.2f}s  {node.unique_id}{rows}")
    return build


def run_dbt_bench(
    server_url: str,
    leads: int,
    workdir: Path,
    *,
    reuse: bool = False,
    workers: int | None = None,
    echo: Echo = print,
    database: str = DATABASE,
) -> DbtBenchResult:
    """Generate (or reuse) the bench database, then time full, incremental and full-refresh builds.

    `database` is the bench database's name (recreated unless reused); tests pass their own.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / "dbt_target"
    url = with_dbname(server_url, database)
    generation: dict[str, float] = {}
    reused = reuse and database_exists(server_url, database) and is_complete(url, leads)
    if reused:
        echo(f"reusing database {database}: {_live_leads(url):,} leads")
    else:
        echo(f"generating {leads:,} leads with their history in database {database}")
        t0 = time.perf_counter()
        prepare_database(server_url, database)
        import_leads(url, leads, workdir, workers=workers, echo=echo)
        generation["import"] = time.perf_counter() - t0
        generation.update(generate_history(url, echo))
        total = sum(generation.values())
        echo(f"  {'generation total':<22} {total:8.1f}s")
    rows = count_rows(url)
    echo("rows: " + ", ".join(f"{table} {count:,}" for table, count in rows.items()))

    dropped = drop_dbt_relations(url)
    if dropped:
        echo(f"dropped {dropped} relations of an earlier build: the first build starts empty")
    full = timed_build("first build (empty analytics schemas)", ["build"], url, target, echo)
    t0 = time.perf_counter()
    changed = change_leads(url, int(time.time()))
    echo(
        f"\nchanged {changed:,} leads ({changed / max(rows['leads'], 1):.2%}) in "
        f"{time.perf_counter() - t0:.1f}s: a status row, a score row and a call each, "
        "leads.updated_at bumped"
    )
    lookbacks = lookback_vars(target)
    incremental = timed_build(
        "incremental build",
        ["build", "--vars", json.dumps(lookbacks)] if lookbacks else ["build"],
        url,
        target,
        echo,
    )
    for node in incremental.nodes:
        if node.materialized == "incremental":
            echo(f"  incremental model {node.unique_id}: {node.rows_affected} rows (re)inserted")
    refresh = timed_build("full refresh", ["build", "--full-refresh"], url, target, echo)

    echo(
        f"\n{rows['leads']:,} leads: dbt build {full.seconds:.1f}s first, "
        f"{incremental.seconds:.1f}s incremental after {changed:,} leads changed, "
        f"{refresh.seconds:.1f}s --full-refresh"
    )
    return DbtBenchResult(
        database_url=url,
        leads=rows["leads"],
        rows=rows,
        generation_seconds=generation,
        changed_leads=changed,
        full_build_seconds=full.seconds,
        incremental_build_seconds=incremental.seconds,
        full_refresh_seconds=refresh.seconds,
        slowest_nodes=full.slowest(10),
        builds=[full, incremental, refresh],
        reused=reused,
    )


__all__ = ["ORGANIZATIONS", "DbtBenchResult", "run_dbt_bench"]
