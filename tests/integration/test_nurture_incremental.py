"""Incremental `nurture_enrollments` equals a full pass: after leads went DNC (status and list),
one was recruited, a new lead arrived and a sequence's entry filter changed, the enrollments and
the touch queue equal what `--full-refresh` makes of a copy of the same data."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest

from leadflow.crm.assets import nurture_enrollments
from leadflow.dagster_vocab import FULL_REFRESH_TAG
from leadflow.resources import PostgresResource
from tests.integration.conftest import ORG1
from tests.integration.test_nurture import REENGAGE2, WELCOME1, lead

pytestmark = pytest.mark.integration

T = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ENROLLMENTS = (
    "select lead_id::text, sequence_id::text, status, current_step, next_step_scheduled_at,"
    " completed_at, enrolled_at from lead_sequence_enrollments order by 1, 2, 7, 3"
)
TOUCHES = (
    "select lead_id::text, sequence_id::text, step, channel, template_id, due_at, status"
    " from nurture_touches order by 1, 2, 3"
)


@pytest.fixture(autouse=True)
def no_overlap(monkeypatch):
    """The seed is seconds old: with the default overlap every lead would count as changed."""
    monkeypatch.setenv("LEADFLOW_NIGHTLY_CHANGE_OVERLAP_SECONDS", "0")


def run(url: str, as_of: datetime, *, full: bool = False) -> dict:
    result = dg.materialize(
        [nurture_enrollments],
        resources={"postgres": PostgresResource(url=url)},
        run_config=dg.RunConfig({"nurture_enrollments": {"config": {"as_of": as_of.isoformat()}}}),
        tags={FULL_REFRESH_TAG: "true"} if full else None,
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("nurture_enrollments")
    return {key: value.value for key, value in materialization.metadata.items()}


def state(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        return {
            "enrollments": conn.execute(ENROLLMENTS).fetchall(),
            "touches": conn.execute(TOUCHES).fetchall(),
        }


def test_incremental_nurture_equals_a_full_pass(crm_url, make_database):
    with psycopg.connect(crm_url) as conn:
        conn.execute("update nurture_sequences set entry_filter = null")
        conn.execute(
            "update nurture_sequences set entry_filter = %s where id = %s",
            (json.dumps({"status": ["new"]}), WELCOME1),
        )
        conn.execute(
            "update nurture_sequences set entry_filter = %s where id = %s",
            (json.dumps({"status": ["cold"]}), REENGAGE2),
        )
    first = run(crm_url, T)
    assert (first["mode"], first["full_reason"]) == ("full", "first run")
    quiet = run(crm_url, T + timedelta(hours=1))
    assert quiet["mode"] == "incremental" and quiet["leads_considered"] == 0

    with psycopg.connect(crm_url) as conn:
        conn.execute("update leads set status = 'dnc' where id = %s", (lead(4),))
        conn.execute(
            "insert into dnc_list (organization_id, phone_number)"
            " select organization_id, phone_number from leads where id = %s",
            (lead(5),),
        )
        conn.execute("update leads set status = 'recruited' where id = %s", (lead(10),))
        conn.execute(
            "insert into leads (organization_id, phone_number, first_name, status)"
            " values (%s, '+12025550199', 'Newcomer', 'new')",
            (ORG1,),
        )
        conn.execute(
            "update nurture_sequences set entry_filter = %s where id = %s",
            (json.dumps({"status": ["cold", "nurturing"]}), REENGAGE2),
        )
    copy = make_database("nurture_full", template=crm_url)
    later = T + timedelta(days=3)
    incremental = run(crm_url, later)
    full = run(copy, later, full=True)

    assert incremental["mode"] == "incremental" and full["mode"] == "full"
    assert incremental["leads_considered"] == 4
    counts = ("cancelled", "exited", "touches_cancelled", "enrolled", "touches_queued")
    assert {key: incremental[key] for key in counts} == {key: full[key] for key in counts}
    assert incremental["cancelled"] >= 2 and incremental["enrolled"] >= 2
    assert state(crm_url) == state(copy)
