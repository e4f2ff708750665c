"""`python -m benchmarks nightly`: the nightly job at scale, full, after a CRM day of changes, and
with nothing changed.

The data is the dbt benchmark's (benchmarks/dbt_build.py): N leads through the real import, a
year of status, score, assignment and activity history around them. It is generated once into a
seed database (`leadflow_bench_nightly_seed_<N>`, kept for --reuse) and copied for every bench
run into `leadflow_bench_nightly` (CREATE DATABASE … TEMPLATE: a file copy), which is migrated to
the code's schema. The graph (database `leadflow_bench_nightly` on the local Bolt server), the
activity events (MongoDB database `leadflow_bench_nightly`) and the cache keys (prefix
`leadflow-bench-nightly`) are the bench's own, emptied before the first run.

Each nightly runs as `leadflow run --json` does, in a child process (the figures a user times,
and its peak memory: the child's and its descendants' largest resident set, from wait4), with
its own Dagster instance. The runs:

1. the first nightly on the generated data (every step does its full pass);
2. for each --change share (default 1% and 2%): a CRM day moves that share of the open leads one
   stage on (status row), records a call for each in MongoDB (a tenth of them "late": occurred
   three days ago), reassigns a tenth of that many leads to another agent, puts a twentieth on the
   DNC list, soft-deletes a fiftieth and adds a tenth as new leads; then a nightly;
3. a nightly with nothing changed.

Between two nightlies a day passes, and autovacuum processes what the last one wrote (a full
nightly rewrites a million lead rows and appends millions of history rows). The bench runs that
day's `VACUUM (ANALYZE)` itself after each nightly and prints its seconds apart: back to back,
the next nightly would find stale statistics and an unset visibility map (the covering indexes'
index-only scans need it) that a real night does not.

It prints per-step seconds of every run, the rows each step reports (its numeric metadata), the
wall seconds, the peak memory, and the ratios run/full.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from benchmarks import dbt_build
from benchmarks.common import Echo, database_exists, with_dbname
from leadflow.platform.migrations import migrate_up
from leadflow.settings import ACTIVITIES_COLLECTION

DATABASE = "leadflow_bench_nightly"
#: the CRM day's parts, as shares of the stage moves
REASSIGNED, DNC_ADDED, DELETED, NEW_LEADS, LATE_ACTIVITIES = 0.1, 0.05, 0.02, 0.1, 0.1


def seed_database(leads: int, database: str = DATABASE) -> str:
    return f"{database}_seed_{leads}"


@dataclass
class NightlyRun:
    label: str
    seconds: float
    success: bool
    peak_rss_mb: float
    step_seconds: dict[str, float] = field(default_factory=dict)
    assets: dict[str, dict[str, float]] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    checks: dict[str, int] = field(default_factory=dict)

    def rows_touched(self) -> dict[str, float]:
        """One figure per asset: the sum of the counts it reports that say what it wrote or
        looked at (whatever the step reports; the full metadata is in `assets`)."""
        return {name: sum(v for v in figures.values()) for name, figures in self.assets.items()}


@dataclass
class NightlyBenchResult:
    leads: int
    rows: dict[str, int]
    reused: bool
    generation_seconds: dict[str, float]
    runs: list[NightlyRun]
    #: seconds of the VACUUM (ANALYZE) after each nightly but the last (the day between)
    vacuum_seconds: list[float] = field(default_factory=list)

    @property
    def full(self) -> NightlyRun:
        return self.runs[0]

    def ratios(self) -> dict[str, float]:
        full = max(self.full.seconds, 1e-9)
        return {run.label: round(run.seconds / full, 3) for run in self.runs[1:]}

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratios"] = self.ratios()
        return data


# -- data ---------------------------------------------------------------------------------------


def prepare_seed(
    server_url: str,
    leads: int,
    workdir: Path,
    *,
    reuse: bool,
    workers: int | None,
    echo: Echo,
    database: str = DATABASE,
) -> tuple[bool, dict[str, float]]:
    """Generate the seed database unless --reuse finds a complete one; (reused, seconds)."""
    name = seed_database(leads, database)
    url = with_dbname(server_url, name)
    if reuse and database_exists(server_url, name) and dbt_build.is_complete(url, leads):
        echo(f"reusing seed database {name}")
        return True, {}
    echo(f"generating {leads:,} leads with a year of history in seed database {name}")
    t0 = time.perf_counter()
    dbt_build.prepare_database(server_url, name)
    dbt_build.import_leads(url, leads, workdir, workers=workers, echo=echo)
    seconds = {"import": time.perf_counter() - t0}
    seconds.update(dbt_build.generate_history(url, echo))
    return False, seconds


def copy_seed(server_url: str, leads: int, database: str = DATABASE) -> str:
    """The bench database, a fresh copy of the seed, migrated to this code's schema."""
    with psycopg.connect(with_dbname(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database))
        )
        conn.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(database), sql.Identifier(seed_database(leads, database))
            )
        )
    url = with_dbname(server_url, database)
    migrate_up(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("analyze")
    return url


def vacuum_analyze(url: str) -> float:
    """VACUUM (ANALYZE) of the bench database; its seconds."""
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum (analyze)")
    return round(time.perf_counter() - t0, 1)


def _picked(salt: int, share: float) -> str:
    return f"{dbt_build._u(dbt_build._LEAD_KEY, salt)} < {share}"


def crm_day(url: str, mongo_database: Any, share: float, salt: int) -> dict[str, int]:
    """A day of CRM work on `share` of the open leads (module docstring); returns the counts."""
    now = datetime.now(UTC)
    counts: dict[str, int] = {}
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute(
            f"""
            create temp table day_moves on commit drop as
            select l.id, l.organization_id, l.user_id, l.phone_number, l.status,
                   {dbt_build._NEXT_STAGE} as next_status
            from leads l
            where l.deleted_at is null and l.status not in ('recruited', 'dnc')
              and {_picked(salt, share)}
            """
        )
        counts["stage_moves"] = conn.execute(
            """
            insert into lead_status_history (lead_id, from_status, to_status, trigger_type,
                                             changed_by)
            select id, status, next_status, 'manual', user_id from day_moves
            """
        ).rowcount
        conn.execute("update leads l set status = m.next_status from day_moves m where l.id = m.id")
        events = conn.execute(
            f"""
            select id::text, organization_id::text, phone_number, user_id::text,
                   {dbt_build._u("id", salt + 1)} < {LATE_ACTIVITIES} as late
            from day_moves
            """
        ).fetchall()
        counts["reassigned"] = conn.execute(
            f"""
            with picked as (
                select l.id, l.user_id,
                       md5('bench-user:' || l.organization_id || ':'
                           || (1 + (uuid_hash_extended(l.id, {salt + 2}) & 2147483647) % 5))::uuid
                           as to_user
                from leads l
                where l.deleted_at is null and l.user_id is not null
                  and l.status not in ('recruited', 'dnc')
                  and {_picked(salt + 2, share * REASSIGNED)}
            ),
            moved as (
                update leads l set user_id = p.to_user
                from picked p
                where l.id = p.id and p.to_user is distinct from p.user_id
                returning l.id, p.user_id as from_user, p.to_user
            )
            insert into lead_assignments (lead_id, from_user_id, to_user_id, strategy, reason)
            select id, from_user, to_user, 'manual', 'bench: reassigned' from moved
            """
        ).rowcount
        counts["dnc_added"] = conn.execute(
            f"""
            insert into dnc_list (organization_id, phone_number, reason, source)
            select l.organization_id, l.phone_number, 'bench: asked not to be called', 'bench'
            from leads l
            where l.deleted_at is null and {_picked(salt + 3, share * DNC_ADDED)}
            on conflict do nothing
            """
        ).rowcount
        counts["deleted"] = conn.execute(
            f"""
            update leads l set deleted_at = now()
            where l.deleted_at is null and l.status <> 'recruited'
              and {_picked(salt + 4, share * DELETED)}
            """
        ).rowcount
        live = conn.execute("select count(*) from leads where deleted_at is null").fetchone()
        new_leads = int(round((live[0] if live else 0) * share * NEW_LEADS))
        counts["new_leads"] = conn.execute(
            """
            insert into leads (organization_id, first_name, last_name, phone_number, source,
                               status)
            select o.ids[1 + n %% cardinality(o.ids)], 'Bench', 'New ' || n,
                   '+4420' || lpad((%(salt)s * 1000000 + n)::text, 8, '0'), 'facebook', 'new'
            from generate_series(1, %(count)s) n
            cross join (select array_agg(id order by id) as ids from organizations) o
            on conflict do nothing
            """,
            {"salt": salt % 90, "count": new_leads},
        ).rowcount
    documents = [
        {
            "event_id": f"bench-day:{salt}:{lead_id}",
            "organization_id": org,
            "lead_id": lead_id,
            "lead_phone": phone,
            "user_id": user,
            "type": "call",
            "direction": "outbound",
            "outcome": "answered",
            "duration_seconds": 180,
            "occurred_at": now - (timedelta(days=3) if late else timedelta(minutes=5)),
        }
        for lead_id, org, phone, user, late in events
    ]
    if documents:
        mongo_database[ACTIVITIES_COLLECTION].insert_many(documents)
    counts["activities"] = len(documents)
    counts["late_activities"] = sum(1 for *_, late in events if late)
    return counts


# -- the nightly, as `leadflow run --json` -------------------------------------------------------


def nightly_environment(url: str, dagster_home: Path, database: str = DATABASE) -> dict[str, str]:
    """The child's environment: this one, pointed at the bench's own stores."""
    environ = dict(os.environ)
    environ.update(
        {
            "POSTGRES_URL": url,
            "NEO4J_DATABASE": database,
            "MONGO_DATABASE": database,
            "LEADFLOW_CACHE_PREFIX": database.replace("_", "-"),
            "DAGSTER_HOME": str(dagster_home),
            "LEADFLOW_ALERT_WEBHOOK": "",
        }
    )
    return environ


def run_nightly_process(
    label: str, environ: dict[str, str], changed: dict[str, int], full_refresh: bool = False
) -> NightlyRun:
    """`leadflow run --json` in a child process; its summary, wall time and peak memory."""
    command = [sys.executable, "-m", "leadflow.cli", "run", "--json"]
    if full_refresh:
        command.append("--full-refresh")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        child = subprocess.Popen(command, env=environ, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - t0
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read().decode(), err.read().decode()
    try:
        summary = json.loads(text.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise RuntimeError(
            f"{label}: `leadflow run --json` exited {child.returncode} without a summary:\n"
            + (errors or text)[-3000:]
        ) from None
    return NightlyRun(
        label=label,
        seconds=round(seconds, 1),
        success=bool(summary["success"]),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
        step_seconds=summary.get("step_seconds", {}),
        assets=summary.get("assets", {}),
        changed=changed,
        failures=summary.get("failures", []),
        checks=summary.get("checks", {}),
    )


def reset_stores(environ: dict[str, str], echo: Echo) -> None:
    """Empty the bench's graph database, MongoDB database and cache keys."""
    from benchmarks.graph import reset_graph_database
    from leadflow.cli.common import mongo_resource, neo4j_resource, redis_url
    from leadflow.resources import Neo4jResource

    graph_database = environ["NEO4J_DATABASE"]
    graph = neo4j_resource()
    resource = Neo4jResource(
        uri=graph.resolved_uri(), user=graph.user, password=graph.password, database=graph_database
    )
    driver = resource.get_driver()
    try:
        echo(
            f"graph database {graph_database} {reset_graph_database(driver, graph_database, echo)}"
        )
    finally:
        driver.close()
    client = mongo_resource().get_client()
    client.drop_database(environ["MONGO_DATABASE"])
    url = redis_url()
    if url:
        import redis

        cache = redis.Redis.from_url(url)
        keys = list(cache.scan_iter(f"{environ['LEADFLOW_CACHE_PREFIX']}:*", count=10_000))
        for start in range(0, len(keys), 10_000):
            cache.delete(*keys[start : start + 10_000])


# -- report -------------------------------------------------------------------------------------


def _short(step: str) -> str:
    if step == "analytics_models":
        return "analytics_models (dbt build)"
    return step if len(step) <= 35 else step[:32] + "..."


def print_report(result: NightlyBenchResult, echo: Echo) -> None:
    runs = result.runs
    steps: list[str] = []
    for run in runs:
        steps.extend(key for key in run.step_seconds if key not in steps)
    header = f"{'step':<36}" + "".join(f"{run.label:>16}" for run in runs)
    echo("\nseconds per step")
    echo(header)
    for step in steps:
        cells = "".join(
            f"{run.step_seconds[step]:>16.1f}" if step in run.step_seconds else f"{'-':>16}"
            for run in runs
        )
        echo(f"{_short(step):<36}{cells}")
    echo(f"{'wall (leadflow run --json)':<36}" + "".join(f"{run.seconds:>16.1f}" for run in runs))
    echo(f"{'peak memory MB':<36}" + "".join(f"{run.peak_rss_mb:>16.0f}" for run in runs))
    echo(
        f"{'share of the full run':<36}{'1.000':>16}"
        + "".join(f"{ratio:>16.3f}" for ratio in result.ratios().values())
    )
    echo("\nrows per step (the step's own counts)")
    for run in runs:
        changed = ", ".join(f"{k} {v:,}" for k, v in run.changed.items()) or "-"
        echo(f"  {run.label}: changed before it: {changed}")
        for name, figures in run.assets.items():
            text = ", ".join(f"{k} {v:,}" for k, v in figures.items() if not isinstance(v, float))
            echo(f"    {name:<34} {text}")
        for failure in run.failures:
            echo(f"    FAILED {failure['step']}: {failure['error'][:300]}")


# -- the benchmark ------------------------------------------------------------------------------


def run_nightly_bench(
    server_url: str,
    leads: int,
    workdir: Path,
    *,
    changes: tuple[float, ...] = (0.01, 0.02),
    reuse: bool = False,
    workers: int | None = None,
    echo: Echo = print,
    database: str = DATABASE,
) -> NightlyBenchResult:
    """Generate (or reuse) the seed, copy it, and run the nightly full, after each CRM day of
    `changes` and unchanged (module docstring). `database` names the bench's PostgreSQL, graph
    and MongoDB databases (and its seed's prefix); tests pass their own."""
    workdir.mkdir(parents=True, exist_ok=True)
    reused, generation = prepare_seed(
        server_url, leads, workdir, reuse=reuse, workers=workers, echo=echo, database=database
    )
    t0 = time.perf_counter()
    url = copy_seed(server_url, leads, database)
    echo(
        f"bench database {database}: copied from the seed and migrated in"
        f" {time.perf_counter() - t0:.1f}s"
    )
    rows = dbt_build.count_rows(url)
    echo("rows: " + ", ".join(f"{table} {count:,}" for table, count in rows.items()))
    dagster_home = workdir / "nightly_dagster"
    if dagster_home.exists():
        import shutil

        shutil.rmtree(dagster_home)
    dagster_home.mkdir(parents=True)
    environ = nightly_environment(url, dagster_home, database)
    reset_stores(environ, echo)
    dbt_build.drop_dbt_relations(url)

    from leadflow.cli.common import mongo_resource

    mongo = mongo_resource().get_client()[database]
    runs: list[NightlyRun] = []
    vacuums: list[float] = []

    def nightly(label: str, changed: dict[str, int]) -> None:
        echo(f"\n{label}: leadflow run --json …")
        run = run_nightly_process(label, environ, changed)
        state = "ok" if run.success else "FAILED"
        echo(f"  {state} in {run.seconds:.1f}s, peak {run.peak_rss_mb:.0f} MB")
        runs.append(run)

    def day_passes() -> None:
        vacuums.append(vacuum_analyze(url))
        echo(f"  the day's autovacuum: VACUUM (ANALYZE) in {vacuums[-1]:.1f}s (not in the runs)")

    nightly("full", {})
    for number, share in enumerate(changes):
        day_passes()
        t0 = time.perf_counter()
        changed = crm_day(url, mongo, share, salt=int(time.time()) % 1_000_000 + number)
        echo(
            f"\nCRM day of {share:.0%}: "
            + ", ".join(f"{k} {v:,}" for k, v in changed.items())
            + f" ({time.perf_counter() - t0:.1f}s)"
        )
        nightly(f"after {share:.0%}", changed)
    day_passes()
    nightly("unchanged", {})
    result = NightlyBenchResult(
        leads=rows["leads"],
        rows=rows,
        reused=reused,
        generation_seconds=generation,
        runs=runs,
        vacuum_seconds=vacuums,
    )
    print_report(result, echo)
    return result


__all__ = ["NightlyBenchResult", "NightlyRun", "crm_day", "run_nightly_bench"]
