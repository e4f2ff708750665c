"""Nightly schedule settings, the job's shape and the failure-alert payload (no servers)."""

from __future__ import annotations

import dagster as dg
import pytest

from leadflow.definitions import defs
from leadflow.orchestration.alerts import failure_payload
from leadflow.orchestration.nightly import NIGHTLY_GROUPS
from leadflow.settings import DEFAULT_CRON, NightlyConfigError, nightly_settings


def test_defaults_are_two_am_utc_with_three_retries():
    settings = nightly_settings({})
    assert (settings.cron, settings.timezone) == (DEFAULT_CRON, "UTC")
    assert (settings.max_retries, settings.retry_delay_seconds) == (3, 30)
    assert settings.schedule_running is True
    assert settings.crm_cron == "30 1 * * *"


def test_cron_and_timezone_come_from_the_environment():
    settings = nightly_settings(
        {
            "LEADFLOW_NIGHTLY_CRON": "30 3 * * 1-5",
            "LEADFLOW_TIMEZONE": "Australia/Sydney",
            "LEADFLOW_RETRY_MAX": "5",
            "LEADFLOW_RETRY_DELAY_SECONDS": "10",
            "LEADFLOW_NIGHTLY_ENABLED": "false",
            "LEADFLOW_CRM_CRON": "0 1 * * *",
        }
    )
    assert settings.cron == "30 3 * * 1-5"
    assert settings.crm_cron == "0 1 * * *"
    assert settings.timezone == "Australia/Sydney"
    assert (settings.max_retries, settings.retry_delay_seconds) == (5, 10)
    assert settings.schedule_running is False


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"LEADFLOW_NIGHTLY_CRON": "every night"}, "LEADFLOW_NIGHTLY_CRON"),
        ({"LEADFLOW_NIGHTLY_CRON": "0 25 * * *"}, "LEADFLOW_NIGHTLY_CRON"),
        ({"LEADFLOW_CRM_CRON": "nightly"}, "LEADFLOW_CRM_CRON"),
        ({"LEADFLOW_TIMEZONE": "Mars/Olympus"}, "LEADFLOW_TIMEZONE"),
        ({"LEADFLOW_TIMEZONE": "../../etc/passwd"}, "LEADFLOW_TIMEZONE"),
        ({"LEADFLOW_RETRY_MAX": "-1"}, "LEADFLOW_RETRY_MAX"),
        ({"LEADFLOW_RETRY_DELAY_SECONDS": "soon"}, "LEADFLOW_RETRY_DELAY_SECONDS"),
        ({"LEADFLOW_NIGHTLY_ENABLED": "perhaps"}, "LEADFLOW_NIGHTLY_ENABLED"),
    ],
)
def test_bad_settings_name_the_variable(env, names):
    with pytest.raises(NightlyConfigError, match=names):
        nightly_settings(env)


def test_the_crm_sync_schedule_takes_the_settings_it_is_built_with():
    """Read where the definitions are built, not when leadflow.crmsync is imported."""
    from leadflow.crmsync.definitions import build_defs

    settings = nightly_settings(
        {
            "LEADFLOW_CRM_CRON": "15 0 * * *",
            "LEADFLOW_TIMEZONE": "Europe/London",
            "LEADFLOW_NIGHTLY_ENABLED": "false",
        }
    )
    [schedule] = build_defs(settings).schedules
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("15 0 * * *", "Europe/London")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert schedule.job_name == "crm_sync_job"


def test_schedule_runs_the_nightly_job_at_two():
    schedule = defs.resolve_schedule_def("nightly_sync_schedule")
    assert schedule.job_name == "nightly_sync_job"
    assert schedule.cron_schedule == DEFAULT_CRON
    assert schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_nightly_job_covers_every_unpartitioned_asset_after_the_imports():
    job = defs.resolve_job_def("nightly_sync_job")
    keys = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
    assert {"lead_activities", "lead_scores", "lead_assignments"} <= keys
    assert {"nurture_enrollments", "segment_counts", "crm_graph"} <= keys
    assert {"analytics/lead_funnel", "analytics/source_roi", "analytics/lead_timeline"} <= keys
    assert not keys & {"raw_lead_files", "crm_leads"}  # imports run per file, not nightly
    graph = defs.resolve_asset_graph()
    groups = {graph.get(dg.AssetKey.from_user_string(k)).group_name for k in keys}
    assert groups <= set(NIGHTLY_GROUPS)
    policy = job.op_retry_policy
    assert policy.max_retries == 3 and policy.backoff == dg.Backoff.EXPONENTIAL


def test_pending_referrals_are_resolved_in_the_nightly_before_the_graph():
    """An ingest step (`lead_referrals`) writes the links; the graph sync only reads them."""
    job = defs.resolve_job_def("nightly_sync_job")
    assert dg.AssetKey("lead_referrals") in job.asset_layer.selected_asset_keys
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("lead_referrals")).group_name == "ingest"
    assert dg.AssetKey("lead_referrals") in graph.get(dg.AssetKey("crm_graph")).parent_keys


def test_dbt_sources_map_to_the_assets_that_fill_them():
    graph = defs.resolve_asset_graph()

    def parents(key: str) -> set[str]:
        return {
            k.to_user_string() for k in graph.get(dg.AssetKey.from_user_string(key)).parent_keys
        }

    # each staging model reads its source table (an asset of its own, `crm/<table>`) and sits
    # below every asset that writes that table (issue 19: `leads` has six writers); leads and
    # costs also read the source aliases (issue 20), which the operator edits (no writer asset)
    assert parents("analytics_staging/stg_crm__source_aliases") == {"crm/source_aliases"}
    assert parents("analytics_staging/stg_crm__leads") == {
        "analytics_staging/stg_crm__source_aliases",
        "crm/leads",
        "crm_leads",
        "crm_api_leads",
        "lead_referrals",
        "lead_scores",
        "lead_assignments",
        "lead_activities",
    }
    assert parents("analytics_staging/stg_crm__lead_status_history") == {
        "crm/lead_status_history",
        "crm_leads",
        "crm_api_leads",
    }
    assert parents("analytics_staging/stg_crm__lead_activities") == {
        "crm/lead_activities",
        "lead_activities",
    }
    assert parents("analytics_staging/stg_crm__lead_score_history") == {
        "crm/lead_score_history",
        "lead_scores",
    }
    assert parents("analytics_staging/stg_crm__lead_assignments") == {
        "crm/lead_assignments",
        "lead_assignments",
    }
    assert parents("analytics_staging/stg_crm__segment_count_history") == {
        "crm/segment_count_history",
        "segment_counts",
    }
    assert parents("analytics_staging/stg_crm__lead_source_costs") == {
        "analytics_staging/stg_crm__source_aliases",
        "crm/lead_source_costs",
        "lead_source_costs",
    }
    groups = {
        graph.get(key).group_name
        for key in graph.get_all_asset_keys()
        if key.path[0].startswith("analytics")
    }
    assert groups == {"dbt_staging", "dbt_intermediate", "marts"}
    sources = {
        graph.get(key).group_name for key in graph.get_all_asset_keys() if key.path[0] == "crm"
    }
    assert sources == {"dbt_sources"}


def test_dbt_tests_are_blocking_asset_checks():
    graph = defs.resolve_asset_graph()
    checks = [graph.get_check_spec(key) for key in graph.asset_check_keys]
    dbt_checks = [c for c in checks if c.asset_key.path[0].startswith("analytics")]
    assert len(dbt_checks) >= 50
    assert all(c.blocking for c in dbt_checks)  # every dbt test is error severity
    assert any(c.asset_key.to_user_string() == "analytics/lead_funnel" for c in dbt_checks)


def test_failure_payload_is_readable_by_people_and_scripts():
    payload = failure_payload(
        "nightly_sync_job", "0123456789abcdef", "boom", ["lead_scores"], {"k": "v"}
    )
    assert payload["job"] == "nightly_sync_job" and payload["failed_steps"] == ["lead_scores"]
    assert "nightly_sync_job" in payload["text"] and "01234567" in payload["text"]
    assert "lead_scores" in payload["text"] and payload["error"] == "boom"


def test_partitioned_nightly_assets_read_no_partitioned_asset_outside_the_job():
    """The nightly run has no partition key. Dagster 1.13 fails a *partitioned* step (crm_graph)
    whose upstream asset is partitioned and was materialized before: it asks the run for a
    partition key to version the input. crm_graph's lineage from the imports therefore flows
    through lead_scores / lead_assignments."""
    job = defs.resolve_job_def("nightly_sync_job")
    graph = defs.resolve_asset_graph()
    selected = set(job.asset_layer.selected_asset_keys)
    partitioned = {key for key in selected if graph.get(key).partitions_def is not None}
    assert {key.to_user_string() for key in partitioned} == {"crm_graph"}
    offenders = {
        (key.to_user_string(), parent.to_user_string())
        for key in partitioned
        for parent in graph.get(key).parent_keys
        if parent not in selected and graph.get(parent).partitions_def is not None
    }
    assert offenders == set()
