"""`leadflow bench ingest|dbt|graph`: the benchmarks in the checkout's top-level benchmarks/.

They are development tools, not part of the installed product: the command finds them next to
the package (or in LEADFLOW_PROJECT_DIR) and says so when they are not there.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import click

from leadflow import settings
from leadflow.cli.common import fail, neo4j_resource, postgres_url


def _benchmarks(module: str) -> ModuleType:
    root = settings.project_root()
    if not (root / "benchmarks" / "__init__.py").exists():
        fail(f"benchmarks/ not found in {root}: run `leadflow bench` from a source checkout")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(f"benchmarks.{module}")


@click.group()
def bench() -> None:
    """Benchmarks (figures printed, nothing asserted)."""


@bench.command("ingest")
@click.option("--rows", type=int, default=100_000, show_default=True, help="Rows per file.")
@click.option("--workers", type=int, help="Normalization processes (default: CPU count).")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the generated files go (default: .leadflow/bench).",
)
def bench_ingest(rows: int, workers: int | None, workdir: str | None) -> None:
    """Import a generated messy file into an empty database, then merge a second one."""
    run_ingest_bench = _benchmarks("ingest").run_ingest_bench

    url = postgres_url()
    target = Path(workdir) if workdir else settings.leadflow_home() / "bench"
    run_ingest_bench(url, rows, target, workers=workers, echo=click.echo)


@bench.command("dbt")
@click.option(
    "--leads",
    type=int,
    default=100_000,
    show_default=True,
    help="Leads to generate (with status/score/assignment/activity history).",
)
@click.option("--reuse", is_flag=True, help="Keep the bench database if it already has the leads.")
@click.option("--workers", type=int, help="Normalization processes for the import.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where generated files and dbt artifacts go (default: .leadflow/bench).",
)
def bench_dbt(leads: int, reuse: bool, workers: int | None, workdir: str | None) -> None:
    """Time `dbt build` (full, incremental after 1% changes, full refresh) on generated leads."""
    run_dbt_bench = _benchmarks("dbt_build").run_dbt_bench

    url = postgres_url()
    target = Path(workdir) if workdir else settings.leadflow_home() / "bench"
    run_dbt_bench(url, leads, target, reuse=reuse, workers=workers, echo=click.echo)


@bench.command("nightly")
@click.option(
    "--leads",
    type=int,
    default=200_000,
    show_default=True,
    help="Leads to generate (with a"
    " year of status/score/assignment/activity history, as `bench dbt`).",
)
@click.option(
    "--change",
    "changes",
    type=click.FloatRange(0.0001, 0.5),
    multiple=True,
    help="Share of the open leads a CRM day changes before an incremental run; repeat for"
    " several runs (default 0.01 and 0.02).",
)
@click.option("--reuse", is_flag=True, help="Reuse the generated seed database of these leads.")
@click.option("--workers", type=int, help="Normalization processes for the import.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object too.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Scratch directory (default: .leadflow/bench).",
)
def bench_nightly(
    leads: int,
    changes: tuple[float, ...],
    reuse: bool,
    workers: int | None,
    as_json: bool,
    workdir: str | None,
) -> None:
    """The nightly job (`leadflow run --json`, in a child process) on generated leads: full,
    after each CRM day of changes, and with nothing changed; per-step seconds, rows, peak
    memory and the ratios to the full run."""
    run_nightly_bench = _benchmarks("nightly").run_nightly_bench

    url = postgres_url()
    target = Path(workdir) if workdir else settings.leadflow_home() / "bench"
    result = run_nightly_bench(
        url,
        leads,
        target,
        changes=changes or (0.01, 0.02),
        reuse=reuse,
        workers=workers,
        echo=click.echo,
    )
    if as_json:
        import json

        click.echo(json.dumps(result.as_dict(), default=str))


@bench.command("graph")
@click.option("--leads", type=int, default=100_000, show_default=True, help="Leads to generate.")
@click.option("--batch-size", type=int, default=1000, show_default=True, help="Rows per UNWIND.")
@click.option("--reuse", is_flag=True, help="Keep the bench database if it already has the leads.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Scratch directory (default: .leadflow/bench).",
)
def bench_graph(leads: int, batch_size: int, reuse: bool, workdir: str | None) -> None:
    """Full and incremental graph sync beside a bare UNWIND … MERGE loop (the floor)."""
    run_graph_bench = _benchmarks("graph").run_graph_bench

    url = postgres_url()
    target = Path(workdir) if workdir else settings.leadflow_home() / "bench"
    run_graph_bench(
        url,
        leads,
        target,
        batch_size=batch_size,
        reuse=reuse,
        echo=click.echo,
        graph=neo4j_resource(),
    )


@bench.command("recommend")
@click.option("--leads", type=int, default=100_000, show_default=True, help="Leads to generate.")
@click.option(
    "--samples",
    type=int,
    default=2000,
    show_default=True,
    help="Reads timed per path (cache, floor; a tenth of it for misses).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object too.")
def bench_recommend(leads: int, samples: int, as_json: bool) -> None:
    """Training time, scoring throughput, cache fill, and `recommend` latency from the cache
    (beside a bare Redis GET, the floor) and from PostgreSQL on a miss."""
    from leadflow.cli.common import redis_url

    run_recommend_bench = _benchmarks("recommend").run_recommend_bench
    result = run_recommend_bench(
        postgres_url(), redis_url(), leads, samples=samples, echo=click.echo
    )
    if as_json:
        import json

        click.echo(json.dumps(result.as_dict(), default=str))
