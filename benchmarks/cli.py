"""`python -m benchmarks …`: the benchmarks' command line (`make bench` runs all five).

The benchmarks are development tools of the checkout, not part of the installed product: they
run from the repository root, against the servers the product would use (POSTGRES_URL,
NEO4J_*, REDIS_URL, else the running local servers of `leadflow up`), each in databases of its
own (`leadflow_bench*`). `leadflow bench …` is the old name of these commands, kept working
(leadflow/cli/bench.py).

Each command prints its figures as it goes; with `--json` that report goes to stderr and stdout
holds one JSON object, on one line. This module loads nothing heavy: a benchmark's module is
imported when it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from leadflow import settings
from leadflow.cli.conventions import EXIT_CODES_HELP, emit_json

F = TypeVar("F", bound=Callable[..., Any])

JSON_HELP = "Print the figures as one JSON object on stdout (the report goes to stderr)."


def _module(name: str) -> Any:
    return importlib.import_module(f"benchmarks.{name}")


def _echo(as_json: bool) -> Callable[[str], None]:
    """Where the report goes: stdout, or stderr when stdout carries the JSON object."""

    def echo(line: str) -> None:
        click.echo(line, err=as_json)

    return echo


def _workdir(workdir: str | None) -> Path:
    return Path(workdir) if workdir else settings.leadflow_home() / "bench"


def json_option(command: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(command)


def workdir_option(help_text: str) -> Callable[[F], F]:
    return click.option("--workdir", type=click.Path(file_okay=False), default=None, help=help_text)


@click.group(epilog=EXIT_CODES_HELP)
def cli() -> None:
    """Benchmarks of leadflow: figures printed, nothing asserted. Run from the checkout.

    \b
    Examples:
      python -m benchmarks ingest --rows 200000
      python -m benchmarks nightly --leads 1000 --json
      make bench BENCH_ROWS=200000 BENCH_LEADS=100000
    """


@cli.command("ingest", epilog=EXIT_CODES_HELP)
@click.option("--rows", type=int, default=100_000, show_default=True, help="Rows per file.")
@click.option("--workers", type=int, help="Normalization processes (default: CPU count).")
@workdir_option("Where the generated files go (default: .leadflow/bench).")
@json_option
def bench_ingest(rows: int, workers: int | None, workdir: str | None, as_json: bool) -> None:
    """Import a generated messy file into an empty database, then merge a second one.

    \b
    Examples:
      python -m benchmarks ingest --rows 200000
      python -m benchmarks ingest --rows 1000000 --workers 2 --json | jq .initial_ratio
    """
    from leadflow.cli.common import postgres_url

    result = _module("ingest").run_ingest_bench(
        postgres_url(), rows, _workdir(workdir), workers=workers, echo=_echo(as_json)
    )
    if as_json:
        emit_json(result.as_dict())


@cli.command("dbt", epilog=EXIT_CODES_HELP)
@click.option(
    "--leads",
    type=int,
    default=100_000,
    show_default=True,
    help="Leads to generate (with status/score/assignment/activity history).",
)
@click.option("--reuse", is_flag=True, help="Keep the bench database if it already has the leads.")
@click.option("--workers", type=int, help="Normalization processes for the import.")
@workdir_option("Where generated files and dbt artifacts go (default: .leadflow/bench).")
@json_option
def bench_dbt(
    leads: int, reuse: bool, workers: int | None, workdir: str | None, as_json: bool
) -> None:
    """Time `dbt build` (full, incremental after 1% changes, full refresh) on generated leads.

    \b
    Examples:
      python -m benchmarks dbt --leads 100000
      python -m benchmarks dbt --leads 100000 --reuse --json
    """
    from leadflow.cli.common import postgres_url

    result = _module("dbt_build").run_dbt_bench(
        postgres_url(),
        leads,
        _workdir(workdir),
        reuse=reuse,
        workers=workers,
        echo=_echo(as_json),
    )
    if as_json:
        emit_json(result.as_dict())


@cli.command("nightly", epilog=EXIT_CODES_HELP)
@click.option(
    "--leads",
    type=int,
    default=200_000,
    show_default=True,
    help="Leads to generate (with a"
    " year of status/score/assignment/activity history, as the dbt benchmark).",
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
@json_option
@workdir_option("Scratch directory (default: .leadflow/bench).")
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
    memory and the ratios to the full run.

    \b
    Examples:
      python -m benchmarks nightly --leads 200000 --reuse
      python -m benchmarks nightly --leads 1000 --change 0.05 --json
    """
    from leadflow.cli.common import postgres_url

    result = _module("nightly").run_nightly_bench(
        postgres_url(),
        leads,
        _workdir(workdir),
        changes=changes or (0.01, 0.02),
        reuse=reuse,
        workers=workers,
        echo=_echo(as_json),
    )
    if as_json:
        emit_json(result.as_dict())


@cli.command("graph", epilog=EXIT_CODES_HELP)
@click.option("--leads", type=int, default=100_000, show_default=True, help="Leads to generate.")
@click.option("--batch-size", type=int, default=1000, show_default=True, help="Rows per UNWIND.")
@click.option("--reuse", is_flag=True, help="Keep the bench database if it already has the leads.")
@workdir_option("Scratch directory (default: .leadflow/bench).")
@json_option
def bench_graph(
    leads: int, batch_size: int, reuse: bool, workdir: str | None, as_json: bool
) -> None:
    """Full and incremental graph sync beside a bare UNWIND … MERGE loop (the floor).

    \b
    Examples:
      python -m benchmarks graph --leads 100000
      python -m benchmarks graph --leads 10000 --batch-size 500 --reuse --json
    """
    from leadflow.cli.common import neo4j_resource, postgres_url

    result = _module("graph").run_graph_bench(
        postgres_url(),
        leads,
        _workdir(workdir),
        batch_size=batch_size,
        reuse=reuse,
        echo=_echo(as_json),
        graph=neo4j_resource(),
    )
    if as_json:
        emit_json(result.as_dict())


@cli.command("recommend", epilog=EXIT_CODES_HELP)
@click.option("--leads", type=int, default=100_000, show_default=True, help="Leads to generate.")
@click.option(
    "--samples",
    type=int,
    default=2000,
    show_default=True,
    help="Reads timed per path (cache, floor; a tenth of it for misses).",
)
@json_option
def bench_recommend(leads: int, samples: int, as_json: bool) -> None:
    """Training time, scoring throughput, cache fill, and `recommend` latency from the cache
    (beside a bare Redis GET, the floor) and from PostgreSQL on a miss.

    \b
    Examples:
      python -m benchmarks recommend --leads 100000
      python -m benchmarks recommend --leads 3000 --samples 200 --json
    """
    from leadflow.cli.common import postgres_url, redis_url

    result = _module("recommend").run_recommend_bench(
        postgres_url(), redis_url(), leads, samples=samples, echo=_echo(as_json)
    )
    if as_json:
        emit_json(result.as_dict())
