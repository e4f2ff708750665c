"""Every `leadflow` command against the real servers (issue 22): `--json` prints one object that
parses, a bad organization is a bad request (exit 2) naming the choices, and the README's old
command lines still work, with one notice on stderr.

The help-level conventions (an example and the exit-code table in every help, --json on every
command) are in tests/unit/test_cli_contract.py; the walk here uses the same command list, so a
new command must say here how it is run.
"""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from tests.conftest import CliResult, run_leadflow
from tests.integration import test_cli_database, test_crm_sync, test_nightly, test_report
from tests.integration.conftest import ORG1
from tests.integration.test_graph_sync import open_graph_database
from tests.unit.test_cli_contract import LEAVES

pytestmark = pytest.mark.integration

LEAD_FILE = "first_name,last_name,phone_number,email\nAda,Lovelace,+14155550123,ada@x.example\n"
BAD_ROW = "Bob,,not a phone,bob@x.example\n"
COST_FILE = "user,source,period,cost\nmaya.chen@summit.example.com,facebook,2026-11,120.50\n"
ALIAS_FILE = "alias,canonical_source\nFB Ads,facebook\n"

#: the commands whose --json another test parses, because one run of them costs minutes
#: (the nightly, the demo, the marts): (module, test function)
PARSED_ELSEWHERE: dict[str, tuple[object, str]] = {
    "run": (test_cli_database, "test_demo_runs_the_whole_pipeline_and_prints_what_it_built"),
    "demo": (test_cli_database, "test_demo_runs_the_whole_pipeline_and_prints_what_it_built"),
    "crm connect": (test_crm_sync, "test_cli_connect_sync_push_status"),
    "report": (test_report, "test_cli_writes_the_report_and_prints_the_path"),
    "dbt docs": (test_nightly, "test_dbt_docs_generate"),
}


@pytest.fixture(scope="module")
def stores(
    new_seeded_database, mongo_url, bolt_url, redis_url, tmp_path_factory, files
) -> Iterator[dict]:
    """A seeded database, a MongoDB database and a graph database of this module's own, with
    the lead file imported and the graph synced: each command's run below stands alone (the
    tests may run in any order, on any worker)."""
    url = new_seeded_database("cli_contract")
    mongo_name = f"lf_test_cli_contract_{uuid.uuid4().hex[:8]}"
    graph = open_graph_database("cli_contract")
    graph_name = next(graph)
    env = {
        "POSTGRES_URL": url,
        "MONGO_URL": mongo_url,
        "MONGO_DATABASE": mongo_name,
        "REDIS_URL": redis_url,
        "NEO4J_DATABASE": graph_name,
        "DAGSTER_HOME": str(tmp_path_factory.mktemp("dagster_home")),
        "LEADFLOW_HOME": str(tmp_path_factory.mktemp("leadflow_home")),
    }
    try:
        for prepare in (
            ["leads", "import", str(files["leads.csv"]), "--org", "summit"],
            ["graph", "sync"],
        ):
            done = run_leadflow(*prepare, env=env)
            assert done.returncode == 0, done.stdout + done.stderr
        yield env
    finally:
        next(graph, None)
        with MongoClient(mongo_url) as client:
            client.drop_database(mongo_name)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli_contract_files")
    written = {}
    for name, text in {
        "leads.csv": LEAD_FILE + BAD_ROW,
        "costs.csv": COST_FILE,
        "aliases.csv": ALIAS_FILE,
    }.items():
        written[name] = root / name
        written[name].write_text(text, encoding="utf-8")
    return written


#: the commands that compare and exit 3 when they found differences, with their JSON still
DIFFERENCES_FOUND = {"sources unmapped", "graph reconcile"}


def _json(result: CliResult, codes: tuple[int, ...] = (0,)) -> dict:
    assert result.returncode in codes, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, f"--json printed {len(lines)} lines: {result.stdout[:500]}"
    payload = json.loads(lines[0])
    assert isinstance(payload, dict)
    return payload


@pytest.fixture(scope="module")
def runs(stores, files) -> dict[str, Callable[[], list[str]]]:
    """How each command is run with --json here: the arguments after the command."""

    return {
        "orgs list": lambda: [],
        "users list": lambda: ["--org", "Summit Talent Partners"],
        "leads import": lambda: [str(files["leads.csv"]), "--org", "summit"],
        "leads rejects": lambda: ["--org", "summit"],
        "leads assign": lambda: [_imported_lead(stores), "--to", "maya.chen@summit.example.com"],
        "db migrate": lambda: [],
        "db status": lambda: [],
        "db seed": lambda: [],
        "db url": lambda: [],
        "db roles": lambda: [],
        "db grant-analyst": lambda: [_analyst_role(stores), "--org", "summit"],
        "db revoke-analyst": lambda: [_analyst_role(stores)],
        "db rollback": lambda: ["--to", "999"],  # nothing above the last version: a no-op
        "local status": lambda: [],
        "local env": lambda: [],
        "local up": lambda: ["postgres"],
        "local down": lambda: ["redis"],  # REDIS_URL names it: external, left alone
        "activities seed": lambda: [],
        "activities sync": lambda: [],
        "costs import": lambda: [str(files["costs.csv"])],
        "costs list": lambda: ["--org", "summit", "--period", "2026-11"],
        "segments list": lambda: ["--org", "all"],
        "sources list": lambda: ["--org", "summit"],
        "sources unmapped": lambda: ["--org", "summit"],
        "sources add": lambda: ["Walk-in", "walk_in", "--org", "summit"],
        "sources remove": lambda: ["Walk-in", "--org", "summit"],
        "sources import": lambda: [str(files["aliases.csv"])],
        "segments preview": lambda: ['{"status": ["new"]}', "--org", "summit"],
        "graph sync": lambda: [],
        "graph reconcile": lambda: [],
        "graph top-referrers": lambda: ["--org", "summit"],
        "graph referral-chain": lambda: [_imported_lead(stores)],
        "graph agent-reach": lambda: ["maya.chen@summit.example.com"],
        "crm status": lambda: [],
        "crm sync": lambda: [],
        "crm push": lambda: [],
        "recommend": lambda: ["--agent", "maya.chen@summit.example.com"],
        "dbt env": lambda: [],
    }


def _imported_lead(env: dict) -> str:
    import psycopg

    with psycopg.connect(env["POSTGRES_URL"]) as conn:
        row = conn.execute(
            "select id::text from leads where phone_number = '+14155550123'"
        ).fetchone()
    assert row, "the lead `leads import` loaded"
    return row[0]


def _analyst_role(env: dict) -> str:
    import psycopg

    role = "lf_cli_contract_analyst"
    with psycopg.connect(env["POSTGRES_URL"], autocommit=True) as conn:
        if not conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
            conn.execute(f"create role {role}")
    return role


def _ordered() -> list[str]:
    return [" ".join(path) for path, _ in LEAVES]


def test_every_command_says_how_it_is_run_here(runs):
    for name in _ordered():
        assert name in runs or name in PARSED_ELSEWHERE, (
            f"`leadflow {name}`: add how to run it to `runs` (or the test parsing its --json "
            "to PARSED_ELSEWHERE)"
        )
    for name, (module, test) in PARSED_ELSEWHERE.items():
        source = inspect.getsource(getattr(module, test))
        assert "--json" in source or "demo_summary" in source or "pipeline.run" in source, name


@pytest.mark.parametrize("name", _ordered())
def test_json_output_is_one_object_that_parses(name, runs, stores):
    if name in PARSED_ELSEWHERE and name not in runs:
        module, test = PARSED_ELSEWHERE[name]
        assert callable(getattr(module, test))  # the run is there (minutes long)
        return
    args = runs[name]()
    codes = (0, 3) if name in DIFFERENCES_FOUND else (0,)
    payload = _json(run_leadflow(*name.split(), *args, "--json", env=stores), codes)
    assert payload or name == "local env"  # every server here is external: nothing to export


@pytest.mark.parametrize("mode", [["--sql"], ["--sql", "--json"]])
def test_db_roles_sql_keeps_its_json_promise(mode, stores):
    """--sql prints the DBA's SQL; with --json too, that SQL inside the one object."""
    result = run_leadflow("db", "roles", *mode, env=stores)
    if "--json" in mode:
        payload = _json(result)
        assert payload["connected_as"] and "create role" in payload["sql"]
    else:
        assert result.returncode == 0 and result.stdout.startswith("-- leadflow roles")


#: every command that takes --org, with the other arguments it needs to reach the lookup
ORG_COMMANDS = {
    "users list": [],
    "leads import": ["{file}"],
    "leads rejects": [],
    "sources list": [],
    "sources unmapped": [],
    "sources add": ["Walk-in", "walk_in"],
    "sources remove": ["Walk-in"],
    "segments preview": ["{}"],
    "segments list": [],
    "costs list": [],
    "graph sync": [],
    "graph reconcile": [],
    "graph top-referrers": [],
    "graph agent-reach": ["maya.chen@summit.example.com"],
    "crm status": [],
    "crm sync": [],
    "crm push": [],
    "crm connect": [
        "--vendor",
        "hubspot",
        "--base-url",
        "https://api.hubapi.com",
        "--secret-env",
        "HUBSPOT_TOKEN_CONTRACT",
    ],
    "recommend": ["--agent", "maya.chen@summit.example.com"],
    "report": [],
    "db grant-analyst": ["lf_cli_contract_analyst"],
    "db revoke-analyst": ["lf_cli_contract_analyst"],
}


def test_every_org_option_is_listed_here():
    taking = {
        " ".join(path)
        for path, command in LEAVES
        if any("--org" in getattr(param, "opts", []) for param in command.params)
    }
    assert taking == set(ORG_COMMANDS)


@pytest.mark.parametrize("name", sorted(ORG_COMMANDS))
def test_a_bad_organization_is_a_bad_request_naming_the_choices(name, stores, files):
    args = [a.replace("{file}", str(files["leads.csv"])) for a in ORG_COMMANDS[name]]
    result = run_leadflow(*name.split(), *args, "--org", "no-such-org", env=stores)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no-such-org" in result.stderr
    assert "summit" in result.stderr and "northwind" in result.stderr  # the choices
    assert result.stdout == ""


@pytest.mark.parametrize("form", ["summit", "SUMMIT", "Summit Talent Partners", ORG1])
def test_an_organization_by_uuid_slug_or_name(form, stores):
    listed = _json(run_leadflow("users", "list", "--org", form, "--json", env=stores))
    assert listed["users"] and {u["organization_id"] for u in listed["users"]} == {ORG1}


#: the README's command lines before issue 22 that changed name, and the notice each prints
OLD_LINES = [
    (["status", "--json"], "leadflow status", "leadflow local status"),
    (["env", "--json"], "leadflow env", "leadflow local env"),
    (["up", "postgres"], "leadflow up", "leadflow local up"),
    (["down", "redis"], "leadflow down", "leadflow local down"),
    (["migrate"], "leadflow migrate", "leadflow db migrate"),
    (["migrate", "up"], "leadflow migrate up", "leadflow db migrate"),
    (["migrate", "status"], "leadflow migrate status", "leadflow db status"),
    (["migrate", "down", "--to", "999"], "leadflow migrate down", "leadflow db rollback"),
    (["seed"], "leadflow seed", "leadflow db seed"),
    (["import", "{file}", "--org", ORG1], "leadflow import", "leadflow leads import"),
]


@pytest.mark.parametrize("argv,old,new", OLD_LINES, ids=[" ".join(a[0]) for a in OLD_LINES])
def test_the_old_command_lines_still_work_with_a_notice(argv, old, new, stores, files):
    args = [a.replace("{file}", str(files["leads.csv"])) for a in argv]
    result = run_leadflow(*args, env=stores)
    assert result.returncode == 0, result.stdout + result.stderr
    notices = [line for line in result.stderr.splitlines() if "deprecated" in line]
    assert notices == [f"leadflow: notice: `{old}` is deprecated; use `{new}`"]
    if "--json" in args:
        json.loads(result.stdout)
