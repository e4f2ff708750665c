"""The light command line against a real PostgreSQL (issue 19).

- `leadflow import FILE --org X` refuses an organization that is no UUID, or names no
  organization, after one PostgreSQL query and without loading Dagster or any other heavy
  package (tests/unit/test_cli_import_budget.py pins `--help` and the usage errors);
- every run the command line starts lands in the one Dagster instance of DAGSTER_HOME, the one
  `make dev`'s UI reads: an import's `crm_leads` materialization with its five checks, and
  `costs import`'s `lead_source_costs`, side by side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import run_leadflow
from tests.integration.conftest import ORG1, ORG1_AGENT
from tests.unit.test_cli_import_budget import HEAVY

pytestmark = pytest.mark.integration

_PROBE = """
import json, sys
from leadflow.cli.main import main
try:
    main(sys.argv[2:], standalone_mode=False)
    code = 0
except SystemExit as exc:
    code = exc.code
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(sys.argv[1])))
print(json.dumps({"code": code, "heavy": heavy}))
"""


def _probe(url: str, *argv: str) -> tuple[dict, str]:
    """`leadflow ARGV` in a fresh interpreter, as a user runs it: exit code, heavy packages
    loaded, and what it wrote to stderr."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(HEAVY), *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "POSTGRES_URL": url},
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


@pytest.fixture
def one_row(tmp_path: Path) -> Path:
    path = tmp_path / "one.csv"
    path.write_text("first_name,phone_number\nAda,+14155550123\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("org", "message"),
    [
        ("no-such-org", "unknown organization --org 'no-such-org'"),
        (str(uuid.UUID(int=7, version=4)), "unknown organization --org"),
    ],
)
def test_a_bad_org_is_refused_without_loading_dagster(seeded_url, one_row, org, message):
    result, stderr = _probe(seeded_url, "import", str(one_row), "--org", org)
    assert result == {"code": 2, "heavy": []}
    assert message in stderr


def test_every_cli_run_lands_in_the_instance_of_dagster_home(
    new_seeded_database, one_row, tmp_path
):
    url = new_seeded_database("cli_instance")
    home = tmp_path / "dagster"
    env = {"POSTGRES_URL": url, "DAGSTER_HOME": str(home)}
    imported = run_leadflow("import", str(one_row), "--org", ORG1, "--json", env=env)
    assert imported.returncode == 0, imported.stderr
    summary = json.loads(imported.stdout)
    assert (summary["rows_read"], summary["inserted"]) == (1, 1)

    costs = tmp_path / "costs.csv"
    costs.write_text(f"user,source,period,cost\n{ORG1_AGENT},facebook,2027-02,5\n")
    assert run_leadflow("costs", "import", str(costs), env=env).returncode == 0

    instance = dg.DagsterInstance.from_config(str(home))
    leads = instance.get_latest_materialization_event(dg.AssetKey("crm_leads"))
    assert leads is not None and leads.run_id
    checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [
            dg.AssetCheckKey(dg.AssetKey("crm_leads"), name)
            for name in (
                "leads_phone_is_e164",
                "leads_status_and_score_valid",
                "leads_unique_phone_per_organization",
                "import_accounting_identity",
                "import_quarantine_rate",
            )
        ]
    )
    assert len(checks) == 5
    assert {record.run_id for record in checks.values()} == {leads.run_id}
    assert instance.get_latest_materialization_event(dg.AssetKey("lead_source_costs"))
    runs = instance.get_runs()
    assert {run.tags.get("leadflow/trigger") for run in runs} == {"cli"} and len(runs) == 2
