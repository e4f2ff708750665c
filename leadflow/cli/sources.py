"""`leadflow sources list|add|remove|unmapped|import`: the canonical sources (migration 015).

An alias maps a source name to one canonical source, for one organization (`--org`: UUID, slug
or exact name, through leadflow.cli.resolve) or for all. The dbt staging models apply the
aliases to leads and costs at every build, so a change shows in the marts after the next
`leadflow run`, for past rows too.

Exit codes (leadflow.cli.conventions): 0 ok, 1 failed (PostgreSQL unreachable, a database
error), 2 bad request (unknown organization, an outdated schema, an alias or canonical name
without a letter or digit, nothing to remove, a bad file), 3 `unmapped` found sources no alias
maps. `--json`: one JSON object on one line of stdout.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import NoReturn

import click
import psycopg

from leadflow.cli import resolve
from leadflow.cli.common import ensure_schema_current
from leadflow.cli.common import postgres_url as _postgres_url
from leadflow.cli.conventions import (
    BAD_REQUEST,
    DIFFERENCES,
    EXIT_CODES_HELP,
    FAILED,
    JSON_OPTION,
    emit_json,
)
from leadflow.cli.conventions import fail as _fail
from leadflow.sources import (
    MATCH_TYPES,
    SourceAliasError,
    add_alias,
    list_aliases,
    remove_alias,
    resolve_organization,
    seen_sources,
    unmapped,
)

NEXT_BUILD = "applies to past and new rows at the next dbt build (`leadflow run`)"

#: --org of `add` and `remove`: one organization's alias, else the global one
_ORG = resolve.org_option()
#: --org of `list` and `unmapped`: one organization, else (or `all`) every organization
_ORG_ALL = resolve.org_option(allow_all=True)


@click.group(epilog=EXIT_CODES_HELP)
def sources() -> None:
    """Canonical sources: aliases mapping source names (see README, "Sources").

    \b
    Examples:
      leadflow sources unmapped --org summit
      leadflow sources add job_board_indeed indeed
      leadflow sources list --json
    """


def _connect() -> psycopg.Connection:
    """A connection to POSTGRES_URL, its schema checked first (exit 2 when outdated)."""
    url = _postgres_url()
    ensure_schema_current(url, BAD_REQUEST)
    try:
        return psycopg.connect(url)
    except psycopg.OperationalError as exc:
        _fail(f"cannot connect to PostgreSQL: {str(exc).strip().splitlines()[0]}", FAILED)


def _scope(
    conn: psycopg.Connection, org: str | None, *, allow_all: bool = False
) -> resolve.Organization | None:
    """The organization --org names (None without --org, or for `all` where allowed); exit 2
    listing the choices for an unknown one."""
    if allow_all:
        found = resolve.organizations(conn, org)
        return found[0] if found else None
    return resolve.organization(conn, org) if org is not None else None


def _db_error(exc: psycopg.Error) -> NoReturn:
    if isinstance(exc, psycopg.errors.UndefinedTable):
        _fail("table source_aliases not found: run `leadflow db migrate`", BAD_REQUEST)
    _fail(str(exc).strip().splitlines()[0], FAILED)


@sources.command("list", epilog=EXIT_CODES_HELP)
@_ORG_ALL
@JSON_OPTION
def list_cmd(org: str | None, as_json: bool) -> None:
    """The aliases: global ones and the organization's (every organization's without --org or
    with `all`).

    \b
    Examples:
      leadflow sources list
      leadflow sources list --org summit --json
    """
    with _connect() as conn:
        scope = _scope(conn, org, allow_all=True)
        try:
            aliases = list_aliases(conn, scope.id if scope else None)
        except psycopg.Error as exc:
            _db_error(exc)
    if as_json:
        emit_json(
            {
                "organization": scope.as_json() if scope else None,
                "aliases": [a.as_json() for a in aliases],
            }
        )
        return
    click.echo(f"{'scope':<20} {'alias':<28} {'match':<6}  canonical source")
    for alias in aliases:
        click.echo(
            f"{(alias.organization or 'global')[:20]:<20} {alias.alias[:28]:<28}"
            f" {alias.match_type:<6}  {alias.canonical_source}"
        )
    click.echo(f"{len(aliases)} alias(es)")


@sources.command("add", epilog=EXIT_CODES_HELP)
@click.argument("raw")
@click.argument("canonical")
@_ORG
@click.option(
    "--prefix",
    "prefix",
    is_flag=True,
    help="Also match RAW followed by '_' and more (facebook: facebook_nurses_q3).",
)
@click.option("--note", default=None, help="Why the alias exists.")
@JSON_OPTION
def add_cmd(
    raw: str, canonical: str, org: str | None, prefix: bool, note: str | None, as_json: bool
) -> None:
    """Map source RAW to CANONICAL (for --org only, else for every organization).

    \b
    Examples:
      leadflow sources add job_board_indeed indeed
      leadflow sources add facebook facebook --prefix --note "every campaign"
      leadflow sources add "Walk-in" walk_in_office --org summit --json
    """
    with _connect() as conn:
        scope = _scope(conn, org)
        try:
            saved, created = add_alias(
                conn,
                raw,
                canonical,
                organization_id=scope.id if scope else None,
                match_type="prefix" if prefix else "exact",
                note=note,
            )
        except SourceAliasError as exc:
            _fail(str(exc), BAD_REQUEST)
        except psycopg.Error as exc:
            _db_error(exc)
    if as_json:
        emit_json({"alias": saved.as_json(), "created": created})
        return
    where = f"in {scope.slug or scope.name}" if scope else "for every organization"
    verb = "added" if created else "updated"
    click.echo(f"{verb}: {saved.key} -> {saved.canonical_source} {where}; {NEXT_BUILD}")


@sources.command("remove", epilog=EXIT_CODES_HELP)
@click.argument("raw")
@_ORG
@JSON_OPTION
def remove_cmd(raw: str, org: str | None, as_json: bool) -> None:
    """Remove the alias of RAW (the organization's with --org, else the global one).

    \b
    Examples:
      leadflow sources remove walk_in --org summit
      leadflow sources remove job_board_indeed --json
    """
    with _connect() as conn:
        scope = _scope(conn, org)
        try:
            removed = remove_alias(conn, raw, organization_id=scope.id if scope else None)
        except SourceAliasError as exc:
            _fail(str(exc), BAD_REQUEST)
        except psycopg.Error as exc:
            _db_error(exc)
    if not removed:
        where = f"of {scope.slug or scope.name}" if scope else "(global)"
        _fail(f"no alias {raw!r} {where} (see `leadflow sources list`)", BAD_REQUEST)
    if as_json:
        emit_json({"removed": [a.as_json() for a in removed]})
        return
    for alias in removed:
        click.echo(f"removed: {alias.key} -> {alias.canonical_source}; {NEXT_BUILD}")


@sources.command("unmapped", epilog=EXIT_CODES_HELP)
@_ORG_ALL
@JSON_OPTION
def unmapped_cmd(org: str | None, as_json: bool) -> None:
    """Sources of leads and costs that no alias maps (exit 3 when there are any), of --org or
    (without it, or with `all`) of every organization.

    \b
    Examples:
      leadflow sources unmapped
      leadflow sources unmapped --org summit --json | jq -r '.unmapped[].source'
    """
    with _connect() as conn:
        scope = _scope(conn, org, allow_all=True)
        try:
            org_id = scope.id if scope else None
            found = unmapped(seen_sources(conn, org_id), list_aliases(conn, org_id))
        except psycopg.Error as exc:
            _db_error(exc)
    if as_json:
        emit_json(
            {
                "organization": scope.as_json() if scope else None,
                "unmapped": [s.as_json() for s in found],
            }
        )
    else:
        click.echo(f"{'organization':<20} {'source':<32} {'leads':>7} {'cost rows':>9}")
        for s in found:
            click.echo(
                f"{s.organization[:20]:<20} {s.source[:32]:<32} {s.leads:>7} {s.cost_rows:>9}"
            )
        click.echo(
            f"{len(found)} unmapped source(s)"
            + (": `leadflow sources add RAW CANONICAL [--org ORG]` maps one" if found else "")
        )
    if found:
        raise SystemExit(DIFFERENCES)


@sources.command("import", epilog=EXIT_CODES_HELP)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@JSON_OPTION
def import_cmd(file: Path, as_json: bool) -> None:
    """Add or update aliases from a CSV: alias, canonical_source[, organization, match_type, note].

    All rows or none: any bad row refuses the file (exit 2) with every problem listed; the
    organization column takes a UUID, slug or exact name (empty: every organization).

    \b
    Examples:
      leadflow sources import aliases.csv
      leadflow sources import aliases.csv --json
    """
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        _fail(f"cannot read {file}: {exc}", BAD_REQUEST)
    created = updated = 0
    problems: list[str] = []
    with _connect() as conn:
        for number, row in enumerate(rows, start=2):
            org = (row.get("organization") or "").strip() or None
            match_type = (row.get("match_type") or "exact").strip().lower()
            try:
                scope = resolve_organization(conn, org) if org else None
                _, was_created = add_alias(
                    conn,
                    row.get("alias") or "",
                    row.get("canonical_source") or "",
                    organization_id=scope.id if scope else None,
                    match_type=match_type if match_type in MATCH_TYPES else "?",
                    note=(row.get("note") or "").strip() or None,
                )
            except SourceAliasError as exc:
                problems.append(f"row {number}: {exc}")
                continue
            except psycopg.Error as exc:
                _db_error(exc)
            created, updated = created + was_created, updated + (not was_created)
        if problems:
            conn.rollback()
            _fail(f"{file}: nothing imported:\n  " + "\n  ".join(problems), BAD_REQUEST)
    if as_json:
        emit_json({"file": str(file), "rows": len(rows), "created": created, "updated": updated})
        return
    click.echo(f"{file}: {created} alias(es) added, {updated} updated; {NEXT_BUILD}")
