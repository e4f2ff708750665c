"""A tenant cannot make the nightly skip its writes by committing late (issue 21).

The incremental steps (scores, segment counts, nurture) and the dbt marts read the rows stamped
after their last run's change floor. A row is stamped with the start of the transaction that
writes it; a tenant (the application role, under row-level security) that opens a transaction,
changes a lead and commits only after a step ran has written a row older than that step's run.
The floor must lie before it, also when the pipeline's role may not see the tenant's session in
pg_stat_activity (no pg_read_all_stats): then the floor moves back by the configured overlap.
With pg_read_all_stats the floor is exact: the tenant transaction's start, to the microsecond.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from leadflow import watermarks
from leadflow.analytics.project import run_dbt
from tests.integration.tenant_isolation.conftest import ORG_A

pytestmark = pytest.mark.integration

MICROSECOND = timedelta(microseconds=1)


def tenant_change_in_flight(as_tenant) -> tuple[psycopg.Connection, datetime]:
    """The tenant's open transaction that changed one of its leads, and the lead's new stamp."""
    tenant = as_tenant(ORG_A)
    tenant.execute("begin")
    row = tenant.execute(
        "update leads set first_name = first_name where id = "
        "(select id from leads order by id limit 1) returning updated_at"
    ).fetchone()
    assert row is not None, "the tenant sees its own leads"
    return tenant, row[0]


def dbt_change_floor_sql(tmp_path: Path, url: str) -> str:
    """The SQL of the marts' change floor (macro leadflow_change_floor), compiled by dbt."""
    result = run_dbt(
        [
            "compile",
            "--inline",
            "select {{ leadflow_change_floor() }} as floor_at",
            "--output",
            "json",
            "--log-format",
            "json",
        ],
        url,
        target_path=tmp_path / "target",
    )
    for line in result.stdout.splitlines():
        event = json.loads(line)
        compiled = event.get("data", {}).get("compiled")
        if compiled:
            return str(compiled)
    raise AssertionError(f"dbt printed no compiled SQL:\n{result.stdout[-2000:]}")


def floors(url: str, floor_sql: str) -> tuple[datetime, bool, datetime]:
    """As the role of `url`, each first in its own transaction: the CRM steps' floor, whether a
    session was hidden from it, and the marts' floor."""
    with psycopg.connect(url) as conn:
        crm_floor = watermarks.changes_since(conn)
    with psycopg.connect(url) as conn:
        _, hidden = conn.execute(watermarks.CHANGE_FLOOR_SQL).fetchone()
    with psycopg.connect(url) as conn:
        (marts_floor,) = conn.execute(floor_sql).fetchone()
    return crm_floor, hidden, marts_floor


def test_a_tenants_late_commit_lies_after_every_floor_of_a_role_that_cannot_see_it(
    as_tenant, make_role, admin_url, crm_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("LEADFLOW_NIGHTLY_CHANGE_OVERLAP_SECONDS", "300")
    floor_sql = dbt_change_floor_sql(tmp_path, crm_url)
    pipeline_url = make_role("none")  # no pg_read_all_stats: the tenant's session is hidden
    tenant, stamp = tenant_change_in_flight(as_tenant)
    try:
        crm_floor, hidden, marts_floor = floors(pipeline_url, floor_sql)
        assert hidden, "the tenant's session shows as <insufficient privilege>"
        assert crm_floor < stamp, (crm_floor, stamp)
        assert marts_floor < stamp, (marts_floor, stamp)
        # moved back by the overlap (300 s) and marts_lookback (1 hour), not more
        assert stamp - crm_floor < timedelta(seconds=300) + timedelta(seconds=60)
        assert stamp - marts_floor < timedelta(hours=1) + timedelta(seconds=60)

        pipeline = psycopg.conninfo.conninfo_to_dict(pipeline_url)["user"]
        with psycopg.connect(admin_url, autocommit=True) as dba:
            dba.execute(sql.SQL("grant pg_read_all_stats to {}").format(sql.Identifier(pipeline)))
        crm_floor, hidden, marts_floor = floors(pipeline_url, floor_sql)
        assert not hidden
        assert crm_floor == marts_floor == stamp - MICROSECOND  # exact: nothing read twice
    finally:
        tenant.execute("rollback")


def test_a_steps_siblings_leave_each_other_out_but_a_tenant_wearing_their_tag_stays_in(
    as_tenant, make_role, admin_url
):
    """The transactions of one step run for other organizations (join_siblings) are not in
    each other's floors: each writes only its own organization's rows. A tenant that sets the
    same application_name is another role: its late commit still holds the floor back."""
    pipeline_url = make_role("none")
    pipeline = psycopg.conninfo.conninfo_to_dict(pipeline_url)["user"]
    with psycopg.connect(admin_url, autocommit=True) as dba:  # exact floors: nothing hidden
        dba.execute(sql.SQL("grant pg_read_all_stats to {}").format(sql.Identifier(pipeline)))
    tag = watermarks.sibling_tag("lead_scores")
    assert tag.startswith(watermarks.SIBLINGS_PREFIX) and len(tag) <= 63
    assert tag != watermarks.sibling_tag("lead_scores")  # a new tag per step run

    with psycopg.connect(pipeline_url) as sibling:  # scoring another organization, started first
        watermarks.join_siblings(sibling, tag)
        (sibling_start,) = sibling.execute("select now()").fetchone()
        with psycopg.connect(pipeline_url) as conn:
            watermarks.join_siblings(conn, tag)
            (own_start,) = conn.execute("select now()").fetchone()
            assert watermarks.changes_since(conn) == own_start  # the sibling left out
        with psycopg.connect(pipeline_url) as conn:  # not a sibling: the open sibling counts
            assert watermarks.changes_since(conn) == sibling_start - MICROSECOND

        tenant = as_tenant(ORG_A)
        tenant.execute("select set_config('application_name', %s, false)", (tag,))
        tenant, stamp = tenant_change_in_flight(lambda org: tenant)
        try:
            with psycopg.connect(pipeline_url) as conn:
                watermarks.join_siblings(conn, tag)
                assert watermarks.changes_since(conn) == stamp - MICROSECOND
        finally:
            tenant.execute("rollback")
