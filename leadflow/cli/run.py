"""`leadflow run`: the nightly job in this process, with a plain summary of what it did."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from leadflow import settings
from leadflow.cli.common import ensure_schema_current, postgres_url, store_resources
from leadflow.cli.conventions import BAD_REQUEST, FAILED, JSON_OPTION, emit_json, is_terminal
from leadflow.cli.conventions import fail as _fail
from leadflow.settings import NightlyConfigError, nightly_settings

if TYPE_CHECKING:  # Dagster loads when the job runs
    import dagster as dg


def _numbers(metadata: Mapping[str, dg.MetadataValue]) -> dict[str, int | float]:
    return {
        key: value.value
        for key, value in metadata.items()
        if isinstance(value.value, int | float) and not isinstance(value.value, bool)
    }


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Wall seconds of each step of a run, from its first start to its last success or failure
    (retries included), in the order the steps started."""
    import dagster as dg

    kinds = {
        dg.DagsterEventType.STEP_START,
        dg.DagsterEventType.STEP_SUCCESS,
        dg.DagsterEventType.STEP_FAILURE,
    }
    started: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for entry in instance.all_logs(run_id, of_type=kinds):
        key = entry.step_key
        if key is None:
            continue
        if entry.dagster_event_type == dg.DagsterEventType.STEP_START:
            started.setdefault(key, entry.timestamp)
        else:
            seconds[key] = round(entry.timestamp - started.get(key, entry.timestamp), 2)
    return {key: seconds[key] for key in started if key in seconds}


def summarize_run(
    result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance | None = None
) -> dict[str, Any]:
    """Plain figures of a nightly run: per-asset numbers, dbt models and checks, failures, and
    (given the run's instance) each step's seconds."""
    assets: dict[str, dict[str, int | float]] = {}
    dbt_models = 0
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        key, metadata = materialization.asset_key, materialization.metadata
        if "dagster_dbt/materialization_type" in metadata or key.path[0].startswith("analytics"):
            dbt_models += 1
            continue
        assets[key.to_user_string()] = _numbers(metadata)
    checks = {"passed": 0, "failed": 0}
    failed_checks: list[str] = []
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            checks["passed"] += 1
        else:
            checks["failed"] += 1
            failed_checks.append(evaluation.check_name)
    failures = []
    for failed in result.get_step_failure_events():
        error = failed.step_failure_data.error
        message = error.message.strip()[:500] if error else "the step failed"
        failures.append({"step": failed.step_key, "error": message})
    return {
        "success": result.success,
        "run_id": result.run_id,
        "assets": assets,
        "dbt_models_built": dbt_models,
        "checks": checks,
        "failed_checks": failed_checks,
        "failures": failures,
        "step_seconds": step_seconds(instance, result.run_id) if instance is not None else {},
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
    if summary.get("step_seconds"):
        slowest = sorted(summary["step_seconds"].items(), key=lambda item: -item[1])[:5]
        click.echo(
            f"  {'slowest steps':<20} " + ", ".join(f"{key} {sec:.1f} s" for key, sec in slowest)
        )
    for name in summary["failed_checks"]:
        click.echo(f"  CHECK FAILED {name}")
    for failure in summary["failures"]:
        click.echo(f"  FAILED {failure['step']}: {failure['error']}")


def prepare_dbt_project() -> None:
    """Parse the dbt project into the manifest the asset graph is built from, before the
    definitions load (a model edited in a checkout is in this run's graph); exit 1 when dbt
    cannot parse it."""
    from leadflow.analytics.dbt_project import prepare
    from leadflow.analytics.project import DbtError

    try:
        prepare()
    except DbtError as exc:
        _fail(str(exc))


def run_log_path() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return settings.leadflow_home() / "logs" / f"nightly-{stamp}.log"


@contextmanager
def output_to_log(path: Path) -> Iterator[Path]:
    """Send everything written to stdout/stderr inside the block (dbt's log lines, Dagster's
    console log, by this process or its children) to `path`: the terminal gets the summary,
    the log keeps the detail, and `--json` prints exactly one JSON object on stdout.

    Both levels are redirected: the file descriptors (child processes, C code) and Python's
    sys.stdout/sys.stderr objects (which an embedding caller, e.g. click's test runner, may
    have replaced with objects that are not fds 1 and 2)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("a", encoding="utf-8", errors="replace", buffering=1) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield path
        finally:
            log.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


class StepProgress:
    """Progress of a run on a terminal: one line per step as it starts and ends, on the
    terminal's stderr (the run's own output goes to its log file), read from the run's event
    log every `every` seconds by a thread. Quiet when stderr is not a terminal. It follows the
    run that carries its `tags` (another run of the same instance, e.g. one `make dev`'s daemon
    starts meanwhile, is not it)."""

    #: the tag a run started by this command carries, with this watcher's own value
    TAG = "leadflow/cli_run"

    def __init__(
        self, instance: dg.DagsterInstance, every: float = 2.0, out: IO[str] | None = None
    ) -> None:
        import threading
        import uuid

        self.instance = instance
        self.every = every
        self.since = time.time()
        self.tags = {self.TAG: uuid.uuid4().hex}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="step-progress", daemon=True)
        self.seen = 0
        # a copy of the terminal's stderr, taken before the run's output goes to its log
        self.out = out or os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
        self.owns_out = out is None

    def __enter__(self) -> StepProgress:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self._report()
        if self.owns_out:
            self.out.close()

    def _watch(self) -> None:
        while not self.stop.wait(self.every):
            try:
                self._report()
            except Exception:  # progress must never fail the run
                continue

    def _report(self) -> None:
        import dagster as dg

        records = self.instance.get_run_records(
            filters=dg.RunsFilter(
                tags=self.tags, created_after=datetime.fromtimestamp(self.since, UTC)
            ),
            limit=1,
        )
        if not records:
            return
        kinds = {
            dg.DagsterEventType.STEP_START,
            dg.DagsterEventType.STEP_SUCCESS,
            dg.DagsterEventType.STEP_FAILURE,
        }
        entries = self.instance.all_logs(records[0].dagster_run.run_id, of_type=kinds)
        for entry in entries[self.seen :]:
            clock = datetime.fromtimestamp(entry.timestamp).strftime("%H:%M:%S")
            what = {
                dg.DagsterEventType.STEP_START: "started",
                dg.DagsterEventType.STEP_SUCCESS: "done",
                dg.DagsterEventType.STEP_FAILURE: "FAILED",
            }[entry.dagster_event_type]  # type: ignore[index]
            self.out.write(f"  {clock}  {entry.step_key}  {what}\n")
        self.seen = max(self.seen, len(entries))


@click.command("run")
@click.option(
    "--full-refresh",
    is_flag=True,
    help="Every incremental step does its full pass now (dbt marts rebuilt with all their tests,"
    " every lead scored and ranked, models retrained, the full graph comparison), as the weekly"
    " run does (LEADFLOW_NIGHTLY_FULL_EVERY_DAYS).",
)
@JSON_OPTION
def run(full_refresh: bool, as_json: bool) -> None:
    """Run nightly_sync_job through Dagster in this process: activities → scores → assignments →
    nurture → segments → graph → dbt marts, with the job's retries. Exit 1 if a step failed.
    The run is in the Dagster UI (`make dev`); dbt's and Dagster's log go to a file.

    \b
    Examples:
      leadflow run
      leadflow run --json | jq .step_seconds
      leadflow run --full-refresh
    """
    ensure_schema_current(postgres_url(), code=BAD_REQUEST)
    resources = store_resources()
    try:
        nightly_settings()
    except NightlyConfigError as exc:  # a bad LEADFLOW_NIGHTLY_* / _TIMEZONE / _RETRY_* value
        _fail(str(exc), BAD_REQUEST)
    prepare_dbt_project()
    from leadflow.cli.common import dagster_instance
    from leadflow.cli.runner import run_nightly  # Dagster loads once the arguments are checked

    started = time.monotonic()
    instance = dagster_instance()
    watch = StepProgress(instance) if not as_json and is_terminal() else None
    with output_to_log(run_log_path()) as log_path, watch or contextlib.nullcontext():
        result = run_nightly(
            full_refresh=full_refresh,
            resources=resources,
            instance=instance,
            tags=watch.tags if watch else None,
        )
    summary = summarize_run(result, instance)
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["log"] = str(log_path)
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"nightly_sync_job run {summary['run_id']}")
        print_run_summary(summary)
        state = "succeeded" if summary["success"] else "FAILED"
        click.echo(f"{state} in {summary['seconds']} s; dbt and Dagster log: {log_path}")
    if not summary["success"]:
        sys.exit(FAILED)
