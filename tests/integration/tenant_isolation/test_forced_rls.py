"""Row-level security that holds when a WHERE clause is forgotten: forced on every tenant table,
bypassed only by members of leadflow_pipeline, and the tenant-facing commands set the tenant for
their transaction so that they work as the application role (which sees nothing else)."""

from __future__ import annotations

import json

import psycopg
import pytest
from psycopg import sql

from leadflow.analytics.project import run_dbt
from tests.conftest import run_leadflow
from tests.integration.tenant_isolation.conftest import ORG_A, ORG_B

pytestmark = pytest.mark.integration


def _count(url: str, query: str, params=()) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()[0]


def test_the_tables_owner_sees_no_tenant_row_unless_it_is_a_pipeline_member(
    make_role, crm_url, admin_url
):
    """FORCE ROW LEVEL SECURITY: owning a table is not a way around its policies."""
    owner_url = make_role("none")
    owner = psycopg.conninfo.conninfo_to_dict(owner_url)["user"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("alter table leads owner to {}").format(sql.Identifier(owner)))
    assert _count(owner_url, "select count(*) from leads") == 0
    with psycopg.connect(owner_url) as conn:
        conn.execute("select set_config('app.current_tenant_id', %s, true)", (ORG_A,))
        own = conn.execute("select count(distinct organization_id) from leads").fetchone()[0]
    assert own == 1
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("grant leadflow_pipeline to {}").format(sql.Identifier(owner)))
    everything = _count(crm_url, "select count(*) from leads")
    assert _count(owner_url, "select count(*) from leads") == everything
    deployment_owner = psycopg.conninfo.conninfo_to_dict(crm_url).get("user") or "postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:  # give it back before the drop
        conn.execute(
            sql.SQL("alter table leads owner to {}").format(sql.Identifier(deployment_owner))
        )


def test_a_forgotten_where_clause_reads_only_the_tenants_rows(as_tenant, crm_url):
    tenant = as_tenant(ORG_A)
    orgs = {row[0] for row in tenant.execute("select distinct organization_id::text from leads")}
    assert orgs == {ORG_A}
    assert tenant.execute(
        "select count(*) from leads where organization_id = %s", (ORG_B,)
    ).fetchone() == (0,)


def test_segments_preview_works_as_the_application_role(app_url, crm_url):
    expected = _count(
        crm_url,
        "select count(*) from leads where organization_id = %s and deleted_at is null",
        (ORG_A,),
    )
    assert expected > 0
    result = run_leadflow(
        "segments", "preview", "{}", "--org", ORG_A, "--json", env={"POSTGRES_URL": app_url}
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["count"] == expected


@pytest.fixture
def marts_url(crm_url) -> str:
    run_dbt(["run", "--quiet"], url=crm_url)
    return crm_url


def test_report_for_one_organization_works_as_the_application_role(make_role, marts_url, tmp_path):
    app_url = make_role("app", marts_url)
    out = tmp_path / "report.html"
    result = run_leadflow(
        "report", "--org", ORG_A, "--out", str(out), "--json", env={"POSTGRES_URL": app_url}
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert [org["id"] for org in summary["organizations"]] == [ORG_A]
    html = out.read_text()
    assert "Summit Talent Partners" in html and "Northwind" not in html
    # the application role cannot write a report of every organization: it sees none but its own
    everything = run_leadflow(
        "report", "--out", str(tmp_path / "all.html"), "--json", env={"POSTGRES_URL": app_url}
    )
    assert (
        "Northwind" not in (tmp_path / "all.html").read_text()
        if everything.returncode == 0
        else True
    )
