"""Pulling one connection's records into its vendor's raw schema with dlt.

One dlt pipeline per connection (`crm_<connection id>`), its dataset the vendor's raw schema.
dlt keeps the incremental cursor in the destination (`_dlt_pipeline_state`), committed with
the records it describes, and its working directory here is a fresh temporary one per pull:
every pull restores the cursor from PostgreSQL, so a pull runs the same on any process or host,
and a pull killed midway starts again from the last committed cursor. HTTP is dlt's: 429
waits for Retry-After, 5xx and connection errors retry with exponential backoff
(RUNTIME__REQUEST_MAX_ATTEMPTS, default 5); a 401/403 ends the pull with an error naming the
connection and its token variable.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import dlt
import psycopg
from dlt.common.pipeline import LoadInfo
from dlt.extract.source import DltSource
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.sources.rest_api import rest_api_source
from psycopg.conninfo import conninfo_to_dict

from leadflow.crmsync.connections import Connection, CrmAuthError, CrmError
from leadflow.crmsync.vendors import rest_api_config, spec

NO_PASSWORD = "no-password"

# dlt's anonymous usage telemetry: never from a pipeline run of leadflow's
dlt.config["runtime.dlthub_telemetry"] = False


@dataclass
class PullResult:
    connection_id: str
    vendor: str
    mode: str  # "full" (the list endpoint) or "incremental" (the changes endpoint)
    cursor_before: Any
    cursor_after: Any
    fetched: int = 0  # records written to the raw table by this pull
    load_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "vendor": self.vendor,
            "mode": self.mode,
            "fetched": self.fetched,
            "cursor_before": None if self.cursor_before is None else str(self.cursor_before),
            "cursor_after": None if self.cursor_after is None else str(self.cursor_after),
            "load_ids": self.load_ids,
        }


def pipeline_name(connection: Connection) -> str:
    return "crm_" + connection.id.replace("-", "")


def dlt_credentials(postgres_url: str) -> str:
    """POSTGRES_URL (a URL or a libpq "key=value" string) as the URL dlt's postgres destination
    takes. dlt insists on a password; without one (a local server that trusts loopback) it
    gets a placeholder the server never asks for. A server that does ask refuses it, as it
    would refuse the URL without one."""
    params = conninfo_to_dict(postgres_url)
    user = quote(str(params.pop("user", None) or "postgres"), safe="")
    password = quote(str(params.pop("password", None) or NO_PASSWORD), safe="")
    host = str(params.pop("host", None) or "localhost")
    port = str(params.pop("port", None) or 5432)
    database = quote(str(params.pop("dbname", None) or "postgres"), safe="")
    query = urlencode({k: str(v) for k, v in params.items()})
    return f"postgresql://{user}:{password}@{host}:{port}/{database}" + (
        f"?{query}" if query else ""
    )


def make_pipeline(connection: Connection, postgres_url: str, working_dir: str) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=pipeline_name(connection),
        pipelines_dir=working_dir,
        destination=dlt.destinations.postgres(credentials=dlt_credentials(postgres_url)),
        dataset_name=spec(connection.vendor).raw_schema,
    )


def committed_cursor(pipeline: dlt.Pipeline, connection: Connection) -> Any:
    """The incremental cursor dlt committed for the connection (None before its first pull)."""
    resources = pipeline.state.get("sources", {}).get(connection.vendor, {}).get("resources", {})
    incremental = resources.get(spec(connection.vendor).raw_table, {}).get("incremental", {})
    for cursor in incremental.values():
        if isinstance(cursor, dict) and cursor.get("last_value") is not None:
            return cursor["last_value"]
    return None


def make_source(connection: Connection, cursor: Any, token: str) -> DltSource:
    config = rest_api_config(
        connection.vendor,
        connection.base_url,
        token,
        connection.id,
        cursor,
        page_size=connection.page_size(),
        api_version=connection.options.get("api_version"),
    )
    return rest_api_source(config, name=connection.vendor)


@contextmanager
def _pull_lock(connection: Connection, postgres_url: str) -> Iterator[None]:
    """One pull per connection at a time, on any host: a PostgreSQL session lock, held by a
    connection of its own for the pull's duration (a killed process's lock goes with it)."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        key = f"leadflow.crm.pull:{connection.id}"
        taken = conn.execute("select pg_try_advisory_lock(hashtextextended(%s, 0))", (key,))
        if not taken.fetchone()[0]:
            raise CrmError(f"{connection.label}: another pull of this connection is running")
        try:
            yield
        finally:
            conn.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", (key,))


@contextmanager
def prepared(
    connection: Connection, postgres_url: str
) -> Iterator[tuple[dlt.Pipeline, DltSource, Any]]:
    """(pipeline, source, committed cursor) of the connection's next pull, in a temporary
    working directory removed afterwards (the state lives in PostgreSQL)."""
    token = connection.token()
    with _pull_lock(connection, postgres_url), \
            tempfile.TemporaryDirectory(prefix="leadflow-dlt-") as working_dir:  # fmt: skip
        pipeline = make_pipeline(connection, postgres_url, working_dir)
        try:
            pipeline.sync_destination()
        except Exception as exc:  # the destination is our PostgreSQL: say so plainly
            raise CrmError(
                f"{connection.label}: cannot read dlt state from PostgreSQL: {exc}"
            ) from exc
        cursor = committed_cursor(pipeline, connection)
        yield pipeline, make_source(connection, cursor, token), cursor


def explain(connection: Connection, exc: BaseException) -> CrmError:
    """A failed pull as an error naming the connection: 401/403 as an auth error."""
    cause: BaseException | None = exc
    while cause is not None:
        response = getattr(cause, "response", None)
        status = getattr(response, "status_code", None)
        if status in (401, 403):
            return CrmAuthError(
                f"{connection.label}: the CRM refused the token in {connection.secret_env}"
                f" (HTTP {status} from {connection.base_url}); set a valid token"
            )
        if status is not None:
            return CrmError(
                f"{connection.label}: HTTP {status} from {connection.base_url}"
                f" after retries: {str(cause)[:300]}"
            )
        cause = cause.__cause__ or cause.__context__
    return CrmError(f"{connection.label}: pull failed: {str(exc)[:500]}")


def result_of(connection: Connection, pipeline: dlt.Pipeline, info: LoadInfo | None,
              cursor_before: Any) -> PullResult:  # fmt: skip
    table = spec(connection.vendor).raw_table
    normalize = pipeline.last_trace.last_normalize_info if pipeline.last_trace else None
    fetched = int((normalize.row_counts if normalize else {}).get(table, 0))
    return PullResult(
        connection_id=connection.id,
        vendor=connection.vendor,
        mode="full" if cursor_before is None else "incremental",
        cursor_before=cursor_before,
        cursor_after=committed_cursor(pipeline, connection),
        fetched=fetched,
        load_ids=list(info.loads_ids) if info else [],
    )


def pull(connection: Connection, postgres_url: str) -> PullResult:
    """Fetch what is new in the CRM (everything on the first pull) into the raw table."""
    with prepared(connection, postgres_url) as (pipeline, source, cursor):
        try:
            info = pipeline.run(source)
        except PipelineStepFailed as exc:
            raise explain(connection, exc) from exc
        return result_of(connection, pipeline, info, cursor)
