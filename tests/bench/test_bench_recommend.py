"""`python -m benchmarks recommend` on 3,000 leads: the benchmark trains a served model, scores
every eligible lead, fills the cache and times the three read paths (floor, cache, miss).

No timing is asserted: speed goals live in the benchmark's printed figures.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from benchmarks.common import with_dbname
from benchmarks.recommend import run_recommend_bench

pytestmark = [pytest.mark.bench, pytest.mark.integration, pytest.mark.slow]


def test_bench_recommend_reports_every_figure(pg_server_url, redis_url):
    database = f"lf_test_benchreco_{uuid.uuid4().hex[:8]}"
    lines: list[str] = []
    try:
        result = run_recommend_bench(
            pg_server_url, redis_url, 3000, samples=200, echo=lines.append, database=database
        )
    finally:
        with psycopg.connect(with_dbname(pg_server_url, "postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database))
            )
    assert result.agents == 6 and result.model["status"] == "active"
    assert 0 < result.scored <= 3000 + 60  # the generated leads and the seeded ones, eligible
    assert result.cache_keys["lead_keys"] == result.scored
    for path in ("floor_get", "cache", "postgres_miss"):
        figures = result.latency_ms[path]
        assert 0 < figures["p50"] <= figures["p99"] <= figures["max"]
    assert result.ratio("p99") > 0
    printed = "\n".join(lines)
    for label in ("training", "scoring", "cache fill", "floor (GET)", "from cache", "PG on miss"):
        assert label in printed
