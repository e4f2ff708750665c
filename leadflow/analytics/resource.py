"""The `dbt` resource: dagster-dbt's DbtCliResource, plus an environment for one dbt process.

dbt-postgres reads its connection from the profile, and the profile reads DBT_PG_* through dbt's
`env_var`; which database a run builds is its `postgres` resource's (a scratch database in a test,
the local server for `leadflow run`, POSTGRES_URL in a deployment), so the variables are the
run's, not the process's. dagster-dbt 0.29's `DbtCliResource.cli` starts dbt with a copy of
`os.environ` and takes no environment of its own (a parameter for it was declined upstream, in
favour of changing `os.environ` around the call), and changing this process's environment for a
run is what we do not want: runs in one process (tests, `leadflow run`, the demo) would see each
other's connection, and every other thread the password. So `cli` here takes `env=`, merged into
that one dbt process's environment and nowhere else.

The method follows dagster-dbt 0.29.27's `DbtCliResource.cli` line for line apart from `env`;
tests/unit/test_dbt_resource.py fails when an upgrade changes the method it follows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg
from dagster._utils import pushd
from dagster_dbt import DagsterDbtTranslator, DbtCliInvocation, DbtCliResource
from dagster_dbt.asset_utils import (
    DBT_INDIRECT_SELECTION_ENV,
    extract_runtime_selection_from_args,
    get_updated_cli_invocation_params_for_context,
)
from dagster_dbt.core.resource import logger
from dagster_dbt.dagster_dbt_translator import validate_opt_translator
from dagster_dbt.dbt_manifest import DbtManifestParam, validate_manifest

from leadflow import settings

#: the dagster-dbt release whose `DbtCliResource.cli` this module's `cli` follows
FOLLOWS_DAGSTER_DBT = "0.29.27"


class LeadflowDbtCliResource(DbtCliResource):
    """dbt commands in the project (DbtCliResource); `cli(..., env=...)` adds variables to the
    environment of that one dbt process (the connection of the run's `postgres`)."""

    def cli(
        self,
        args: Sequence[str],
        *,
        raise_on_error: bool = True,
        manifest: DbtManifestParam | None = None,
        dagster_dbt_translator: DagsterDbtTranslator | None = None,
        context: dg.OpExecutionContext | dg.AssetExecutionContext | None = None,
        target_path: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> DbtCliInvocation:
        """DbtCliResource.cli, with `env` laid over the dbt process's environment last (after
        the variables dagster-dbt sets, which it does not name)."""
        dagster_dbt_translator = validate_opt_translator(dagster_dbt_translator)
        dagster_dbt_translator = dagster_dbt_translator or DagsterDbtTranslator()
        manifest = validate_manifest(manifest) if manifest else {}
        cleaned_args, runtime_selects, runtime_excludes = extract_runtime_selection_from_args(args)
        updated_params = get_updated_cli_invocation_params_for_context(
            context=context,
            manifest=manifest,
            dagster_dbt_translator=dagster_dbt_translator,
            runtime_selects=runtime_selects,
            runtime_excludes=runtime_excludes,
        )
        target_path = target_path or self._get_unique_target_path(context=context)
        project_dir = Path(
            updated_params.dbt_project.project_dir
            if updated_params.dbt_project
            else self.project_dir
        )
        invocation_env = {
            "DAGSTER_DBT_CLI": "true",
            "PYTHONUNBUFFERED": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_LOG_FORMAT": "json",
            "DBT_TARGET_PATH": os.fspath(target_path),
            "DBT_LOG_PATH": os.fspath(target_path),
            **({"DBT_PROFILES_DIR": self.profiles_dir} if self.profiles_dir else {}),
            "DBT_PROJECT_DIR": str(project_dir),
        }
        if updated_params.indirect_selection:
            invocation_env[DBT_INDIRECT_SELECTION_ENV] = updated_params.indirect_selection
        process_env = {
            "PYTHONLEGACYWINDOWSSTDIO": "1",
            **settings.current().environ,
            **invocation_env,
            **_checked(env, invocation_env),
        }

        profile_args: list[str] = []
        if self.profile:
            profile_args = ["--profile", self.profile]
        if self.target:
            profile_args += ["--target", self.target]
        full_dbt_args = [
            self.dbt_executable,
            *self.global_config_flags,
            *cleaned_args,
            *profile_args,
            *updated_params.selection_args,
        ]
        if not target_path.is_absolute():
            target_path = project_dir.joinpath(target_path)

        adapter = None
        with pushd(str(project_dir)):
            if self._cli_version.major < 2:
                try:
                    # the in-process adapter (column metadata, row counts: unused here) is
                    # built from this process's environment, which stays as it is
                    adapter = self._initialize_dbt_core_adapter(args)
                except Exception:
                    logger.warning(
                        "An error was encountered when creating a handle to the dbt adapter in "
                        "Dagster.",
                        exc_info=True,
                    )
            return DbtCliInvocation.run(
                args=full_dbt_args,
                env=process_env,
                manifest=updated_params.manifest,
                dagster_dbt_translator=updated_params.dagster_dbt_translator,
                project_dir=project_dir,
                target_path=target_path,
                raise_on_error=raise_on_error,
                context=context,
                adapter=adapter,
                cli_version=self._cli_version,
                dbt_project=updated_params.dbt_project,
            )


def _checked(env: Mapping[str, str] | None, invocation_env: Mapping[str, str]) -> dict[str, str]:
    """`env`, refused where it would replace a variable dagster-dbt sets for the invocation
    (target and log paths, the JSON log format its event stream parses, the project)."""
    clash = sorted(set(env or {}) & set(invocation_env))
    if clash:
        raise ValueError(f"env may not set {', '.join(clash)}: dagster-dbt sets them")
    return dict(env or {})
