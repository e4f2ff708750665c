"""Pulling one connection's records into its vendor's raw schema with dlt.

One dlt pipeline per connection (`crm_<connection id>`), its dataset the vendor's raw schema.
dlt keeps the incremental cursor in the destination (`_dlt_pipeline_state`), committed with
the records it describes, and its working directory here is a fresh temporary one per pull:
every pull restores the cursor from PostgreSQL, so a pull runs the same on any process or host,
and a pull killed midway starts again from the last committed cursor. HTTP is dlt's: 429
waits for Retry-After, 5xx and connection errors retry with exponential backoff
(RUNTIME__REQUEST_MAX_ATTEMPTS, default 5); a 401/403 ends the pull with an error naming the
connection and its token variable.

Before anything is sent, the connection passes the policy (connections.Connection.checked: its
base URL on the vendor's API or a listed host, its options, its token variable's name), the
database role must be able to write the raw table (only the pipeline role can), and the token
is read only when no other connection names its variable. The requests then go through the
connection's own session (http.py): its API's origin only, the token in a header.
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
import requests
from dlt.common.pipeline import LoadInfo
from dlt.extract.source import DltSource
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.sources.rest_api import rest_api_source
from psycopg.conninfo import conninfo_to_dict

from leadflow.crmsync.connections import (
    Connection,
    CrmAccessError,
    CrmAuthError,
    CrmError,
    read_token,
)
from leadflow.crmsync.http import connection_session
from leadflow.crmsync.policy import allowed_hosts
from leadflow.crmsync.vendors import rest_api_config, spec
from leadflow.postgres import one_row

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


def make_source(connection: Connection, cursor: Any, session: Any) -> DltSource:
    config = rest_api_config(
        connection.vendor,
        connection.base_url,
        connection.id,
        connection.organization_id,
        cursor,
        session=session,
        page_size=connection.page_size(),
        api_version=connection.options.get("api_version"),
        keep_properties=tuple(connection.pulled_properties()),
    )
    return rest_api_source(config, name=connection.vendor)


_RAW_ACCESS = """
with raw as (
    select c.oid, c.relname
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = %(schema)s and c.relname in (%(table)s, '_dlt_loads')
)
select current_user,
       has_schema_privilege(%(schema)s, 'usage'),
       coalesce((select has_table_privilege(oid, 'select') and has_table_privilege(oid, 'insert')
                 from raw where relname = %(table)s), false),
       has_schema_privilege(%(schema)s, 'create')
           or coalesce((select has_table_privilege(oid, 'select')
                               and has_table_privilege(oid, 'insert')
                        from raw where relname = '_dlt_loads'), false),
       coalesce((select row_security_active(oid) from raw where relname = %(table)s), false)
           and not exists (
               select 1 from pg_policies p
               where p.schemaname = %(schema)s and p.tablename = %(table)s
                 and p.policyname <> 'tenant_isolation_policy' and p.cmd in ('ALL', 'INSERT')
                 and (p.roles = '{public}'
                      or exists (select 1 from unnest(p.roles) r
                                 where pg_has_role(current_user, r, 'member'))))
"""


def raw_access_problem(conn: psycopg.Connection, vendor: str) -> str | None:
    """Why the session's database role cannot load the vendor's raw table (None: it can). The
    raw tables are closed to every role but the pipeline's (migration 013)."""
    vendor_spec = spec(vendor)
    schema, table = vendor_spec.raw_schema, vendor_spec.raw_table
    user, usage, writes, bookkeeping, tenant_only = one_row(
        conn.execute(_RAW_ACCESS, {"schema": schema, "table": table})
    )
    if usage and writes and bookkeeping and not tenant_only:
        return None
    return (
        f"the database role {user} cannot load {schema}.{table}: the raw CRM tables are written"
        " by the pipeline role only (run `leadflow crm sync` and the crm_sync_job with the"
        " pipeline role's POSTGRES_URL); `leadflow crm status` works with any role"
    )


@contextmanager
def _pull_lock(connection: Connection, postgres_url: str) -> Iterator[psycopg.Connection]:
    """One pull per connection at a time, on any host: a PostgreSQL session lock, held by a
    connection of its own for the pull's duration (a killed process's lock goes with it)."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        key = f"leadflow.crm.pull:{connection.id}"
        taken = conn.execute("select pg_try_advisory_lock(hashtextextended(%s, 0))", (key,))
        if not one_row(taken)[0]:
            raise CrmError(f"{connection.label}: another pull of this connection is running")
        try:
            yield conn
        finally:
            conn.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", (key,))


@contextmanager
def prepared(
    connection: Connection, postgres_url: str
) -> Iterator[tuple[dlt.Pipeline, DltSource, Any]]:
    """(pipeline, source, committed cursor) of the connection's next pull, in a temporary
    working directory removed afterwards (the state lives in PostgreSQL). Refused before any
    request when the connection fails the policy or the role cannot write the raw table."""
    allowed = allowed_hosts()
    origin = connection.checked(allowed)
    with (
        _pull_lock(connection, postgres_url) as conn,
        tempfile.TemporaryDirectory(prefix="leadflow-dlt-") as working_dir,
    ):
        problem = raw_access_problem(conn, connection.vendor)
        if problem:
            raise CrmAccessError(f"{connection.label}: {problem}")
        token = read_token(conn, connection)
        session = connection_session(connection.vendor, origin, token, allowed)
        pipeline = make_pipeline(connection, postgres_url, working_dir)
        try:
            pipeline.sync_destination()
        except Exception as exc:  # the destination is our PostgreSQL: say so plainly
            raise CrmError(
                f"{connection.label}: cannot read dlt state from PostgreSQL: {exc}"
            ) from exc
        cursor = committed_cursor(pipeline, connection)
        yield pipeline, make_source(connection, cursor, session), cursor


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        yield cause
        cause = cause.__cause__ or cause.__context__


def explain(connection: Connection, exc: BaseException) -> CrmError:
    """A failed pull as an error naming the connection: 401/403 as an auth error, a refusal
    of the policy as itself, an HTTP status, a timeout or an unreachable host in one line.
    (The caller still redacts the text: leadflow.redaction.)"""
    label, url = connection.label, connection.base_url
    for cause in _chain(exc):
        if isinstance(cause, CrmError):
            text = str(cause)
            return type(cause)(text if text.startswith(label) else f"{label}: {text}")
        response = getattr(cause, "response", None)
        status = getattr(response, "status_code", None)
        if status in (401, 403):
            return CrmAuthError(
                f"{label}: the CRM refused the token in {connection.secret_env}"
                f" (HTTP {status} from {url}); set a valid token"
            )
        if status is not None:
            return CrmError(f"{label}: HTTP {status} from {url} after retries: {str(cause)[:300]}")
        if isinstance(cause, requests.Timeout):
            return CrmError(f"{label}: {url} timed out after retries: {str(cause)[:300]}")
        if isinstance(cause, requests.ConnectionError):
            return CrmError(f"{label}: cannot reach {url} after retries: {str(cause)[:300]}")
        if "42501" in (getattr(cause, "pgcode", None), getattr(cause, "sqlstate", None)):
            # insufficient privilege (psycopg2 under dlt, psycopg elsewhere)
            return CrmAccessError(f"{label}: the pipeline role loads the raw tables: {cause}")
    return CrmError(f"{label}: pull failed: {str(exc)[:500]}")


def result_of(
    connection: Connection, pipeline: dlt.Pipeline, info: LoadInfo | None, cursor_before: Any
) -> PullResult:
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
