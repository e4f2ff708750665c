"""`leadflow run` (the nightly job, in-process) and `leadflow dbt …` (the dbt project by hand).

Both are added to the main command line by `dagster_project.cli`.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from dagster_project import settings
from dagster_project.cli_common import fail as _fail
from dagster_project.cli_common import postgres_url as _postgres_url
from dagster_project.db import migrate as migrations
from dagster_project.services import ALL_SERVICES, PostgresService, ServiceError


def _numbers(metadata: dict[str, Any]) -> dict[str, int | float]:
    return {
        key: value.value
        for key, value in metadata.items()
        if isinstance(value.value, int | float) and not isinstance(value.value, bool)
    }


def summarize_run(result) -> dict[str, Any]:
    """Plain figures of a nightly run: per-asset numbers, dbt models and checks, failures."""
    assets: dict[str, dict[str, int | float]] = {}
    dbt_models = 0
    for event in result.get_asset_materialization_events():
        key = event.asset_key
        metadata = event.materialization.metadata
        if "dagster_dbt/materialization_type" in metadata or key.path[0].startswith("analytics"):
            dbt_models += 1
            continue
        assets[key.to_user_string()] = _numbers(metadata)
    checks = {"passed": 0, "failed": 0}
    failed_checks: list[str] = []
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if evaluation.passed:
                checks["passed"] += 1
            else:
                checks["failed"] += 1
                failed_checks.append(evaluation.check_name)
    failures = [
        {"step": e.step_key, "error": e.step_failure_data.error.message.strip()[:500]}
        for e in result.all_events
        if e.is_step_failure
    ]
    return {
        "success": result.success,
        "run_id": result.run_id,
        "assets": assets,
        "dbt_models_built": dbt_models,
        "checks": checks,
        "failed_checks": failed_checks,
        "failures": failures,
    }


def print_run_summary(summary: dict[str, Any]) -> None:
    for name, figures in summary["assets"].items():
        text = ", ".join(f"{k} {v}" for k, v in figures.items())
        click.echo(f"  {name:<20} {text}")
    checks = summary["checks"]
    click.echo(
        f"  {'dbt':<20} models_built {summary['dbt_models_built']}, "
        f"checks_passed {checks['passed']}, checks_failed {checks['failed']}"
    )
    for name in summary["failed_checks"]:
        click.echo(f"  CHECK FAILED {name}")
    for failure in summary["failures"]:
        click.echo(f"  FAILED {failure['step']}: {failure['error']}")


def run_log_path() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return settings.leadflow_home() / "logs" / f"nightly-{stamp}.log"


@contextmanager
def output_to_log(path: Path) -> Iterator[Path]:
    """Send everything written to stdout/stderr inside the block (dbt's log lines, Dagster's
    console log, by this process or its children) to `path`: the terminal gets the summary,
    the log keeps the detail, and `--json` prints exactly one JSON object on stdout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield path
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def start_other_services() -> None:
    """Start (or reuse) the graph and MongoDB servers the jobs need; PostgreSQL is already up."""
    for service in ALL_SERVICES:
        if service is not PostgresService:
            try:
                service().ensure_running()
            except ServiceError as exc:
                _fail(str(exc))


def ensure_ready(url: str) -> None:
    """Start the local servers the job needs and refuse to run on an outdated schema."""
    start_other_services()
    try:
        pending = [s for s in migrations.migration_status(url) if s.state != "applied"]
    except migrations.MigrationError as exc:
        _fail(str(exc))
    if pending:
        names = ", ".join(f"{s.version:03d}_{s.name} ({s.state})" for s in pending)
        _fail(f"the database schema is not up to date: {names}; run `leadflow migrate` first")


@click.command("run")
@click.option(
    "--full-refresh", is_flag=True, help="Rebuild the incremental dbt marts from scratch."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object and nothing else.")
def run(full_refresh: bool, as_json: bool) -> None:
    """Run nightly_sync_job in this process: activities → scores → assignments → nurture →
    segments → graph → dbt marts, with the job's retries. Exit 1 if a step failed."""
    url = _postgres_url()
    ensure_ready(url)
    try:
        from dagster_project.nightly import run_nightly
    except ValueError as exc:  # NightlyConfigError: a bad LEADFLOW_NIGHTLY_* / _TIMEZONE value
        _fail(str(exc))
    started = time.monotonic()
    with output_to_log(run_log_path()) as log_path:
        result = run_nightly(full_refresh=full_refresh)
    summary = summarize_run(result)
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["log"] = str(log_path)
    if as_json:
        click.echo(json.dumps(summary, default=str))
    else:
        click.echo(f"nightly_sync_job run {summary['run_id']}")
        print_run_summary(summary)
        state = "succeeded" if summary["success"] else "FAILED"
        click.echo(f"{state} in {summary['seconds']} s; dbt and Dagster log: {log_path}")
    if not summary["success"]:
        sys.exit(1)


@click.group("dbt")
def dbt_group() -> None:
    """The dbt project (dbt/) against the configured PostgreSQL."""


@dbt_group.command("env")
def dbt_env_cmd() -> None:
    """Print `export DBT_PG_…` lines for running dbt by hand: eval "$(leadflow dbt env)"."""
    from dagster_project.resources.dbt import dbt_env, profiles_dir, project_dir

    values = {
        **dbt_env(_postgres_url()),
        "DBT_PROFILES_DIR": str(profiles_dir()),
        "DBT_PROJECT_DIR": str(project_dir()),
    }
    for key, value in values.items():
        click.echo(f"export {key}={shlex.quote(value)}")


@dbt_group.command("docs")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Copy the generated site (index.html, manifest, catalog) here.")  # fmt: skip
def dbt_docs(out: Path | None) -> None:
    """`dbt docs generate` (needs the marts built: `leadflow run` first)."""
    import shutil

    from dagster_project.resources.dbt import DbtError, run_dbt, target_dir

    try:
        run_dbt(["docs", "generate"], _postgres_url(), target_path=target_dir())
    except DbtError as exc:
        _fail(str(exc))
    site = target_dir()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name in ("index.html", "manifest.json", "catalog.json"):
            shutil.copy2(site / name, out / name)
        site = out
    click.echo(f"dbt docs written to {site / 'index.html'} (serve: dbt docs serve)")
