"""Hostile-tenant tests for the nightly's incremental state (issue 21): `lead_score_due` (when
time alone next moves a lead's score, migration 018) and `sync_watermarks` (where each step
stands, migration 016). Each attack runs as a login role that is neither superuser, owner nor
BYPASSRLS, scoped to organization A, on both servers (tenant_server).

- A due row decides which leads the incremental scoring pass reads. A tenant that could plant
  one for another organization's lead (its primary key) would make that organization's next
  pass fail on the duplicate, night after night; one that could push its own rows into the
  future would freeze its scores until the weekly full pass. So the application reads its own
  rows and writes none.
- The watermarks are the pipeline's own: the application cannot read or move them.
"""

from __future__ import annotations

import psycopg
import pytest

from tests.integration.tenant_isolation.conftest import ORG_A, ORG_B

pytestmark = pytest.mark.integration


def _plant_due_rows(admin_url: str) -> dict[str, str]:
    """One due row per organization (as the scoring step writes them); the lead of each."""
    leads = {}
    with psycopg.connect(admin_url) as conn:
        for org in (ORG_A, ORG_B):
            (lead,) = conn.execute(
                "select id::text from leads where organization_id = %s and deleted_at is null"
                " order by id limit 1",
                (org,),
            ).fetchone()
            conn.execute(
                "insert into lead_score_due (lead_id, organization_id, rescore_at)"
                " values (%s, %s, now() + interval '3 days')",
                (lead, org),
            )
            leads[org] = lead
    return leads


def test_a_tenant_reads_its_own_due_rows_and_writes_none(admin_url, as_tenant):
    leads = _plant_due_rows(admin_url)
    with psycopg.connect(admin_url) as conn:  # a lead of B with no due row yet
        (b_free,) = conn.execute(
            "select id::text from leads where organization_id = %s and id <> %s"
            " order by id limit 1",
            (ORG_B, leads[ORG_B]),
        ).fetchone()
    tenant = as_tenant(ORG_A)
    seen = tenant.execute("select lead_id::text, organization_id::text from lead_score_due")
    assert seen.fetchall() == [(leads[ORG_A], ORG_A)]
    for statement, params in (
        # B's lead under A's organization: passes A's policy, would block B's next pass
        (
            "insert into lead_score_due (lead_id, organization_id, rescore_at)"
            " values (%s, %s, now())",
            (b_free, ORG_A),
        ),
        ("update lead_score_due set rescore_at = 'infinity'", ()),
        ("delete from lead_score_due", ()),
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            tenant.execute(statement, params)
    with psycopg.connect(admin_url) as conn:
        rows = conn.execute(
            "select lead_id::text, organization_id::text, rescore_at > now() + interval '2 days'"
            " from lead_score_due order by organization_id"
        ).fetchall()
    assert rows == [(leads[ORG_A], ORG_A, True), (leads[ORG_B], ORG_B, True)]


def test_a_tenant_can_neither_read_nor_move_the_watermarks(admin_url, as_tenant):
    with psycopg.connect(admin_url) as conn:
        conn.execute(
            "insert into sync_watermarks (name, last_occurred_at, updated_at)"
            " values (%s, now() - interval '1 day', now())",
            (f"scores:{ORG_A}",),
        )
    tenant = as_tenant(ORG_A)
    for statement in (
        "select * from sync_watermarks",
        "update sync_watermarks set last_occurred_at = 'infinity'",
        "delete from sync_watermarks",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            tenant.execute(statement)
    with psycopg.connect(admin_url) as conn:
        assert conn.execute(
            "select count(*) from sync_watermarks where last_occurred_at < now()"
        ).fetchone() == (1,)
