"""CRM connections: which organization syncs with which CRM account, and how it is reached.

A connection is a row of `crm_connections` (organization, vendor, base URL, the NAME of the
environment variable holding the token, options). The token itself is read from the
environment when a sync runs, never stored: a missing variable or a token the CRM refuses is
an error that names the connection, so an operator knows which secret to fix.

The row is tenant data, so it is checked where it is used, not only where it is written
(policy.py has the rules): `Connection.checked` validates the base URL, the options and the
variable's name before a sync does anything, and `read_token` reads the variable only when no
other connection in the database names it. Only the operator writes the table (migration 013:
tenants may read their rows, never write them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from leadflow.crmsync.errors import (
    CrmAccessError,
    CrmAuthError,
    CrmConfigError,
    CrmError,
    CrmPolicyError,
)
from leadflow.crmsync.policy import (
    AllowedHosts,
    Origin,
    allowed_hosts,
    check_base_url,
    check_options,
    check_secret_env,
)
from leadflow.crmsync.vendors import VENDORS
from leadflow.ingest.extras import MAX_EXTRA_FIELDS, MAX_EXTRA_KEY_CHARS
from leadflow.leads.ids import canonical_uuid
from leadflow.postgres import one_row, set_tenant
from leadflow.redaction import register_secret
from leadflow.settings import Settings

__all__ = [
    "Connection",
    "CrmAccessError",
    "CrmAuthError",
    "CrmConfigError",
    "CrmError",
    "CrmPolicyError",
    "get_connection",
    "list_connections",
    "read_token",
    "resolve_organization",
    "save_connection",
]

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


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

    def checked(self, allowed: AllowedHosts | None = None) -> Origin:
        """The origin of the connection's API, once its base URL, options and token variable's
        name pass the policy; else CrmPolicyError naming the connection."""
        try:
            origin = check_base_url(self.vendor, self.base_url, allowed or allowed_hosts())
            check_options(self.options)
            check_secret_env(self.vendor, self.secret_env)
        except CrmPolicyError as exc:
            raise CrmPolicyError(f"{self.label}: {exc}") from None
        return origin

    def token(self, environ: Mapping[str, str] | None = None) -> str:
        """The token in the connection's variable (only a CRM token variable's name is read:
        see read_token for the check that no other connection names it)."""
        try:
            check_secret_env(self.vendor, self.secret_env)
        except CrmPolicyError as exc:
            raise CrmPolicyError(f"{self.label}: {exc}") from None
        value = Settings(environ).raw(self.secret_env) or ""
        if not value:
            raise CrmConfigError(
                f"{self.label}: environment variable {self.secret_env} (its API token) is not set"
            )
        register_secret(value)
        return value

    def owners(self) -> dict[str, str]:
        """The vendor's owner ids -> leadflow user ids (options.owners)."""
        owners = self.options.get("owners") or {}
        return {str(k): str(v) for k, v in owners.items()} if isinstance(owners, dict) else {}

    def keep_properties(self) -> list[str]:
        """The CRM's own properties kept on the leads as extra fields (options.keep_properties:
        a list or a comma-separated string of the vendor's property names, e.g. a HubSpot
        custom property `preferred_shift`); at most MAX_EXTRA_FIELDS names of letters, digits
        and _ (an API name, sent to the vendor's API as given)."""
        given = self.options.get("keep_properties") or []
        names = given.split(",") if isinstance(given, str) else given
        if not isinstance(names, list):
            return []
        kept: list[str] = []
        for name in (str(n).strip() for n in names):
            valid = 0 < len(name) <= MAX_EXTRA_KEY_CHARS and name.replace("_", "").isalnum()
            if valid and name.isascii() and name not in kept:
                kept.append(name)
        return kept[:MAX_EXTRA_FIELDS]

    def notes_property(self) -> str | None:
        """The CRM property whose value is the lead's note (options.notes_property, e.g. a
        HubSpot custom property `recruiter_notes`): kept as a note, like a file's Notes column."""
        name = self.options.get("notes_property")
        if not isinstance(name, str) or not name.strip():
            return None
        name = name.strip()
        valid = len(name) <= MAX_EXTRA_KEY_CHARS and name.replace("_", "").isalnum()
        return name if valid and name.isascii() else None

    def pulled_properties(self) -> list[str]:
        """What the pull asks for besides the mapped fields: keep_properties and the notes."""
        names = self.keep_properties()
        notes = self.notes_property()
        return [*names, notes] if notes and notes not in names else names

    def page_size(self) -> int | None:
        value = self.options.get("page_size")
        return int(value) if value else None


def read_token(conn: psycopg.Connection, connection: Connection) -> str:
    """The connection's token, read only when no other connection in the database names its
    variable: one variable is one connection's secret (a unique index holds it; this check
    holds it too for a database without the index, and is run by the pipeline role, which
    sees every organization's connections)."""
    (others,) = one_row(
        conn.execute(
            "select count(*) from crm_connections where secret_env = %s and id <> %s",
            (connection.secret_env, connection.id),
        )
    )
    if others:
        raise CrmPolicyError(
            f"{connection.label}: secret variable {connection.secret_env!r} refused: another"
            " connection names it too, and a variable is the secret of one connection only;"
            " give each connection its own variable (leadflow crm connect --secret-env)"
        )
    return connection.token()


_SELECT = """
select c.id::text, c.organization_id::text, c.vendor, c.name, c.base_url, c.secret_env,
       c.options, c.pull_enabled, c.push_enabled, o.slug as organization_slug
from crm_connections c join organizations o on o.id = c.organization_id
"""


def _connection(row: dict) -> Connection:
    return Connection(**row)


def list_connections(
    conn: psycopg.Connection,
    organization: str | None = None,
    vendor: str | None = None,
    name: str | None = None,
) -> list[Connection]:
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
    """An organization id from an id or a slug; a clear error when it names none.

    An id also scopes the current transaction to that organization first (set_tenant), so a
    role under row-level security (the application role) finds its own organization; such a
    role sees no other organization, so it names its own by id."""
    org = canonical_uuid(organization)
    if org:
        set_tenant(conn, org)
    row = conn.execute(
        "select id::text from organizations where id = %s or lower(slug) = lower(%s)",
        (org, organization),
    ).fetchone()
    if row is None:
        (hidden,) = one_row(conn.execute("select row_security_active('organizations')"))
        hint = " (this database role is under row-level security: name it by its id)"
        raise CrmConfigError(f"unknown organization {organization!r}" + (hint if hidden else ""))
    return cast(str, row[0])


def save_connection(
    conn: psycopg.Connection,
    *,
    organization: str,
    vendor: str,
    base_url: str,
    secret_env: str,
    name: str | None = None,
    options: Mapping[str, Any] | None = None,
    pull_enabled: bool = True,
    push_enabled: bool = True,
) -> Connection:
    """Create or update the connection (organization, name); validates before writing (the
    policy of policy.py: the sync checks the row again when it reads it)."""
    if vendor not in VENDORS:
        raise CrmConfigError(f"unknown CRM vendor {vendor!r}: one of {', '.join(VENDORS)}")
    check_base_url(vendor, base_url, allowed_hosts())
    check_secret_env(vendor, secret_env)
    check_options(dict(options or {}))
    name = name or vendor
    if not _NAME_RE.match(name):
        raise CrmConfigError(f"connection name {name!r}: lower-case letters, digits, . _ -")
    org = resolve_organization(conn, organization)
    taken = conn.execute(
        "select 1 from crm_connections where secret_env = %s"
        " and (organization_id, name) <> (%s, %s)",
        (secret_env, org, name),
    ).fetchone()
    if taken:
        raise CrmPolicyError(
            f"secret variable {secret_env!r} refused: another connection names it already; a"
            " variable is the secret of one connection only"
        )
    try:
        with conn.transaction():
            cursor = conn.execute(
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
                (
                    org,
                    vendor,
                    name,
                    base_url.rstrip("/"),
                    secret_env,
                    Jsonb(dict(options or {})),
                    pull_enabled,
                    push_enabled,
                ),
            )
            (connection_id,) = one_row(cursor)
    except psycopg.errors.UniqueViolation:
        raise CrmPolicyError(
            f"secret variable {secret_env!r} refused: another connection names it already"
        ) from None
    conn.execute(
        "insert into crm_sync_state (connection_id, organization_id) values (%s, %s)"
        " on conflict do nothing",
        (connection_id, org),
    )
    return get_connection(conn, connection_id)
