"""The `dbt` resource: DbtCliResource's `cli` with an environment for one dbt process, and the
dagster-dbt method it follows."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import dagster_dbt
import pytest
from dagster_dbt import DbtCliResource

from leadflow.analytics.assets import dbt_resource
from leadflow.analytics.resource import FOLLOWS_DAGSTER_DBT, LeadflowDbtCliResource


def test_cli_follows_the_installed_dagster_dbt():
    """resource.py repeats DbtCliResource.cli; after an upgrade of dagster-dbt, compare the new
    method with it, carry the changes over, then update FOLLOWS_DAGSTER_DBT."""
    assert dagster_dbt.__version__ == FOLLOWS_DAGSTER_DBT
    ours = dict(inspect.signature(LeadflowDbtCliResource.cli).parameters)
    assert ours.pop("env").default is None
    theirs = inspect.signature(DbtCliResource.cli).parameters
    assert list(ours) == list(theirs)
    assert all(ours[name].default == theirs[name].default for name in ours)


def test_env_reaches_the_dbt_process_and_nothing_else(tmp_path: Path, monkeypatch):
    """The profile reads DBT_PG_PORT with `as_number`: a port that is no number fails dbt's
    parse only when the variable reached it; this process's environment is left as it was."""
    monkeypatch.delenv("DBT_PG_PORT", raising=False)
    before = dict(os.environ)
    dbt = dbt_resource()
    broken = dbt.cli(
        ["parse", "--quiet"],
        env={"DBT_PG_PORT": "not-a-port"},
        target_path=tmp_path / "broken",
        raise_on_error=False,
    ).wait()
    assert not broken.is_successful()
    assert dict(os.environ) == before
    fine = dbt.cli(["parse", "--quiet"], target_path=tmp_path / "fine", raise_on_error=False)
    assert fine.wait().is_successful()


def test_env_may_not_replace_what_dagster_dbt_sets(tmp_path: Path):
    with pytest.raises(ValueError, match="DBT_LOG_FORMAT"):
        dbt_resource().cli(["parse"], env={"DBT_LOG_FORMAT": "text"}, target_path=tmp_path)
