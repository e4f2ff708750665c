"""The Epic 3 seed: complete, internally consistent and safe to load twice."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal

import phonenumbers
import psycopg
import pytest
from psycopg import sql

from leadflow.platform.seed import load_seed

pytestmark = pytest.mark.integration

TABLES = [
    "organizations",
    "users",
    "leads",
    "lead_audit_log",
    "lead_status_history",
    "lead_score_history",
    "lead_assignments",
    "dnc_list",
    "nurture_sequences",
    "lead_sequence_enrollments",
    "lead_source_costs",
    "segments",
    "budget_transactions",
    "system_config",
]
STATUSES = {"new", "contacted", "qualified", "nurturing", "hot", "cold", "recruited", "dnc"}
ORGS = {
    "11111111-1111-4111-8111-111111111111": (
        "Summit Talent Partners",
        "summit",
        "America/New_York",
    ),
    "22222222-2222-4222-8222-222222222222": ("Northwind Recruiting", "northwind", "Europe/London"),
    "33333333-3333-4333-8333-333333333333": (
        "Southern Cross Staffing",
        "southern-cross",
        "Australia/Sydney",
    ),
}
REGIONS = {"summit": "US", "northwind": "GB", "southern-cross": "AU"}


@pytest.fixture(scope="module")
def conn(seeded_url: str):
    with psycopg.connect(seeded_url, autocommit=True) as connection:
        yield connection


def rows(conn: psycopg.Connection, query: str, params: tuple = ()) -> list[tuple]:
    return conn.execute(query, params).fetchall()


def value(conn: psycopg.Connection, query: str, params: tuple = ()):
    return conn.execute(query, params).fetchone()[0]


@pytest.mark.parametrize("table", TABLES)
def test_every_table_has_rows(conn, table):
    count = value(conn, sql.SQL("select count(*) from {}").format(sql.Identifier(table)))
    assert count > 0


def test_fixed_organization_user_and_lead_ids(conn):
    orgs = {
        str(r[0]): r[1:] for r in rows(conn, "select id, name, slug, timezone from organizations")
    }
    for org_id, expected in ORGS.items():
        assert orgs[org_id] == expected
    for o in (1, 2, 3):
        users = dict(
            rows(
                conn,
                "select id::text, role from users where id::text like %s and is_active",
                (f"a{o}000000-0000-4000-8000-00000000000_",),
            )
        )
        prefix = f"a{o}000000-0000-4000-8000-00000000000"
        assert users == {
            f"{prefix}1": "admin",
            f"{prefix}2": "manager",
            f"{prefix}3": "agent",
            f"{prefix}4": "agent",
        }
        leads = value(
            conn,
            "select count(*) from leads where id::text like %s and organization_id = %s",
            (f"b{o}000000-0000-4000-8000-0000000000__", list(ORGS)[o - 1]),
        )
        assert leads == 20


def test_every_status_in_every_organization(conn):
    seen = defaultdict(set)
    for org, status in rows(
        conn, "select organization_id::text, status from leads where deleted_at is null"
    ):
        seen[org].add(status)
    assert set(seen) == set(ORGS)
    for org, statuses in seen.items():
        assert statuses == STATUSES, org


def test_leads_are_varied_and_plausible(conn):
    sources = {r[0] for r in rows(conn, "select distinct source from leads")}
    assert sources >= {"facebook", "linkedin", "indeed", "referral", "website", "job_fair"}
    first, last = rows(conn, "select min(created_at), max(created_at) from leads")[0]
    assert (first.year, first.month) >= (2026, 5) and (last.year, last.month) <= (2026, 11)
    assert value(conn, "select count(distinct lead_score) from leads") >= 20
    assert value(conn, "select count(*) from leads where cardinality(tags) > 0") > 0
    deleted = dict(
        rows(
            conn,
            "select organization_id::text, count(*) from leads"
            " where deleted_at is not null group by 1",
        )
    )
    assert deleted == {org: 1 for org in ORGS}
    never_contacted = value(
        conn,
        "select count(*) from leads where status not in ('new', 'dnc')"
        " and last_contact_date is null",
    )
    assert never_contacted == 0


def test_phones_are_valid_for_the_organizations_region(conn):
    query = """
        select o.slug, x.phone_number
        from (
            select organization_id, phone_number from leads
            union all
            select organization_id, phone_number from dnc_list
        ) x
        join organizations o on o.id = x.organization_id
    """
    for slug, phone in rows(conn, query):
        parsed = phonenumbers.parse(phone)
        assert phonenumbers.is_valid_number(parsed), phone
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == phone
        if not phone.startswith("+44") or slug != "summit":  # org 1 blocks one GB number
            assert phonenumbers.region_code_for_number(parsed) == REGIONS[slug], (slug, phone)
        assert not (phone.startswith("+1") and phone[5:10] == "55501"), "fictional 555-01xx"


def test_status_history_is_a_path_ending_in_the_current_status(conn):
    broken = rows(
        conn,
        """
        with h as (
            select h.*, l.status as lead_status, l.created_at as lead_created_at,
                   lag(h.to_status) over w as previous,
                   row_number() over w as n,
                   count(*) over (partition by h.lead_id) as total
            from lead_status_history h join leads l on l.id = h.lead_id
            window w as (partition by h.lead_id order by h.changed_at, h.id)
        )
        select lead_id, n, from_status, to_status from h
        where (n = 1 and (from_status is not null or to_status <> 'new'
                          or changed_at <> lead_created_at
                          or trigger_type not in ('import', 'manual')))
           or (n > 1 and from_status is distinct from previous)
           or (n = total and to_status <> lead_status)
        """,
    )
    assert broken == []
    without = value(
        conn,
        "select count(*) from leads l"
        " where not exists (select 1 from lead_status_history h where h.lead_id = l.id)",
    )
    assert without == 0


def test_score_history_ends_in_the_current_score_with_consistent_factors(conn):
    latest = rows(
        conn,
        """
        select l.id, l.lead_score, s.score, s.factors
        from leads l
        join lateral (
            select score, factors from lead_score_history h
            where h.lead_id = l.id order by calculated_at desc, id limit 1
        ) s on true
        """,
    )
    assert len(latest) == value(conn, "select count(*) from leads")
    for lead_id, lead_score, score, _ in latest:
        assert lead_score == score, lead_id
    for score, factors in rows(conn, "select score, factors from lead_score_history"):
        assert set(factors) == {"qualification", "engagement", "intent", "demographic", "total"}
        assert factors["total"] == score
        parts = [factors[k] for k in ("qualification", "engagement", "intent", "demographic")]
        assert sum(parts) == score and min(parts) >= 0


def test_assignments_end_with_the_current_owner(conn):
    mismatched = rows(
        conn,
        """
        select l.id from leads l
        join lateral (
            select to_user_id from lead_assignments a
            where a.lead_id = l.id order by assigned_at desc, id limit 1
        ) a on true
        where a.to_user_id is distinct from l.user_id
        """,
    )
    assert mismatched == []
    unexplained = value(
        conn,
        "select count(*) from leads l where l.user_id is not null"
        " and not exists (select 1 from lead_assignments a where a.lead_id = l.id)",
    )
    assert unexplained == 0
    strategies = {r[0] for r in rows(conn, "select distinct strategy from lead_assignments")}
    assert {"round_robin", "load_balanced", "territory", "manual"} <= strategies


def test_audit_log_covers_status_score_and_owner_changes(conn):
    fields = dict(rows(conn, "select field_name, count(*) from lead_audit_log group by 1"))
    assert fields["status"] == value(conn, "select count(*) from lead_status_history")
    assert fields["lead_score"] > 0 and fields["user_id"] > 0
    # seeded history predates the import tables (003): no audit row points at a batch
    assert value(conn, "select count(*) from lead_audit_log where import_batch_id is not null") == 0
    assert value(conn, "select count(*) from lead_audit_log where change_source = 'import'") > 0


def test_dnc_list_matches_dnc_leads_per_organization(conn):
    assert dict(rows(conn, "select organization_id::text, count(*) from dnc_list group by 1")) == {
        org: 3 for org in ORGS
    }
    # Every dnc lead is on its own organization's list ...
    assert (
        value(
            conn,
            "select count(*) from leads"
            " where status = 'dnc' and not is_on_dnc_list(phone_number, organization_id)",
        )
        == 0
    )
    # ... and no callable live lead is.
    assert (
        value(
            conn,
            "select count(*) from leads where status <> 'dnc' and deleted_at is null"
            " and is_on_dnc_list(phone_number, organization_id)",
        )
        == 0
    )
    # Org 1 blocks a phone that org 2 may still call (per-organization isolation).
    crossing = rows(
        conn,
        """
        select l.id, l.status from dnc_list d
        join leads l on l.phone_number = d.phone_number
        where d.organization_id = '11111111-1111-4111-8111-111111111111'
          and l.organization_id = '22222222-2222-4222-8222-222222222222'
        """,
    )
    assert len(crossing) == 1 and crossing[0][1] != "dnc"


def test_nurture_sequences_and_enrollments(conn):
    sequences = rows(conn, "select organization_id, steps from nurture_sequences")
    assert len(sequences) == 6
    for _, steps in sequences:
        assert 3 <= len(steps) <= 4
        assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
        for step in steps:
            assert set(step) == {"step", "delay_days", "channel", "template_id"}
            assert step["channel"] in {"sms", "email", "call"}
    enrollments = rows(
        conn,
        """
        select e.status, e.current_step, e.next_step_scheduled_at, e.completed_at,
               jsonb_array_length(s.steps)
        from lead_sequence_enrollments e join nurture_sequences s on s.id = e.sequence_id
        """,
    )
    assert {e[0] for e in enrollments} >= {"active", "paused", "completed", "exited"}
    for status, step, next_at, completed_at, length in enrollments:
        assert 0 <= step <= length
        assert (next_at is not None) == (status == "active")
        if status == "completed":
            assert completed_at is not None and step == length


def test_source_costs_cover_months_users_and_sources(conn):
    periods = {r[0] for r in rows(conn, "select distinct period from lead_source_costs")}
    assert periods == {f"2026-{m:02d}" for m in range(5, 12)}
    assert value(conn, "select count(distinct source) from lead_source_costs") >= 3
    assert value(conn, "select count(distinct user_id) from lead_source_costs") >= 6


def test_segment_counts_match_their_filters(conn):
    leads = rows(
        conn,
        "select organization_id, status, source, lead_score from leads where deleted_at is null",
    )
    segments = rows(conn, "select organization_id, name, filter, lead_count from segments")
    assert len(segments) >= 6
    for org, name, flt, count in segments:
        matching = [
            lead
            for lead in leads
            if lead[0] == org
            and ("status" not in flt or lead[1] in flt["status"])
            and ("source" not in flt or lead[2] in flt["source"])
            and lead[3] >= flt.get("score", {}).get("min", 0)
            and lead[3] <= flt.get("score", {}).get("max", 100)
        ]
        assert count == len(matching), (name, json.dumps(flt))


def test_ledger_balances_are_running_sums(conn):
    per_user: dict = defaultdict(list)
    for user, kind, amount, balance in rows(
        conn,
        "select user_id, transaction_type, amount_usd, balance_after_usd"
        " from budget_transactions order by user_id, seq",
    ):
        per_user[user].append((kind, amount, balance))
    assert len(per_user) == 9  # manager and two agents in each organization
    for user, entries in per_user.items():
        running = Decimal(0)
        for _, amount, balance in entries:
            running += amount
            assert balance == running, user
        assert {e[0] for e in entries} >= {"deposit", "spend"}
        assert value(conn, "select budget_balance(%s)", (user,)) == running
        ordered = rows(
            conn,
            "select created_at from budget_transactions where user_id = %s order by seq",
            (user,),
        )
        assert ordered == sorted(ordered), "seeded in chronological order"


def test_system_config_defaults_and_overrides(conn):
    config = {
        (str(org) if org else None, key): cfg
        for org, key, cfg in rows(
            conn, "select organization_id, config_key, config_value from system_config"
        )
    }
    assert config[(None, "default_region")] == "US"
    assert config[(None, "quarantine_rate_warn")] == 0.05
    assert config[(None, "assignment_strategy")] == "round_robin"
    weights = config[(None, "score_weights")]
    assert weights == {"qualification": 0.3, "engagement": 0.3, "intent": 0.25, "demographic": 0.15}
    org1, org2, org3 = ORGS
    assert [config[(o, "default_region")] for o in (org1, org2, org3)] == ["US", "GB", "AU"]
    assert [config[(o, "assignment_strategy")] for o in (org1, org2, org3)] == [
        "round_robin",
        "load_balanced",
        "territory",
    ]


def _digest(url: str) -> dict[str, tuple[int, str]]:
    with psycopg.connect(url) as c:
        return {
            table: c.execute(
                sql.SQL(
                    "select count(*), md5(coalesce(string_agg(t::text, '|' order by t.id), ''))"
                    " from {} t"
                ).format(sql.Identifier(table))
            ).fetchone()
            for table in TABLES
        }


def test_seed_loads_again_without_changes(seeded_url: str):
    before = _digest(seeded_url)
    load_seed(seeded_url)
    assert _digest(seeded_url) == before
