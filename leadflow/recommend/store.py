"""PostgreSQL side of recommendations: snapshots, the model store, the durable recommendations,
the invalidation watermark, and the reads that serve a cache miss."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from leadflow.leads.ids import canonical_uuid
from leadflow.postgres import copy_rows, one_row
from leadflow.recommend.features import (
    AGE_BOUNDARIES_DAYS,
    SNAPSHOT_SQL,
    Snapshot,
    bucket_ages,
    eligible,
)


def snapshot(
    conn: psycopg.Connection,
    organization_id: str,
    as_of: datetime,
    horizon_days: int,
    *,
    labelled: bool,
    lead_ids: Sequence[str] | None = None,
) -> Snapshot:
    """The organization's eligible leads as they stood at `as_of` (labelled: with whether
    they reached recruited within the horizon after it), their ages bucketed (age_bucket);
    `lead_ids`: only these leads."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            SNAPSHOT_SQL,
            {
                "org": organization_id,
                "as_of": as_of,
                "horizon": horizon_days,
                "labelled": labelled,
                "ids": list(lead_ids) if lead_ids is not None else None,
            },
        ).fetchall()
    return Snapshot(as_of, [bucket_ages(row) for row in rows if eligible(row)])


def organization_timezone(conn: psycopg.Connection, organization_id: str) -> str:
    """The organization's IANA time zone; a zone PostgreSQL does not know (stored before
    migration 011 checked it), or no organization, reads as UTC."""
    row = conn.execute(
        "select z.name from organizations o join pg_timezone_names z on z.name = o.timezone"
        " where o.id = %s",
        (organization_id,),
    ).fetchone()
    return str(row[0]) if row else "UTC"


def answered_hours(
    conn: psycopg.Connection,
    organization_id: str,
    as_of: datetime,
    timezone: str | None = None,
    *,
    lead_ids: Sequence[str] | None = None,
) -> tuple[dict[str, list[int]], int | None]:
    """Per lead, the local hours (organization timezone, or `timezone`) at which it answered or
    reached out; and the organization's most frequent such hour. `lead_ids`: only these leads
    (the most frequent hour is then theirs)."""
    zone = timezone or organization_timezone(conn, organization_id)
    rows = conn.execute(
        """
        select a.lead_id::text, extract(hour from a.occurred_at at time zone %(zone)s)::int
        from lead_activities a
        where a.organization_id = %(org)s and a.lead_id is not null and a.occurred_at <= %(as_of)s
          and (%(ids)s::uuid[] is null or a.lead_id = any(%(ids)s::uuid[]))
          and ((a.activity_type = 'call' and a.outcome = 'answered')
               or (a.activity_type in ('sms', 'email') and a.outcome = 'replied')
               or (a.activity_type = 'meeting' and a.outcome = 'completed')
               or a.direction = 'inbound')
        """,
        {
            "org": organization_id,
            "as_of": as_of,
            "zone": zone,
            "ids": list(lead_ids) if lead_ids is not None else None,
        },
    ).fetchall()
    by_lead: dict[str, list[int]] = {}
    counts: dict[int, int] = {}
    for lead_id, hour in rows:
        by_lead.setdefault(lead_id, []).append(hour)
        counts[hour] = counts.get(hour, 0) + 1
    org_hour = min(h for h, c in counts.items() if c == max(counts.values())) if counts else None
    return by_lead, org_hour


# -- the model store ------------------------------------------------------------------------------
def save_model(
    conn: psycopg.Connection,
    organization_id: str,
    *,
    as_of: datetime,
    horizon_days: int,
    algorithm: str,
    status: str,
    metrics: dict,
    baseline: dict,
    beats_baseline: bool,
    feature_names: list[str],
    parameters: dict | None,
) -> int:
    """Store a trained (or refused) model as the organization's next version; returns it.
    `parameters`: the served model's JSON (served.py), None when there is no model."""
    conn.execute(
        "select pg_advisory_xact_lock(hashtextextended('leadflow.model:' || %s, 0))",
        (organization_id,),
    )
    version: int = one_row(
        conn.execute(
            "select coalesce(max(version), 0) + 1 from lead_conversion_models"
            " where organization_id = %s",
            (organization_id,),
        )
    )[0]
    conn.execute(
        """
        insert into lead_conversion_models (organization_id, version, as_of, algorithm,
            horizon_days, feature_names, metrics, baseline, beats_baseline, status,
            model_parameters)
        values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (
            organization_id,
            version,
            as_of,
            algorithm,
            horizon_days,
            Jsonb(feature_names),
            Jsonb(metrics),
            Jsonb(baseline),
            beats_baseline,
            status,
            Jsonb(parameters) if parameters is not None else None,
        ),
    )
    return version


def latest_model(conn: psycopg.Connection, organization_id: str) -> dict[str, Any] | None:
    """The organization's newest model row, or None. Its `model_parameters` is the stored JSON
    as text, unparsed: served.load checks its size before decoding it."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """
            select version, status, beats_baseline, metrics, baseline,
                   model_parameters::text as model_parameters, trained_at, horizon_days,
                   feature_names, as_of, ranking_inputs
            from lead_conversion_models where organization_id = %s
            order by version desc limit 1
            """,
            (organization_id,),
        ).fetchone()


# -- recommendations ------------------------------------------------------------------------------
REC_COLUMNS = (
    "lead_id",
    "organization_id",
    "user_id",
    "model_version",
    "ranked_by",
    "propensity",
    "rule_score",
    "agent_rank",
    "action",
    "channel",
    "best_hour",
    "reasons",
    "computed_at",
)
# ids travel as text (the server parses them), reasons as JSON text
REC_TYPES = (
    "text",
    "text",
    "text",
    "int4",
    "text",
    "float8",
    "int4",
    "int4",
    "text",
    "text",
    "int2",
    "text",
    "timestamptz",
)


def replace_recommendations(
    conn: psycopg.Connection, organization_id: str, rows: Iterable[tuple]
) -> int:
    """The organization's recommendations, all replaced in the caller's transaction.

    COPY goes into a temp table first: PostgreSQL refuses COPY FROM into a table whose
    row-level security applies to the role (lead_recommendations is forced, migration 011, and
    a pipeline login that is not a superuser passes through its pipeline_access policy)."""
    conn.execute("delete from lead_recommendations where organization_id = %s", (organization_id,))
    return _insert(conn, rows)


def _insert(conn: psycopg.Connection, rows: Iterable[tuple]) -> int:
    """Insert lead_recommendations rows (REC_COLUMNS) through a temp table (see above)."""
    conn.execute(
        "create temp table if not exists stg_lead_recommendations"
        " (like lead_recommendations including defaults) on commit drop"
    )
    conn.execute("truncate stg_lead_recommendations")
    count = copy_rows(conn, "stg_lead_recommendations", REC_COLUMNS, REC_TYPES, rows)
    columns = ", ".join(REC_COLUMNS)
    conn.execute(
        f"insert into lead_recommendations ({columns})"  # noqa: S608 - constant column names
        f" select {columns} from stg_lead_recommendations"
    )
    return count


#: what a cache entry holds, read from PostgreSQL with the lead's CURRENT state: a lead that
#: became DNC or recruited or was deleted since is left out, and a lead is listed under its
#: current owner (a reassigned lead moves to its new agent's list at once), ranked among that
#: agent's leads by its stored propensity
_SERVED = """
select r.lead_id::text as lead_id, l.user_id::text as user_id, r.model_version, r.ranked_by,
       r.propensity, r.rule_score,
       row_number() over (partition by l.user_id order by r.propensity desc, r.rule_score desc,
                          r.lead_id)::int as agent_rank,
       r.action, r.channel, r.best_hour, r.reasons, r.computed_at, l.first_name, l.last_name,
       l.phone_number, l.status, o.timezone
from lead_recommendations r
join leads l on l.id = r.lead_id and l.organization_id = r.organization_id
join organizations o on o.id = r.organization_id
where r.organization_id = %(org)s and l.deleted_at is null
  and l.status not in ('dnc', 'recruited')
  and not exists (select 1 from dnc_list d where d.organization_id = l.organization_id
                  and d.phone_number = l.phone_number)
"""


#: of some leads of the organization, those that may be served now, with their current owner:
#: the cache's check on every hit (the primary key, and dnc_list's (organization_id,
#: phone_number) key: one indexed statement whatever wrote the change)
_STILL_SERVED = """
select l.id::text, l.user_id::text
from leads l
where l.organization_id = %(org)s and l.id = any(%(ids)s::uuid[]) and l.deleted_at is null
  and l.status not in ('dnc', 'recruited')
  and not exists (select 1 from dnc_list d where d.organization_id = l.organization_id
                  and d.phone_number = l.phone_number)
"""


def still_served(
    conn: psycopg.Connection, organization_id: str, lead_ids: Iterable[str]
) -> dict[str, str | None]:
    """{lead id: its agent} of the given leads that may be served now (not deleted, not
    recruited, not DNC by status or by the organization's DNC list); the others are absent,
    and so is any id that is not a UUID."""
    ids = [lead for lead in map(canonical_uuid, lead_ids) if lead]
    if not ids:
        return {}
    return dict(conn.execute(_STILL_SERVED, {"org": organization_id, "ids": ids}).fetchall())


def agent_entries(
    conn: psycopg.Connection, organization_id: str, user_id: str, limit: int
) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "select * from (" + _SERVED + " and l.user_id = %(user)s) ranked"
            " order by agent_rank limit %(limit)s",
            {"org": organization_id, "user": user_id, "limit": limit},
        ).fetchall()


def lead_entry(conn: psycopg.Connection, organization_id: str, lead_id: str) -> dict | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "select * from (" + _SERVED + " and l.user_id is not distinct from"
            " (select user_id from leads where id = %(lead)s::uuid)) ranked"
            " where lead_id = %(lead)s::text",
            {"org": organization_id, "lead": str(lead_id)},
        ).fetchone()


# -- invalidation watermark ----------------------------------------------------------------------
def changed_since(
    conn: psycopg.Connection, organization_id: str
) -> tuple[list[tuple[str, str | None]], datetime]:
    """(lead id, agent whose cached list holds it) of the leads changed since the
    organization's watermark (merge, status, score, owner, DNC list), and the new watermark."""
    now = one_row(conn.execute("select now()"))[0]
    row = conn.execute(
        "select invalidated_until from recommendation_cache_state where organization_id = %s",
        (organization_id,),
    ).fetchone()
    since = row[0] if row else None
    if since is None:
        return [], now
    changed = conn.execute(
        """
        select l.id::text, r.user_id::text, l.user_id::text
        from leads l left join lead_recommendations r on r.lead_id = l.id
        where l.organization_id = %(org)s and l.updated_at > %(since)s
        union
        select l.id::text, r.user_id::text, l.user_id::text
        from dnc_list d
        join leads l on l.organization_id = d.organization_id and l.phone_number = d.phone_number
        left join lead_recommendations r on r.lead_id = l.id
        where d.organization_id = %(org)s and d.added_at > %(since)s
        """,
        {"org": organization_id, "since": since},
    ).fetchall()
    found: list[tuple[str, str | None]] = []
    for lead_id, cached_agent, current_agent in changed:
        found.append((lead_id, cached_agent))
        if current_agent and current_agent != cached_agent:
            found.append((lead_id, current_agent))
    return found, now


def set_watermark(conn: psycopg.Connection, organization_id: str, until: datetime) -> None:
    conn.execute(
        """
        insert into recommendation_cache_state (organization_id, invalidated_until)
        values (%s, %s)
        on conflict (organization_id) do update
            set invalidated_until = greatest(recommendation_cache_state.invalidated_until,
                                             excluded.invalidated_until), updated_at = now()
        """,
        (organization_id, until),
    )


# -- the incremental ranking ----------------------------------------------------------------------
def save_ranking_inputs(
    conn: psycopg.Connection, organization_id: str, version: int, inputs: dict
) -> None:
    """Keep a version's ranking inputs (inputs.py) with it, once: the first ranking's stay."""
    conn.execute(
        "update lead_conversion_models set ranking_inputs = %s"
        " where organization_id = %s and version = %s and ranking_inputs is null",
        (Jsonb(inputs), organization_id, version),
    )


#: the leads of %(org)s whose entry may differ from the one stored at %(prev)s (the previous
#: ranking's as-of), now at %(as_of)s; %(since)s: the previous ranking's start less a margin
#: (rows written since). A superset is harmless (such a lead is ranked again, to the same
#: entry); a lead missed would be wrong, so every input of the snapshot has its branch:
#:   the lead row itself (status, score, owner, merge, soft delete: updated_at by trigger);
#:   leads created and activities occurred in (prev, as_of] (the snapshot's as-of cut);
#:   ages that crossed a boundary b (features.AGE_BOUNDARIES_DAYS): leads created in
#:     (prev - b, as_of - b], and the activities in that range that were the lead's last
#:     activity (not a note) or its last contact as of prev (an older one is no lead's age: a
#:     newer one after prev is in the branch above); every window one minute wider on both
#:     sides (window i: %(lo<i>)s, %(hi<i>)s, i = 0 the as-of window, i > 0 boundary i);
#:   activities attached since (loaded, or matched later: late arrivals);
#:   status and score history that entered the as-of window; nurture enrollments changed since
#:     or enrolled in the window; numbers added to the DNC list since;
#:     a score row is written with its lead's new score (scoring_sql.write_scores: the lead's
#:     updated_at), so one stamped at or before prev that the last ranking did not see is a
#:     lead changed since: its window starts at prev itself, and the scores an earlier step of
#:     the last run wrote at its as-of are not ranked again (the other windows start a minute
#:     early, for times other clocks stamped);
#:   eligible leads without a stored entry (a DNC entry removed, a deletion undone).
#: an activity that reached the lead (features.SNAPSHOT_SQL's last_contact)
_CONTACT = (
    "(({a}.activity_type = 'call' and {a}.outcome = 'answered')"
    " or ({a}.activity_type in ('sms', 'email')"
    " and ({a}.outcome = 'replied' or {a}.direction = 'inbound'))"
    " or ({a}.activity_type = 'meeting' and {a}.outcome = 'completed')"
    " or ({a}.activity_type = 'call' and {a}.direction = 'inbound'))"
)


def _windows(column: str, *, shifted: bool) -> str:
    """`column` in any of the boundary windows (lo_i, hi_i] (changed_leads binds them): ranges
    with bound values, so the planner scans the (organization_id, time) index once per window.
    `shifted`: window 0 is the as-of window itself (prev, as_of]."""
    first = 0 if shifted else 1
    return " or ".join(
        f"({column} > %(lo{i})s and {column} <= %(hi{i})s)"
        for i in range(first, len(AGE_BOUNDARIES_DAYS) + 1)
    )


CHANGED_SQL = f"""
select distinct lead_id::text from (
    select l.id as lead_id from leads l
    where l.organization_id = %(org)s and l.updated_at > %(since)s
    union all
    select l.id from leads l
    where l.organization_id = %(org)s and ({_windows("l.created_at", shifted=True)})
    union all
    select a.lead_id from lead_activities a
    where a.organization_id = %(org)s and a.lead_id is not null
      and a.occurred_at > %(prev)s - interval '1 minute' and a.occurred_at <= %(as_of)s
    union all
    select a.lead_id from lead_activities a
    where a.organization_id = %(org)s and a.lead_id is not null and a.activity_type <> 'note'
      and ({_windows("a.occurred_at", shifted=False)})
      and (not exists (select 1 from lead_activities n
                       where n.lead_id = a.lead_id and n.activity_type <> 'note'
                         and n.occurred_at > a.occurred_at and n.occurred_at <= %(prev)s)
           or ({_CONTACT.format(a="a")} and not exists (
                       select 1 from lead_activities n
                       where n.lead_id = a.lead_id and {_CONTACT.format(a="n")}
                         and n.occurred_at > a.occurred_at and n.occurred_at <= %(prev)s)))
    union all
    select a.lead_id from lead_activities a
    where a.organization_id = %(org)s and a.lead_id is not null
      and coalesce(a.matched_at, a.loaded_at) > %(since)s
    union all
    select h.lead_id from lead_status_history h join leads l on l.id = h.lead_id
    where l.organization_id = %(org)s
      and h.changed_at > %(prev)s - interval '1 minute' and h.changed_at <= %(as_of)s
    union all
    select s.lead_id from lead_score_history s join leads l on l.id = s.lead_id
    where l.organization_id = %(org)s
      and s.calculated_at > %(prev)s and s.calculated_at <= %(as_of)s
    union all
    select e.lead_id from lead_sequence_enrollments e join leads l on l.id = e.lead_id
    where l.organization_id = %(org)s and e.updated_at > %(since)s
    union all
    select e.lead_id from lead_sequence_enrollments e join leads l on l.id = e.lead_id
    where l.organization_id = %(org)s
      and e.enrolled_at > %(prev)s - interval '1 minute' and e.enrolled_at <= %(as_of)s
    union all
    select l.id from dnc_list d
    join leads l on l.organization_id = d.organization_id and l.phone_number = d.phone_number
    where d.organization_id = %(org)s and d.added_at > %(since)s
    union all
    select l.id from leads l
    where l.organization_id = %(org)s and l.deleted_at is null and l.created_at <= %(as_of)s
      and l.status not in ('dnc', 'recruited')
      and not exists (select 1 from lead_recommendations r where r.lead_id = l.id)
      and not exists (select 1 from dnc_list d where d.organization_id = l.organization_id
                      and d.phone_number = l.phone_number)
) changed
"""


def changed_leads(
    conn: psycopg.Connection,
    organization_id: str,
    *,
    prev: datetime,
    as_of: datetime,
    since: datetime,
) -> list[str]:
    """Ids of the leads whose entry may have changed since the ranking at `prev` (CHANGED_SQL)."""
    params: dict[str, Any] = {"org": organization_id, "prev": prev, "as_of": as_of, "since": since}
    margin = timedelta(minutes=1)
    # in UTC: an age is elapsed seconds (features), never wall-clock days across a DST change
    low, high = prev.astimezone(UTC), as_of.astimezone(UTC)
    for i, days in enumerate((0, *AGE_BOUNDARIES_DAYS)):
        params[f"lo{i}"] = low - timedelta(days=days) - margin
        params[f"hi{i}"] = high - timedelta(days=days) + margin
    rows = conn.execute(CHANGED_SQL, params).fetchall()
    return sorted(row[0] for row in rows)


#: what ranking needs of a stored entry: its agent, its sort key, its rank
RANKED_COLUMNS = "lead_id::text, user_id::text, propensity, rule_score, agent_rank"


def stored_entries(
    conn: psycopg.Connection, organization_id: str, lead_ids: Sequence[str]
) -> list[tuple[str, str | None, float, int, int | None]]:
    """The stored entries (RANKED_COLUMNS) of these leads: where they sit now."""
    return conn.execute(
        f"select {RANKED_COLUMNS} from lead_recommendations"  # noqa: S608 - constant columns
        " where organization_id = %s and lead_id = any(%s::uuid[])",
        (organization_id, list(lead_ids)),
    ).fetchall()


def stored_lists(
    conn: psycopg.Connection, organization_id: str, agents: Iterable[str | None]
) -> list[tuple[str, str | None, float, int, int | None]]:
    """The stored entries (RANKED_COLUMNS) of these agents' lists."""
    agents = set(agents)
    users = [agent for agent in agents if agent is not None]
    return conn.execute(
        f"select {RANKED_COLUMNS} from lead_recommendations"  # noqa: S608 - constant columns
        " where organization_id = %s and (user_id = any(%s::uuid[])"
        " or (%s and user_id is null))",
        (organization_id, users, None in agents),
    ).fetchall()


def apply_changes(
    conn: psycopg.Connection,
    organization_id: str,
    *,
    removed: Sequence[str],
    rows: Iterable[tuple],
    ranks: Sequence[tuple[str, int]],
) -> int:
    """In the caller's transaction: delete the entries of `removed` leads, insert `rows`
    (REC_COLUMNS), and set the agent_rank of the (lead id, rank) pairs of `ranks`."""
    conn.execute(
        "delete from lead_recommendations where organization_id = %s and lead_id = any(%s::uuid[])",
        (organization_id, list(removed)),
    )
    written = _insert(conn, rows)
    if ranks:
        conn.execute(
            "create temp table if not exists stg_recommendation_ranks"
            " (lead_id uuid primary key, agent_rank int4) on commit drop"
        )
        conn.execute("truncate stg_recommendation_ranks")
        copy_rows(
            conn, "stg_recommendation_ranks", ("lead_id", "agent_rank"), ("text", "int4"), ranks
        )
        conn.execute(
            "update lead_recommendations r set agent_rank = s.agent_rank"
            " from stg_recommendation_ranks s"
            " where r.lead_id = s.lead_id and r.organization_id = %s",
            (organization_id,),
        )
    return written


def drift(conn: psycopg.Connection, organization_id: str, since: datetime) -> tuple[int, int]:
    """(leads with a status change after `since` or created after it, live leads) of the
    organization: how far the data moved since a model's snapshot."""
    moved, live = one_row(
        conn.execute(
            """
            select (select count(*) from (
                        select h.lead_id from lead_status_history h
                        join leads l on l.id = h.lead_id
                        where l.organization_id = %(org)s and h.changed_at > %(since)s
                        union
                        select l.id from leads l
                        where l.organization_id = %(org)s and l.created_at > %(since)s) moved),
                   (select count(*) from leads l
                    where l.organization_id = %(org)s and l.deleted_at is null)
            """,
            {"org": organization_id, "since": since},
        )
    )
    return int(moved), int(live)
