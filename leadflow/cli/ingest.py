"""`leadflow leads import` (formerly `leadflow import`): lead files through the ingest assets,
in this process.

The request is checked first, with one PostgreSQL query and nothing else loaded (a bad
`--org` is refused at once); Dagster loads only for the run itself (leadflow.cli.runner).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from leadflow.cli.common import (
    ensure_schema_current,
    invalidate_recommendations,
    postgres_url,
)
from leadflow.cli.conventions import BAD_REQUEST, FAILED, JSON_OPTION, emit_json, fail
from leadflow.cli.resolve import ORG_HELP, USER_HELP

if TYPE_CHECKING:  # Dagster and the pipeline load once the request is checked
    import dagster as dg


SUMMARY_KEYS = ("rows_read", "inserted", "merged", "duplicates_in_file", "quarantined", "dnc")


def _overall_status(files: list[dict]) -> str:
    statuses = {f["status"] for f in files}
    if statuses == {"failed"}:
        return "failed"
    if "failed" in statuses:
        return "partial"
    if statuses == {"skipped"}:
        return "skipped"
    return "succeeded"


def check_results(result: dg.ExecuteInProcessResult) -> list[dict]:
    return [
        {
            "check": evaluation.check_name,
            "passed": evaluation.passed,
            "severity": evaluation.severity.value,
            "failing_count": (
                evaluation.metadata["failing_count"].value
                if "failing_count" in evaluation.metadata
                else None
            ),
            # added by issue 22: the quarantine rate's threshold, for the line that warns
            **(
                {"threshold": evaluation.metadata["threshold"].value}
                if "threshold" in evaluation.metadata
                else {}
            ),
        }
        for evaluation in result.get_asset_check_evaluations()
    ]


def _total_notes(files: list[dict]) -> dict[str, int]:
    total: dict[str, int] = {}
    for f in files:
        for code, count in (f.get("notes") or {}).items():
            total[code] = total.get(code, 0) + count
    return dict(sorted(total.items()))


def print_summary(files: list[dict], checks: list[dict]) -> None:
    for f in files:
        click.echo(f"{f['file']}")
        click.echo(
            f"  status       {f['status']}" + (f"  ({f['message']})" if f["message"] else "")
        )
        if f["batch_id"]:
            click.echo(f"  batch        {f['batch_id']}")
        # a file that could not be read has no accounting to show (its message says why)
        if f["status"] == "succeeded" or (f["status"] == "failed" and f["rows_read"]):
            unchanged = f.get("merged_unchanged") or 0
            merged = f"merged {f['merged']}" + (f" ({unchanged} unchanged)" if unchanged else "")
            click.echo(
                f"  accounting   read {f['rows_read']} = inserted {f['inserted']} + {merged}"
                f" + duplicates in file {f['duplicates_in_file']} + quarantined"
                f" {f['quarantined']}   (dnc {f['dnc']})"
            )
            if f["quarantined"] and f["batch_id"]:
                click.echo(f"  rejects      leadflow leads rejects --batch {f['batch_id']}")
            if f.get("notes"):  # the importer's row notes (import_row_notes), per code
                counted = ", ".join(f"{code} {n}" for code, n in sorted(f["notes"].items()))
                click.echo(f"  row notes    {sum(f['notes'].values())}: {counted}")
            if f.get("lead_notes"):
                click.echo(f"  lead notes   {f['lead_notes']} new note(s) kept on the leads")
            if f.get("extra_fields"):
                click.echo(f"  extra fields {', '.join(f['extra_fields'])}")
            if f.get("timings"):
                click.echo(
                    "  seconds      " + "  ".join(f"{k} {v}" for k, v in f["timings"].items())
                )
    read = sum(f["rows_read"] for f in files)
    quarantined = sum(f["quarantined"] for f in files)
    for check in checks:
        mark = "ok  " if check["passed"] else ("WARN" if check["severity"] == "WARN" else "FAIL")
        detail = ""
        if not check["passed"] and "threshold" in check and read:
            detail = (
                f"  ({quarantined} of {read} rows quarantined: {quarantined / read:.1%},"
                f" above {float(check['threshold']):.1%}; see the rejects above)"
            )
        elif not check["passed"] and check.get("failing_count"):
            detail = f"  ({check['failing_count']} failing)"
        click.echo(f"  check {mark} {check['check']}{detail}")


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--org", help=ORG_HELP + " For files without an organization_id column.")
@click.option(
    "--owner",
    help=f"Default owner ({USER_HELP}) for rows without one, or whose owner is not found.",
)
@click.option("--source", help="Default lead source for rows without one.")
@click.option("--region", help="Phone region (ISO code) overriding the organization's default.")
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False),
    help='JSON header mapping, e.g. {"Tel. privé": "phone_number"}.',
)
@click.option("--workers", type=int, help="Normalization processes (default: CPU count).")
@JSON_OPTION
def import_cmd(
    files: tuple[str, ...],
    org: str | None,
    owner: str | None,
    source: str | None,
    region: str | None,
    mapping: str | None,
    workers: int | None,
    as_json: bool,
) -> None:
    """Import lead files: E.164, cleaning, dedupe, DNC screen, load. Runs the ingest assets
    through Dagster in this process (the run is in the UI). Every row is accounted for:
    read = inserted + merged + duplicates in file + quarantined (`leads rejects` lists those).

    \b
    Examples:
      leadflow leads import seeds/sample/leads_summit_facebook.csv --org summit
      leadflow leads import leads-*.csv --org "Summit Talent Partners" --owner maya.chen@summit.example.com --json
    """
    import psycopg

    from leadflow.cli.resolve import organization_id
    from leadflow.ingest.pipeline import ImportRequest, ImportRequestError, validate_request

    url = postgres_url()
    ensure_schema_current(url, code=BAD_REQUEST)
    request = ImportRequest(
        files=[str(Path(f).resolve()) for f in files],
        org=organization_id(url, org),
        owner=owner,
        source=source,
        region=region,
        mapping=mapping,
        workers=workers,
    )
    try:  # the request's one check, before Dagster loads; the run is told so
        with psycopg.connect(url) as conn:
            validate_request(conn, request)
    except ImportRequestError as exc:
        fail(str(exc), BAD_REQUEST)
    from leadflow.cli.runner import ImportFailed, run_import_assets
    from leadflow.resources import PostgresResource

    if not logging.getLogger().isEnabledFor(logging.INFO):  # not --verbose
        # a file that failed says why in its summary line: the pipeline's log line would
        # print the same error a second time
        logging.getLogger("leadflow.ingest").setLevel(logging.CRITICAL)
    progress = _ProgressBar() if not as_json and sys.stderr.isatty() else None
    try:
        summaries, result = run_import_assets(
            request, PostgresResource(url=url), progress=progress, validated=True
        )
    except ImportFailed as exc:
        fail(str(exc))
    finally:
        if progress:
            progress.close()
    if any(f["status"] == "succeeded" for f in summaries):  # cached recommendations go now
        orgs = [request.org] if request.org else None  # None: every one
        invalidate_recommendations(url, orgs)
    checks = check_results(result)
    status = _overall_status(summaries)
    if as_json:
        payload = {
            "status": status,
            "batch_id": summaries[0]["batch_id"] if len(summaries) == 1 else None,
            "batch_ids": [f["batch_id"] for f in summaries],
            **{key: sum(f[key] for f in summaries) for key in SUMMARY_KEYS},
            # added by issue 22: of `merged`, the rows that changed nothing on their lead
            "merged_unchanged": sum(f.get("merged_unchanged", 0) for f in summaries),
            # added by issue 20: the row notes per code and the notes added, over every file
            "notes": _total_notes(summaries),
            "lead_notes": sum(f.get("lead_notes", 0) for f in summaries),
            "files": summaries,
            "checks": checks,
        }
        emit_json(payload)
    else:
        print_summary(summaries, checks)
    if status in ("failed", "partial"):
        sys.exit(FAILED)


class _ProgressBar:
    """A one-line progress display on stderr (rows normalized so far): a Progress callback."""

    def __call__(self, stage: str, rows: int) -> None:
        click.echo(f"\r  {stage}: {rows:,} rows", nl=False, err=True)

    def close(self) -> None:
        click.echo("", err=True)
