"""Progress of long commands (issue 22): `leadflow run` prints a line per step as it starts and
ends on a terminal, read from the run's event log while the run goes on."""

from __future__ import annotations

import io
import time

import dagster as dg

from leadflow.cli.run import StepProgress


@dg.asset
def first_step() -> int:
    time.sleep(0.3)
    return 1


@dg.asset
def second_step(first_step: int) -> int:
    return first_step + 1


#: what the watcher prints for first_step and second_step (after the clock)
STEP_LINES = [
    "first_step  started",
    "first_step  done",
    "second_step  started",
    "second_step  done",
]


@dg.asset
def other_step() -> int:
    return 3


def _watched_steps(tmp_path, *, another_run_first: bool = False) -> list[str]:
    """The lines a watcher printed while first_step and second_step ran (tagged as its own),
    the clock cut; with `another_run_first`, after an untagged run of other_step."""
    out = io.StringIO()
    with (
        dg.instance_for_test(temp_dir=str(tmp_path)) as instance,
        StepProgress(instance, every=0.05, out=out) as watch,
    ):
        if another_run_first:
            assert dg.materialize([other_step], instance=instance).success  # not ours
            time.sleep(0.3)  # the watcher looks meanwhile
        assert dg.materialize([first_step, second_step], instance=instance, tags=watch.tags).success
    return [line.split(maxsplit=1)[1] for line in out.getvalue().splitlines()]


def test_each_step_start_and_end_is_printed_while_the_run_goes_on(tmp_path):
    assert _watched_steps(tmp_path) == STEP_LINES


def test_another_run_of_the_instance_is_not_followed(tmp_path):
    """A run that `make dev`'s daemon starts meanwhile (same instance, no tag) is not ours."""
    assert _watched_steps(tmp_path, another_run_first=True) == STEP_LINES


def test_nothing_is_printed_before_a_run_starts(tmp_path):
    out = io.StringIO()
    with (
        dg.instance_for_test(temp_dir=str(tmp_path)) as instance,
        StepProgress(instance, every=0.05, out=out),
    ):
        time.sleep(0.2)
    assert out.getvalue() == ""


def test_a_heartbeat_prints_what_the_work_reports_on_a_terminal_only(capsys):
    from leadflow.cli.conventions import Heartbeat

    done = {"rows": 0}
    with Heartbeat("sync", lambda: f"{done['rows']:,} rows", every=0.05, enabled=True) as beat:
        for _ in range(4):
            done["rows"] += 1000
            time.sleep(0.06)
        beat.note("organization summit done")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 3 and all(line.startswith("  0:00  sync: ") for line in lines)
    assert any(line.endswith(" rows") and "," in line for line in lines)
    assert lines[-1].endswith("sync: organization summit done")
    with Heartbeat("sync", lambda: "x", every=0.01, enabled=False) as quiet:
        time.sleep(0.05)
        quiet.note("never shown")
    assert capsys.readouterr().err == ""
