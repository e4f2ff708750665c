"""CRM connections: which organization syncs with which CRM account, and how it is reached.

A connection is a row of `crm_connections` (organization, vendor, base URL, the NAME of the
environment variable holding the token, options). The token itself is read from the
environment when a sync runs, never stored: a missing variable or a token the CRM refuses is
an error that names the connection, so an operator knows which secret to fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from leadflow.crmsync.vendors import VENDORS
from leadflow.leads.ids import canonical_uuid

_ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class CrmError(RuntimeError):
    """A CRM sync could not run or the CRM refused it; the message names the connection."""


class CrmConfigError(CrmError):
    """A connection is misconfigured (unknown, missing token variable, bad option)."""


class CrmAuthError(CrmError):
    """The CRM answered 401/403: the token in the connection's variable is not accepted."""


@dataclass(frozen=True)
class Connection:
    id: str
    organization_id: str
    vendor: str
    name: str
    base_url: str
    secret_env: str
    options: Mapping[str, Any] = field(default_factory=dict)
    pull_enabled: bool = True
    push_enabled: bool = True
    organization_slug: str | None = None

    @property
    def label(self) -> str:
        """How messages name the connection: `hubspot connection 'acme-hubspot' of acme`."""
        org = self.organization_slug or self.organization_id
        return f"{self.vendor} connection {self.name!r} of organization {org}"

    def token(self, environ: Mapping[str, str] | None = None) -> str:
        environ = os.environ if environ is None else environ
        value = (environ.get(self.secret_env) or "").strip()
        if not value:
            raise CrmConfigError(
                f"{self.label}: environment variable {self.secret_env} (its API token) is not set"
            )
        return value

    def owners(self) -> dict[str, str]:
        """The vendor's owner ids -> leadflow user ids (options.owners)."""
        owners = self.options.get("owners") or {}
        return {str(k): str(v) for k, v in owners.items()} if isinstance(owners, dict) else {}

    def page_size(self) -> int | None:
        value = self.options.get("page_size")
        return int(value) if value else None


_SELECT = """
select c.id::text, c.organization_id::text, c.vendor, c.name, c.base_url, c.secret_env,
       c.options, c.pull_enabled, c.push_enabled, o.slug as organization_slug
from crm_connections c join organizations o on o.id = c.organization_id
"""


def _connection(row: dict) -> Connection:
    return Connection(**row)


def list_connections(conn: psycopg.Connection, organization: str | None = None,
                     vendor: str | None = None, name: str | None = None) -> list[Connection]:  # fmt: skip
    """Connections, optionally of one organization (id or slug), vendor or name."""
    where, params = [], []
    if organization:
        org = canonical_uuid(organization)
        if org:
            where.append("c.organization_id = %s")
            params.append(org)
        else:
            where.append("lower(o.slug) = lower(%s)")
            params.append(organization)
    if vendor:
        where.append("c.vendor = %s")
        params.append(vendor)
    if name:
        where.append("c.name = %s")
        params.append(name)
    query = _SELECT + (" where " + " and ".join(where) if where else "")
    with conn.cursor(row_factory=dict_row) as cur:
        return [
            _connection(row)
            for row in cur.execute(query + " order by o.slug, c.vendor, c.name", params)
        ]


def get_connection(conn: psycopg.Connection, connection_id: str) -> Connection:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_SELECT + " where c.id = %s", (connection_id,)).fetchone()
    if row is None:
        raise CrmConfigError(f"unknown CRM connection {connection_id}")
    return _connection(row)


def resolve_organization(conn: psycopg.Connection, organization: str) -> str:
    """An organization id from an id or a slug; a clear error when it names none."""
    org = canonical_uuid(organization)
    row = conn.execute(
        "select id::text from organizations where id = %s or lower(slug) = lower(%s)",
        (org, organization),
    ).fetchone()
    if row is None:
        raise CrmConfigError(f"unknown organization {organization!r}")
    return row[0]


def save_connection(conn: psycopg.Connection, *, organization: str, vendor: str, base_url: str,
                    secret_env: str, name: str | None = None,
                    options: Mapping[str, Any] | None = None, pull_enabled: bool = True,
                    push_enabled: bool = True) -> Connection:  # fmt: skip
    """Create or update the connection (organization, name); validates before writing."""
    if vendor not in VENDORS:
        raise CrmConfigError(f"unknown CRM vendor {vendor!r}: one of {', '.join(VENDORS)}")
    if not re.match(r"^https?://\S+$", base_url):
        raise CrmConfigError(f"base URL {base_url!r} must start with http:// or https://")
    if not _ENV_NAME_RE.match(secret_env):
        raise CrmConfigError(
            f"secret variable {secret_env!r} must be an environment variable NAME such as"
            " HUBSPOT_TOKEN_ACME (the token itself is never stored)"
        )
    name = name or vendor
    if not _NAME_RE.match(name):
        raise CrmConfigError(f"connection name {name!r}: lower-case letters, digits, . _ -")
    org = resolve_organization(conn, organization)
    row = conn.execute(
        """
        insert into crm_connections (organization_id, vendor, name, base_url, secret_env,
                                     options, pull_enabled, push_enabled)
        values (%s, %s, %s, %s, %s, %s, %s, %s)
        on conflict (organization_id, name) do update set
            vendor = excluded.vendor, base_url = excluded.base_url,
            secret_env = excluded.secret_env, options = excluded.options,
            pull_enabled = excluded.pull_enabled, push_enabled = excluded.push_enabled
        returning id::text
        """,
        (org, vendor, name, base_url.rstrip("/"), secret_env, Jsonb(dict(options or {})),
         pull_enabled, push_enabled),
    ).fetchone()  # fmt: skip
    conn.execute(
        "insert into crm_sync_state (connection_id, organization_id) values (%s, %s)"
        " on conflict do nothing",
        (row[0], org),
    )
    return get_connection(conn, row[0])
