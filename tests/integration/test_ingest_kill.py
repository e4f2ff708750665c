"""kill -9 of an import at any moment leaves nothing of it behind, and a rerun completes.

Each test runs the import (pipeline.run_import, what the `crm_leads` asset's step and
`leadflow import` run) in a child process of its own session, with two normalization workers,
on a file big enough to be caught mid-phase, watches PostgreSQL until the import's
backend runs the statement of the phase to interrupt, then SIGKILLs the whole process group.
The one transaction per file means PostgreSQL rolls everything back when the dead client's
backend ends: no batch row, no lead, no reject, no audit or history row. The rerun then
imports the file with read = inserted + merged + duplicates + quarantined.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.integration.conftest import ORG1

pytestmark = pytest.mark.integration

ROWS = 25_000
TABLES = ("leads", "import_batches", "import_rejects", "lead_audit_log", "lead_status_history")


def _write_file(path: Path, variant: int) -> Path:
    """ROWS rows for one organization: ~15% repeat an earlier phone, ~2% have a bad phone;
    `variant` changes names and e-mails but not the phones (a second import merges)."""
    rng, names = random.Random(11), random.Random(variant)
    phones: list[str] = []
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["First Name", "Last Name", "Phone", "Email", "Source", "Tags"])
        for i in range(ROWS):
            roll = rng.random()
            if roll < 0.02:
                phone = "N/A"
            elif roll < 0.17 and phones:
                phone = rng.choice(phones)
            else:
                phone = f"({rng.choice([212, 415, 617, 713])}) {rng.randrange(200, 999)}-{i % 10000:04d}"
                phones.append(phone)
            first = names.choice(["ann", "BOB", "Cleo", "dave", "Émile"])
            out.writerow(
                [
                    first,
                    f"Last{names.randrange(999)}",
                    phone,
                    f"{first.lower()}{names.randrange(99999)}@example.com",
                    rng.choice(["fb", "Indeed", "referral"]),
                    "hot|cdl",
                ]
            )
    return path


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in TABLES}


def _leads_digest(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select md5(string_agg(l::text, ',' order by id)) from leads l"
        ).fetchone()[0]


# the import in a plain process: `leadflow import` would add ~12 s of Dagster and
# great-expectations start-up per run, and what is under test is the pipeline's transaction
_IMPORT = """
import json, sys
from functools import partial
import psycopg
from leadflow.ingest.pipeline import ImportRequest, run_import
url, path, org = sys.argv[1:]
request = ImportRequest(files=[path], org=org, workers=2)
print(json.dumps({"files": [job.summary() for job in run_import(request, partial(psycopg.connect, url))]}))
"""


def _import(url: str, path: Path) -> subprocess.Popen:
    # the bulk path (what files over 50,000 rows take: history and merge without row triggers)
    env = {**os.environ, "LEADFLOW_BULK_MIN_ROWS": "1000"}
    return subprocess.Popen(
        [sys.executable, "-c", _IMPORT, url, str(path), ORG1],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _kill_when(url: str, child: subprocess.Popen, statement: str, timeout: float = 120) -> None:
    """SIGKILL the import's process group as soon as its backend runs `statement`; then wait
    until PostgreSQL has noticed and ended that backend (its transaction rolled back)."""
    deadline = time.monotonic() + timeout
    backend = None
    with psycopg.connect(url, autocommit=True) as watcher:
        database = watcher.info.dbname
        while backend is None:
            assert child.poll() is None, (
                f"the import ended before {statement!r}: {child.stderr.read()}"
            )
            assert time.monotonic() < deadline, f"never saw {statement!r}"
            row = watcher.execute(
                "select pid from pg_stat_activity where datname = %s and state = 'active'"
                " and query ilike %s and pid <> pg_backend_pid()",
                (database, f"%{statement}%"),
            ).fetchone()
            backend = row[0] if row else None
            if backend is None:
                time.sleep(0.005)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        while watcher.execute(
            "select 1 from pg_stat_activity where pid = %s", (backend,)
        ).fetchone():
            assert time.monotonic() < deadline, f"backend {backend} still running"
            time.sleep(0.05)
    assert child.returncode == -signal.SIGKILL


def _rerun(url: str, path: Path) -> dict:
    child = _import(url, path)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err.decode()
    [summary] = json.loads(out)["files"]
    assert summary["status"] == "succeeded", summary
    assert summary["rows_read"] == ROWS
    assert summary["rows_read"] == (
        summary["inserted"]
        + summary["merged"]
        + summary["duplicates_in_file"]
        + summary["quarantined"]
    )
    return summary


@pytest.mark.parametrize(
    "statement",
    [
        "copy stg_leads",  # streaming: rows read, normalized and copied
        "insert into leads",  # loading the new leads
        "insert into lead_status_history",  # their history
    ],
)
def test_killed_first_import_leaves_nothing_and_reruns(crm_url, tmp_path, statement):
    path = _write_file(tmp_path / "leads.csv", variant=0)
    before = _counts(crm_url)
    _kill_when(crm_url, _import(crm_url, path), statement)
    assert _counts(crm_url) == before
    summary = _rerun(crm_url, path)
    after = _counts(crm_url)
    assert after["leads"] == before["leads"] + summary["inserted"]
    assert after["import_batches"] == before["import_batches"] + 1
    assert after["import_rejects"] == before["import_rejects"] + summary["quarantined"]
    assert summary["quarantined"] > 0 and summary["duplicates_in_file"] > 0


@pytest.mark.parametrize("statement", ["insert into lead_audit_log", "update leads l set"])
def test_killed_merge_leaves_the_leads_as_they_were(crm_url, tmp_path, statement):
    first = _rerun(crm_url, _write_file(tmp_path / "a.csv", variant=0))
    changed = _write_file(tmp_path / "b.csv", variant=1)
    before, digest = _counts(crm_url), _leads_digest(crm_url)
    _kill_when(crm_url, _import(crm_url, changed), statement)
    assert _counts(crm_url) == before
    assert _leads_digest(crm_url) == digest  # not one lead half-merged
    summary = _rerun(crm_url, changed)
    assert summary["merged"] == first["inserted"] and summary["inserted"] == 0
    assert _leads_digest(crm_url) != digest
