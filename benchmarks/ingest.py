"""`leadflow bench ingest`: throughput of the import stages on a generated messy file.

The file is deterministic for a given size and seed: about 20% of rows repeat an earlier phone
in another format, about 2% carry an invalid phone, and rows are spread over 50 organizations.
The benchmark runs in its own database (`leadflow_bench`, recreated each time) and reports,
for an empty database and again for one that already holds the leads (incremental merge):
rows/s per stage, end-to-end wall time and peak RSS of this process and of its workers.
"""

from __future__ import annotations

import csv
import random
import resource
import time
import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import psycopg
from psycopg import sql

from benchmarks.common import recreate_database
from leadflow.ingest import stages

ORGANIZATIONS = 50
FIRST = ["JAMES", "mary", "Robert", "patricia", "John", "JENNIFER", "michael", "Linda", "david",
         "Elizabeth", "José", "Zoë", "Siobhán", "wei", "Aarav", "fatima"]  # fmt: skip
LAST = ["SMITH", "johnson", "Williams", "brown", "Jones", "GARCIA", "miller", "Davis", "O'Brien",
        "Müller", "nguyen", "Kowalski", "van der Berg", "Okafor"]  # fmt: skip
SOURCES = ["fb", "Facebook Ads", "linkedin", "Indeed", "referral", "website", "Job Fair", "google"]
AREA_CODES = [201, 202, 212, 213, 305, 312, 415, 469, 512, 617, 702, 713, 718, 805, 917]


def _format(rng: random.Random, area: int, exchange: int, line: int) -> str:
    style = rng.randrange(6)
    if style == 0:
        return f"({area}) {exchange}-{line:04d}"
    if style == 1:
        return f"{area}.{exchange}.{line:04d}"
    if style == 2:
        return f"+1 {area} {exchange} {line:04d}"
    if style == 3:
        return f"1-{area}-{exchange}-{line:04d}"
    if style == 4:
        return f"{area}{exchange}{line:04d}"
    return f"+1{area}{exchange}{line:04d} x{rng.randrange(10, 999)}"


def bench_organizations() -> list[str]:
    return [str(uuid.UUID(int=(0xBE << 120) + i, version=4)) for i in range(ORGANIZATIONS)]


def generate_file(path: Path, rows: int, seed: int = 7, variant: int = 0) -> dict[str, int]:
    """Write the messy file; `variant` changes names/emails/formatting but not the phones."""
    rng = random.Random(seed)
    style_rng = random.Random(seed * 1000 + variant)
    orgs = bench_organizations()
    distinct: list[tuple[str, int, int, int]] = []
    counts = {"rows": 0, "duplicates": 0, "invalid": 0}
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["organization_id", "First Name", "Last Name", "Phone", "E-mail",
                      "Lead Source", "Tags"])  # fmt: skip
        for _ in range(rows):
            roll = rng.random()
            if roll < 0.02:
                phone, org = (
                    rng.choice(["12345", "N/A", "1-800-FLOWERS", "+44 12", "000-000-0000"]),
                    rng.choice(orgs),
                )  # noqa: E501
                counts["invalid"] += 1
            elif roll < 0.22 and distinct:
                org, area, exchange, line = rng.choice(distinct)
                phone = _format(style_rng, area, exchange, line)
                counts["duplicates"] += 1
            else:
                org = rng.choice(orgs)
                area, exchange, line = (
                    rng.choice(AREA_CODES),
                    rng.randrange(200, 999),
                    rng.randrange(10000),
                )  # noqa: E501
                distinct.append((org, area, exchange, line))
                phone = _format(style_rng, area, exchange, line)
            first, last = style_rng.choice(FIRST), style_rng.choice(LAST)
            email = f"{first.lower()}.{last.lower().replace(' ', '')}{style_rng.randrange(999)}@example.com"  # noqa: E501
            tags = "|".join(style_rng.sample(["hot", "Referral", "exec", "night shift", "cdl"], 2))
            out.writerow([org, first, last, phone, email, style_rng.choice(SOURCES), tags])
            counts["rows"] += 1
    return counts


@dataclass
class BenchRun:
    label: str
    wall: float
    jobs: list[stages.FileJob]
    peak_rss_mb: float
    peak_children_rss_mb: float


def _rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def _prepare_database(server_url: str) -> str:
    url = recreate_database(server_url, "leadflow_bench")
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur, cur.copy("copy organizations (id, name, slug) from stdin") as cp:
            for i, org in enumerate(bench_organizations()):
                cp.write_row((org, f"Bench Org {i}", f"bench-{i}"))
        conn.execute(
            sql.SQL(
                "insert into system_config (organization_id, config_key, config_value)"
                " values (null, 'default_region', '\"US\"')"
            )  # fmt: skip
        )
    return url


def run_ingest_bench(server_url: str, rows: int, workdir: Path, workers: int | None = None,
                     echo=print) -> list[BenchRun]:  # fmt: skip
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    initial_file = workdir / f"bench_{rows}_a.csv"
    merge_file = workdir / f"bench_{rows}_b.csv"
    counts = generate_file(initial_file, rows, variant=0)
    generate_file(merge_file, rows, variant=1)
    echo(
        f"generated 2 files of {rows:,} rows ({counts['duplicates']:,} duplicate rows,"
        f" {counts['invalid']:,} invalid phones, {ORGANIZATIONS} organizations)"
        f" in {time.perf_counter() - started:.1f}s; {initial_file.stat().st_size / 1e6:.0f} MB each"
    )
    url = _prepare_database(server_url)
    connect = partial(psycopg.connect, url)
    runs = []
    for label, path in (("initial load (empty database)", initial_file),
                        ("incremental merge (leads exist)", merge_file)):  # fmt: skip
        request = stages.ImportRequest(paths=[str(path)], workers=workers)
        t0 = time.perf_counter()
        jobs = stages.run_import(request, connect)
        wall = time.perf_counter() - t0
        run = BenchRun(label, wall, jobs, _rss_mb(resource.RUSAGE_SELF),
                       _rss_mb(resource.RUSAGE_CHILDREN))  # fmt: skip
        runs.append(run)
        report(run, echo)
    return runs


def report(run: BenchRun, echo=print) -> None:
    [job] = run.jobs
    echo(f"\n{run.label}: status {job.status} {job.message or ''}".rstrip())
    echo(
        f"  read {job.rows_read:,} = inserted {job.inserted:,} + merged {job.merged:,}"
        f" + duplicates in file {job.duplicates_in_file:,} + quarantined {job.quarantined:,}"
    )
    for stage, seconds in job.timings.items():
        rate = job.rows_read / seconds if seconds else float("inf")
        echo(f"  {stage:<10} {seconds:8.2f} s  {rate:12,.0f} rows/s")
    echo(f"  end-to-end {run.wall:8.2f} s  {job.rows_read / run.wall:12,.0f} rows/s")
    echo(f"  peak RSS   {run.peak_rss_mb:8.0f} MB (this process), "
         f"{run.peak_children_rss_mb:.0f} MB (largest worker)")  # fmt: skip
