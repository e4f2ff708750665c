"""SQL side of lead scoring: configuration, the leads to score, one feature query per
organization, batch writes, and the organization's watermark.

The rules live in `scoring.py`; this module only reads what they need and writes what they
produce. Callers own the transactions (one per organization): `score_organization` writes the
scores, `lead_score_due` and the watermark `scores:<organization>` in that one transaction, so a
failed organization keeps its watermark and is redone whole by the next run.

Which leads are scored (the rule `lead_scores` states in its description):

* full pass: every live lead of the organization. Done on the organization's first run, when
  the run asks for it (`leadflow run --full-refresh`), when its last full pass is
  LEADFLOW_NIGHTLY_FULL_EVERY_DAYS old, when its score configuration (weights, half-life)
  differs from the one the watermark recorded, and when as_of is before the last run's.
* incremental pass, from the last run's as-of time P (watermark position) and database time C
  (`state.changes_since`: the change floor of the last run's transaction, `watermarks.
  change_floor`: its start, or the start of the oldest other transaction then in flight in the
  database if earlier; exact under late commits) to this run's as_of T: the live leads that
  1. changed since C (`leads.updated_at`: any column scoring reads, a new lead, a restored one,
     a lead_score edited by hand; the scores this step wrote carry its own start, at or after
     C, and are read again only when another transaction was in flight then);
  2. have an activity loaded or re-matched to them since C
     (`coalesce(matched_at, loaded_at)`, late-arriving activities included);
  3. have an activity entering the scoring window by time passing (occurred_at in (P, T]) or
     leaving it (occurred_at in (P - horizon, T - horizon], horizon = 10 half-lives);
  4. have `lead_score_due.rescore_at <= T`: time alone moved their total (`next_total_change`).
  Every other lead's total at T equals its total at P, which is its lead_score: nothing it reads
  changed, no activity entered or left its window, and decay does not move its total before
  rescore_at. So the incremental pass writes exactly what the full pass would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import psycopg

from leadflow import watermarks
from leadflow.crm.scoring import (
    Activity,
    LeadFeatures,
    ScoreFactors,
    ScoreWeights,
    activity_window,
    half_life_from_config,
    round_half_up,
    score_with_next_change,
)
from leadflow.postgres import config_value, one_row

#: rows fetched per round trip by the server-side feature cursor
FETCH_SIZE = 5000
#: the watermark of one organization's scores
WATERMARK_PREFIX = "scores:"


@dataclass(frozen=True)
class OrgScoringConfig:
    weights: ScoreWeights
    half_life_days: float

    def as_state(self) -> dict[str, Any]:
        """What the watermark records: a different value next time means a full pass."""
        return {"weights": self.weights.as_dict(), "half_life_days": self.half_life_days}


@dataclass(frozen=True)
class ScoredLead:
    lead_id: str
    previous_score: int
    factors: ScoreFactors


@dataclass(frozen=True)
class OrgScoring:
    """What one organization's run did."""

    organization_id: str
    scored: int
    changed: int
    average: int  # rounded mean total over the scored leads (0 when none)
    mode: str = "full"  # or "incremental"
    reason: str | None = None  # why the pass was full
    considered: int = 0  # leads the incremental pass selected (live or not)


def load_scoring_config(conn: psycopg.Connection, organization_id: str) -> OrgScoringConfig:
    """Raises ValueError naming the organization when its configuration is unusable."""
    try:
        return OrgScoringConfig(
            weights=ScoreWeights.from_config(config_value(conn, organization_id, "score_weights")),
            half_life_days=half_life_from_config(
                config_value(conn, organization_id, "score_half_life_days")
            ),
        )
    except ValueError as exc:
        raise ValueError(f"organization {organization_id}: {exc}") from exc


def has_activities(conn: psycopg.Connection) -> bool:
    """Whether `lead_activities` exists (it arrives with its own migration)."""
    exists = one_row(conn.execute("select to_regclass('lead_activities') is not null"))[0]
    return cast(bool, exists)


# Leads and activities are read by two plain single-table scans, both in lead id order, and
# merged here. No join is left to the planner: right after a big import its statistics are
# stale, and a misestimated join (nested loop over a "tiny" activities table) goes quadratic.
_LEADS = """
select l.id::text, l.status, l.first_name, l.last_name, l.email, l.phone_type, l.source, l.tags,
       l.lead_score
from leads l
where l.organization_id = %(org)s and l.deleted_at is null {only}
order by l.id
"""

_ACTIVITIES = """
select a.lead_id::text, a.activity_type, a.direction, a.outcome, a.occurred_at
from lead_activities a
where a.organization_id = %(org)s {only}
  and a.lead_id is not null
  and a.occurred_at > %(start)s
  and a.occurred_at <= %(end)s
order by a.lead_id, a.occurred_at, a.id
"""

# Rules 1-4 of the module docstring, one indexed range scan each.
_CANDIDATES = """
select id from leads
where organization_id = %(org)s and updated_at > %(since)s
union
select lead_id from lead_activities
where organization_id = %(org)s and coalesce(matched_at, loaded_at) > %(since)s
  and lead_id is not null
union
select lead_id from lead_activities
where organization_id = %(org)s and occurred_at > %(previous_end)s and occurred_at <= %(end)s
  and lead_id is not null
union
select lead_id from lead_activities
where organization_id = %(org)s and occurred_at > %(previous_start)s
  and occurred_at <= %(start)s and lead_id is not null
union
select lead_id from lead_score_due
where organization_id = %(org)s and rescore_at <= %(as_of)s
"""


def _server_rows(conn: psycopg.Connection, name: str, query: str, params: dict) -> Iterator:
    with conn.cursor(name=name) as cur:
        cur.itersize = FETCH_SIZE
        cur.execute(query, params)
        yield from cur


def iter_features(
    conn: psycopg.Connection,
    organization_id: str,
    as_of: datetime,
    half_life_days: float,
    *,
    with_activities: bool = True,
    only: list[str] | None = None,
) -> Iterator[tuple[LeadFeatures, int]]:
    """(features, current lead_score) of every live lead of the organization, by lead id; with
    `only`, of those among these lead ids.

    Two server-side cursors (leads; the activities of the scoring window) on the same
    transaction, merged on lead id (uuid order, which is also the order of the canonical text),
    so neither result set is ever held whole.
    """
    start, end = activity_window(as_of, half_life_days)
    params = {"org": organization_id, "start": start, "end": end, "only": only}
    restrict = {"leads": "", "activities": ""}
    if only is not None:
        restrict = {
            "leads": "and l.id = any(%(only)s::uuid[])",
            "activities": "and a.lead_id = any(%(only)s::uuid[])",
        }
    activities = (
        _server_rows(
            conn,
            "lead_score_activities",
            _ACTIVITIES.format(only=restrict["activities"]),
            params,
        )
        if with_activities
        else iter(())
    )
    pending = next(activities, None)
    leads_query = _LEADS.format(only=restrict["leads"])
    for row in _server_rows(conn, "lead_score_leads", leads_query, params):
        lead_id, status, first, last, email, phone_type, source, tags, score = row
        while pending is not None and pending[0] < lead_id:  # activities of deleted leads
            pending = next(activities, None)
        collected = []
        while pending is not None and pending[0] == lead_id:
            _, kind, direction, outcome, occurred_at = pending
            collected.append(Activity(kind, occurred_at, direction, outcome))
            pending = next(activities, None)
        features = LeadFeatures(
            lead_id=lead_id,
            status=status,
            first_name=first or "",
            last_name=last or "",
            email=email,
            phone_type=phone_type,
            source=source,
            tags=tuple(tags or ()),
            activities=tuple(collected),
        )
        yield features, score
    if hasattr(activities, "close"):
        activities.close()


def write_scores(conn: psycopg.Connection, scored: list[ScoredLead], as_of: datetime) -> int:
    """Store changed totals: leads.lead_score, a lead_score_history row and an audit row.

    Only leads whose total differs from their current lead_score are touched, so re-running at
    the same as-of time writes nothing. The UPDATE also requires lead_score to still be the
    value the total was compared with (optimistic concurrency): a lead changed meanwhile by a
    concurrent run is left alone and gets no duplicate history row. The audit row (field
    lead_score, change_source 'scoring') follows the seed's convention of auditing every score
    change. Returns the number of leads changed.
    """
    changed = [s for s in scored if s.factors.total != s.previous_score]
    if not changed:
        return 0
    conn.execute(
        """
        create temp table if not exists lead_score_batch (
            lead_id uuid primary key,
            previous_score integer not null,
            score integer not null,
            factors jsonb not null
        ) on commit drop
        """
    )
    conn.execute("truncate lead_score_batch")
    with conn.cursor() as cur:
        copy_sql = "copy lead_score_batch (lead_id, previous_score, score, factors) from stdin"
        with cur.copy(copy_sql) as copy:
            for lead in changed:
                copy.write_row(
                    (
                        lead.lead_id,
                        lead.previous_score,
                        lead.factors.total,
                        json.dumps(lead.factors.as_json()),
                    )
                )
        cur.execute("analyze lead_score_batch")  # temp tables get no autovacuum statistics
        cur.execute(
            """
            with changed as (
                update leads l
                set lead_score = s.score
                from lead_score_batch s
                where l.id = s.lead_id
                  and l.deleted_at is null
                  and l.lead_score = s.previous_score
                returning l.id, s.previous_score, s.score, s.factors
            ),
            history as (
                insert into lead_score_history (lead_id, score, factors, calculated_at)
                select id, score, factors, %(as_of)s
                from changed
            )
            insert into lead_audit_log
                (lead_id, field_name, old_value, new_value, change_source, changed_at)
            select id, 'lead_score', previous_score::text, score::text, 'scoring', %(as_of)s
            from changed
            """,
            {"as_of": as_of},
        )
        return cur.rowcount


def _full_reason(
    mark: watermarks.Watermark | None,
    config: OrgScoringConfig,
    as_of: datetime,
    requested: bool,
    with_activities: bool,
) -> str | None:
    """Why this organization needs its full pass now, or None (incremental)."""
    reason = watermarks.full_due(mark, as_of, watermarks.full_every(), requested=requested)
    if reason is not None or mark is None or mark.position is None:
        return reason
    if not with_activities:
        return "no lead_activities table"
    if "changes_since" not in mark.state or mark.state.get("config") != config.as_state():
        return "score configuration changed"
    if as_of < mark.position:
        return f"as_of before the last run's ({mark.position.isoformat()})"
    return None


def _select_candidates(
    conn: psycopg.Connection,
    organization_id: str,
    config: OrgScoringConfig,
    as_of: datetime,
    mark: watermarks.Watermark,
) -> list[str]:
    """The ids of the leads rules 1-4 select (live or not)."""
    assert mark.position is not None
    start, end = activity_window(as_of, config.half_life_days)
    previous_start, previous_end = activity_window(mark.position, config.half_life_days)
    cursor = conn.execute(
        _CANDIDATES,
        {
            "org": organization_id,
            "since": datetime.fromisoformat(mark.state["changes_since"]),
            "as_of": as_of,
            "start": start,
            "end": end,
            "previous_start": previous_start,
            "previous_end": previous_end,
        },
    )
    return [str(lead) for (lead,) in cursor]


def _write_due(
    conn: psycopg.Connection,
    organization_id: str,
    due: list[tuple[str, datetime]],
    candidates: list[str] | None,
) -> None:
    """Replace the organization's lead_score_due rows (full pass: candidates None) or those of
    the candidates."""
    if candidates is None:
        conn.execute("delete from lead_score_due where organization_id = %s", (organization_id,))
    elif candidates:
        conn.execute(
            "delete from lead_score_due where organization_id = %s and lead_id = any(%s::uuid[])",
            (organization_id, candidates),
        )
    if not due:
        return
    # COPY straight into lead_score_due is refused under its forced row-level security (a
    # non-superuser owner, e.g. on a managed server): COPY into a temporary table, then insert
    conn.execute(
        "create temp table if not exists lead_score_due_batch"
        " (lead_id uuid, rescore_at timestamptz) on commit delete rows"
    )
    with conn.cursor() as cur:
        copy_sql = "copy lead_score_due_batch (lead_id, rescore_at) from stdin"
        with cur.copy(copy_sql) as copy:
            for lead_id, rescore_at in due:
                copy.write_row((lead_id, rescore_at))
    conn.execute(
        "insert into lead_score_due (lead_id, organization_id, rescore_at)"
        " select lead_id, %s, rescore_at from lead_score_due_batch",
        (organization_id,),
    )
    conn.execute("delete from lead_score_due_batch")


def score_organization(
    conn: psycopg.Connection,
    organization_id: str,
    config: OrgScoringConfig,
    as_of: datetime,
    *,
    with_activities: bool = True,
    full_requested: bool = False,
) -> OrgScoring:
    """Score the organization's leads that need it (module docstring), store the changed
    totals, when time alone will next move each total, and the watermark.

    Runs in the caller's transaction (serialized per organization by an advisory lock). Only
    changed leads are kept in memory.
    """
    conn.execute(
        "select pg_advisory_xact_lock(hashtextextended('lead_scores:' || %s, 0))",
        (organization_id,),
    )
    name = WATERMARK_PREFIX + organization_id
    mark = watermarks.read(conn, name, lock=True)
    changes_since = watermarks.changes_since(conn)
    reason = _full_reason(mark, config, as_of, full_requested, with_activities)
    candidates = None
    if reason is None:
        assert mark is not None
        candidates = _select_candidates(conn, organization_id, config, as_of, mark)
    changed_leads: list[ScoredLead] = []
    due: list[tuple[str, datetime]] = []
    scored = score_sum = 0
    features_iter = iter_features(
        conn,
        organization_id,
        as_of,
        config.half_life_days,
        with_activities=with_activities,
        only=candidates,
    )
    if candidates == []:
        features_iter = iter(())
    for features, previous in features_iter:
        factors, rescore_at = score_with_next_change(
            features, config.weights, as_of, half_life_days=config.half_life_days
        )
        scored += 1
        score_sum += factors.total
        if factors.total != previous:
            changed_leads.append(ScoredLead(features.lead_id, previous, factors))
        if rescore_at is not None:
            due.append((features.lead_id, rescore_at))
    changed = write_scores(conn, changed_leads, as_of)
    _write_due(conn, organization_id, due, candidates)
    watermarks.write(
        conn,
        name,
        as_of,
        full=reason is not None,
        state={
            "changes_since": changes_since.isoformat(),
            "config": config.as_state(),
        },
    )
    average = round_half_up(score_sum / scored) if scored else 0
    return OrgScoring(
        organization_id,
        scored,
        changed,
        average,
        mode="full" if reason is not None else "incremental",
        reason=reason,
        considered=scored if candidates is None else len(candidates),
    )
