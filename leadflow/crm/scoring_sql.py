"""SQL side of lead scoring: configuration, one feature query per organization, batch writes.

The rules live in `scoring.py`; this module only reads what they need and writes what they
produce. Callers own the transactions (one per organization).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import psycopg

from leadflow.crm.scoring import (
    Activity,
    LeadFeatures,
    ScoreFactors,
    ScoreWeights,
    activity_window,
    half_life_from_config,
    round_half_up,
    score_lead,
)
from leadflow.postgres import config_value, one_row

#: rows fetched per round trip by the server-side feature cursor
FETCH_SIZE = 5000


@dataclass(frozen=True)
class OrgScoringConfig:
    weights: ScoreWeights
    half_life_days: float


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
where l.organization_id = %(org)s and l.deleted_at is null
order by l.id
"""

_ACTIVITIES = """
select a.lead_id::text, a.activity_type, a.direction, a.outcome, a.occurred_at
from lead_activities a
where a.organization_id = %(org)s
  and a.lead_id is not null
  and a.occurred_at > %(start)s
  and a.occurred_at <= %(end)s
order by a.lead_id, a.occurred_at, a.id
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
) -> Iterator[tuple[LeadFeatures, int]]:
    """(features, current lead_score) of every live lead of the organization, by lead id.

    Two server-side cursors (leads; the activities of the scoring window) on the same
    transaction, merged on lead id (uuid order, which is also the order of the canonical text),
    so neither result set is ever held whole.
    """
    start, end = activity_window(as_of, half_life_days)
    params = {"org": organization_id, "start": start, "end": end}
    activities = (
        _server_rows(conn, "lead_score_activities", _ACTIVITIES, params)
        if with_activities
        else iter(())
    )
    pending = next(activities, None)
    for row in _server_rows(conn, "lead_score_leads", _LEADS, params):
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


def score_organization(
    conn: psycopg.Connection,
    organization_id: str,
    config: OrgScoringConfig,
    as_of: datetime,
    *,
    with_activities: bool = True,
) -> OrgScoring:
    """Score every live lead of the organization and store the changed totals.

    Runs in the caller's transaction. Only changed leads are kept in memory.
    """
    changed_leads: list[ScoredLead] = []
    scored = score_sum = 0
    for features, previous in iter_features(
        conn, organization_id, as_of, config.half_life_days, with_activities=with_activities
    ):
        factors = score_lead(features, config.weights, as_of, half_life_days=config.half_life_days)
        scored += 1
        score_sum += factors.total
        if factors.total != previous:
            changed_leads.append(ScoredLead(features.lead_id, previous, factors))
    changed = write_scores(conn, changed_leads, as_of)
    average = round_half_up(score_sum / scored) if scored else 0
    return OrgScoring(organization_id, scored, changed, average)
