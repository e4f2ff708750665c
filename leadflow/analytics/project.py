"""The dbt project (`dbt/`) as Dagster and the CLI use it: paths, the connection, dbt runs.

Light on purpose (no Dagster import): the CLI's dbt commands and the report use it. The
`DbtProject` the assets are built from, and preparing its manifest, are in dbt_project.py.

dbt-postgres has no connection URL setting, so the profile (`dbt/profiles.yml`) reads DBT_PG_*
variables through dbt's `env_var`; `dbt_env()` derives them from a PostgreSQL URL. Each dbt
process gets them in its own environment (`run_dbt` here, `LeadflowDbtCliResource.cli(env=...)`
for the Dagster asset): this process's environment is never changed.

`funnel_stages()` reads the funnel's stage order from the dbt var of the same name, so the marts
and the Python code (the report, the tests) share one definition.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import yaml
from psycopg.conninfo import conninfo_to_dict

from leadflow import settings


class DbtError(RuntimeError):
    """dbt could not run; the message carries the end of its output."""


def project_dir() -> Path:
    return settings.current().dbt_project_dir


def profiles_dir() -> Path:
    return settings.current().dbt_profiles_dir


def target_dir() -> Path:
    return project_dir() / "target"


def funnel_stages() -> tuple[str, ...]:
    """The funnel stages in order (new ... recruited), from the var `funnel_stages` of
    dbt_project.yml: the one definition the marts (`var('funnel_stages')`) and Python share.

    Read once per project directory; raises DbtError when the var is missing or malformed.
    """
    return _funnel_stages(project_dir() / "dbt_project.yml")


@lru_cache(maxsize=4)
def _funnel_stages(path: Path) -> tuple[str, ...]:
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DbtError(f"cannot read the dbt project {path}: {exc}") from exc
    stages = (config.get("vars") or {}).get("funnel_stages") if isinstance(config, dict) else None
    if (
        not isinstance(stages, list)
        or not stages
        or not all(isinstance(stage, str) and stage for stage in stages)
        or len(set(stages)) != len(stages)
    ):
        raise DbtError(f"{path}: vars.funnel_stages must be a list of distinct stage names")
    return tuple(stages)


def dbt_executable() -> str:
    """The `dbt` next to this interpreter (the project's venv), else the one on PATH."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def dbt_env(url: str) -> dict[str, str]:
    """DBT_PG_* variables for `dbt/profiles.yml` from a PostgreSQL URL or conninfo string."""
    info = conninfo_to_dict(url)
    env = {
        "DBT_PG_HOST": str(info.get("host") or "127.0.0.1"),
        "DBT_PG_PORT": str(info.get("port") or 5432),
        "DBT_PG_USER": str(info.get("user") or settings.current().raw("USER") or "postgres"),
        "DBT_PG_PASSWORD": str(info.get("password") or ""),
        "DBT_PG_DBNAME": str(info.get("dbname") or "postgres"),
    }
    if info.get("sslmode"):
        env["DBT_PG_SSLMODE"] = str(info["sslmode"])
    return env


def prune_run_targets(keep: int = 10) -> int:
    """Remove all but the `keep` newest per-run target directories dagster-dbt leaves in
    dbt/target (each holds a run's manifest, run_results.json and dbt.log)."""
    runs = sorted(
        (p for p in target_dir().glob("analytics_models-*") if p.is_dir()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for stale in runs[keep:]:
        shutil.rmtree(stale, ignore_errors=True)
    return max(0, len(runs) - keep)


def run_dbt(
    args: Sequence[str],
    url: str | None,
    *,
    target_path: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    capture: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a dbt command against `url` (None: whatever DBT_PG_* say); raise DbtError on failure."""
    env = {**settings.current().environ, **(dbt_env(url) if url else {}), **(extra_env or {})}
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    if target_path is not None:  # keep dbt.log beside the run's artifacts
        env.setdefault("DBT_LOG_PATH", str(target_path))
    command = [
        dbt_executable(),
        *args,
        "--project-dir",
        str(project_dir()),
        "--profiles-dir",
        str(profiles_dir()),
    ]
    if target_path is not None:
        command += ["--target-path", str(target_path)]
    result = subprocess.run(
        command,
        env=env,
        cwd=project_dir(),
        text=True,
        capture_output=capture,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join(((result.stdout or "") + (result.stderr or "")).splitlines()[-40:])
        raise DbtError(f"dbt {' '.join(args)} failed (exit {result.returncode}):\n{tail}")
    return result
