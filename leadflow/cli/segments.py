"""`leadflow segments …`: try a segment filter against the live leads of one organization.

The filter language is described in `leadflow/crm/segments.py`.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import click
import psycopg

from leadflow.cli import resolve
from leadflow.cli.common import ensure_schema_current
from leadflow.cli.common import postgres_url as _postgres_url
from leadflow.cli.conventions import BAD_REQUEST, EXIT_CODES_HELP, JSON_OPTION, emit_json
from leadflow.cli.conventions import fail as _fail
from leadflow.crm.segments import SegmentFilterError, compile_filter
from leadflow.crm.segments_sql import preview_segment
from leadflow.postgres import UnknownOrganization


@click.group(epilog=EXIT_CODES_HELP)
def segments() -> None:
    """Segments: saved lead filters (see README, "Segments").

    \b
    Examples:
      leadflow segments preview '{"status": ["hot"]}' --org summit
      leadflow segments list --org summit
    """


@segments.command("preview", epilog=EXIT_CODES_HELP)
@click.argument("filter_json")
@resolve.org_option(required=True)
@click.option(
    "--limit", type=click.IntRange(min=0), default=10, show_default=True, help="Rows to show."
)
@JSON_OPTION
def preview(filter_json: str, org: str, limit: int, as_json: bool) -> None:
    """Count the live leads of --org matching FILTER_JSON and show the first rows.

    FILTER_JSON is the filter itself, e.g. '{"status": ["hot"], "score": {"min": 70}}', or
    @FILE to read it from a file. Exit 2 for a bad filter or an unknown organization.

    \b
    Examples:
      leadflow segments preview '{"status": ["hot"], "score": {"min": 70}}' --org summit
      leadflow segments preview @nurses.json --org "Northwind Recruiting" --limit 0 --json
    """
    if filter_json.startswith("@"):
        try:
            filter_json = Path(filter_json[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot read the filter file: {exc}", BAD_REQUEST)
    try:
        compiled = compile_filter(filter_json)
    except SegmentFilterError as exc:
        _fail(str(exc), BAD_REQUEST)
    url = _postgres_url()
    ensure_schema_current(url, BAD_REQUEST)
    try:
        with psycopg.connect(url) as conn:
            organization = resolve.organization(conn, org)
            organization_id = uuid.UUID(organization.id)
            result = preview_segment(conn, organization_id, compiled, limit)
    except UnknownOrganization as exc:
        _fail(str(exc), BAD_REQUEST)
    except psycopg.errors.UndefinedTable:
        _fail("the database is not migrated: run `leadflow db migrate`", BAD_REQUEST)
    if as_json:
        emit_json(
            {
                "organization_id": str(organization_id),
                "count": result.count,
                "leads": result.rows,
            }
        )
        return
    click.echo(f"{result.count} matching lead(s) in organization {organization_id}")
    if not result.rows:
        return
    click.echo(f"{'id':<36}  {'name':<28} {'phone':<16} {'status':<10} {'score':>5}  tags")
    for row in result.rows:
        click.echo(
            f"{row['id']!s:<36}  {_clip(row['name'], 28):<28} {row['phone']:<16}"
            f" {row['status']:<10} {row['score']:>5}  {','.join(row['tags'])}"
        )
    if result.count > len(result.rows):
        click.echo(f"… {result.count - len(result.rows)} more")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@segments.command("list", epilog=EXIT_CODES_HELP)
@resolve.org_option(allow_all=True, default=resolve.ALL)
@JSON_OPTION
def segments_list(org: str, as_json: bool) -> None:
    """List the saved segments: organization, name, the last count of their live leads and when
    it was taken (the nightly's segment_counts step counts them).

    \b
    Examples:
      leadflow segments list --org summit
      leadflow segments list --json | jq '.segments[] | {name, lead_count}'
    """
    from psycopg.rows import dict_row

    url = _postgres_url()
    ensure_schema_current(url)
    with psycopg.connect(url) as conn:
        chosen = resolve.organizations(conn, org)
        ids = [o.id for o in chosen] if chosen else None
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                """
                select s.id::text as id, s.organization_id::text as organization_id,
                       coalesce(o.slug, o.name) as organization, s.name, s.description,
                       s.filter, s.lead_count, s.last_counted_at
                from segments s join organizations o on o.id = s.organization_id
                where %(ids)s::uuid[] is null or s.organization_id = any(%(ids)s::uuid[])
                order by coalesce(o.slug, o.name), s.name, s.id
                """,
                {"ids": ids},
            ).fetchall()
    if as_json:
        emit_json({"segments": rows})
        return
    if not rows:
        click.echo("no segment")
        return
    click.echo(f"{'organization':<16} {'leads':>8}  {'counted':<16}  name")
    for row in rows:
        counted = (
            row["last_counted_at"].strftime("%Y-%m-%d %H:%M") if row["last_counted_at"] else "-"
        )
        click.echo(
            f"{row['organization']:<16} {row['lead_count']:>8,}  {counted:<16}  {row['name']}"
        )
