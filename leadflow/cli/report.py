"""`leadflow report`: write the self-contained HTML report built from the analytics marts.

What the report shows is described in `leadflow/analytics/report/__init__.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from leadflow.analytics.report import ReportError, write_report
from leadflow.cli.common import fail as _fail
from leadflow.cli.common import postgres_url as _postgres_url


@click.command("report")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="HTML file to write.",
)
@click.option(
    "--org",
    default=None,
    metavar="TEXT",
    help="Organization UUID, slug or exact name (default: all).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object and nothing else.")
def report(out: Path, org: str | None, as_json: bool) -> None:
    """Write an HTML report (funnel, ROI by source, score trends, coaching) and print its path.

    One file with inline CSS and SVG charts: no JavaScript, fonts or URLs, so it opens offline,
    mails and prints as is. Exit 1 for an unknown organization, missing marts or a path that
    cannot be written.
    """
    try:
        summary = write_report(_postgres_url(), out, organization=org)
    except ReportError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(summary.as_json()))
        return
    click.echo(str(summary.path))
