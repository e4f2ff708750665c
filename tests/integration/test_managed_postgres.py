"""leadflow deployed where users run PostgreSQL: Debian's postgresql-15 (beside the embedded 18),
password authentication, the database owned by a role that is neither superuser nor allowed to
create roles or databases, as a managed service hands it over.

The module walks a deployment in order on a freshly initialised server of its own (so no role
exists yet): `migrate` (the roles it may not create are skipped with a notice naming `leadflow
db roles --sql`), `seed`, `import`, `run --json` (the nightly with dbt), `report`, `demo`, then a
DBA runs the printed SQL and `migrate` wires the roles (forced row-level security) and the
nightly still runs. The hostile-tenant tests run on the same kind of server
(tests/integration/tenant_isolation/).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from pymongo import MongoClient

from leadflow.platform.seed import seed_mongo_activities
from leadflow.platform.services import GraphService
from leadflow.platform.services.graph import create_database, drop_database, graph_database
from leadflow.platform.services.managed_postgres import OWNER, ManagedPostgresService
from tests.conftest import run_leadflow
from tests.integration.tenant_isolation.conftest import ORG_A, require_managed_server

# one worker runs the steps in order (they share one deployment)
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("managed_deploy")]

SAMPLE = Path(__file__).resolve().parents[2] / "seeds" / "sample"


class DeploymentServer(ManagedPostgresService):
    """A managed-style server of this module's own, initialised afresh for each run."""

    name = "managed_postgres_deploy"
    preferred_port = 55434
    external_env = ("LEADFLOW_MANAGED_PG_DEPLOY_URL",)


@dataclass
class Deployment:
    url: str  # the owner's
    admin: str  # the DBA's (superuser), same database
    env: dict[str, str]


@pytest.fixture(scope="module")
def deployment(mongo_url, bolt_url, redis_url, tmp_path_factory) -> Iterator[Deployment]:
    require_managed_server()
    server = DeploymentServer()
    server.stop()
    shutil.rmtree(server.home, ignore_errors=True)  # no role of an earlier run survives
    server.ensure_running()
    mongo_name = f"lf_test_managed_{uuid.uuid4().hex[:8]}"
    client = MongoClient(mongo_url, tz_aware=True)
    seed_mongo_activities(client[mongo_name])
    external_graph = GraphService().is_external()
    graph_name = (
        graph_database()
        if external_graph
        else create_database(f"lftestmanaged{uuid.uuid4().hex[:8]}")
    )
    env = {
        "POSTGRES_URL": server.url(),
        "MONGO_URL": mongo_url,
        "MONGO_DATABASE": mongo_name,
        "REDIS_URL": redis_url,
        "NEO4J_DATABASE": graph_name,
        "DAGSTER_HOME": str(tmp_path_factory.mktemp("managed_dagster")),
        "LEADFLOW_HOME": str(tmp_path_factory.mktemp("managed_home")),
        "LEADFLOW_RETRY_DELAY_SECONDS": "1",
    }
    try:
        yield Deployment(server.url(), server.admin_url(server.database), env)
    finally:
        if not external_graph:
            drop_database(graph_name)
        client.drop_database(mongo_name)
        client.close()
        server.stop()


def leadflow(deployment: Deployment, *args: str):
    result = run_leadflow(*args, env=deployment.env)
    assert result.returncode == 0, f"leadflow {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def test_the_owner_is_an_ordinary_role_with_password_authentication(deployment):
    with psycopg.connect(deployment.url) as conn:
        row = conn.execute(
            "select r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,"
            " current_setting('server_version_num')::int / 10000"
            " from pg_roles r where r.rolname = current_user"
        ).fetchone()
    assert row[:4] == (False, False, False, False)
    assert 14 <= row[4] < 18  # a second major version beside the embedded 18
    wrong = psycopg.conninfo.make_conninfo(deployment.url, password="wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong)


def test_migrate_skips_what_needs_a_dba_and_says_what_to_run(deployment):
    result = leadflow(deployment, "migrate")
    assert "applied  011_tenancy_and_least_privilege" in result.stdout
    assert "may not create roles" in result.stderr and "leadflow db roles --sql" in result.stderr
    roles = leadflow(deployment, "db", "roles", "--json")
    assert {r["name"]: r["exists"] for r in json.loads(roles.stdout)["roles"]} == {
        "leadflow_pipeline": False,
        "leadflow_app": False,
    }
    status = leadflow(deployment, "migrate", "status")
    assert "pending" not in status.stdout and "edited" not in status.stdout


def test_seed_and_import(deployment):
    leadflow(deployment, "seed")
    result = leadflow(
        deployment, "import", str(SAMPLE / "leads_summit_facebook.csv"), "--org", ORG_A, "--json"
    )
    summary = json.loads(result.stdout)
    assert summary["status"] == "succeeded" and summary["inserted"] > 0
    assert summary["rows_read"] == (
        summary["inserted"]
        + summary["merged"]
        + summary["duplicates_in_file"]
        + summary["quarantined"]
    )


def test_the_nightly_with_dbt_and_the_report(deployment, tmp_path):
    run = json.loads(leadflow(deployment, "run", "--json").stdout)
    assert run["success"] is True and run["failures"] == [], run
    report = json.loads(
        leadflow(deployment, "report", "--out", str(tmp_path / "r.html"), "--json").stdout
    )
    assert len(report["organizations"]) == 3
    one = json.loads(
        leadflow(
            deployment, "report", "--org", "summit", "--out", str(tmp_path / "s.html"), "--json"
        ).stdout
    )
    assert [org["slug"] for org in one["organizations"]] == ["summit"]


def test_demo(deployment):
    result = leadflow(deployment, "demo")
    assert "report" in result.stdout.lower()
    password = psycopg.conninfo.conninfo_to_dict(deployment.url)["password"]
    assert password not in result.stdout + result.stderr  # the database's URL is shown masked


def test_a_dba_runs_the_printed_sql_and_migrate_wires_the_roles(deployment):
    sql_text = leadflow(deployment, "db", "roles", "--sql").stdout
    assert f'grant leadflow_pipeline to "{OWNER}"' in sql_text or (
        f"grant leadflow_pipeline to {OWNER}" in sql_text
    )
    with psycopg.connect(deployment.admin, autocommit=True) as dba:
        dba.execute(sql_text)
    leadflow(deployment, "migrate")  # nothing pending: applies the tenancy for the new roles
    with psycopg.connect(deployment.url) as conn:
        forced = conn.execute(
            "select bool_and(relforcerowsecurity) from pg_class"
            " where relnamespace = 'public'::regnamespace and relkind = 'r' and relrowsecurity"
        ).fetchone()[0]
        leads = conn.execute("select count(*) from leads").fetchone()[0]
    assert forced is True
    assert leads > 0  # the owner is a pipeline member: the cross-tenant steps still see all
    run = json.loads(leadflow(deployment, "run", "--json").stdout)
    assert run["success"] is True and run["failures"] == [], run
