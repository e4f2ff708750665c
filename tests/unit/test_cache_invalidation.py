"""The recommendation cache's invalidation as Dagster wires it (no servers): the recommendations
domain reacts to every asset that writes leads, in the nightly job and, in a deployment, through
its automation condition after a launched import or CRM sync; the writers know nothing of it."""

from __future__ import annotations

import dagster as dg

from leadflow.dagster_vocab import organization_partitions
from leadflow.definitions import defs
from leadflow.recommend.assets import AFTER_LEAD_CHANGES, LEAD_WRITERS

INVALIDATION = dg.AssetKey("recommendation_cache_invalidation")


def test_it_follows_every_asset_that_writes_leads():
    graph = defs.resolve_asset_graph()
    assert graph.get(INVALIDATION).parent_keys == set(LEAD_WRITERS)
    assert {"crm_leads", "crm_api_leads", "lead_scores", "lead_assignments", "lead_referrals"} == {
        key.to_user_string() for key in LEAD_WRITERS
    }
    assert all(graph.has(key) for key in LEAD_WRITERS)


def test_the_nightly_job_runs_it_and_a_running_sensor_evaluates_its_condition():
    assert INVALIDATION in defs.resolve_job_def("nightly_sync_job").asset_layer.selected_asset_keys
    sensor = defs.resolve_sensor_def("recommendation_cache_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_asset_graph().get(INVALIDATION).automation_condition == AFTER_LEAD_CHANGES


def _stand_ins() -> list[dg.AssetsDefinition]:
    """Two lead writers (a partitioned import, an unpartitioned score) and the invalidation, with
    the product's keys and condition but bodies that need no server."""

    @dg.asset(key="crm_leads", partitions_def=organization_partitions)
    def crm_leads() -> None: ...

    @dg.asset(key="lead_scores")
    def lead_scores() -> None: ...

    @dg.asset(
        key=INVALIDATION, deps=[crm_leads, lead_scores], automation_condition=AFTER_LEAD_CHANGES
    )
    def invalidation() -> None: ...

    return [crm_leads, lead_scores, invalidation]


def test_the_condition_requests_one_run_after_a_writer_materialized_without_it():
    assets = _stand_ins()
    crm_leads, lead_scores, invalidation = assets
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(organization_partitions.name, ["org-a"])
    cursor = None

    def requested() -> int:
        nonlocal cursor
        result = dg.evaluate_automation_conditions(defs=assets, instance=instance, cursor=cursor)
        cursor = result.cursor
        return result.total_requested

    assert requested() == 0  # nothing changed yet
    assert dg.materialize([crm_leads], partition_key="org-a", instance=instance).success
    assert requested() == 1  # an import ran (its own job): invalidate after it
    assert requested() == 0  # once: the run it requested handles it
    assert dg.materialize([invalidation], instance=instance).success
    assert requested() == 0
    assert dg.materialize([lead_scores, invalidation], instance=instance).success
    assert requested() == 0  # the nightly ran both: nothing more to do
