"""SQL side of lead distribution: who can take leads, which leads wait, and the writes.

Automatic distribution (`distribute_organization`) and manual reassignment (`reassign_lead`)
write the same history: `leads.user_id`, a `lead_assignments` row (strategy says which way) and
a `lead_audit_log` row for user_id with change_source 'assignment' (the seed's convention for
every ownership change, manual moves included). Callers own the transaction (one per
organization for the asset).
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import psycopg
from psycopg.types.json import Jsonb

from leadflow.crm.assignment import (
    Agent,
    Assignment,
    AssignmentState,
    LeadToAssign,
    Territory,
    parse_strategy,
    plan,
)
from leadflow.leads.ids import require_uuid
from leadflow.postgres import config_value, one_row

#: lead statuses that count towards an agent's open load (load_balanced)
CLOSED_STATUSES = ("recruited", "cold", "dnc")
#: lead statuses never distributed (DNC leads are never assigned for outreach)
NOT_ASSIGNABLE_STATUSES = ("dnc", "recruited")
#: the role that receives leads automatically
AGENT_ROLE = "agent"
CURSOR_KEY = "assignment_cursor"


class ReassignError(Exception):
    """A manual reassignment that must not happen; the message says why."""


@dataclass(frozen=True)
class OrgAssignmentConfig:
    strategy: str
    weights: Mapping[str, float] = field(default_factory=dict)
    territories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class OrgDistribution:
    """What one organization's run did."""

    organization_id: str
    strategy: str
    waiting: int  # assignable leads found
    assigned: int
    skipped_dnc_list: int  # unassigned leads whose phone is on the DNC list
    per_agent: dict[str, int]
    agents: int


@dataclass(frozen=True)
class Reassignment:
    lead_id: str
    organization_id: str
    from_user_id: str | None
    to_user_id: str
    reason: str | None
    changed: bool
    lead_name: str = ""
    from_email: str | None = None
    to_email: str = ""


def _uuid(value: object, what: str) -> str:
    return require_uuid(str(value), what, ReassignError)


def _weights(value: object) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"assignment_weights must be a JSON object, not {value!r}")
    out = {}
    for user, weight in value.items():
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not math.isfinite(weight)
            or weight < 0
        ):
            raise ValueError(f"assignment_weights[{user}] must be a number >= 0, not {weight!r}")
        out[str(uuid.UUID(str(user)))] = float(weight)
    return out


def _territories(value: object) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"assignment_territories must be a JSON object, not {value!r}")
    out = {}
    for user, specs in value.items():
        if isinstance(specs, str) or not isinstance(specs, list):
            raise ValueError(f"assignment_territories[{user}] must be a list, not {specs!r}")
        out[str(uuid.UUID(str(user)))] = tuple(Territory.parse(spec).spec for spec in specs)
    return out


def load_assignment_config(conn: psycopg.Connection, organization_id: str) -> OrgAssignmentConfig:
    """Raises ValueError naming the organization when its configuration is unusable."""
    try:
        return OrgAssignmentConfig(
            strategy=parse_strategy(config_value(conn, organization_id, "assignment_strategy")),
            weights=_weights(config_value(conn, organization_id, "assignment_weights")),
            territories=_territories(config_value(conn, organization_id, "assignment_territories")),
        )
    except ValueError as exc:
        raise ValueError(f"organization {organization_id}: {exc}") from exc


def active_agents(
    conn: psycopg.Connection, organization_id: str, config: OrgAssignmentConfig
) -> list[Agent]:
    """The organization's active agents with their open load, in user-id order."""
    rows = conn.execute(
        """
        select u.id::text, count(l.id)
        from users u
        left join leads l
            on l.user_id = u.id
           and l.deleted_at is null
           and l.status <> all(%(closed)s)
        where u.organization_id = %(org)s and u.is_active and u.role = %(role)s
        group by u.id
        order by u.id
        """,
        {"org": organization_id, "closed": list(CLOSED_STATUSES), "role": AGENT_ROLE},
    ).fetchall()
    return [
        Agent(
            user_id=user,
            open_leads=load,
            weight=config.weights.get(user, 1.0),
            territories=config.territories.get(user, ()),
        )
        for user, load in rows
    ]


def count_active_agents(conn: psycopg.Connection, organization_id: str) -> int:
    cursor = conn.execute(
        "select count(*) from users where organization_id = %s and is_active and role = %s",
        (organization_id, AGENT_ROLE),
    )
    return cast(int, one_row(cursor)[0])


def waiting_leads(conn: psycopg.Connection, organization_id: str) -> list[LeadToAssign]:
    """Unassigned live leads that may be worked, oldest first, locked for this transaction.

    Leads whose phone is on the organization's DNC list are left out even when their status
    has not caught up yet: DNC leads are never handed out for outreach.
    """
    rows = conn.execute(
        """
        select l.id::text, l.phone_number
        from leads l
        where l.organization_id = %(org)s
          and l.user_id is null
          and l.deleted_at is null
          and l.status <> all(%(excluded)s)
          and not exists (
              select 1 from dnc_list d
              where d.organization_id = l.organization_id and d.phone_number = l.phone_number
          )
        order by l.created_at, l.id
        for update of l skip locked
        """,
        {"org": organization_id, "excluded": list(NOT_ASSIGNABLE_STATUSES)},
    ).fetchall()
    return [LeadToAssign(lead_id, phone) for lead_id, phone in rows]


def count_dnc_listed_waiting(conn: psycopg.Connection, organization_id: str) -> int:
    cursor = conn.execute(
        """
        select count(*)
        from leads l
        join dnc_list d
          on d.organization_id = l.organization_id and d.phone_number = l.phone_number
        where l.organization_id = %(org)s
          and l.user_id is null
          and l.deleted_at is null
          and l.status <> all(%(excluded)s)
        """,
        {"org": organization_id, "excluded": list(NOT_ASSIGNABLE_STATUSES)},
    )
    return cast(int, one_row(cursor)[0])


def write_assignments(
    conn: psycopg.Connection,
    assignments: list[Assignment],
    strategy: str,
    as_of: datetime,
) -> int:
    """Set owners, append lead_assignments and lead_audit_log rows in one statement.

    A lead that gained an owner meanwhile is left alone (`user_id is null` in the UPDATE).
    Returns the number of leads assigned.
    """
    if not assignments:
        return 0
    cur = conn.execute(
        """
        with plan as (
            select *
            from unnest(%(leads)s::uuid[], %(users)s::uuid[], %(reasons)s::text[])
                as p (lead_id, user_id, reason)
        ),
        updated as (
            update leads l
            set user_id = p.user_id
            from plan p
            where l.id = p.lead_id and l.user_id is null and l.deleted_at is null
            returning l.id, p.user_id, p.reason
        ),
        history as (
            insert into lead_assignments
                (lead_id, from_user_id, to_user_id, strategy, reason, assigned_at)
            select id, null, user_id, %(strategy)s, reason, %(as_of)s
            from updated
        )
        insert into lead_audit_log
            (lead_id, field_name, old_value, new_value, change_source, changed_at)
        select id, 'user_id', null, user_id::text, 'assignment', %(as_of)s
        from updated
        """,
        {
            "leads": [a.lead_id for a in assignments],
            "users": [a.user_id for a in assignments],
            "reasons": [a.reason for a in assignments],
            "strategy": strategy,
            "as_of": as_of,
        },
    )
    return cur.rowcount


def save_state(conn: psycopg.Connection, organization_id: str, state: AssignmentState) -> None:
    conn.execute(
        """
        insert into system_config (organization_id, config_key, config_value, description)
        values (%s, %s, %s, 'Where lead distribution continues (written by lead_assignments).')
        on conflict (organization_id, config_key) where organization_id is not null
        do update set config_value = excluded.config_value
        """,
        (organization_id, CURSOR_KEY, Jsonb(state.to_json())),
    )


def lock_organization(conn: psycopg.Connection, organization_id: str) -> None:
    """Serialize distribution runs of one organization (the cursor is read-modify-write)."""
    conn.execute(
        "select pg_advisory_xact_lock(hashtextextended('lead_assignments:' || %s, 0))",
        (organization_id,),
    )


def distribute_organization(
    conn: psycopg.Connection,
    organization_id: str,
    config: OrgAssignmentConfig,
    as_of: datetime,
) -> OrgDistribution:
    """Distribute the organization's waiting leads; run inside the caller's transaction."""
    lock_organization(conn, organization_id)
    # the cursor is read under the lock: a concurrent run may just have moved it
    state = AssignmentState.from_json(config_value(conn, organization_id, CURSOR_KEY))
    # the waiting leads come from the partial index idx_leads_waiting_for_owner (migration
    # 018): the step reads what waits, not the organization; the agents' open loads (a count
    # over every lead they own) are read only when something waits
    leads = waiting_leads(conn, organization_id)
    agents = active_agents(conn, organization_id, config) if leads else []
    assignments, new_state = plan(leads, agents, config.strategy, state)
    assigned = write_assignments(conn, assignments, config.strategy, as_of)
    if new_state != state:
        save_state(conn, organization_id, new_state)
    return OrgDistribution(
        organization_id=organization_id,
        strategy=config.strategy,
        waiting=len(leads),
        assigned=assigned,
        skipped_dnc_list=count_dnc_listed_waiting(conn, organization_id),
        per_agent=dict(sorted(Counter(a.user_id for a in assignments).items())),
        agents=len(agents) if leads else count_active_agents(conn, organization_id),
    )


def reassign_lead(
    conn: psycopg.Connection,
    lead_id: object,
    to_user: object,
    reason: str | None = None,
    *,
    assigned_by: object | None = None,
) -> Reassignment:
    """Manually give a lead to a user (strategy 'manual'); runs in the caller's transaction.

    Refuses (ReassignError) an unknown or deleted lead, an unknown or inactive user, a user of
    another organization and a Do-Not-Call lead (status 'dnc' or phone on the DNC list). Any
    active user of the organization may take a lead by hand, managers included. Giving a lead
    to its current owner changes nothing and writes nothing.
    """
    lead_id = _uuid(lead_id, "lead")
    to_user = _uuid(to_user, "user")
    acting = _uuid(assigned_by, "acting user") if assigned_by is not None else None
    lead = conn.execute(
        """
        select l.organization_id::text, l.user_id::text, l.status, l.deleted_at,
               trim(l.first_name || ' ' || l.last_name),
               exists (
                   select 1 from dnc_list d
                   where d.organization_id = l.organization_id
                     and d.phone_number = l.phone_number
               ),
               u.email
        from leads l
        left join users u on u.id = l.user_id
        where l.id = %s
        for update of l
        """,
        (lead_id,),
    ).fetchone()
    if lead is None:
        raise ReassignError(f"lead {lead_id} does not exist")
    org, owner, status, deleted_at, name, on_dnc_list, owner_email = lead
    if deleted_at is not None:
        raise ReassignError(f"lead {lead_id} was deleted on {deleted_at:%Y-%m-%d}")
    user = conn.execute(
        "select organization_id::text, is_active, email from users where id = %s", (to_user,)
    ).fetchone()
    if user is None:
        raise ReassignError(f"user {to_user} does not exist")
    user_org, active, email = user
    if user_org != org:
        raise ReassignError(
            f"user {to_user} belongs to organization {user_org}, lead {lead_id} to {org}"
        )
    if not active:
        raise ReassignError(f"user {to_user} ({email}) is inactive")
    if status == "dnc" or on_dnc_list:
        why = "has status dnc" if status == "dnc" else "has a phone on the DNC list"
        raise ReassignError(f"lead {lead_id} {why}: Do-Not-Call leads are never assigned")
    if acting is not None:
        row = conn.execute("select organization_id::text from users where id = %s", (acting,))
        acting_org = row.fetchone()
        if acting_org is None or acting_org[0] != org:
            raise ReassignError(f"acting user {acting} is not a user of organization {org}")
    result = Reassignment(
        lead_id=lead_id,
        organization_id=org,
        from_user_id=owner,
        to_user_id=to_user,
        reason=reason,
        changed=owner != to_user,
        lead_name=name,
        from_email=owner_email,
        to_email=email,
    )
    if not result.changed:
        return result
    conn.execute(
        """
        with updated as (
            update leads set user_id = %(to)s where id = %(lead)s returning id
        ),
        history as (
            insert into lead_assignments
                (lead_id, from_user_id, to_user_id, strategy, reason, assigned_by)
            select id, %(from)s, %(to)s, 'manual', %(reason)s, %(by)s from updated
        )
        insert into lead_audit_log
            (lead_id, field_name, old_value, new_value, changed_by, change_source)
        select id, 'user_id', %(from)s::uuid::text, %(to)s::uuid::text, %(by)s, 'assignment'
        from updated
        """,
        {
            "lead": uuid.UUID(lead_id),
            "from": uuid.UUID(owner) if owner else None,
            "to": uuid.UUID(to_user),
            "reason": reason,
            "by": uuid.UUID(acting) if acting else None,
        },
    )
    return result
