"""`python -m benchmarks ingest`: the import on a generated messy file, beside its COPY floor.

The file is deterministic for a given size and seed: about 20% of rows repeat an earlier phone
in another format, about 2% carry an invalid phone, and rows are spread over 50 organizations.
The benchmark runs in its own database (`leadflow_bench`, recreated each time) and reports, for
an empty database, for the same leads again with names and e-mails changed (incremental merge)
and for the unchanged file again (re-import): seconds per phase, end-to-end wall time and peak
memory of this process and its workers (PSS, and the sum of RSS). The floor is measured in the same run: COPY of exactly the
loaded leads into a fresh, fully indexed `leads` table (database `leadflow_bench_floor`); the
ratios of the import to it are printed with their targets.
"""

from __future__ import annotations

import contextlib
import csv
import random
import threading
import time
import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql

from benchmarks.common import Echo, recreate_database
from leadflow.ingest import pipeline
from leadflow.postgres import one_row

ORGANIZATIONS = 50
FIRST = [
    "JAMES",
    "mary",
    "Robert",
    "patricia",
    "John",
    "JENNIFER",
    "michael",
    "Linda",
    "david",
    "Elizabeth",
    "José",
    "Zoë",
    "Siobhán",
    "wei",
    "Aarav",
    "fatima",
]
LAST = [
    "SMITH",
    "johnson",
    "Williams",
    "brown",
    "Jones",
    "GARCIA",
    "miller",
    "Davis",
    "O'Brien",
    "Müller",
    "nguyen",
    "Kowalski",
    "van der Berg",
    "Okafor",
]
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
        out.writerow(
            ["organization_id", "First Name", "Last Name", "Phone", "E-mail", "Lead Source", "Tags"]
        )
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
    jobs: list[pipeline.FileJob]
    peak_rss_mb: float  # this process and its worker processes together, sampled (sum of RSS)
    peak_pss_mb: float  # the same, proportional set size: pages shared after fork counted once


@dataclass
class IngestBenchResult:
    rows: int
    database_url: str
    initial: BenchRun
    merge: BenchRun
    reimport: BenchRun
    floor_seconds: float
    floor_rows: int

    @property
    def initial_ratio(self) -> float:
        return self.initial.wall / self.floor_seconds

    @property
    def merge_ratio(self) -> float:
        return self.merge.wall / self.floor_seconds

    @property
    def reimport_share(self) -> float:
        return self.reimport.wall / self.initial.wall

    def as_dict(self) -> dict[str, Any]:
        """The figures `--json` prints: each run's wall time, memory and accounting."""

        def run(bench: BenchRun) -> dict[str, Any]:
            return {
                "label": bench.label,
                "wall": bench.wall,
                "peak_rss_mb": bench.peak_rss_mb,
                "peak_pss_mb": bench.peak_pss_mb,
                "jobs": [
                    {
                        "status": job.status,
                        "message": job.message,
                        **job.counts(),
                        "timings": job.timings,
                    }
                    for job in bench.jobs
                ],
            }

        return {
            "rows": self.rows,
            "database_url": self.database_url,
            "initial": run(self.initial),
            "merge": run(self.merge),
            "reimport": run(self.reimport),
            "floor_seconds": self.floor_seconds,
            "floor_rows": self.floor_rows,
            "initial_ratio": self.initial_ratio,
            "merge_ratio": self.merge_ratio,
            "reimport_share": self.reimport_share,
        }


class RssSampler:
    """Peak resident memory of this process plus its children (the normalization workers),
    sampled every `interval` seconds while the block runs: the sum of their RSS, and the sum of
    their PSS (Linux; pages the forked workers still share with this process are counted once,
    split between them, so it is the memory the import really occupies). The sum of RSS counts
    shared pages once per process: a parent that is big when it forks looks several times bigger."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak_bytes = 0
        self.peak_pss_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> tuple[int, int]:
        me = psutil.Process()
        rss = pss = 0
        for process in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                try:
                    full = process.memory_full_info()
                    rss, pss = rss + full.rss, pss + getattr(full, "pss", full.rss)
                except (psutil.AccessDenied, AttributeError):
                    basic = process.memory_info()
                    rss, pss = rss + basic.rss, pss + basic.rss
        return rss, pss

    def _record(self) -> None:
        rss, pss = self._sample()
        self.peak_bytes = max(self.peak_bytes, rss)
        self.peak_pss_bytes = max(self.peak_pss_bytes, pss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._record()
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._record()

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 1e6

    @property
    def peak_pss_mb(self) -> float:
        return self.peak_pss_bytes / 1e6


def _prepare_database(server_url: str, database: str = "leadflow_bench") -> str:
    url = recreate_database(server_url, database)
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur, cur.copy("copy organizations (id, name, slug) from stdin") as cp:
            for i, org in enumerate(bench_organizations()):
                cp.write_row((org, f"Bench Org {i}", f"bench-{i}"))
        conn.execute(
            sql.SQL(
                "insert into system_config (organization_id, config_key, config_value)"
                " values (null, 'default_region', '\"US\"')"
            )
        )
    return url


#: the columns the import writes: what the floor copies
FLOOR_COLUMNS = (
    "id, organization_id, user_id, first_name, last_name, phone_number, phone_type, email,"
    " status, tags, source, referred_by_ref, company, crm_status, created_at, updated_at"
)


def copy_floor(server_url: str, loaded_url: str) -> tuple[float, int]:
    """The floor: COPY of exactly the leads the import loaded into a fresh, migrated, fully
    indexed `leads` table (same indexes, constraints and triggers) of another database;
    (seconds, rows). Only the COPY is timed, not reading the rows out."""
    floor_url = _prepare_database(server_url, "leadflow_bench_floor")
    with psycopg.connect(loaded_url) as source, source.cursor() as cur:
        data = bytearray()
        with cur.copy(f"copy (select {FLOOR_COLUMNS} from leads) to stdout") as copy:
            for block in copy:
                data += block
    with psycopg.connect(floor_url) as conn:
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"copy leads ({FLOOR_COLUMNS}) from stdin") as copy:
            copy.write(bytes(data))
        conn.commit()
        seconds = time.perf_counter() - started
        rows = one_row(conn.execute("select count(*) from leads"))[0]
    return seconds, rows


def _timed_import(label: str, path: Path, url: str, workers: int | None) -> BenchRun:
    request = pipeline.ImportRequest(files=[str(path)], workers=workers)
    with RssSampler() as sampler:
        started = time.perf_counter()
        jobs = pipeline.run_import(request, partial(psycopg.connect, url))
        wall = time.perf_counter() - started
    return BenchRun(label, wall, jobs, sampler.peak_mb, sampler.peak_pss_mb)


def run_ingest_bench(
    server_url: str, rows: int, workdir: Path, workers: int | None = None, echo: Echo = print
) -> IngestBenchResult:
    """Initial load into an empty database, incremental merge of the same leads with names and
    e-mails changed, re-import of the unchanged first file; and the COPY floor of the loaded
    leads, measured in the same run, with the ratios."""
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
    initial = _timed_import("initial load (empty database)", initial_file, url, workers)
    report(initial, echo)
    floor_seconds, floor_rows = copy_floor(server_url, url)
    echo(
        f"\nfloor: COPY of the {floor_rows:,} loaded leads into a fresh, fully indexed leads"
        f" table: {floor_seconds:.2f} s ({floor_rows / floor_seconds:,.0f} rows/s)"
    )
    merge = _timed_import(
        "incremental merge (same leads, names and e-mails changed)", merge_file, url, workers
    )
    report(merge, echo)
    reimport = _timed_import("re-import of the unchanged first file", initial_file, url, workers)
    report(reimport, echo)
    result = IngestBenchResult(rows, url, initial, merge, reimport, floor_seconds, floor_rows)
    echo(
        f"\nratios to the floor ({floor_seconds:.2f} s): initial load {result.initial_ratio:.2f}x"
        f" (target <= 2.0x), incremental merge {result.merge_ratio:.2f}x (target <= 3.0x);"
        f" re-import {result.reimport_share:.1%} of the initial load (target <= 5%)"
    )
    echo(
        f"peak memory (this process + workers, sampled): initial {initial.peak_pss_mb:,.0f} MB PSS"
        f" ({initial.peak_rss_mb:,.0f} MB sum of RSS), merge {merge.peak_pss_mb:,.0f} MB PSS"
        f" ({merge.peak_rss_mb:,.0f} MB sum of RSS) (target <= 1,000 MB)"
    )
    return result


def report(run: BenchRun, echo: Echo = print) -> None:
    [job] = run.jobs
    echo(f"\n{run.label}: status {job.status} {job.message or ''}".rstrip())
    echo(
        f"  read {job.rows_read:,} = inserted {job.inserted:,} + merged {job.merged:,}"
        f" + duplicates in file {job.duplicates_in_file:,} + quarantined {job.quarantined:,}"
    )
    for phase, seconds in job.timings.items():
        rate = job.rows_read / seconds if seconds else float("inf")
        echo(f"  {phase:<10} {seconds:8.2f} s  {rate:12,.0f} rows/s")
    rate = job.rows_read / run.wall if run.wall else float("inf")
    echo(f"  end-to-end {run.wall:8.2f} s  {rate:12,.0f} rows/s")
    echo(
        f"  peak mem   {run.peak_pss_mb:8.0f} MB PSS, {run.peak_rss_mb:.0f} MB sum of RSS"
        " (this process + workers, sampled)"
    )
