"""The command line's import budget: `--help` of every command and subcommand, and a refused
argument, are answered without loading the heavy packages (Dagster, dbt, great-expectations,
dlt, scikit-learn, the graph and MongoDB drivers with the pandas/numpy they bring). Those load
only once a command's arguments are checked and its work needs them (issue 19: `leadflow import
--help` took 9 s when the runner was imported with the command).

Each case runs in a fresh interpreter (the modules a process loaded are what is measured); all
cases of a kind share one interpreter, and the first case that loads a heavy package is named.
A refused argument that needs PostgreSQL (an unknown `--org` of `leadflow import`) is pinned by
tests/integration/test_cli_light.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import click

from leadflow.cli.main import COMMANDS, main

#: top-level packages a command may load only for its work, never for --help or a bad argument
HEAVY = (
    "dagster",
    "dagster_dbt",
    "dbt",
    "great_expectations",
    "dlt",
    "sklearn",
    "neo4j",
    "pymongo",
    "pandas",
    "numpy",
)

_PROBE = """
import json, sys
from leadflow.cli.main import main
heavy = set(json.loads(sys.argv[1]))
report = []
for argv in json.loads(sys.argv[2]):
    try:
        main(argv, standalone_mode=False)
        code = 0
    except SystemExit as exc:
        code = exc.code
    except Exception as exc:  # a click usage error (standalone_mode=False raises it)
        code = type(exc).__name__
    loaded = sorted({name.split(".")[0] for name in sys.modules} & heavy)
    report.append({"argv": argv, "code": code, "heavy": loaded})
print(json.dumps(report))
"""


def _probe(cases: list[list[str]]) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(HEAVY), json.dumps(cases)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _every_command() -> list[list[str]]:
    paths: list[list[str]] = [[]]
    for name in COMMANDS:
        command = main.get_command(click.Context(main), name)
        paths.append([name])
        if isinstance(command, click.Group):
            paths.extend([name, sub] for sub in command.commands)
    return paths


def _first_heavy(report: list[dict]) -> dict | None:
    return next((case for case in report if case["heavy"]), None)


def test_every_help_loads_nothing_heavy():
    cases = [[*path, "--help"] for path in _every_command()]
    assert len(cases) > 40  # every command and subcommand, not a sample
    report = _probe(cases)
    assert [case["code"] for case in report] == [0] * len(cases)
    assert _first_heavy(report) is None, _first_heavy(report)


#: arguments refused before any work: a usage error or a bad value the command checks itself
REFUSED = [
    ["import"],  # no file
    ["import", "a.csv", "--workers", "many"],
    ["import", "a.csv", "--mapping", "/nonexistent/mapping.json"],
    ["run", "--no-such-flag"],
    ["demo", "--no-such-flag"],
    ["graph", "top-referrers"],  # no --org (a slug or name is looked up in PostgreSQL)
    ["graph", "referral-chain", "not-a-uuid"],
    ["graph", "agent-reach", "ana@acme.example", "--depth", "0"],
    ["graph", "sync", "--batch-size", "0"],
    ["segments", "preview", "{not json", "--org", "summit"],
    ["activities", "sync", "--as-of", "yesterday-ish"],
    ["costs", "import"],
    ["crm", "sync", "--no-such-flag"],
    ["recommend", "--limit", "lots"],
    ["bench", "ingest", "--rows", "many"],
]


def test_refused_arguments_load_nothing_heavy():
    report = _probe(REFUSED)
    assert all(case["code"] not in (0, None) for case in report), report
    assert _first_heavy(report) is None, _first_heavy(report)
