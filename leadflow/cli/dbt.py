"""`leadflow dbt env|docs`: the dbt project (dbt/) by hand, against the configured PostgreSQL."""

from __future__ import annotations

import shlex
import shutil
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click

from leadflow.analytics.project import (
    DbtError,
    dbt_env,
    profiles_dir,
    project_dir,
    run_dbt,
    target_dir,
)
from leadflow.cli.common import postgres_url as _postgres_url
from leadflow.cli.conventions import BAD_REQUEST, JSON_OPTION, Heartbeat, emit_json
from leadflow.cli.conventions import fail as _fail

STATIC_INDEX = "static_index.html"


@click.group("dbt")
def dbt_group() -> None:
    """The dbt project (dbt/) against the configured PostgreSQL: the marts are built by
    `leadflow run`; these commands are for working on the project by hand.

    \b
    Examples:
      eval "$(leadflow dbt env)" && cd dbt && dbt build -s lead_funnel
      leadflow dbt docs --serve
    """


@dbt_group.command("env")
@JSON_OPTION
def dbt_env_cmd(as_json: bool) -> None:
    """Print `export DBT_PG_…` lines for running dbt by hand: eval "$(leadflow dbt env)".

    The output includes the database password: it is meant for eval, not for logs.

    \b
    Examples:
      eval "$(leadflow dbt env)"
      leadflow dbt env --json
    """
    values = {
        **dbt_env(_postgres_url()),
        "DBT_PROFILES_DIR": str(profiles_dir()),
        "DBT_PROJECT_DIR": str(project_dir()),
    }
    if as_json:
        emit_json(values)
        return
    for key, value in values.items():
        click.echo(f"export {key}={shlex.quote(value)}")


#: the site's files: dbt's index.html reads manifest.json and catalog.json over HTTP (it stays
#: "loading" when opened from disk); static_index.html (`docs generate --static`) has both inside
#: and works from disk
SITE_FILES = ("index.html", "manifest.json", "catalog.json", STATIC_INDEX)


@dbt_group.command("docs")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Copy the generated site here (index.html, manifest, catalog, static_index.html).",
)
@click.option("--serve", is_flag=True, help="Serve the site over HTTP until Ctrl-C.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port for --serve (0: any free port).",
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address for --serve (localhost)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (not with --serve).")
def dbt_docs(out: Path | None, serve: bool, port: int, host: str, as_json: bool) -> None:
    """`dbt docs generate --static` (needs the marts built: `leadflow run` first).

    Writes static_index.html, one file that works opened from disk (mail it, archive it), beside
    dbt's index.html, which needs a web server: --serve serves the site on localhost.

    \b
    Examples:
      leadflow dbt docs --out site/
      leadflow dbt docs --serve --port 8080
    """
    if serve and as_json:
        _fail("--json and --serve: choose one", code=BAD_REQUEST)
    with Heartbeat("dbt docs generate"):
        try:
            run_dbt(["docs", "generate", "--static"], _postgres_url(), target_path=target_dir())
        except DbtError as exc:
            _fail(str(exc))
    site = target_dir()
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
            for name in SITE_FILES:
                shutil.copy2(site / name, out / name)
        except OSError as exc:
            _fail(f"cannot write the site to {out}: {exc}")
        site = out
    if as_json:
        payload = {"site": str(site), "index": str(site / "index.html")}
        payload["static_index"] = str(site / STATIC_INDEX)
        emit_json(payload)
        return
    click.echo(f"dbt docs written to {site}: open {site / STATIC_INDEX} from disk")
    if not serve:
        click.echo("(serve the site: leadflow dbt docs --serve [--port 8080])")
        return
    try:
        server = docs_server(site, host, port)
    except OSError as exc:
        _fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}", code=BAD_REQUEST)
    click.echo(f"serving dbt docs at http://{host}:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def docs_server(site: Path, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server of the site directory (bound, not yet serving), quiet in the terminal."""

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(site), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
            return

    return ThreadingHTTPServer((host, port), Handler)
