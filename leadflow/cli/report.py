"""`leadflow report`: write the self-contained HTML report built from the analytics marts.

What the report shows is described in `leadflow/analytics/report/__init__.py`.
"""

from __future__ import annotations

from pathlib import Path

import click

from leadflow.cli import resolve
from leadflow.cli.common import ensure_schema_current
from leadflow.cli.common import postgres_url as _postgres_url
from leadflow.cli.conventions import BAD_REQUEST, EXIT_CODES_HELP, JSON_OPTION, emit_json
from leadflow.cli.conventions import fail as _fail


@click.command("report", epilog=EXIT_CODES_HELP)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="HTML file to write.",
)
@resolve.org_option(allow_all=True, default=resolve.ALL)
@JSON_OPTION
def report(out: Path, org: str, as_json: bool) -> None:
    """Write an HTML report (funnel, ROI by source, score trends, coaching) and print its path.

    One file with inline CSS and SVG charts: no JavaScript, fonts or URLs, so it opens offline,
    mails and prints as is. Exit 2 for an unknown organization or an outdated schema, 1 for
    missing marts or a path that cannot be written.

    \b
    Examples:
      leadflow report --out report.html
      leadflow report --org summit --out summit.html
      leadflow report --org "Northwind Recruiting" --json | jq -r .path
    """
    from leadflow.analytics.report import ReportError, write_report

    url = _postgres_url()
    ensure_schema_current(url, BAD_REQUEST)
    scope = resolve.organization_ids(url, org)  # None: every organization
    try:
        summary = write_report(url, out, organization=scope[0] if scope else None)
    except ReportError as exc:
        _fail(str(exc))
    if as_json:
        emit_json(summary.as_json())
        return
    click.echo(str(summary.path))
