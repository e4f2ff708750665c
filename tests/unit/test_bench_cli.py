"""The benchmarks' command line: `python -m benchmarks …` from the checkout, every command with
an example, `--json` and the exit-code table in its help; and `leadflow bench …`, the old name,
still answering with the same commands after a one-line deprecation notice on stderr (and a
clear exit 2 where there is no checkout). The benchmarks themselves run in tests/bench/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from benchmarks.cli import cli
from leadflow.cli import bench
from leadflow.cli.conventions import BAD_REQUEST, EXIT_CODES_HELP
from leadflow.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
NAMES = sorted(bench.COMMANDS)


def test_the_alias_lists_exactly_the_benchmarks_commands():
    assert sorted(cli.commands) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_command_has_an_example_json_and_the_exit_codes(name):
    command = cli.commands[name]
    assert "--json" in {opt for param in command.params for opt in param.opts}
    text = CliRunner().invoke(cli, [name, "--help"], prog_name="python -m benchmarks").output
    examples = text.split("Examples:", 1)[1].split("Options:", 1)[0]
    lines = [line.strip() for line in examples.splitlines() if line.strip()]
    assert lines and all(line.startswith(f"python -m benchmarks {name}") for line in lines), text
    assert EXIT_CODES_HELP.removeprefix("\b\n") in text


def test_python_m_benchmarks_answers_from_the_checkout():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: python -m benchmarks [OPTIONS] COMMAND")
    for name in NAMES:
        assert f"\n  {name} " in result.stdout
    # a refused argument is refused as a bad request, before any work
    refused = subprocess.run(
        [sys.executable, "-m", "benchmarks", "nightly", "--change", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == BAD_REQUEST and "--change" in refused.stderr


@pytest.mark.parametrize("name", NAMES)
def test_the_old_name_prints_the_notice_then_the_same_help(name):
    old = CliRunner().invoke(main, ["bench", name, "--help"], prog_name="leadflow")
    assert old.exit_code == 0, old.output
    assert old.stderr.splitlines() == [
        f"leadflow: notice: `leadflow bench {name}` is deprecated; "
        f"use `python -m benchmarks {name}`"
    ]
    new = CliRunner().invoke(cli, [name, "--help"])
    # the same command: the same text below the usage line
    assert old.stdout.split("\n", 1)[1] == new.stdout.split("\n", 1)[1]
    assert old.stdout.startswith(f"Usage: leadflow bench {name} [OPTIONS]")


def test_the_old_name_parses_the_same_options():
    old = CliRunner().invoke(main, ["bench", "ingest", "--rows", "many"])
    assert old.exit_code == BAD_REQUEST
    assert "notice: `leadflow bench ingest` is deprecated" in old.stderr
    assert "Invalid value for '--rows': 'many' is not a valid integer" in old.stderr


def test_outside_a_checkout_the_old_name_says_where_the_benchmarks_are(tmp_path):
    result = CliRunner().invoke(
        main, ["bench", "nightly", "--help"], env={"LEADFLOW_PROJECT_DIR": str(tmp_path)}
    )
    assert result.exit_code == BAD_REQUEST
    assert f"benchmarks/ not found in {tmp_path.resolve()}" in result.stderr
    assert "python -m benchmarks" in result.stderr


def test_the_old_group_is_a_click_group_of_the_new_commands():
    ctx = click.Context(bench.bench)
    for name in NAMES:
        assert bench.bench.get_command(ctx, name) is cli.commands[name]
    assert bench.bench.get_command(ctx, "no-such-bench") is None
