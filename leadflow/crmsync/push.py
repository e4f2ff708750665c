"""Pushing leadflow's view of a lead back to its CRM record: status, score, do-not-call.

Only the records whose lead changed since the connection's watermark (`pushed_until`, minus a
safety overlap for transactions that committed late) are considered, and of those only the
ones whose status, score or DNC flag differ from what leadflow last wrote to that record
(`lead_external_ids.pushed_*`): a push sent twice writes nothing the second time. A lead is
do-not-call when its status is `dnc` or its phone is on the organization's DNC list; it is
pushed as such (Salesforce's standard DoNotCall, a checkbox property in HubSpot, a custom
field in Pipedrive). The watermark moves only when every record was written: a refused record
is tried again by the next push.

HTTP is the connection's session (http.py: its API's origin only, the token in a header, dlt's
retries: 429 waits for Retry-After, 5xx and connection errors back off exponentially,
RUNTIME__REQUEST_MAX_ATTEMPTS attempts); 401/403 stops the push with an error naming the
connection and its token variable. Every transaction is scoped to the connection's
organization (set_tenant), as the application role would need it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from leadflow import settings
from leadflow.crmsync.connections import (
    Connection,
    CrmAuthError,
    CrmError,
    CrmPolicyError,
    read_token,
)
from leadflow.crmsync.http import ConnectionSession, connection_session
from leadflow.crmsync.policy import allowed_hosts
from leadflow.crmsync.vendors import (
    PushItem,
    push_failures,
    push_fields,
    push_request,
    spec,
)
from leadflow.postgres import ConnectionFactory, one_row, set_tenant


@dataclass
class PushResult:
    connection_id: str
    vendor: str
    candidates: int = 0  # linked records whose lead changed since the watermark
    pushed: int = 0  # records written
    unchanged: int = 0  # candidates already saying what leadflow says
    failed: dict[str, str] = field(default_factory=dict)  # external id -> why
    dnc: int = 0  # records pushed as do-not-call
    calls: int = 0  # HTTP calls made (retries not counted)

    def as_dict(self) -> dict:
        return {
            "candidates": self.candidates,
            "pushed": self.pushed,
            "unchanged": self.unchanged,
            "failed": len(self.failed),
            "failures": dict(list(self.failed.items())[:20]),
            "dnc": self.dnc,
            "calls": self.calls,
        }


_CANDIDATES = """
select e.external_id, l.status,
       l.lead_score,
       (l.status = 'dnc' or d.id is not null) as dnc,
       e.pushed_status, e.pushed_score, e.pushed_dnc
from lead_external_ids e
join leads l on l.id = e.lead_id and l.deleted_at is null
left join dnc_list d on d.organization_id = l.organization_id and d.phone_number = l.phone_number
where e.connection_id = %(conn)s
  and (%(since)s::timestamptz is null
       or e.pushed_at is null
       or l.updated_at > %(since)s::timestamptz - make_interval(secs => %(overlap)s)
       or d.added_at > %(since)s::timestamptz - make_interval(secs => %(overlap)s))
order by e.external_id
"""


def _overlap() -> int:
    return settings.current().crm_push_overlap_seconds


def changed_items(
    conn: psycopg.Connection, connection: Connection, since: Any
) -> tuple[list[PushItem], int]:
    """(records to write, candidates that already say it) since the watermark `since`."""
    rows = conn.execute(
        _CANDIDATES, {"conn": connection.id, "since": since, "overlap": _overlap()}
    ).fetchall()
    items, unchanged = [], 0
    for record_id, status, score, dnc, pushed_status, pushed_score, pushed_dnc in rows:
        if (status, score, dnc) == (pushed_status, pushed_score, pushed_dnc):
            unchanged += 1
            continue
        items.append(PushItem(record_id, status, int(score), bool(dnc)))
    return items, unchanged


def _send(
    session: ConnectionSession, connection: Connection, method: str, path: str, body: Any
) -> tuple[int, Any]:
    url = connection.base_url.rstrip("/") + "/" + path
    try:
        response = session.request(method, url, json=body)
    except CrmPolicyError as exc:  # the session refused the URL
        raise CrmPolicyError(f"{connection.label}: {exc}") from None
    except Exception as exc:  # connection refused / timeouts after dlt's retries
        raise CrmError(f"{connection.label}: push to {connection.base_url} failed: {exc}") from exc
    if response.status_code in (401, 403):
        raise CrmAuthError(
            f"{connection.label}: the CRM refused the token in {connection.secret_env}"
            f" (HTTP {response.status_code} from {connection.base_url}); set a valid token"
        )
    try:
        payload = response.json() if response.content else None
    except ValueError:
        payload = response.text[:500]
    return response.status_code, payload


def push_connection(connect: ConnectionFactory, connection: Connection) -> PushResult:
    """Write the changed leads' status, score and DNC flag to the connection's CRM (refused
    before any request when the connection fails the policy)."""
    allowed = allowed_hosts()
    origin = connection.checked(allowed)
    result = PushResult(connection.id, connection.vendor)
    with connect() as conn:
        token = read_token(conn, connection)
        set_tenant(conn, connection.organization_id)
        since, started = one_row(
            conn.execute(
                "select (select pushed_until from crm_sync_state where connection_id = %s), now()",
                (connection.id,),
            )
        )
        items, result.unchanged = changed_items(conn, connection, since)
    result.candidates = len(items) + result.unchanged
    fields = push_fields(connection.vendor, connection.options)
    size = spec(connection.vendor).batch_size
    session = connection_session(connection.vendor, origin, token, allowed)
    api_version = connection.options.get("api_version")
    for start in range(0, len(items), size):
        batch = items[start : start + size]
        method, path, body = push_request(connection.vendor, batch, fields, api_version)
        status, payload = _send(session, connection, method, path, body)
        result.calls += 1
        failed = push_failures(connection.vendor, batch, status, payload)
        result.failed.update(failed)
        written = [item for item in batch if item.external_id not in failed]
        _record_pushed(connect, connection, written)
        result.pushed += len(written)
        result.dnc += sum(item.dnc for item in written)
    with connect() as conn:
        set_tenant(conn, connection.organization_id)
        conn.execute(
            """
            insert into crm_sync_state (connection_id, organization_id, pushed_until, last_push_at)
            values (%(conn)s, %(org)s, %(until)s, now())
            on conflict (connection_id) do update set
                pushed_until = case when %(all_ok)s then excluded.pushed_until
                                    else crm_sync_state.pushed_until end,
                last_push_at = now()
            """,
            {
                "conn": connection.id,
                "org": connection.organization_id,
                "until": started,
                "all_ok": not result.failed,
            },
        )
    return result


def _record_pushed(
    connect: ConnectionFactory, connection: Connection, items: list[PushItem]
) -> None:
    """Remember what each written record says now (committed per call: a push killed midway
    does not write those records again)."""
    if not items:
        return
    with connect() as conn, conn.cursor() as cur:
        set_tenant(conn, connection.organization_id)
        cur.executemany(
            """
            update lead_external_ids set pushed_status = %s, pushed_score = %s, pushed_dnc = %s,
                pushed_at = now()
            where connection_id = %s and external_id = %s
            """,
            [(i.status, i.score, i.dnc, connection.id, i.external_id) for i in items],
        )
