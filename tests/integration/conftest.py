"""Fixtures for the integration tests: a fresh, migrated, seeded CRM database per test."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import psycopg
import pytest
from pymongo import MongoClient

from leadflow.ingest.pipeline import FileJob, ImportRequest, run_import
from leadflow.platform.lead_history import generate
from leadflow.platform.seed import seed_mongo_activities
from leadflow.platform.services import GraphService
from leadflow.platform.services.graph import create_database, drop_database, graph_database
from tests.conftest import CliResult, run_leadflow

ORG1 = "11111111-1111-4111-8111-111111111111"  # Summit Talent Partners, region US
ORG2 = "22222222-2222-4222-8222-222222222222"  # Northwind Recruiting, region GB
ORG3 = "33333333-3333-4333-8333-333333333333"  # Southern Cross Staffing, region AU
ORG1_AGENT = "a1000000-0000-4000-8000-000000000003"
ORG2_AGENT = "a2000000-0000-4000-8000-000000000003"


@pytest.fixture
def crm_url(new_seeded_database) -> str:
    """A fresh, migrated and seeded CRM database for one test."""
    return new_seeded_database("crm")


@pytest.fixture
def prefix(monkeypatch) -> str:
    """A Redis key prefix of this test's own: tests share one Redis and the seeded
    organization ids."""
    value = f"lftest{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("LEADFLOW_CACHE_PREFIX", value)
    return value


def generate_recommendation_history(conn: psycopg.Connection, now) -> None:
    """The recommendation tests' history: 3,000 leads of ORG1 and 400 of ORG2 up to `now`."""
    generate(conn, ORG1, 3000, seed=5, now=now)
    generate(conn, ORG2, 400, seed=6, now=now, phone_prefix="+1917")


@pytest.fixture
def connect(crm_url: str) -> Callable:
    return partial(psycopg.connect, crm_url)


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    def writer(
        name: str,
        header: list[str],
        rows: list[list[str]],
        delimiter: str = ",",
        encoding: str = "utf-8",
    ) -> Path:
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
        request = ImportRequest(files=[str(p) for p in paths], workers=1, **options)
        return run_import(request, connect)

    return importer


def one(conn: psycopg.Connection, query: str, params=()):
    return conn.execute(query, params).fetchone()


@dataclass(frozen=True)
class Pipeline:
    """One database taken through the whole pipeline (see the `pipeline` fixture)."""

    url: str
    env: dict[str, str]
    home: Path
    run: CliResult  # `leadflow run --json` on the seeded database
    #: `leadflow demo --json` afterwards, its walk-through (what `leadflow demo` prints on
    #: stdout; with --json it goes to stderr) as `stdout`
    demo: CliResult
    #: the one JSON object `leadflow demo --json` printed on stdout
    demo_summary: dict


@pytest.fixture(scope="session")
def pipeline(
    new_seeded_database, mongo_url, bolt_url, redis_url, tmp_path_factory
) -> Iterator[Pipeline]:
    """The expensive end-to-end runs, done once and shared by the nightly, demo and report tests:
    a seeded database with the sample activities in a MongoDB database and a graph database of
    its own; `leadflow run --json` (the nightly job: activities, scores, assignments, nurture,
    segments, graph, dbt build), then `leadflow demo --json` (the sample DNC numbers and files imported,
    the nightly job again, the graph reconciled, the report written). Every server is named by
    a variable, so the demo starts none."""
    url = new_seeded_database("pipeline")
    mongo_name = f"lf_test_pipeline_{uuid.uuid4().hex[:8]}"
    client = MongoClient(mongo_url, tz_aware=True)
    seed_mongo_activities(client[mongo_name])
    if GraphService().is_external():  # an external Neo4j: its configured database
        graph_name = graph_database()
    else:  # a graph database of its own: the seeded organizations' ids are shared by tests
        graph_name = create_database(f"lftestpipeline{uuid.uuid4().hex[:8]}")
    home = tmp_path_factory.mktemp("pipeline_home")
    env = {
        "POSTGRES_URL": url,
        "MONGO_URL": mongo_url,
        "MONGO_DATABASE": mongo_name,
        "REDIS_URL": redis_url,
        "NEO4J_DATABASE": graph_name,
        "DAGSTER_HOME": str(tmp_path_factory.mktemp("dagster_home")),
        "LEADFLOW_HOME": str(home),
        "LEADFLOW_RETRY_DELAY_SECONDS": "1",  # a failing step fails the fixture in seconds
    }
    try:
        run = run_leadflow("run", "--json", env=env)
        demo = run_leadflow("demo", "--json", env=env)
        walkthrough = CliResult(demo.returncode, demo.stderr, "")
        yield Pipeline(url, env, home, run, walkthrough, json.loads(demo.stdout))
    finally:
        if not GraphService().is_external():
            drop_database(graph_name)
        client.drop_database(mongo_name)
        client.close()
