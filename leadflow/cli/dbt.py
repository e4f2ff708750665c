"""`leadflow dbt env|docs`: the dbt project (dbt/) by hand, against the configured PostgreSQL."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import click

from leadflow.analytics.project import (
    DbtError,
    dbt_env,
    profiles_dir,
    project_dir,
    run_dbt,
    target_dir,
)
from leadflow.cli.common import fail as _fail
from leadflow.cli.common import postgres_url as _postgres_url


@click.group("dbt")
def dbt_group() -> None:
    """The dbt project (dbt/) against the configured PostgreSQL."""


@dbt_group.command("env")
def dbt_env_cmd() -> None:
    """Print `export DBT_PG_…` lines for running dbt by hand: eval "$(leadflow dbt env)"."""
    values = {
        **dbt_env(_postgres_url()),
        "DBT_PROFILES_DIR": str(profiles_dir()),
        "DBT_PROJECT_DIR": str(project_dir()),
    }
    for key, value in values.items():
        click.echo(f"export {key}={shlex.quote(value)}")


@dbt_group.command("docs")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Copy the generated site (index.html, manifest, catalog) here.",
)
def dbt_docs(out: Path | None) -> None:
    """`dbt docs generate` (needs the marts built: `leadflow run` first)."""
    try:
        run_dbt(["docs", "generate"], _postgres_url(), target_path=target_dir())
    except DbtError as exc:
        _fail(str(exc))
    site = target_dir()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name in ("index.html", "manifest.json", "catalog.json"):
            shutil.copy2(site / name, out / name)
        site = out
    click.echo(f"dbt docs written to {site / 'index.html'} (serve: dbt docs serve)")
