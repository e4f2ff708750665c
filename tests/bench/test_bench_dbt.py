"""`python -m benchmarks dbt` on 2,000 leads: the generated history has the shapes a recruiting
CRM has, and the benchmark builds the dbt project three times and returns its figures.

No timing is asserted: speed goals live in the benchmark's printed figures.
"""

from __future__ import annotations

import psycopg
import pytest

from benchmarks.dbt_build import (
    AGENTS_PER_ORGANIZATION,
    FUNNEL,
    ORGANIZATIONS,
    PAID_SOURCES,
    DbtBenchResult,
    count_rows,
    is_complete,
    run_dbt_bench,
)

pytestmark = [pytest.mark.bench, pytest.mark.integration, pytest.mark.slow]

LEADS = 2_000


@pytest.fixture(scope="module")
def bench(make_database, tmp_path_factory) -> tuple[DbtBenchResult, list[str]]:
    url = make_database("benchdbt")
    database = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    lines: list[str] = []
    result = run_dbt_bench(
        url, LEADS, tmp_path_factory.mktemp("bench_dbt"), database=database, echo=lines.append
    )
    return result, lines


@pytest.fixture(scope="module")
def conn(bench):
    result, _ = bench
    with psycopg.connect(result.database_url, autocommit=True) as connection:
        yield connection


def scalar(conn: psycopg.Connection, query: str, params=()):
    return conn.execute(query, params).fetchone()[0]


def test_enough_leads_imported_and_rows_counted(bench, conn):
    result, lines = bench
    live = scalar(conn, "select count(*) from leads where deleted_at is null")
    assert result.leads == live
    assert LEADS <= live < LEADS * 1.05
    # rows are counted before the benchmark's change: one status, score and activity row each
    grown = ("lead_status_history", "lead_score_history", "lead_activities")
    assert count_rows(result.database_url) == {
        table: count + (result.changed_leads if table in grown else 0)
        for table, count in result.rows.items()
    }
    assert not result.reused
    assert {"import", "lead_status_history", "lead_activities", "analyze"} <= set(
        result.generation_seconds
    )
    assert any(line.startswith("  lead_activities") for line in lines)
    assert is_complete(result.database_url, live)
    assert not is_complete(result.database_url, live + 1)


def test_users_are_a_manager_and_five_agents_per_organization(conn):
    rows = conn.execute(
        "select role, count(*), count(distinct organization_id) from users group by role"
    ).fetchall()
    assert sorted(rows) == [
        ("agent", ORGANIZATIONS * AGENTS_PER_ORGANIZATION, ORGANIZATIONS),
        ("manager", ORGANIZATIONS, ORGANIZATIONS),
    ]


def test_leads_spread_over_a_year_and_owned_by_their_organizations_agents(conn):
    spread = conn.execute(
        """
        select min(now() - created_at) > interval '1 hour',
               max(now() - created_at) < interval '366 days',
               count(distinct date_trunc('month', created_at))
        from leads
        """
    ).fetchone()
    assert spread[:2] == (True, True)
    assert spread[2] >= 12
    assert (
        scalar(
            conn,
            """
        select count(*) from leads l
        left join users u on u.id = l.user_id and u.organization_id = l.organization_id
                         and u.role = 'agent'
        where u.id is null""",
        )
        == 0
    )


def test_status_history_is_a_path_from_new_ending_in_the_leads_status(conn):
    # the import's null -> new row sits at created_at; every lead has exactly one
    assert (
        scalar(
            conn,
            """
        select count(*) from leads l
        where (select count(*) from lead_status_history h
               where h.lead_id = l.id and h.from_status is null
                 and h.to_status = 'new' and h.trigger_type = 'import'
                 and h.changed_at = l.created_at) <> 1""",
        )
        == 0
    )
    broken = conn.execute(
        """
        with ordered as (
            select lead_id, from_status, to_status, changed_at,
                   lag(to_status) over w as previous_status,
                   lag(changed_at) over w as previous_at,
                   row_number() over (partition by lead_id order by changed_at desc) as from_end
            from lead_status_history
            window w as (partition by lead_id order by changed_at)
        )
        select
            count(*) filter (where previous_at is not null and changed_at <= previous_at),
            count(*) filter (where previous_status is distinct from from_status),
            count(*) filter (where changed_at > now()),
            (select count(*) from ordered o join leads l on l.id = o.lead_id
             where o.from_end = 1 and o.to_status <> l.status)
        from ordered
        """
    ).fetchone()
    assert broken == (0, 0, 0, 0)


def test_funnel_shares_are_those_of_the_brief(conn):
    leads = scalar(conn, "select count(*) from leads")
    reached = dict(
        conn.execute(
            "select to_status, count(distinct lead_id) from lead_status_history group by 1"
        ).fetchall()
    )
    share = {status: reached.get(status, 0) / leads for status in [*FUNNEL, "cold", "dnc"]}
    # planned 60/35/20/10/4% (less the steps that would lie in the future), cold 15%, dnc 2%,
    # plus the ~2% of leads moved on by the generation's last step and the benchmark
    assert share["new"] == 1
    assert 0.52 <= share["contacted"] <= 0.66
    assert 0.28 <= share["qualified"] <= 0.40
    assert 0.15 <= share["nurturing"] <= 0.25
    assert 0.06 <= share["hot"] <= 0.13
    assert 0.02 <= share["recruited"] <= 0.06
    assert 0.11 <= share["cold"] <= 0.20
    assert 0.008 <= share["dnc"] <= 0.035


def test_scores_are_about_three_per_lead_on_different_days(conn):
    # generated rows lie at least 30 minutes before the run; the two changes of ~1% came later
    per_lead = conn.execute(
        """
        select sum(n)::numeric / count(*), min(n), max(n), count(*) filter (where n <> days)
        from (
            select lead_id, count(*) as n, count(distinct calculated_at::date) as days
            from lead_score_history
            where calculated_at < now() - interval '25 minutes'
            group by lead_id
        ) s
        """
    ).fetchone()
    average, fewest, most, same_day = per_lead
    assert 2.5 <= average <= 3.2
    assert (fewest, most, same_day) == (1, 4, 0)
    assert scalar(conn, "select count(distinct lead_id) from lead_score_history") == scalar(
        conn, "select count(*) from leads"
    )


def test_score_factors_have_the_scoring_shape_and_the_last_score_is_the_leads(conn):
    bad = conn.execute(
        """
        select
            count(*) filter (where array(select jsonb_object_keys(factors) order by 1)
                                   <> array['demographic', 'engagement', 'intent',
                                            'qualification', 'total']),
            count(*) filter (where (factors ->> 'total')::int <> score),
            count(*) filter (where score not between 0 and 100
                             or (factors ->> 'qualification')::int not between 0 and 100
                             or (factors ->> 'engagement')::int not between 0 and 100
                             or (factors ->> 'intent')::int not between 0 and 100
                             or (factors ->> 'demographic')::int not between 0 and 100),
            count(*) filter (where score <> 0 and score <> round(
                0.3 * (factors ->> 'qualification')::int + 0.3 * (factors ->> 'engagement')::int
                + 0.25 * (factors ->> 'intent')::int + 0.15 * (factors ->> 'demographic')::int))
        from lead_score_history
        """
    ).fetchone()
    assert bad == (0, 0, 0, 0)
    assert (
        scalar(
            conn,
            """
        select count(*) from leads l
        cross join lateral (select score from lead_score_history h where h.lead_id = l.id
                            order by calculated_at desc limit 1) last
        where last.score <> l.lead_score""",
        )
        == 0
    )


def test_assignments_one_round_robin_per_lead_and_a_tenth_reassigned(conn):
    first = conn.execute(
        """
        select count(*), count(distinct a.lead_id),
               count(*) filter (where a.assigned_at not between l.created_at
                                and l.created_at + interval '2 hours')
        from lead_assignments a join leads l on l.id = a.lead_id
        where a.from_user_id is null and a.strategy = 'round_robin' and a.assigned_by is null
        """
    ).fetchone()
    leads = scalar(conn, "select count(*) from leads")
    assert first == (leads, leads, 0)
    reassigned = conn.execute(
        """
        select count(*),
               count(*) filter (where m.role <> 'manager' or a.from_user_id = a.to_user_id)
        from lead_assignments a join users m on m.id = a.assigned_by
        where a.strategy = 'manual' and a.from_user_id is not null
        """
    ).fetchone()
    assert 0.06 * leads <= reassigned[0] <= 0.14 * leads
    assert reassigned[1] == 0
    assert scalar(conn, "select count(*) from lead_assignments") == leads + reassigned[0]
    assert (
        scalar(
            conn,
            """
        select count(*) from leads l
        cross join lateral (select to_user_id from lead_assignments a where a.lead_id = l.id
                            order by assigned_at desc limit 1) last
        where last.to_user_id <> l.user_id""",
        )
        == 0
    )


def test_activities_about_three_per_lead_matched_and_in_the_samples_shapes(conn):
    leads = scalar(conn, "select count(*) from leads")
    stats = conn.execute(
        """
        select count(*), count(distinct source_id),
               count(*) filter (where a.lead_id is null or a.organization_id <> l.organization_id
                                or a.occurred_at < l.created_at or a.occurred_at > now()),
               count(*) filter (where u.organization_id is distinct from a.organization_id),
               count(*) filter (where a.activity_type = 'call')::numeric / count(*),
               count(*) filter (where a.direction = 'inbound')::numeric / count(*)
        from lead_activities a
        left join leads l on l.id = a.lead_id
        left join users u on u.id = a.user_id
        """
    ).fetchone()
    total, distinct_ids, unmatched, foreign_users, calls, inbound = stats
    assert 2.5 * leads <= total <= 3.6 * leads
    assert (distinct_ids, unmatched, foreign_users) == (total, 0, 0)
    assert 0.33 <= calls <= 0.47
    assert 0.12 <= inbound <= 0.28
    outcomes = {
        (kind, direction is None, outcome)
        for kind, direction, outcome in conn.execute(
            "select distinct activity_type, direction, outcome from lead_activities"
        ).fetchall()
    }
    allowed = {
        "call": {"answered", "no_answer", "voicemail", "busy"},
        "sms": {"delivered", "replied", "failed"},
        "email": {"sent", "opened", "replied", "bounced"},
        "meeting": {"scheduled", "completed", "no_show"},
    }
    for kind, no_direction, outcome in outcomes:
        if kind == "note":
            assert (no_direction, outcome) == (True, None)
        else:
            assert not no_direction and outcome in allowed[kind], (kind, outcome)
    assert (
        scalar(
            conn,
            """
        select count(*) from leads l
        left join (select lead_id, max(occurred_at) as last_at from lead_activities
                   where activity_type <> 'note' group by lead_id) a on a.lead_id = l.id
        where l.last_contact_date is distinct from a.last_at""",
        )
        == 0
    )


def test_source_costs_segments_and_their_daily_counts(conn):
    months = scalar(conn, "select count(distinct period) from lead_source_costs")
    assert months == 13  # every calendar month the year of leads touches
    assert scalar(conn, "select count(*) from lead_source_costs") == (
        ORGANIZATIONS * AGENTS_PER_ORGANIZATION * len(PAID_SOURCES) * months
    )
    assert scalar(conn, "select count(*) from segments") == 3 * ORGANIZATIONS
    history = conn.execute(
        """
        select count(*), count(distinct segment_id),
               count(*) filter (where days <> 30 or n <> 30)
        from (
            select segment_id, count(*) as n, count(distinct counted_at::date) as days
            from segment_count_history group by segment_id
        ) s
        """
    ).fetchone()
    assert history == (3 * ORGANIZATIONS, 3 * ORGANIZATIONS, 0)


def test_bench_returns_the_three_builds_and_the_slowest_nodes(bench, conn):
    result, lines = bench
    assert result.full_build_seconds > 0
    assert result.incremental_build_seconds > 0
    assert result.full_refresh_seconds > 0
    assert [build.label.split(" ")[0] for build in result.builds] == [
        "first",
        "incremental",
        "full",
    ]
    assert len(result.slowest_nodes) == 10
    seconds = [node.seconds for node in result.slowest_nodes]
    assert seconds == sorted(seconds, reverse=True)
    assert all(node.status in ("success", "pass") for b in result.builds for node in b.nodes)
    for build in result.builds:
        kinds = build.seconds_by_kind()
        assert kinds["model"] > 0 and kinds["test"] > 0
        assert sum(kinds.values()) == pytest.approx(sum(n.seconds for n in build.nodes))
    # about 1% of the open leads changed; the incremental marts re-inserted only their rows
    assert 0 < result.changed_leads < 0.03 * result.leads
    full, incremental = result.builds[0], result.builds[1]
    incremental_models = [n for n in incremental.nodes if n.materialized == "incremental"]
    assert incremental_models
    full_rows = {n.unique_id: n.rows_affected for n in full.nodes}
    for node in incremental_models:
        assert node.rows_affected <= full_rows[node.unique_id] / 10, node.unique_id
    assert any("--full-refresh" in line for line in lines)
    # the last build saw the changed leads: their new status rows are in the timeline
    assert (
        scalar(
            conn,
            """
        select count(*) from lead_status_history h
        where h.changed_at > now() - interval '1 day' and h.trigger_type = 'manual'
          and h.from_status is not null
          and not exists (select 1 from analytics.lead_timeline t
                          where t.event_key = 'status:' || h.id)""",
        )
        == 0
    )
