"""great-expectations 1.x, called directly (dagster-ge needs GX < 1.0).

Expectations run as SQL inside PostgreSQL through GX's SQLAlchemy datasource, so a check over
a million leads moves counts and samples, not rows.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations as gx  # noqa: E402

SAMPLE_SIZE = 20


@dataclass
class ExpectationOutcome:
    name: str
    success: bool
    element_count: int
    unexpected_count: int
    sample: list = field(default_factory=list)


def sqlalchemy_url(conninfo: str) -> str:
    """GX talks to PostgreSQL through SQLAlchemy + psycopg2: the same server as any libpq
    conninfo (URL or key=value) names, spelled as a SQLAlchemy URL."""
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy.engine import URL

    params = conninfo_to_dict(conninfo)
    known = {"user", "password", "host", "port", "dbname"}
    return URL.create(
        "postgresql+psycopg2",
        username=params.get("user"),
        password=params.get("password"),
        host=params.get("host"),
        port=int(params["port"]) if params.get("port") else None,
        database=params.get("dbname"),
        query={k: str(v) for k, v in params.items() if k not in known},
    ).render_as_string(hide_password=False)


def _context():
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate_query(url: str, query: str, expectations: list, name: str) -> list[ExpectationOutcome]:
    """Validate `expectations` against the rows of `query`; one outcome per expectation."""
    source = _context().data_sources.add_postgres(name, connection_string=sqlalchemy_url(url))
    batch = source.add_query_asset(name, query=query).add_batch_definition_whole_table("all")
    batch = batch.get_batch()
    outcomes = []
    for expectation in expectations:
        result = batch.validate(
            expectation,
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE},
        )
        details = result.result or {}
        outcomes.append(
            ExpectationOutcome(
                name=type(expectation).__name__,
                success=bool(result.success),
                element_count=int(details.get("element_count") or 0),
                unexpected_count=int(details.get("unexpected_count") or 0),
                sample=[_plain(v) for v in (details.get("partial_unexpected_list") or [])],
            )
        )
    return outcomes


def _plain(value):
    if isinstance(value, dict | list | str | int | float | bool) or value is None:
        return value
    return str(value)
