"""Fixtures for the ingestion tests: a fresh, migrated, seeded CRM database per test."""

from __future__ import annotations

import csv
from collections.abc import Callable
from functools import partial
from pathlib import Path

import psycopg
import pytest

from leadflow.ingest.stages import FileJob, ImportRequest, run_import
from leadflow.platform.migrations import migrate_up
from leadflow.platform.seed import load_seed

ORG1 = "11111111-1111-4111-8111-111111111111"  # Summit Talent Partners, region US
ORG2 = "22222222-2222-4222-8222-222222222222"  # Northwind Recruiting, region GB
ORG3 = "33333333-3333-4333-8333-333333333333"  # Southern Cross Staffing, region AU
ORG1_AGENT = "a1000000-0000-4000-8000-000000000003"
ORG2_AGENT = "a2000000-0000-4000-8000-000000000003"


@pytest.fixture
def crm_url(make_database) -> str:
    url = make_database("crm")
    migrate_up(url)
    load_seed(url)
    return url


@pytest.fixture
def connect(crm_url: str) -> Callable:
    return partial(psycopg.connect, crm_url)


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    def writer(name: str, header: list[str], rows: list[list[str]], delimiter: str = ",",
               encoding: str = "utf-8") -> Path:  # fmt: skip
        path = tmp_path / name
        with open(path, "w", newline="", encoding=encoding) as handle:
            out = csv.writer(handle, delimiter=delimiter)
            out.writerow(header)
            out.writerows(rows)
        return path

    return writer


@pytest.fixture
def do_import(connect) -> Callable[..., list[FileJob]]:
    def importer(*paths: Path, **options) -> list[FileJob]:
        request = ImportRequest(paths=[str(p) for p in paths], workers=1, **options)
        return run_import(request, connect)

    return importer


def one(conn: psycopg.Connection, query: str, params=()):
    return conn.execute(query, params).fetchone()
