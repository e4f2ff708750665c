"""The dbt project as dagster-dbt sees it: `DBT_PROJECT` and the manifest the assets come from.

The asset graph is built from `dbt/target/manifest.json`. Under `dagster dev` the project is
parsed when the definitions load (`DBT_PROJECT.prepare_if_dev()`, in assets.py); everywhere else
the manifest is prepared ahead of loading them:

- a deployment, at build time: `make dbt-manifest`, which runs
  `dagster-dbt project prepare-and-package --file leadflow/analytics/dbt_project.py`;
- `leadflow run` and `leadflow demo`, before they load the definitions (`prepare()`), so a model
  edited in a checkout is in the graph of the next run;
- the test suite, once per session (tests/conftest.py).

Loading the definitions without a manifest fails with `require_manifest()`'s message.
"""

from __future__ import annotations

from pathlib import Path

from dagster._utils import run_with_concurrent_update_guard
from dagster_dbt import DbtProject

from leadflow.analytics.project import DbtError, profiles_dir, project_dir, run_dbt

#: the project the dbt assets are built from (paths from the settings when this module loads)
DBT_PROJECT = DbtProject(project_dir=project_dir(), profiles_dir=profiles_dir())


def prepare() -> Path:
    """`dbt parse` into the manifest the asset graph is built from; returns its path.

    What dagster-dbt's preparer does for `dagster dev` and `prepare-and-package`, with the dbt
    of this interpreter's environment (the preparer runs the first `dbt` on PATH) and under the
    same lock file, so a `dagster dev` reload and a `leadflow run` never parse at the same time.
    Parsing needs the profile but no database connection; partial parsing keeps it quick.
    """

    def parse() -> None:  # the guard's callback returns nothing
        run_dbt(["parse", "--quiet"], None, target_path=DBT_PROJECT.manifest_path.parent)

    run_with_concurrent_update_guard(DBT_PROJECT.manifest_path, parse)
    return DBT_PROJECT.manifest_path


def require_manifest() -> Path:
    """The manifest's path; DbtError saying how to prepare it when there is none."""
    if not DBT_PROJECT.manifest_path.exists():
        raise DbtError(
            f"{DBT_PROJECT.manifest_path} is missing: prepare the dbt project first with "
            "`make dbt-manifest` (dagster-dbt project prepare-and-package --file "
            "leadflow/analytics/dbt_project.py)"
        )
    return DBT_PROJECT.manifest_path
