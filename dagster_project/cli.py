"""`leadflow` command line: local services, migrations, seed and the demo."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click
import psycopg

from dagster_project import settings
from dagster_project.cli_activities import activities, costs
from dagster_project.cli_common import fail as _fail
from dagster_project.cli_common import postgres_url as _postgres_url
from dagster_project.cli_graph import graph
from dagster_project.cli_leads import leads
from dagster_project.cli_report import report as report_cmd
from dagster_project.cli_run import (
    dbt_group,
    output_to_log,
    print_run_summary,
    run,
    run_log_path,
    start_other_services,
    summarize_run,
)
from dagster_project.cli_segments import segments
from dagster_project.db import migrate as migrations
from dagster_project.db.seed import SeedError, load_seed, table_counts
from dagster_project.services import (
    ALL_SERVICES,
    GraphService,
    ServiceError,
    ServiceStatus,
)

log = logging.getLogger("leadflow")

_SERVICE_NAMES = [service.name for service in ALL_SERVICES]


def _graph_server_agent(status: ServiceStatus) -> str | None:
    """The Bolt server's own name and version (e.g. 'Neo4j/5.26.0 compatible (ArcadeDB …)')."""
    if status.url is None:
        return None
    from dagster_project.resources.neo4j import server_agent

    try:
        return server_agent(status.url)
    except Exception as exc:  # status must report, not crash, whatever the server says
        return f"unreachable: {exc.__class__.__name__}: {exc}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
@click.version_option(package_name="leadflow")
def main(verbose: bool) -> None:
    """leadflow: lead pipeline for a recruiting CRM (PostgreSQL, Neo4j, MongoDB, dbt, Dagster)."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:  # libraries' loggers propagate below WARNING
        handler.setLevel(logging.INFO if verbose else logging.WARNING)


# -- services ---------------------------------------------------------------------------------
def _selected(names: tuple[str, ...]):
    wanted = set(names) or set(_SERVICE_NAMES)
    return [service() for service in ALL_SERVICES if service.name in wanted]


@main.command()
@click.argument("services", nargs=-1, type=click.Choice(_SERVICE_NAMES))
def up(services: tuple[str, ...]) -> None:
    """Start the local servers (all, or the ones named); reuse those already running."""
    for service in _selected(services):
        try:
            url = service.ensure_running()
        except ServiceError as exc:
            _fail(str(exc))
        mode = "external" if service.is_external() else "local"
        click.echo(f"{service.name:<9} {mode:<9} {url}")


@main.command()
@click.argument("services", nargs=-1, type=click.Choice(_SERVICE_NAMES))
def down(services: tuple[str, ...]) -> None:
    """Stop the local servers (external deployments are never touched)."""
    for service in _selected(services):
        if service.is_external():
            click.echo(f"{service.name:<9} external, left alone")
            continue
        try:
            stopped = service.stop()
        except ServiceError as exc:
            _fail(str(exc))
        click.echo(f"{service.name:<9} {'stopped' if stopped else 'was not running'}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(as_json: bool) -> None:
    """What runs where: each server's mode (local/external/stopped) and URL."""
    rows = []
    for service in _selected(()):
        st = service.status()
        if isinstance(service, GraphService) and st.mode != "stopped":
            agent = _graph_server_agent(st)
            if agent:
                st.detail["server"] = agent
        rows.append(st)
    if as_json:
        click.echo(json.dumps({st.name: st.as_dict() for st in rows}, indent=2))
        return
    for st in rows:
        mode = "local" if st.mode == "running" else st.mode
        click.echo(f"{st.name:<9} {mode:<9} {st.url or '-'}")
        for key, value in st.detail.items():
            click.echo(f"{'':<19} {key}: {value}")


@main.group()
def db() -> None:
    """PostgreSQL helpers."""


@db.command("url")
def db_url() -> None:
    """Print the PostgreSQL URL in use (starting the local server if needed), nothing else."""
    click.echo(_postgres_url())


# -- migrations -------------------------------------------------------------------------------
@main.group(invoke_without_command=True)
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Apply (default), revert or list the SQL migrations in migrations/."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(migrate_up_cmd)


@migrate.command("up")
@click.option("--to", type=int, default=None, help="Stop after this version.")
def migrate_up_cmd(to: int | None) -> None:
    """Apply pending migrations in order."""
    url = _postgres_url()
    try:
        applied = migrations.migrate_up(url, to=to)
    except migrations.MigrationError as exc:
        _fail(str(exc))
    if not applied:
        click.echo("migrations: up to date")
    for label in applied:
        click.echo(f"applied  {label}")


@migrate.command("down")
@click.option("--to", type=int, default=None, help="Revert down to this version (0 = all).")
def migrate_down_cmd(to: int | None) -> None:
    """Revert the last migration, or all above --to N."""
    url = _postgres_url()
    try:
        reverted = migrations.migrate_down(url, to=to)
    except migrations.MigrationError as exc:
        _fail(str(exc))
    if not reverted:
        click.echo("migrations: nothing to revert")
    for label in reverted:
        click.echo(f"reverted {label}")


@migrate.command("status")
def migrate_status_cmd() -> None:
    """List migrations: applied, pending, edited (refused) or missing."""
    url = _postgres_url()
    try:
        states = migrations.migration_status(url)
    except migrations.MigrationError as exc:
        _fail(str(exc))
    for st in states:
        click.echo(f"{st.version:03d}_{st.name:<32} {st.state:<8} {st.applied_at or ''}".rstrip())
    if any(st.state in ("edited", "missing") for st in states):
        sys.exit(1)


# -- import -----------------------------------------------------------------------------------
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


def _check_results(result) -> list[dict]:
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
        }
        for evaluation in result.get_asset_check_evaluations()
    ]


def _print_summary(files: list[dict], checks: list[dict]) -> None:
    for f in files:
        click.echo(f"{f['file']}")
        click.echo(
            f"  status       {f['status']}" + (f"  ({f['message']})" if f["message"] else "")
        )
        if f["batch_id"]:
            click.echo(f"  batch        {f['batch_id']}")
        if f["status"] in ("succeeded", "failed"):
            click.echo(
                "  accounting   read {rows_read} = inserted {inserted} + merged {merged}"
                " + duplicates in file {duplicates_in_file} + quarantined {quarantined}"
                "   (dnc {dnc})".format(**f)
            )
            if f.get("timings"):
                click.echo(
                    "  seconds      " + "  ".join(f"{k} {v}" for k, v in f["timings"].items())
                )
    for check in checks:
        mark = "ok  " if check["passed"] else ("WARN" if check["severity"] == "WARN" else "FAIL")
        click.echo(f"  check {mark} {check['check']}")


@main.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--org", help="Organization UUID for files without an organization_id column.")
@click.option("--owner", help="Default owner (user UUID) for rows without one.")
@click.option("--source", help="Default lead source for rows without one.")
@click.option("--region", help="Phone region (ISO code) overriding the organization's default.")
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False),
    help='JSON header mapping, e.g. {"Tel. privé": "phone_number"}.',
)
@click.option("--workers", type=int, help="Normalization processes (default: CPU count).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object and nothing else.")
def import_cmd(files, org, owner, source, region, mapping, workers, as_json) -> None:
    """Import lead files: E.164, cleaning, dedupe, DNC screen, load (the ingest assets)."""
    from dagster_project.ingest import stages
    from dagster_project.ingest.runner import ImportFailed, run_import_assets
    from dagster_project.resources import PostgresResource

    url = _postgres_url()
    request = stages.ImportRequest(
        paths=[str(Path(f).resolve()) for f in files], organization_id=org, owner_id=owner,
        source=source, region=region, mapping_file=mapping, workers=workers,
    )  # fmt: skip
    try:
        with psycopg.connect(url) as conn:
            stages.validate_request(conn, request)
    except stages.ImportRequestError as exc:
        _fail(str(exc), code=2)
    except psycopg.errors.UndefinedTable:
        _fail("the database is not migrated: run `leadflow migrate`", code=2)
    progress = _progress_bar() if not as_json and sys.stderr.isatty() else None
    stages.set_progress_hook(progress)
    try:
        summaries, result = run_import_assets(request, PostgresResource(url=url))
    except ImportFailed as exc:
        _fail(str(exc))
    finally:
        stages.set_progress_hook(None)
        if progress:
            progress.close()
    checks = _check_results(result)
    status = _overall_status(summaries)
    if as_json:
        payload = {
            "status": status,
            "batch_id": summaries[0]["batch_id"] if len(summaries) == 1 else None,
            "batch_ids": [f["batch_id"] for f in summaries],
            **{key: sum(f[key] for f in summaries) for key in SUMMARY_KEYS},
            "files": summaries,
            "checks": checks,
        }
        click.echo(json.dumps(payload, default=str))
    else:
        _print_summary(summaries, checks)
    if status in ("failed", "partial"):
        sys.exit(1)


def _progress_bar():
    """A one-line progress display on stderr (rows normalized so far)."""

    class Bar:
        def __call__(self, stage: str, rows: int) -> None:
            click.echo(f"\r  {stage}: {rows:,} rows", nl=False, err=True)

        def close(self) -> None:
            click.echo("", err=True)

    return Bar()


# -- benchmarks -------------------------------------------------------------------------------
@main.group()
def bench() -> None:
    """Benchmarks (figures printed, nothing asserted)."""


@bench.command("ingest")
@click.option("--rows", type=int, default=100_000, show_default=True, help="Rows per file.")
@click.option("--workers", type=int, help="Normalization processes (default: CPU count).")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the generated files go (default: .leadflow/bench).",
)
def bench_ingest(rows: int, workers: int | None, workdir: str | None) -> None:
    """Import a generated messy file into an empty database, then merge a second one."""
    from dagster_project.bench import run_ingest_bench

    url = _postgres_url()
    target = Path(workdir) if workdir else settings.leadflow_home() / "bench"
    run_ingest_bench(url, rows, target, workers=workers, echo=click.echo)


@bench.command("dbt")
@click.option("--leads", type=int, default=100_000, show_default=True,
              help="Leads to generate (with status/score/assignment/activity history).")  # fmt: skip
@click.option("--reuse", is_flag=True, help="Keep the bench database if it already has the leads.")
@click.option("--workers", type=int, help="Normalization processes for the import.")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Where generated files and dbt artifacts go (default: .leadflow/bench).")  # fmt: skip
def bench_dbt(leads: int, reuse: bool, workers: int | None, workdir: str | None) -> None:
    """Time `dbt build` (full, incremental after 1% changes, full refresh) on generated leads."""
    from dagster_project.bench_dbt import run_dbt_bench

    url = _postgres_url()
    target = Path(workdir) if workdir else settings.leadflow_home() / "bench"
    run_dbt_bench(url, leads, target, reuse=reuse, workers=workers, echo=click.echo)


@bench.command("graph")
@click.option("--leads", type=int, default=100_000, show_default=True, help="Leads to generate.")
@click.option("--batch-size", type=int, default=1000, show_default=True, help="Rows per UNWIND.")
@click.option("--reuse", is_flag=True, help="Keep the bench database if it already has the leads.")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Scratch directory (default: .leadflow/bench).")  # fmt: skip
def bench_graph(leads: int, batch_size: int, reuse: bool, workdir: str | None) -> None:
    """Full and incremental graph sync beside a bare UNWIND … MERGE loop (the floor)."""
    from dagster_project.bench_graph import run_graph_bench

    url = _postgres_url()
    target = Path(workdir) if workdir else settings.leadflow_home() / "bench"
    run_graph_bench(url, leads, target, batch_size=batch_size, reuse=reuse, echo=click.echo)


# -- seed and demo ----------------------------------------------------------------------------
@main.command()
def seed() -> None:
    """Load seeds/002_epic3_seed_data.sql and the later seeds/NNN_*.sql (re-runnable)."""
    url = _postgres_url()
    try:
        load_seed(url)
    except SeedError as exc:
        _fail(str(exc))
    from dagster_project.db.seed import seed_files

    click.echo("seed: loaded " + ", ".join(f"seeds/{p.name}" for p in seed_files()))


#: the bundled sample files and the organization each is imported into (None: from its column)
DEMO_FILES = (
    ("leads_summit_facebook.csv", "11111111-1111-4111-8111-111111111111"),
    ("leads_northwind_mixed.csv", "22222222-2222-4222-8222-222222222222"),
    ("leads_multi_org.csv", None),
    ("leads_southern_cross.xlsx", "33333333-3333-4333-8333-333333333333"),
)


def _load_sample_dnc(url: str, path: Path) -> int:
    """Put the sample DNC numbers on their organizations' lists (idempotent)."""
    entries = json.loads(path.read_text())
    added = 0
    with psycopg.connect(url) as conn:
        for org, phones in entries.items():
            for phone in phones:
                added += conn.execute(
                    "insert into dnc_list (organization_id, phone_number, reason, source)"
                    " values (%s, %s, 'sample data: asked not to be called', 'demo')"
                    " on conflict (organization_id, phone_number) do nothing",
                    (org, phone),
                ).rowcount
    return added


def _demo_nightly() -> bool:
    """Seed MongoDB with the sample activities, then run nightly_sync_job in-process:
    activities -> scores -> assignments -> nurture -> segments -> graph -> dbt marts."""
    from dagster_project.db.activities import seed_mongo_activities
    from dagster_project.nightly import run_nightly
    from dagster_project.resources import MongoResource

    seeded = seed_mongo_activities(MongoResource().get_database())
    click.echo(f"\nactivities: {seeded} sample events added to MongoDB")
    click.echo("nightly_sync_job (in-process):")
    with output_to_log(run_log_path()) as log_path:
        summary = summarize_run(run_nightly())
    print_run_summary(summary)
    click.echo(f"  log                  {log_path}")
    return summary["success"]


def _demo_graph(url: str) -> bool:
    """Reconcile the graph the nightly job synced and show each organization's top referrers."""
    from dagster_project.db.graph import organization_ids, reconcile_graph, top_referrers
    from dagster_project.resources import Neo4jResource

    resource = Neo4jResource()
    driver, database = resource.get_driver(), resource.resolved_database()
    ok = True
    click.echo("\ngraph (Bolt):")
    try:
        with psycopg.connect(url) as conn:
            for org in organization_ids(conn):
                check = reconcile_graph(conn, driver, database, org)
                ok &= check.ok
                top = top_referrers(driver, database, org, limit=3)
                leaders = ", ".join(f"{r['id']} ({r['referrals']})" for r in top[:2]) or "-"
                state = "matches PostgreSQL" if check.ok else f"DIFFERS {check.differences}"
                click.echo(
                    f"  {org[:8]}  leads {check.actual.get('Lead', 0):>5}  "
                    f"edges {sum(v for k, v in check.actual.items() if k.isupper()):>6}  "
                    f"{state}; top referrers {leaders}"
                )
    finally:
        driver.close()
    return ok


def _demo_report(url: str) -> bool:
    """Write the HTML report and print the first lines of every mart."""
    from dagster_project import report

    out = Path(settings.env("LEADFLOW_REPORT_PATH") or settings.leadflow_home() / "report.html")
    try:
        written = report.write_report(url, out)
        with psycopg.connect(url) as conn:
            preview = report.mart_preview(conn)
    except (report.ReportError, psycopg.Error, OSError) as exc:
        click.echo(f"\nreport: FAILED: {exc}")
        return False
    click.echo("\nanalytics marts (schema analytics):")
    for mart, lines in preview.items():
        click.echo(f"  {mart}")
        for line in lines:
            click.echo(f"    {line}")
    click.echo(f"\nreport: {written.path} ({written.bytes} bytes)")
    return True


@main.command()
def demo() -> None:
    """Run the pipeline on the bundled sample data and print what is in the database."""
    from dagster_project.ingest.runner import ImportFailed, run_import_assets
    from dagster_project.ingest.stages import ImportRequest
    from dagster_project.resources import PostgresResource

    url = _postgres_url()
    start_other_services()
    try:
        migrations.migrate_up(url)
        load_seed(url)
    except (migrations.MigrationError, SeedError) as exc:
        _fail(str(exc))
    sample = settings.seeds_dir() / "sample"
    added = _load_sample_dnc(url, sample / "dnc_phones.json")
    click.echo(f"leadflow demo: database {url}")
    click.echo(f"dnc_list: {added} sample numbers added\n")
    failed = False
    for name, org in DEMO_FILES:
        request = ImportRequest(paths=[str(sample / name)], organization_id=org)
        try:
            summaries, result = run_import_assets(request, PostgresResource(url=url))
        except ImportFailed as exc:
            _fail(f"{name}: {exc}")
        failed |= any(f["status"] == "failed" for f in summaries)
        _print_summary(summaries, _check_results(result))
    failed |= not _demo_nightly()
    counts = table_counts(url)
    click.echo(f"\n{'table':<32} {'rows':>8}")
    for table, count in counts.items():
        click.echo(f"{table:<32} {count:>8}")
    failed |= not _demo_graph(url)
    failed |= not _demo_report(url)
    if failed:
        sys.exit(1)


# commands of the CRM intelligence areas live in their own modules
main.add_command(segments)
main.add_command(activities)
main.add_command(costs)
main.add_command(leads)
main.add_command(run)
main.add_command(dbt_group)
main.add_command(report_cmd)
main.add_command(graph)


if __name__ == "__main__":
    main()
