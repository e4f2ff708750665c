"""Nurture enrollments in PostgreSQL: exits, automatic enrollment and the outbound touch queue.

`run_organization` does one organization in one transaction, under an advisory lock (two runs
for the same organization queue one after the other; different organizations run in parallel):

1. enrollments (active or paused) of leads that are DNC (status `dnc`, or the phone is on the
   organization's list: `is_on_dnc_list`) are `cancelled`; of leads `recruited` or deleted,
   `exited`. Queued touches of those leads, and of any enrollment cancelled or exited (also
   by hand), are cancelled.
2. every active sequence with an `entry_filter` enrolls the organization's live, contactable
   leads matching it that were never enrolled in it (whatever the earlier enrollment's
   outcome: re-enrolling is a manual decision), at `as_of`, step 1 due after its delay.
3. every active enrollment whose next step is due by `as_of` queues its due touches and moves on
   (`core.nurture.advance`). The statement that queues touches checks again that the lead is
   live, not recruited, not `dnc` and not on the DNC list; an enrollment that fails the check is
   left alone (held back) and is cancelled or exited by step 1 of the next run.

Incremental per organization (watermark `nurture:<organization>`, written in its transaction):
steps 1 and 2 look only at the leads that changed since the last run (`changes`): a lead row
changed (`leads.updated_at`: status, deletion, anything an entry filter reads, new leads), its
phone added to the DNC list (`dnc_list.added_at`), or one of its enrollments changed
(`lead_sequence_enrollments.updated_at`: paused, resumed or ended by hand); a sequence that
changed (`nurture_sequences.updated_at`: activated, new filter or steps) enrolls from all the
organization's leads. Whether an enrollment ends, a touch is cancelled or a lead is enrolled
depends only on those rows, so every other lead's outcome is what the last run left. Step 3 is
already proportional: the enrollments due by as_of, by index. The full pass (every lead) runs on
the first run, on --full-refresh, weekly (LEADFLOW_NIGHTLY_FULL_EVERY_DAYS) and when as_of is
before the last run's; it is also what re-enrolls a lead whose enrollment was deleted by hand
or whose phone left the DNC list (deletions leave no time to find them by).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from leadflow import watermarks
from leadflow.crm.nurture import (
    NurtureStep,
    NurtureStepsError,
    advance,
    first_due,
    parse_steps,
)
from leadflow.crm.segments import CompiledFilter, SegmentFilterError, compile_filter
from leadflow.postgres import one_row

LOCK_PREFIX = "leadflow:nurture_enrollments:"
CHUNK = 5000  # enrollments per touch-queueing statement

# The lead must not be contacted: DNC by status or by the organization's list.
_DNC = "(l.status = 'dnc' or is_on_dnc_list(l.phone_number, l.organization_id))"
# The lead left the funnel: nothing more to nurture.
_GONE = "(l.status = 'recruited' or l.deleted_at is not null)"
# The lead may receive a touch (the negation of both).
_CONTACTABLE = (
    "l.deleted_at is null and l.status not in ('dnc', 'recruited')"
    " and not is_on_dnc_list(l.phone_number, l.organization_id)"
)

#: what NurtureResult counts, in the order the metadata lists them
COUNT_KEYS = (
    "cancelled",
    "exited",
    "touches_cancelled",
    "enrolled",
    "touches_queued",
    "completed",
    "held_back",
)


@dataclass
class NurtureResult:
    """What one organization's run changed; `problems` lists sequences that were skipped."""

    organization_id: uuid.UUID
    cancelled: int = 0
    exited: int = 0
    touches_cancelled: int = 0
    enrolled: int = 0
    touches_queued: int = 0
    completed: int = 0
    held_back: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)
    mode: str = "full"
    reason: str | None = None  # why the pass was full
    leads_considered: int | None = None  # incremental: the changed leads looked at

    def counts(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in COUNT_KEYS}


@dataclass(frozen=True)
class _Sequence:
    id: uuid.UUID
    active: bool
    steps: tuple[NurtureStep, ...] | None  # None: invalid steps (reported)
    entry: CompiledFilter | None  # None: no automatic enrollment (or an invalid filter)
    changed: bool = True  # changed since the last run (or a full pass): enrolls from every lead


def nurture_organizations(conn: psycopg.Connection) -> list[uuid.UUID]:
    """Organizations that have at least one sequence, in a stable order."""
    rows = conn.execute("select distinct organization_id from nurture_sequences order by 1")
    return [org for (org,) in rows]


WATERMARK_PREFIX = "nurture:"

# The leads whose nurture outcome may have changed since `since` (module docstring).
_CHANGED_LEADS = """
select id from leads where organization_id = %(org)s and updated_at > %(since)s
union
select l.id from dnc_list d
join leads l on l.phone_number = d.phone_number and l.organization_id = d.organization_id
where d.organization_id = %(org)s and d.added_at > %(since)s
union
select e.lead_id from lead_sequence_enrollments e
join nurture_sequences s on s.id = e.sequence_id
where e.updated_at > %(since)s and s.organization_id = %(org)s
"""


def run_organization(
    conn: psycopg.Connection,
    organization_id: uuid.UUID,
    as_of: datetime,
    *,
    full_requested: bool = False,
) -> NurtureResult:
    """Exits, enrollments and due touches of one organization, in one transaction."""
    result = NurtureResult(organization_id)
    with conn.transaction():
        conn.execute(
            "select pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (LOCK_PREFIX + str(organization_id),),
        )
        name = WATERMARK_PREFIX + str(organization_id)
        mark = watermarks.read(conn, name, lock=True)
        since_now = watermarks.changes_since(conn)
        reason = watermarks.full_due(mark, as_of, watermarks.full_every(), requested=full_requested)
        since: datetime | None = None
        if reason is None and mark is not None and mark.position is not None:
            if as_of < mark.position:
                reason = f"as_of before the last run's ({mark.position.isoformat()})"
            elif "changes_since" not in mark.state:
                reason = "no change position recorded"
            else:
                since = datetime.fromisoformat(mark.state["changes_since"])
        only: list[uuid.UUID] | None = None
        if reason is None:
            only = [
                lead
                for (lead,) in conn.execute(
                    _CHANGED_LEADS, {"org": organization_id, "since": since}
                )
            ]
            result.leads_considered = len(only)
        result.mode, result.reason = ("full", reason) if reason else ("incremental", None)
        _exit_and_cancel(conn, result, only)
        sequences = _load_sequences(conn, result, since)
        for sequence in sequences.values():
            if sequence.active and sequence.steps and sequence.entry:
                result.enrolled += _enroll(
                    conn, organization_id, sequence, as_of, None if sequence.changed else only
                )
        _queue_due_touches(conn, organization_id, sequences, as_of, result)
        watermarks.write(
            conn,
            name,
            as_of,
            full=reason is not None,
            state={"changes_since": since_now.isoformat()},
        )
    return result


def _only(only: list[uuid.UUID] | None, column: str) -> tuple[sql.Composable, list[Any]]:
    """The restriction to the changed leads (none in a full pass) and its parameter."""
    if only is None:
        return sql.SQL(""), []
    return sql.SQL(" and {} = any(%s::uuid[])").format(sql.SQL(column)), [only]


def _exit_and_cancel(
    conn: psycopg.Connection, result: NurtureResult, only: list[uuid.UUID] | None
) -> None:
    org = result.organization_id
    if only == []:
        return
    result.cancelled = _end_enrollments(conn, org, "cancelled", _DNC, only)
    result.exited = _end_enrollments(conn, org, "exited", _GONE, only)
    restrict, params = _only(only, "t.lead_id")
    result.touches_cancelled = conn.execute(
        sql.SQL(
            "update nurture_touches t set status = 'cancelled'"
            " from lead_sequence_enrollments e, leads l"
            " where t.organization_id = %s and t.status = 'queued'"
            " and e.id = t.enrollment_id and l.id = t.lead_id"
            " and (e.status in ('cancelled', 'exited') or {} or {}){}"
        ).format(sql.SQL(_DNC), sql.SQL(_GONE), restrict),
        (org, *params),
    ).rowcount


def _end_enrollments(
    conn: psycopg.Connection,
    organization_id: uuid.UUID,
    status: str,
    condition: str,
    only: list[uuid.UUID] | None,
) -> int:
    """Set `status` on the live (active or paused) enrollments of leads meeting `condition`
    (among `only`, when given)."""
    restrict, params = _only(only, "l.id")
    return conn.execute(
        sql.SQL(
            "update lead_sequence_enrollments e"
            " set status = %s, next_step_scheduled_at = null"
            " from leads l"
            " where l.id = e.lead_id and l.organization_id = %s"
            " and e.status in ('active', 'paused') and {}{}"
        ).format(sql.SQL(condition), restrict),
        (status, organization_id, *params),
    ).rowcount


def _load_sequences(
    conn: psycopg.Connection, result: NurtureResult, since: datetime | None = None
) -> dict[uuid.UUID, _Sequence]:
    """The organization's sequences; `changed` when updated after `since` (always without)."""
    sequences: dict[uuid.UUID, _Sequence] = {}
    rows = conn.execute(
        "select id, name, active, steps, entry_filter,"
        " %s::timestamptz is null or updated_at > %s::timestamptz"
        " from nurture_sequences where organization_id = %s order by name, id",
        (since, since, result.organization_id),
    )
    for sequence_id, name, active, raw_steps, raw_filter, changed in rows.fetchall():
        steps = entry = None
        try:
            steps = parse_steps(raw_steps)
            if raw_filter is not None and active:
                entry = compile_filter(raw_filter)
        except (NurtureStepsError, SegmentFilterError) as exc:
            result.problems.append(
                {"sequence_id": str(sequence_id), "name": name, "error": str(exc)}
            )
        sequences[sequence_id] = _Sequence(sequence_id, active, steps, entry, changed)
    return sequences


def _enroll(
    conn: psycopg.Connection,
    organization_id: uuid.UUID,
    sequence: _Sequence,
    as_of: datetime,
    only: list[uuid.UUID] | None,
) -> int:
    """Enroll the organization's matching leads never enrolled in the sequence (among `only`,
    when given)."""
    assert sequence.steps and sequence.entry
    if only == []:
        return 0
    restrict, extra = _only(only, "l.id")
    query = sql.SQL(
        "insert into lead_sequence_enrollments"
        " (lead_id, sequence_id, current_step, status, enrolled_at, next_step_scheduled_at)"
        " select l.id, %s, 0, 'active', %s, %s"
        " from leads l"
        " where l.organization_id = %s and {contactable}"
        " and not exists (select 1 from lead_sequence_enrollments e"
        " where e.lead_id = l.id and e.sequence_id = %s)"
        " and ({entry}){restrict}"
        " on conflict do nothing"
    ).format(contactable=sql.SQL(_CONTACTABLE), entry=sequence.entry.where, restrict=restrict)
    params = [
        sequence.id,
        as_of,
        first_due(sequence.steps, as_of),
        organization_id,
        sequence.id,
        *sequence.entry.params,
        *extra,
    ]
    return conn.execute(query, params).rowcount


# One statement per chunk: the DNC re-check, the touches and the enrollments' new state see the
# same snapshot, so a lead that fails the check gets neither a touch nor an advanced enrollment.
_QUEUE = sql.SQL(
    """
    with plan as (
        select *
        from unnest(%(ids)s::uuid[], %(current_steps)s::integer[], %(next_at)s::timestamptz[],
                    %(statuses)s::text[], %(completed_at)s::timestamptz[])
            as p (enrollment_id, current_step, next_at, status, completed_at)
    ),
    eligible as (
        select p.*, e.lead_id, e.sequence_id
        from plan p
        join lead_sequence_enrollments e on e.id = p.enrollment_id and e.status = 'active'
        join leads l on l.id = e.lead_id
        where l.organization_id = %(org)s and {contactable}
    ),
    queued as (
        insert into nurture_touches
            (enrollment_id, lead_id, sequence_id, organization_id, step, channel, template_id,
             due_at)
        select g.enrollment_id, g.lead_id, g.sequence_id, %(org)s, t.step, t.channel,
               t.template_id, t.due_at
        from unnest(%(touch_ids)s::uuid[], %(steps)s::integer[], %(channels)s::text[],
                    %(templates)s::text[], %(due_at)s::timestamptz[])
            as t (enrollment_id, step, channel, template_id, due_at)
        join eligible g on g.enrollment_id = t.enrollment_id
        on conflict (enrollment_id, step) do nothing
        returning 1
    ),
    advanced as (
        update lead_sequence_enrollments e
        set current_step = g.current_step,
            next_step_scheduled_at = g.next_at,
            status = g.status,
            completed_at = g.completed_at
        from eligible g
        where e.id = g.enrollment_id
        returning e.status
    )
    select (select count(*) from queued),
           (select count(*) from advanced),
           (select count(*) from advanced where status = 'completed')
    """
).format(contactable=sql.SQL(_CONTACTABLE))


def _queue_due_touches(
    conn: psycopg.Connection,
    organization_id: uuid.UUID,
    sequences: dict[uuid.UUID, _Sequence],
    as_of: datetime,
    result: NurtureResult,
) -> None:
    due = conn.execute(
        "select e.id, e.sequence_id, e.current_step, e.next_step_scheduled_at, e.enrolled_at"
        " from lead_sequence_enrollments e"
        " join nurture_sequences s on s.id = e.sequence_id"
        " where s.organization_id = %s and e.status = 'active'"
        " and (e.next_step_scheduled_at is null or e.next_step_scheduled_at <= %s)"
        " order by e.id",
        (organization_id, as_of),
    ).fetchall()
    plans: list[tuple[uuid.UUID, Any]] = []
    for enrollment_id, sequence_id, current_step, next_due, enrolled_at in due:
        steps = sequences[sequence_id].steps
        if steps is None:  # invalid steps, already reported: the enrollment waits for a fix
            result.held_back += 1
            continue
        plans.append((enrollment_id, advance(steps, current_step, next_due, enrolled_at, as_of)))
    for start in range(0, len(plans), CHUNK):
        chunk = plans[start : start + CHUNK]
        touches = [(eid, t) for eid, progress in chunk for t in progress.touches]
        cursor = conn.execute(
            _QUEUE,
            {
                "org": organization_id,
                "ids": [eid for eid, _ in chunk],
                "current_steps": [p.current_step for _, p in chunk],
                "next_at": [p.next_step_scheduled_at for _, p in chunk],
                "statuses": ["completed" if p.completed else "active" for _, p in chunk],
                "completed_at": [p.completed_at for _, p in chunk],
                "touch_ids": [eid for eid, _ in touches],
                "steps": [t.step for _, t in touches],
                "channels": [t.channel for _, t in touches],
                "templates": [t.template_id for _, t in touches],
                "due_at": [t.due_at for _, t in touches],
            },
        )
        queued, advanced, completed = one_row(cursor)
        result.touches_queued += queued
        result.completed += completed
        result.held_back += len(chunk) - advanced
