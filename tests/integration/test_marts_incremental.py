"""Incremental marts equal a full rebuild, row for row (issue 21).

A fresh migrated database gets three organizations in three timezones, their users and 240 leads
with four months of history (status moves, scores, assignments, activities, notes, spend,
segment counts, recommendations), all stamped relative to now. dbt builds every mart; then a
scripted CRM day changes the data the way the nightly sees it (status moves, new and
late-arriving activities, new scores, reassignments, a lead moved to another source, a
soft-deleted lead, DNC additions, a changed cost row, a renamed user, a new lead) and dbt builds
incrementally. A copy of that database is rebuilt with `--full-refresh`, and every table of the
`analytics` schema must hold the same multiset of rows in both (EXCEPT ALL both ways).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from leadflow.analytics.assets import analytics_models, dbt_resource
from leadflow.analytics.project import DbtError, run_dbt
from leadflow.resources import PostgresResource

pytestmark = pytest.mark.integration

ORGANIZATIONS = [
    ("7e000000-0000-4000-8000-000000000001", "Acme Talent", "acme-incr", "America/New_York"),
    ("7e000000-0000-4000-8000-000000000002", "Sakura Staffing", "sakura-incr", "Asia/Tokyo"),
    ("7e000000-0000-4000-8000-000000000003", "Kiwi Crew", "kiwi-incr", "Pacific/Auckland"),
]

#: four months of history for 80 leads per organization, three agents each; every timestamp is
#: relative to now, so the watermarks behave as they do in production
HISTORY_SQL = [
    """
    insert into users (id, organization_id, email, first_name, last_name)
    select
        ('7ea00000-0000-4000-8000-' || lpad((o.n * 10 + a)::text, 12, '0'))::uuid,
        o.id, 'agent' || a || '@' || o.slug || '.example', 'Agent' || a, o.slug
    from (select id, slug, row_number() over (order by id) as n from organizations) as o
    cross join generate_series(1, 3) as a
    """,
    """
    insert into leads (id, organization_id, user_id, first_name, last_name, phone_number,
                       status, source, created_at, updated_at)
    select
        ('7eb00000-0000-4000-8000-' || lpad((o.n * 1000 + i)::text, 12, '0'))::uuid,
        o.id,
        case when i % 9 = 0 then null else
            ('7ea00000-0000-4000-8000-' || lpad((o.n * 10 + 1 + i % 3)::text, 12, '0'))::uuid
        end,
        'Lead' || i, o.slug,
        '+1555' || lpad((o.n * 1000 + i)::text, 7, '0'),
        'new',
        (array['facebook', 'LinkedIn', 'indeed', null, 'referral'])[1 + i % 5],
        now() - interval '120 days' + (i * interval '11 hours') + (o.n * interval '37 minutes'),
        now() - interval '1 day'
    from (select id, slug, row_number() over (order by id) as n from organizations) as o
    cross join generate_series(1, 80) as i
    """,
    # a path through the funnel: step k of lead i after k * (1 + i % 5) days, up to i % 6 steps
    """
    insert into lead_status_history (lead_id, from_status, to_status, trigger_type, changed_at)
    select l.id, null, 'new', 'import', l.created_at from leads l
    union all
    select l.id, s.from_status, s.to_status, 'manual',
           l.created_at + s.k * (1 + h.i % 5) * interval '1 day' + interval '3 hours'
    from leads l
    cross join lateral (select substr(l.phone_number, 9)::int as i) as h
    cross join lateral (
        select k, (array['new', 'contacted', 'qualified', 'nurturing', 'hot'])[k] as from_status,
               (array['contacted', 'qualified', 'nurturing', 'hot', 'recruited'])[k] as to_status
        from generate_series(1, 5) as k
    ) as s
    where s.k <= h.i % 6
        and l.created_at + s.k * (1 + h.i % 5) * interval '1 day' < now() - interval '1 day'
    """,
    """
    update leads l set status = last.to_status
    from (select distinct on (lead_id) lead_id, to_status from lead_status_history
          order by lead_id, changed_at desc) as last
    where last.lead_id = l.id
    """,
    # 1-4 scores a few days apart, some falling, some rising
    """
    insert into lead_score_history (lead_id, score, factors, calculated_at)
    select l.id, sc.score,
           jsonb_build_object('qualification', sc.score / 2, 'engagement', sc.score / 3,
                              'intent', sc.score / 4, 'demographic', 10, 'total', sc.score),
           l.created_at + k * interval '4 days' + interval '5 hours'
    from leads l
    cross join lateral (select substr(l.phone_number, 9)::int as i) as h
    cross join generate_series(1, 4) as k
    cross join lateral (select (h.i * 7 + k * 13 * (1 - 2 * (h.i % 2))) % 90 + 5 as score) as sc
    where k <= 1 + h.i % 4 and l.created_at + k * interval '4 days' < now() - interval '1 day'
    """,
    """
    insert into lead_assignments (lead_id, from_user_id, to_user_id, strategy, assigned_at)
    select id, null, user_id, 'round_robin', created_at + interval '10 minutes'
    from leads where user_id is not null
    """,
    """
    insert into lead_activities (source_id, event_id, organization_id, lead_id, lead_phone,
                                 user_id, activity_type, direction, outcome, occurred_at,
                                 duration_seconds, matched_at, loaded_at)
    select 'incr:' || l.id || ':' || k, 'evt:' || l.id || ':' || k, l.organization_id, l.id,
           l.phone_number, l.user_id,
           (array['call', 'sms', 'email', 'meeting', 'note'])[1 + (h.i + k) % 5],
           case when (h.i + k) % 5 = 4 then null
                when k % 3 = 0 then 'inbound' else 'outbound' end,
           'answered',
           l.created_at + k * interval '30 hours',
           case when (h.i + k) % 5 = 0 then 60 + h.i * 7 end,
           l.created_at + k * interval '30 hours', l.created_at + k * interval '30 hours'
    from leads l
    cross join lateral (select substr(l.phone_number, 9)::int as i) as h
    cross join generate_series(1, 3) as k
    where k <= h.i % 4 and l.created_at + k * interval '30 hours' < now() - interval '1 day'
    """,
    """
    insert into lead_notes (organization_id, lead_id, body, source, created_at)
    select organization_id, id, 'note of ' || first_name, 'import', created_at
    from leads where substr(phone_number, 9)::int % 7 = 0
    """,
    """
    insert into lead_source_costs (organization_id, user_id, source, period, cost_usd)
    select u.organization_id, u.id, src, to_char(now() - m * interval '1 month', 'YYYY-MM'),
           100 + m * 10
    from users u
    cross join (values ('facebook'), ('linkedin')) as s (src)
    cross join generate_series(0, 3) as m
    """,
    """
    insert into segments (id, organization_id, user_id, name)
    select ('7ec00000-0000-4000-8000-' || lpad(row_number() over ()::text, 12, '0'))::uuid,
           id, null, 'Hot leads of ' || slug
    from organizations
    """,
    """
    insert into segment_count_history (segment_id, organization_id, counted_at, lead_count)
    select s.id, s.organization_id, now() - d * interval '1 day' - interval '2 days', 10 + d
    from segments s cross join generate_series(0, 4) as d
    """,
    """
    insert into lead_conversion_models (organization_id, version, trained_at, as_of, algorithm,
                                        horizon_days, metrics, baseline, status)
    select id, 1, now() - interval '2 days', now() - interval '2 days', 'logistic', 30,
           '{"auc": 0.71, "brier": 0.2}', '{"auc": 0.6, "brier": 0.22}', 'active'
    from organizations
    """,
    """
    insert into lead_recommendations (lead_id, organization_id, user_id, model_version,
                                      ranked_by, propensity, rule_score, agent_rank, action,
                                      channel, computed_at)
    select id, organization_id, user_id, 1, 'model', 0.2 + (substr(phone_number, 9)::int % 7) / 10.0,
           40, substr(phone_number, 9)::int % 20,
           (array['call', 'sms', 'email', 'nurture'])[1 + substr(phone_number, 9)::int % 4],
           (array['call', 'sms', 'email', null])[1 + substr(phone_number, 9)::int % 4],
           now() - interval '2 days'
    from leads
    """,
]

#: one CRM day: (what it exercises, SQL); leads are picked by their number within the fixture
DAY_SQL = [
    (
        "status moves",
        """
        with moved as (
            insert into lead_status_history (lead_id, from_status, to_status, trigger_type)
            select id, status, case status when 'new' then 'contacted' when 'contacted'
                then 'qualified' when 'hot' then 'recruited' else 'cold' end, 'manual'
            from leads where substr(phone_number, 9)::int % 17 = 3
            returning lead_id, to_status
        )
        update leads l set status = moved.to_status from moved where moved.lead_id = l.id
        """,
    ),
    (
        "new activities and a call that arrives late (occurred 60 days ago, loaded now)",
        """
        insert into lead_activities (source_id, event_id, organization_id, lead_id, lead_phone,
                                     user_id, activity_type, direction, outcome, occurred_at,
                                     duration_seconds, matched_at)
        select 'day:' || id, 'day-evt:' || id, organization_id, id, phone_number, user_id,
               'call', 'outbound', 'answered',
               case when substr(phone_number, 9)::int % 2 = 0 then now()
                    else now() - interval '60 days' end,
               240, now()
        from leads where substr(phone_number, 9)::int % 13 = 5
        """,
    ),
    (
        "new scores",
        """
        insert into lead_score_history (lead_id, score, factors)
        select id, (substr(phone_number, 9)::int * 3) % 100,
               jsonb_build_object('qualification', 40, 'engagement', 30, 'intent', 20,
                                  'demographic', 10)
        from leads where substr(phone_number, 9)::int % 11 = 4
        """,
    ),
    (
        "reassignments",
        """
        with moved as (
            select l.id, l.user_id as from_user, other.id as to_user
            from leads l
            join lateral (
                select u.id from users u
                where u.organization_id = l.organization_id
                    and u.id is distinct from l.user_id
                order by u.id limit 1
            ) as other on true
            where substr(l.phone_number, 9)::int % 19 = 2
        ),
        logged as (
            insert into lead_assignments (lead_id, from_user_id, to_user_id, strategy)
            select id, from_user, to_user, 'manual' from moved
        )
        update leads l set user_id = moved.to_user from moved where moved.id = l.id
        """,
    ),
    (
        "a lead moved to another source",
        "update leads set source = 'job fair' where phone_number = '+15550001010'",
    ),
    (
        "a soft-deleted lead",
        "update leads set deleted_at = now() where phone_number = '+15550002020'",
    ),
    (
        "DNC additions",
        """
        with added as (
            insert into dnc_list (organization_id, phone_number, reason, source)
            select organization_id, phone_number, 'asked', 'manual'
            from leads where phone_number in ('+15550001033', '+15550003044')
            returning organization_id, phone_number
        ),
        history as (
            insert into lead_status_history (lead_id, from_status, to_status, trigger_type)
            select l.id, l.status, 'dnc', 'dnc'
            from leads l join added using (organization_id, phone_number)
        )
        update leads l set status = 'dnc'
        from added
        where l.organization_id = added.organization_id and l.phone_number = added.phone_number
        """,
    ),
    (
        "a changed cost row",
        """
        update lead_source_costs set cost_usd = cost_usd + 55
        where id = (select id from lead_source_costs order by id limit 1)
        """,
    ),
    (
        "a renamed user",
        """
        update users set first_name = 'Renamed'
        where id = '7ea00000-0000-4000-8000-000000000012'
        """,
    ),
    (
        "a new lead with its first status, score and assignment",
        """
        with lead as (
            insert into leads (organization_id, user_id, first_name, last_name, phone_number,
                               status, source)
            values ('7e000000-0000-4000-8000-000000000002',
                    '7ea00000-0000-4000-8000-000000000021', 'New', 'Lead', '+15559990001',
                    'new', 'indeed')
            returning id, user_id
        ),
        history as (
            insert into lead_status_history (lead_id, from_status, to_status, trigger_type)
            select id, null, 'new', 'import' from lead
        ),
        scores as (
            insert into lead_score_history (lead_id, score, factors)
            select id, 35, '{"qualification": 20}' from lead
        )
        insert into lead_assignments (lead_id, to_user_id, strategy)
        select id, user_id, 'round_robin' from lead
        """,
    ),
    (
        "a new segment count",
        """
        insert into segment_count_history (segment_id, organization_id, counted_at, lead_count)
        select id, organization_id, now(), 99 from segments
        where id = '7ec00000-0000-4000-8000-000000000001'
        """,
    ),
]


#: no lookback at all: a mart's change floor is exact under late commits, the lookback only
#: covers sessions the pipeline role may not inspect (none here)
NO_LOOKBACK = json.dumps(
    dict.fromkeys(
        ["marts_lookback", "lead_timeline_lookback", "lead_stage_history_lookback"], "0 seconds"
    )
)


def dbt(url: str, tmp: Path, *args: str) -> None:
    run_dbt([*args, "--log-path", str(tmp / "logs")], url, target_path=tmp / "target")


def fill(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into organizations (id, name, slug, timezone) values "
            + ", ".join(["(%s, %s, %s, %s)"] * len(ORGANIZATIONS)),
            [value for organization in ORGANIZATIONS for value in organization],
        )
        for statement in HISTORY_SQL:
            conn.execute(statement)


def crm_day(url: str) -> None:
    with psycopg.connect(url) as conn:
        for _, statement in DAY_SQL:
            conn.execute(statement)


def mart_tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select tablename from pg_tables where schemaname = 'analytics' order by 1"
        ).fetchall()
    return [name for (name,) in rows]


def mart_rows(url: str, table: str) -> Counter[tuple]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            sql.SQL("select * from {}").format(sql.Identifier("analytics", table))
        ).fetchall()
    return Counter(rows)


def watermarks(url: str) -> dict[str, tuple]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select name, last_occurred_at, last_full_at, updated_at from sync_watermarks"
            " where name like 'dbt:%%'"
        ).fetchall()
    return {name: tuple(rest) for name, *rest in rows}


@pytest.fixture(scope="module")
def dbt_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dbt_marts_incremental")


@pytest.fixture(scope="module")
def built_url(new_migrated_database: Callable[[str], str], dbt_tmp: Path) -> str:
    """The fixture's CRM with every mart built once (the first build: full)."""
    url = new_migrated_database("marts_incr")
    fill(url)
    dbt(url, dbt_tmp, "build")
    return url


def test_incremental_build_after_a_crm_day_equals_a_full_refresh(built_url, make_database, dbt_tmp):
    url = make_database("marts_incr_day", template=built_url)
    before = watermarks(url)
    assert before, "the first build records a watermark per incremental model"
    crm_day(url)
    dbt(url, dbt_tmp, "build")
    after = watermarks(url)
    assert {name for name in after if after[name][0] > before[name][0]} == set(before)

    assert_marts_equal_a_full_refresh(url, make_database, dbt_tmp)


def assert_marts_equal_a_full_refresh(url: str, make_database, dbt_tmp: Path) -> None:
    """Every table of the analytics schema of `url` holds the rows a --full-refresh of a copy of
    it builds (EXCEPT ALL both ways)."""
    full_url = make_database("marts_incr_full", template=url)
    dbt(full_url, dbt_tmp, "build", "--full-refresh")

    tables = mart_tables(url)
    assert "lead_funnel" in tables and "lead_score_trends" in tables
    assert tables == mart_tables(full_url)
    differences = {}
    for table in tables:
        incremental, full = mart_rows(url, table), mart_rows(full_url, table)
        only_incremental = incremental - full  # EXCEPT ALL
        only_full = full - incremental
        if only_incremental or only_full:
            differences[table] = (
                sum(only_incremental.values()),
                sum(only_full.values()),
                sorted(map(str, only_incremental))[:3],
                sorted(map(str, only_full))[:3],
            )
        assert sum(incremental.values()) > 0, table
    assert differences == {}


def day_statement(name: str) -> str:
    return dict(DAY_SQL)[name]


def test_a_change_committed_after_a_build_began_is_built_by_the_next_one(
    built_url, make_database, dbt_tmp
):
    """A writer's transaction starts, moves some leads and stays open; another transaction starts
    later, renames a user and commits; dbt builds (it sees the new name, not the moves);
    the writer commits; dbt builds again. The moves carry a stamp older than every change the
    first build saw, and no lookback is given: only an exact change floor (the start of the
    writer's transaction, open when the first build began) makes the second build find them."""
    url = make_database("marts_incr_late", template=built_url)
    late = psycopg.connect(url)
    try:
        late.execute(day_statement("status moves"))
        moved = late.execute("select count(*) from leads where updated_at = now()").fetchone()
        assert moved is not None and moved[0] > 0
        with psycopg.connect(url) as other:
            other.execute(day_statement("a renamed user"))
        dbt(url, dbt_tmp, "build", "--vars", NO_LOOKBACK)
        late.commit()
    finally:
        late.close()
    dbt(url, dbt_tmp, "build", "--vars", NO_LOOKBACK)
    assert_marts_equal_a_full_refresh(url, make_database, dbt_tmp)


def test_a_failed_build_leaves_the_dbt_watermarks_where_they_were(
    built_url, make_database, dbt_tmp
):
    url = make_database("marts_incr_fail", template=built_url)
    before = watermarks(url)
    crm_day(url)
    # a lookback PostgreSQL cannot read fails every incremental model's pre-hook
    with pytest.raises(DbtError):
        dbt(url, dbt_tmp, "build", "--vars", '{"marts_lookback": "not an interval"}')
    assert watermarks(url) == before

    dbt(url, dbt_tmp, "build", "--vars", NO_LOOKBACK)
    after = watermarks(url)
    assert all(after[name][0] > before[name][0] for name in before)


def full_tests_mark(url: str) -> tuple | None:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select last_occurred_at, last_full_at, last_source_id from sync_watermarks"
            " where name = 'dbt:full_tests'"
        ).fetchone()


def materialize_marts(url: str, **config: object) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [analytics_models],
        resources={"postgres": PostgresResource(url=url), "dbt": dbt_resource()},
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"analytics_models": {"config": config}}} if config else None,
        raise_on_error=False,
    )


def scope_of(result: dg.ExecuteInProcessResult) -> set[tuple[str, str]]:
    """(tests_scope, full_reason) of the marts' materializations."""
    return {
        (
            event.materialization.metadata["tests_scope"].value,
            event.materialization.metadata["full_reason"].value,
        )
        for event in result.get_asset_materialization_events()
        if event.asset_key.path[0] == "analytics"
    }


def test_the_asset_runs_the_full_tests_when_due_and_moves_dbt_full_tests_only_on_success(
    built_url, make_database
):
    """The marts were built by hand (no dbt:full_tests yet): the asset's first build runs the
    full test set; the next one is incremental and scoped to the changed keys; a failed build
    leaves the watermark; a --full-refresh runs the full set again."""
    url = make_database("marts_incr_asset", template=built_url)
    assert full_tests_mark(url) is None

    first = materialize_marts(url)
    assert first.success
    assert scope_of(first) == {("full", "first run")}
    mark = full_tests_mark(url)
    assert mark is not None and mark[1] is not None

    crm_day(url)
    second = materialize_marts(url)
    assert second.success
    assert scope_of(second) == {("changed", "none: incremental build")}
    after_second = full_tests_mark(url)
    assert after_second[0] > mark[0] and after_second[1] == mark[1]  # last full pass kept

    with psycopg.connect(url) as conn:
        conn.execute("alter table leads drop constraint leads_status_check")
        conn.execute(
            "update leads set status = 'bogus' where id = (select id from leads order by id limit 1)"
        )
    failed = materialize_marts(url, full_refresh=True)
    assert not failed.success
    assert full_tests_mark(url) == after_second


def test_a_scoped_test_fails_on_a_bad_row_of_a_lead_the_build_rebuilt(built_url, make_database):
    """A lead-keyed mart's scoped tests see the rows of the leads an incremental build rebuilt
    (the key compared as uuid, through the mart's index): a status no test accepts, recorded
    for one lead after the first build, fails lead_timeline's accepted_values test in the next
    incremental build."""
    url = make_database("marts_incr_scoped", template=built_url)
    assert materialize_marts(url).success  # the first build: full tests
    with psycopg.connect(url) as conn:
        conn.execute(
            "alter table lead_status_history drop constraint lead_status_history_to_status_check"
        )
        conn.execute(
            "insert into lead_status_history (lead_id, from_status, to_status, trigger_type)"
            " select id, status, 'bogus', 'manual' from leads where deleted_at is null"
            " order by id limit 1"
        )

    result = materialize_marts(url)

    assert scope_of(result) == {("changed", "none: incremental build")}
    failed = {
        (evaluation.asset_key.path[-1], evaluation.check_name)
        for evaluation in result.get_asset_check_evaluations()
        if not evaluation.passed
    }
    assert any(
        mart == "lead_timeline" and name.startswith("accepted_values_lead_timeline_event_subtype")
        for mart, name in failed
    ), failed


GRAIN_INDEX = "USING btree (organization_id, period_type, period_start, source, owner_user_id)"
#: the index GRAIN_INDEX replaced (tables built before c88e04c have it)
SUPERSEDED_INDEX = "USING btree (organization_id, period_type, period_start)"


def _grain_indexes(url: str, definition: str = GRAIN_INDEX) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            row[0]
            for row in conn.execute(
                "select indexname from pg_indexes"
                " where tablename = 'int_lead_scores_bucketed' and indexdef like %s",
                (f"%{definition}",),
            )
        ]


def test_an_index_added_to_an_incremental_model_reaches_a_table_built_without_it(
    built_url, make_database, dbt_tmp
):
    """dbt creates `indexes` only when it builds a table whole: the score trends' grain index
    reaches a table built before it existed on its next incremental build (post-hook
    leadflow_ensure_index), and a build that finds it adds no second one."""
    url = make_database("marts_incr_index", template=built_url)
    assert len(_grain_indexes(url)) == 1  # built whole: dbt's own index
    with psycopg.connect(url) as conn:
        for name in _grain_indexes(url):
            conn.execute(
                sql.SQL("drop index analytics_intermediate.{}").format(sql.Identifier(name))
            )
        # the table as c88e04c found it: built with the 3-column index the new one supersedes
        conn.execute(
            "create index on analytics_intermediate.int_lead_scores_bucketed"
            " (organization_id, period_type, period_start)"
        )
    assert _grain_indexes(url) == []
    assert len(_grain_indexes(url, SUPERSEDED_INDEX)) == 1
    dbt(url, dbt_tmp, "build", "--select", "int_lead_scores_bucketed", "--vars", NO_LOOKBACK)
    assert len(_grain_indexes(url)) == 1
    assert _grain_indexes(url, SUPERSEDED_INDEX) == []
    dbt(url, dbt_tmp, "build", "--select", "int_lead_scores_bucketed", "--vars", NO_LOOKBACK)
    assert len(_grain_indexes(url)) == 1
    # the unique (lead_id, period_type, period_start) index is not a superseded one
    assert len(_grain_indexes(url, "USING btree (lead_id, period_type, period_start)")) == 1
