"""The dbt asset's test-scope metadata (issue 21): which tests ran, and why."""

from leadflow.analytics.assets import dbt_test_scope_metadata


def test_an_incremental_build_runs_the_tests_of_the_changed_keys():
    assert dbt_test_scope_metadata(None) == {
        "tests_scope": "changed",
        "full_reason": "none: incremental build",
    }


def test_a_due_full_pass_runs_every_test_and_says_why():
    assert dbt_test_scope_metadata("requested (--full-refresh)") == {
        "tests_scope": "full",
        "full_reason": "requested (--full-refresh)",
    }
