"""Hostile-tenant tests for what issue 20 reads: the source taxonomy (source_aliases), the kept
notes (lead_notes, import_row_notes) and the calling window (system_config calling_hours).
Each attack runs as a login role that is neither superuser, owner nor BYPASSRLS, scoped to
organization A, on both servers (tenant_server).

- source_aliases decides which costs meet which leads in every organization's ROI: a tenant
  may read its own and the global aliases, never write one, never see another's;
- lead_notes and import_row_notes hold tenant text: a tenant sees and writes only its own;
- calling_hours is the tenant's own config, hostile input to the recommendations: its value
  never breaks the window of another organization (a global row it cannot write), and a
  garbage value falls back to the default with a reason.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

from leadflow.recommend.hours import DEFAULT_CALLING_HOURS, calling_hours
from tests.integration.tenant_isolation.conftest import ORG_A, ORG_B

pytestmark = pytest.mark.integration

REFUSED = (psycopg.errors.InsufficientPrivilege,)


def _lead(admin_url: str, org: str) -> str:
    with psycopg.connect(admin_url) as conn:
        return str(
            conn.execute(
                "select id from leads where organization_id = %s and deleted_at is null"
                " order by id limit 1",
                (org,),
            ).fetchone()[0]
        )


def test_a_tenant_reads_its_own_and_the_global_aliases_and_writes_none(admin_url, as_tenant):
    with psycopg.connect(admin_url) as conn:
        conn.execute(
            "insert into source_aliases (organization_id, alias, canonical_source)"
            " values (%s, 'b_secret_board', 'b_board')",
            (ORG_B,),
        )
    tenant = as_tenant(ORG_A)
    seen = tenant.execute(
        "select distinct coalesce(organization_id::text, 'global') from source_aliases"
    ).fetchall()
    assert {row[0] for row in seen} <= {ORG_A, "global"} and ("global",) in seen
    for statement, params in (
        (
            "insert into source_aliases (organization_id, alias, canonical_source)"
            " values (%s, 'indeed', 'facebook')",
            (ORG_A,),
        ),
        (
            "insert into source_aliases (organization_id, alias, canonical_source)"
            " values (null, 'indeed', 'facebook')",
            (),
        ),
        ("update source_aliases set canonical_source = 'facebook'", ()),
        ("delete from source_aliases", ()),
    ):
        with pytest.raises(REFUSED):
            tenant.execute(statement, params)
    with psycopg.connect(admin_url) as conn:
        assert conn.execute(
            "select count(*) from source_aliases where canonical_source = 'facebook'"
            " and alias = 'indeed'"
        ).fetchone() == (0,)


def test_notes_are_the_tenants_own(admin_url, as_tenant):
    lead_a, lead_b = _lead(admin_url, ORG_A), _lead(admin_url, ORG_B)
    with psycopg.connect(admin_url) as conn:
        conn.execute(
            "insert into lead_notes (organization_id, lead_id, body, source)"
            " values (%s, %s, 'B only', 'import: b.csv')",
            (ORG_B, lead_b),
        )
    tenant = as_tenant(ORG_A)
    tenant.execute(
        "insert into lead_notes (organization_id, lead_id, body, source)"
        " values (%s, %s, 'A note', 'import: a.csv')",
        (ORG_A, lead_a),
    )
    assert tenant.execute("select body from lead_notes").fetchall() == [("A note",)]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):  # RLS: another tenant's row
        tenant.execute(
            "insert into lead_notes (organization_id, lead_id, body, source)"
            " values (%s, %s, 'planted', 'import: x.csv')",
            (ORG_B, lead_b),
        )
    assert tenant.execute(
        "select count(*) from import_row_notes where organization_id <> %s", (ORG_A,)
    ).fetchone() == (0,)


def test_a_tenants_calling_hours_stay_its_own_and_garbage_falls_back(admin_url, as_tenant):
    tenant = as_tenant(ORG_A)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):  # a global row reaches everyone
        tenant.execute(
            "insert into system_config (organization_id, config_key, config_value)"
            " values (null, 'calling_hours', %s)",
            (Jsonb({"start": "00:00", "end": "23:59"}),),
        )
    hostile = {"start": "'; drop table leads; --", "end": "9" * 10_000}
    tenant.execute(
        "insert into system_config (organization_id, config_key, config_value)"
        " values (%s, 'calling_hours', %s)",
        (ORG_A, Jsonb(hostile)),
    )
    with psycopg.connect(admin_url) as conn:
        window_a, problem_a = calling_hours(conn, ORG_A)
        window_b, problem_b = calling_hours(conn, ORG_B)
        assert conn.execute("select to_regclass('public.leads') is not null").fetchone()[0]
    assert window_a == DEFAULT_CALLING_HOURS and problem_a and len(problem_a) < 500
    assert (window_b, problem_b) == (DEFAULT_CALLING_HOURS, None)
