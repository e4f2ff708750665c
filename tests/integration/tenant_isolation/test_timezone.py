"""One organization's time zone is data it writes: an invalid one is refused on write, and one
that got in anyway (before the check existed) never fails the marts of everyone."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import errors

from leadflow.analytics.project import run_dbt
from leadflow.recommend.store import answered_hours
from tests.integration.tenant_isolation.conftest import ORG_A, ORG_B

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "UTC'; drop table leads; --", "", "+05"])
def test_a_tenant_cannot_store_a_time_zone_postgresql_does_not_know(as_tenant, zone):
    tenant = as_tenant(ORG_A)
    with pytest.raises(errors.CheckViolation, match="time zone"):
        tenant.execute("update organizations set timezone = %s where id = %s", (zone, ORG_A))
    tenant.execute("update organizations set timezone = 'Europe/Berlin' where id = %s", (ORG_A,))
    assert tenant.execute("select timezone from organizations").fetchone() == ("Europe/Berlin",)


def test_an_invalid_zone_already_stored_does_not_fail_the_other_organizations(crm_url):
    with psycopg.connect(crm_url) as conn:  # as a row written before migration 011 would be
        conn.execute(
            "alter table organizations disable trigger trigger_organizations_check_timezone"
        )
        conn.execute(
            "update organizations set timezone = 'Mars/Olympus_Mons' where id = %s", (ORG_A,)
        )
        conn.execute(
            "alter table organizations enable trigger trigger_organizations_check_timezone"
        )
    run_dbt(["run", "--quiet", "--select", "+lead_funnel", "+segment_sizes"], url=crm_url)
    with psycopg.connect(crm_url) as conn:
        orgs = {
            row[0]
            for row in conn.execute("select organization_id::text from analytics.lead_funnel")
        }
        zone = conn.execute(
            "select organization_timezone from analytics_staging.stg_crm__organizations"
            " where organization_id = %s",
            (ORG_A,),
        ).fetchone()
    assert {ORG_A, ORG_B} <= orgs
    assert zone == ("UTC",)
    # the nightly's other reader of the zone: the recommendations' best hours
    with psycopg.connect(crm_url) as conn:
        conn.execute(
            "insert into lead_activities (organization_id, lead_id, activity_type, direction,"
            " outcome, occurred_at, source_id)"
            " select organization_id, id, 'call', 'inbound', 'answered',"
            " '2026-01-05 17:00+00', 'tz-test' from leads where organization_id = %s limit 1",
            (ORG_A,),
        )
        _, hour = answered_hours(conn, ORG_A, datetime.now(UTC))
    assert hour == 17  # read as UTC
