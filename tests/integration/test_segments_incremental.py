"""Incremental `segment_counts` equals counting everything: after leads of one organization and
one filter of another changed, only their segments are recounted, and segments, their counts and
their history equal a `--full-refresh` count of a copy of the same data."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import dagster as dg
import psycopg
import pytest

from leadflow.crm.assets import segment_counts
from leadflow.dagster_vocab import FULL_REFRESH_TAG
from leadflow.resources import PostgresResource
from tests.integration.conftest import ORG1, ORG2

pytestmark = pytest.mark.integration

AS_OF = datetime.fromisoformat("2026-12-01T06:00:00+00:00")
LATER = AS_OF + timedelta(days=1)
SEGMENTS = "select id::text, lead_count, last_counted_at from segments order by 1"
HISTORY = "select segment_id::text, counted_at, lead_count from segment_count_history order by 1, 2"


@pytest.fixture(autouse=True)
def no_overlap(monkeypatch):
    """The seed is seconds old: with the default overlap every organization would count as
    changed."""
    monkeypatch.setenv("LEADFLOW_NIGHTLY_CHANGE_OVERLAP_SECONDS", "0")


def materialize(url: str, as_of: datetime, *, full: bool = False) -> dict:
    result = dg.materialize(
        [segment_counts],
        resources={"postgres": PostgresResource(url=url)},
        run_config={"ops": {"segment_counts": {"config": {"as_of": as_of.isoformat()}}}},
        tags={FULL_REFRESH_TAG: "true"} if full else None,
    )
    assert result.success
    [event] = result.get_asset_materialization_events()
    return {key: value.value for key, value in event.materialization.metadata.items()}


def state(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        return {
            "segments": conn.execute(SEGMENTS).fetchall(),
            "history": conn.execute(HISTORY).fetchall(),
        }


def segments_of(url: str, org: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select id::text from segments where organization_id = %s order by id", (org,)
        )
        return [segment for (segment,) in rows]


def test_only_changed_organizations_and_filters_are_recounted_with_the_same_result(
    crm_url, make_database
):
    first = materialize(crm_url, AS_OF)
    assert (first["mode"], first["full_reason"]) == ("full", "first run")
    assert first["segments_recounted"] == first["segments_counted"] > 0
    nothing = materialize(crm_url, AS_OF + timedelta(hours=1))
    assert nothing["mode"] == "incremental"
    assert (nothing["segments_recounted"], nothing["organizations_changed"]) == (0, 0)
    assert nothing["segments_carried"] == first["segments_counted"]

    org2_segment = segments_of(crm_url, ORG2)[0]
    with psycopg.connect(crm_url) as conn:
        conn.execute(
            "update leads set status = 'hot', lead_score = 90 where id in"
            " (select id from leads where organization_id = %s and deleted_at is null"
            "  order by id limit 3)",
            (ORG1,),
        )
        conn.execute(
            "update leads set deleted_at = now() where id in"
            " (select id from leads where organization_id = %s and deleted_at is null"
            "  order by id desc limit 1)",
            (ORG1,),
        )
        conn.execute(
            "update segments set filter = %s where id = %s",
            (json.dumps({"status": ["new", "contacted"]}), org2_segment),
        )
    copy = make_database("segments_full", template=crm_url)
    incremental = materialize(crm_url, LATER)
    full = materialize(copy, LATER, full=True)

    assert incremental["mode"] == "incremental" and full["mode"] == "full"
    assert incremental["organizations_changed"] == 1
    assert incremental["segments_recounted"] == len(segments_of(crm_url, ORG1)) + 1
    assert incremental["segments_recounted"] < full["segments_recounted"]
    assert state(crm_url) == state(copy)
