"""`lead_assignments` against the real database, and `leadflow leads assign`."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import datetime

import dagster as dg
import psycopg
import pytest
from click.testing import CliRunner

from leadflow.cli.leads import leads as leads_cli
from leadflow.crm.assets import lead_assignments
from leadflow.crm.assignment_sql import ReassignError, reassign_lead
from leadflow.resources import PostgresResource
from tests.integration.conftest import ORG1, ORG2, ORG2_AGENT, one

pytestmark = pytest.mark.integration

ORG3 = "33333333-3333-4333-8333-333333333333"
ORG1_MANAGER = "a1000000-0000-4000-8000-000000000002"
ORG1_AGENT_3 = "a1000000-0000-4000-8000-000000000003"
ORG1_AGENT_4 = "a1000000-0000-4000-8000-000000000004"
ORG3_AGENT_3 = "a3000000-0000-4000-8000-000000000003"
ORG3_AGENT_4 = "a3000000-0000-4000-8000-000000000004"
AS_OF = "2026-12-01T09:00:00+00:00"


def lead(org: int, n: int) -> str:
    return f"b{org}000000-0000-4000-8000-{n:012d}"


def materialize(url: str, as_of: str = AS_OF) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [lead_assignments],
        resources={"postgres": PostgresResource(url=url)},
        run_config={"ops": {"lead_assignments": {"config": {"as_of": as_of}}}},
    )
    assert result.success
    return result


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    [event] = result.get_asset_materialization_events()
    return {key: value.value for key, value in event.materialization.metadata.items()}


def owners(conn: psycopg.Connection, lead_ids: list[str]) -> dict[str, str | None]:
    rows = conn.execute(
        "select id::text, user_id::text from leads where id = any(%s::uuid[])", (lead_ids,)
    )
    return dict(rows.fetchall())


def set_config(conn: psycopg.Connection, org: str, key: str, value: object) -> None:
    conn.execute(
        """
        insert into system_config (organization_id, config_key, config_value)
        values (%s, %s, %s::jsonb)
        on conflict (organization_id, config_key) where organization_id is not null
        do update set config_value = excluded.config_value
        """,
        (org, key, json.dumps(value)),
    )


def new_org(conn: psycopg.Connection, strategy: str, agents: int) -> tuple[str, list[str]]:
    """An organization with `agents` active agents (ids sort in creation order)."""
    org = str(uuid.uuid4())
    conn.execute("insert into organizations (id, name) values (%s, 'Test org')", (org,))
    users = [f"{i:08x}-0000-4000-8000-{org[-12:]}" for i in range(1, agents + 1)]
    for i, user in enumerate(users, 1):
        conn.execute(
            "insert into users (id, organization_id, email, role) values (%s, %s, %s, 'agent')",
            (user, org, f"agent{i}@test.example.com"),
        )
    set_config(conn, org, "assignment_strategy", strategy)
    return org, users


def add_leads(
    conn: psycopg.Connection,
    org: str,
    count: int,
    *,
    owner: str | None = None,
    status: str = "new",
    phone_base: int = 16462000000,
    created: str = "2026-11-20 10:00:00+00",
) -> list[str]:
    """`count` leads with consecutive +1646… phones, created one second apart."""
    rows = conn.execute(
        """
        insert into leads (organization_id, user_id, phone_number, status, created_at)
        select %(org)s, %(owner)s, '+' || (%(base)s::bigint + i)::text, %(status)s,
               %(created)s::timestamptz + make_interval(secs => i)
        from generate_series(0, %(count)s - 1) as i
        returning id::text
        """,
        {
            "org": org,
            "owner": owner,
            "base": phone_base,
            "status": status,
            "count": count,
            "created": created,
        },
    )
    return [row[0] for row in rows.fetchall()]


def per_user(conn: psycopg.Connection, lead_ids: list[str]) -> Counter:
    return Counter(owners(conn, lead_ids).values())


def test_seed_leads_are_distributed_with_each_organizations_strategy(crm_url, connect):
    result = materialize(crm_url)
    with connect() as conn:
        assert owners(conn, [lead(1, 1), lead(1, 2), lead(1, 19)]) == {
            lead(1, 1): ORG1_AGENT_3,  # round robin from the start, user-id order
            lead(1, 2): ORG1_AGENT_4,
            lead(1, 19): None,  # dnc: never assigned
        }
        # load balanced: agent 3 holds 6 open leads, agent 4 holds 5 (its cold and recruited
        # leads do not count): 4 gets the first, then the 6/6 tie goes to the smaller id
        assert owners(conn, [lead(2, 1), lead(2, 2), lead(2, 19)]) == {
            lead(2, 1): "a2000000-0000-4000-8000-000000000004",
            lead(2, 2): "a2000000-0000-4000-8000-000000000003",
            lead(2, 19): None,
        }
        # territory without territories configured: everything falls back to round robin
        assert owners(conn, [lead(3, 1), lead(3, 2)]) == {
            lead(3, 1): ORG3_AGENT_3,
            lead(3, 2): ORG3_AGENT_4,
        }
        rows = conn.execute(
            """
            select a.lead_id::text, a.from_user_id, a.to_user_id::text, a.strategy, a.reason,
                   a.assigned_at
            from lead_assignments a
            where a.assigned_at = %s
            order by a.lead_id
            """,
            (datetime.fromisoformat(AS_OF),),
        ).fetchall()
        assert [(r[0], r[3]) for r in rows] == [
            (lead(1, 1), "round_robin"),
            (lead(1, 2), "round_robin"),
            (lead(2, 1), "load_balanced"),
            (lead(2, 2), "load_balanced"),
            (lead(3, 1), "territory"),
            (lead(3, 2), "territory"),
        ]
        assert all(r[1] is None for r in rows)
        assert rows[2][4] == "fewest open leads (5)"
        assert rows[4][4] == "no territory matches AU; round robin 1/2"
        audit = conn.execute(
            "select count(*) from lead_audit_log where change_source = 'assignment'"
            " and field_name = 'user_id' and old_value is null and changed_at = %s",
            (datetime.fromisoformat(AS_OF),),
        ).fetchone()[0]
        assert audit == 6
        cursor = one(
            conn,
            "select config_value from system_config"
            " where organization_id = %s and config_key = 'assignment_cursor'",
            (ORG1,),
        )[0]
        assert cursor["cursor"] == ORG1_AGENT_4
    meta = metadata(result)
    assert (meta["waiting"], meta["assigned"], meta["left_unassigned"]) == (6, 6, 0)
    assert meta["by_organization"][ORG1]["per_agent"] == {ORG1_AGENT_3: 1, ORG1_AGENT_4: 1}

    again = metadata(materialize(crm_url, "2026-12-02T09:00:00+00:00"))
    assert (again["waiting"], again["assigned"]) == (0, 0)


def test_round_robin_is_even_and_continues_across_runs(crm_url, connect):
    with connect() as conn:
        org, agents = new_org(conn, "round_robin", 3)
        first = add_leads(conn, org, 100)
    materialize(crm_url)
    with connect() as conn:
        assert per_user(conn, first) == {agents[0]: 34, agents[1]: 33, agents[2]: 33}
        second = add_leads(conn, org, 2, phone_base=16463000000, created="2026-11-21 10:00:00+00")
    materialize(crm_url, "2026-12-02T09:00:00+00:00")
    with connect() as conn:
        assert owners(conn, second) == {second[0]: agents[1], second[1]: agents[2]}
        assert per_user(conn, first + second) == {user: 34 for user in agents}
        history = conn.execute(
            "select count(*) from lead_assignments a join leads l on l.id = a.lead_id"
            " where l.organization_id = %s and a.strategy = 'round_robin'",
            (org,),
        ).fetchone()[0]
        assert history == 102


def test_load_balanced_equalizes_existing_loads(crm_url, connect):
    with connect() as conn:
        org, (x, y, z) = new_org(conn, "load_balanced", 3)
        add_leads(conn, org, 5, owner=x, phone_base=16464000000)
        add_leads(conn, org, 2, owner=z, phone_base=16464000100)
        # closed leads do not count towards the load
        add_leads(conn, org, 1, owner=y, status="recruited", phone_base=16464000200)
        add_leads(conn, org, 1, owner=y, status="cold", phone_base=16464000300)
        add_leads(conn, org, 1, owner=y, status="dnc", phone_base=16464000400)
        waiting = add_leads(conn, org, 7, phone_base=16464000500)
    materialize(crm_url)
    with connect() as conn:
        assert per_user(conn, waiting) == {y: 5, z: 2}
        loads = dict(
            conn.execute(
                "select user_id::text, count(*) from leads where organization_id = %s"
                " and status not in ('recruited', 'cold', 'dnc') group by user_id",
                (org,),
            ).fetchall()
        )
        assert loads == {x: 5, y: 5, z: 4}


def test_weighted_shares_track_the_weights(crm_url, connect):
    with connect() as conn:
        org, (x, y, z) = new_org(conn, "weighted", 3)
        set_config(conn, org, "assignment_weights", {x: 1, y: 2, z: 3})
        waiting = add_leads(conn, org, 1000)
    meta = metadata(materialize(crm_url))
    with connect() as conn:
        shares = per_user(conn, waiting)
        assert shares == {x: 167, y: 333, z: 500}  # 166 cycles C B A C B C, then C B A C
        for user, weight in ((x, 1), (y, 2), (z, 3)):
            assert abs(shares[user] / 1000 - weight / 6) <= 0.03
        reasons = Counter(
            row[0]
            for row in conn.execute(
                "select reason from lead_assignments where lead_id = any(%s::uuid[])", (waiting,)
            )
        )
        assert reasons == {"weighted 1/6": 167, "weighted 2/6": 333, "weighted 3/6": 500}
    assert meta["by_organization"][org]["assigned"] == 1000


def test_territory_routing_and_round_robin_fallback(crm_url, connect):
    with connect() as conn:
        set_config(
            conn,
            ORG3,
            "assignment_territories",
            {ORG3_AGENT_3: ["+612"], ORG3_AGENT_4: ["+614", "gb"]},
        )
        london = add_leads(conn, ORG3, 1, phone_base=442079460999)[0]
        auckland, wellington = add_leads(conn, ORG3, 2, phone_base=6495550100)
    materialize(crm_url)
    with connect() as conn:
        assert owners(conn, [lead(3, 1), lead(3, 2), london, auckland, wellington]) == {
            lead(3, 1): ORG3_AGENT_3,  # +61 2 …
            lead(3, 2): ORG3_AGENT_4,  # +61 4 …
            london: ORG3_AGENT_4,  # GB
            auckland: ORG3_AGENT_3,  # NZ: round robin 1/2
            wellington: ORG3_AGENT_4,  # round robin 2/2
        }
        reasons = dict(
            conn.execute(
                "select lead_id::text, reason from lead_assignments where lead_id = any(%s::uuid[])",
                ([lead(3, 1), london, auckland],),
            ).fetchall()
        )
        assert reasons == {
            lead(3, 1): "territory +612",
            london: "territory GB",
            auckland: "no territory matches NZ; round robin 1/2",
        }


def test_dnc_recruited_and_dnc_listed_leads_are_never_assigned(crm_url, connect):
    with connect() as conn:
        recruited = add_leads(conn, ORG1, 1, status="recruited")[0]
        listed = add_leads(conn, ORG1, 1, phone_base=16465000000)[0]
        conn.execute(
            "insert into dnc_list (organization_id, phone_number, reason)"
            " values (%s, '+16465000000', 'asked')",
            (ORG1,),
        )
        # another organization's DNC list does not concern ORG1's lead
        other_listed = add_leads(conn, ORG1, 1, phone_base=16465000001)[0]
        conn.execute(
            "insert into dnc_list (organization_id, phone_number) values (%s, '+16465000001')",
            (ORG2,),
        )
    meta = metadata(materialize(crm_url))
    with connect() as conn:
        result = owners(conn, [recruited, listed, other_listed, lead(1, 19), lead(2, 19)])
        assert result[recruited] is None and result[listed] is None
        assert result[lead(1, 19)] is None and result[lead(2, 19)] is None
        assert result[other_listed] is not None
        assigned_dnc = conn.execute(
            "select count(*) from lead_assignments a join leads l on l.id = a.lead_id"
            " where l.status in ('dnc', 'recruited') and a.assigned_at = %s",
            (datetime.fromisoformat(AS_OF),),
        ).fetchone()[0]
        assert assigned_dnc == 0
    assert meta["skipped_dnc_list"] == 1


def test_inactive_users_and_managers_never_get_leads(crm_url, connect):
    with connect() as conn:
        conn.execute("update users set is_active = false where id = %s", (ORG1_AGENT_4,))
        waiting = add_leads(conn, ORG1, 10)
    materialize(crm_url)
    with connect() as conn:
        assert per_user(conn, [*waiting, lead(1, 1), lead(1, 2)]) == {ORG1_AGENT_3: 12}


def test_an_organization_without_agents_keeps_its_leads_waiting(crm_url, connect):
    with connect() as conn:
        org, _ = new_org(conn, "round_robin", 0)
        waiting = add_leads(conn, org, 3)
    meta = metadata(materialize(crm_url))
    with connect() as conn:
        assert set(owners(conn, waiting).values()) == {None}
    assert meta["by_organization"][org] == {
        "strategy": "round_robin",
        "agents": 0,
        "waiting": 3,
        "assigned": 0,
        "per_agent": {},
    }


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("assignment_strategy", "random", "assignment_strategy 'random'"),
        ("assignment_weights", {ORG2_AGENT: -1}, "must be a number >= 0"),
        ("assignment_weights", {"nobody": 1}, "badly formed"),
        ("assignment_territories", {ORG2_AGENT: ["Manhattan"]}, "territory 'Manhattan'"),
        ("assignment_territories", {ORG2_AGENT: "GB"}, "must be a list"),
    ],
)
def test_bad_configuration_fails_before_anything_is_written(crm_url, connect, key, value, message):
    with connect() as conn:
        set_config(conn, ORG2, key, value)
        before = one(conn, "select count(*) from lead_assignments")[0]
    result = dg.materialize(
        [lead_assignments],
        resources={"postgres": PostgresResource(url=crm_url)},
        raise_on_error=False,
    )
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert message in str(failure.event_specific_data.error)
    assert ORG2 in str(failure.event_specific_data.error)
    with connect() as conn:
        assert owners(conn, [lead(1, 1)]) == {lead(1, 1): None}
        assert one(conn, "select count(*) from lead_assignments")[0] == before


# -- manual reassignment ----------------------------------------------------------------------
def run_cli(url: str, *args: str):
    return CliRunner().invoke(leads_cli, ["assign", *args], env={"POSTGRES_URL": url})


def test_cli_assigns_an_unassigned_lead_then_reassigns_it(crm_url, connect):
    first = run_cli(crm_url, lead(1, 1), "--to", ORG1_AGENT_3, "--reason", "speaks Spanish")
    assert first.exit_code == 0, first.output
    assert first.output == (
        f"lead {lead(1, 1)} (Emily Johnson): unassigned -> priya.patel@summit.example.com "
        f"({ORG1_AGENT_3}) (manual: speaks Spanish)\n"
    )
    second = run_cli(crm_url, lead(1, 1), "--to", ORG1_MANAGER, "--by", ORG1_MANAGER)
    assert second.exit_code == 0, second.output
    assert "priya.patel@summit.example.com" in second.output and "-> daniel.brooks" in second.output
    with connect() as conn:
        rows = conn.execute(
            """
            select from_user_id::text, to_user_id::text, strategy, reason, assigned_by::text
            from lead_assignments where lead_id = %s order by assigned_at, from_user_id nulls first
            """,
            (lead(1, 1),),
        ).fetchall()
        assert rows == [
            (None, ORG1_AGENT_3, "manual", "speaks Spanish", None),
            (ORG1_AGENT_3, ORG1_MANAGER, "manual", None, ORG1_MANAGER),
        ]
        assert owners(conn, [lead(1, 1)]) == {lead(1, 1): ORG1_MANAGER}
        audit = conn.execute(
            "select old_value, new_value, changed_by::text, change_source from lead_audit_log"
            " where lead_id = %s and field_name = 'user_id' order by old_value nulls first",
            (lead(1, 1),),
        ).fetchall()
        assert audit == [
            (None, ORG1_AGENT_3, None, "assignment"),
            (ORG1_AGENT_3, ORG1_MANAGER, ORG1_MANAGER, "assignment"),
        ]


def test_cli_reassigning_to_the_current_owner_changes_nothing(crm_url, connect):
    with connect() as conn:
        before = one(conn, "select count(*) from lead_assignments")[0]
    result = run_cli(crm_url, lead(1, 3), "--to", ORG1_AGENT_3)
    assert result.exit_code == 0
    assert "already owned by priya.patel@summit.example.com" in result.output
    with connect() as conn:
        assert one(conn, "select count(*) from lead_assignments")[0] == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((lead(1, 99), "--to", ORG1_AGENT_3), "does not exist"),
        ((lead(1, 1), "--to", "a1000000-0000-4000-8000-000000000099"), "unknown user --to"),
        ((lead(1, 1), "--to", ORG2_AGENT), "belongs to organization"),
        ((lead(1, 19), "--to", ORG1_AGENT_3), "has status dnc"),
        ((lead(1, 20), "--to", ORG1_AGENT_4), "has status dnc"),
        ((lead(1, 16), "--to", ORG1_AGENT_4), "was deleted"),
        ((lead(1, 1), "--to", ORG1_AGENT_3, "--by", ORG2_AGENT), "acting user"),
    ],
)
def test_cli_refusals_exit_2_and_write_nothing(crm_url, connect, args, message):
    """A refused reassignment is a bad request (exit 2): nothing was written."""
    with connect() as conn:
        before = one(conn, "select count(*) from lead_assignments")[0]
    result = run_cli(crm_url, *args)
    assert result.exit_code == 2
    assert message in result.output and "leadflow: error:" in result.output
    with connect() as conn:
        assert one(conn, "select count(*) from lead_assignments")[0] == before
        assert owners(conn, [lead(1, 1)]) == {lead(1, 1): None}


def test_cli_refuses_inactive_users_and_dnc_listed_phones(crm_url, connect):
    with connect() as conn:
        conn.execute("update users set is_active = false where id = %s", (ORG1_AGENT_4,))
        listed = add_leads(conn, ORG1, 1, phone_base=16465000000)[0]
        conn.execute(
            "insert into dnc_list (organization_id, phone_number) values (%s, '+16465000000')",
            (ORG1,),
        )
    inactive = run_cli(crm_url, lead(1, 1), "--to", ORG1_AGENT_4)
    assert inactive.exit_code == 2 and "is inactive" in inactive.output
    dnc = run_cli(crm_url, listed, "--to", ORG1_AGENT_3)
    assert dnc.exit_code == 2 and "phone on the DNC list" in dnc.output


def test_cli_rejects_malformed_uuids_as_usage_errors(crm_url):
    result = run_cli(crm_url, "not-a-uuid", "--to", ORG1_AGENT_3)
    assert result.exit_code == 2


def test_reassign_lead_function_and_other_organizations_dnc_lists(crm_url, connect):
    # org 1's DNC list holds the phone of org 2's hot lead 12: org 2 may still work it
    with connect() as conn:
        result = reassign_lead(conn, lead(2, 12), ORG2_AGENT, "coverage")
        assert result.changed
        assert result.from_user_id == "a2000000-0000-4000-8000-000000000004"
        assert result.to_user_id == ORG2_AGENT
    with connect() as conn:
        assert owners(conn, [lead(2, 12)]) == {lead(2, 12): ORG2_AGENT}
        with pytest.raises(ReassignError, match="not a UUID"):
            reassign_lead(conn, "nope", ORG2_AGENT)


def test_cli_an_email_of_users_of_two_other_organizations_is_refused_in_its_words(crm_url, connect):
    """No `--org` to give: `leads assign` says the e-mail is no user of the lead's
    organization (it names users of two others) and lists the organization's own."""
    shared = "temp.agent@staffing.example.com"
    with connect() as conn:
        for org in (ORG2, ORG3):
            conn.execute(
                "insert into users (organization_id, email, first_name, last_name, role)"
                " values (%s, %s, 'Temp', 'Agent', 'agent')",
                (org, shared),
            )
    result = run_cli(crm_url, lead(1, 1), "--to", shared)
    assert result.exit_code == 2, result.output
    assert f"is not a user of organization {ORG1}" in result.output
    assert "give --org" not in result.output
    with connect() as conn:
        assert owners(conn, [lead(1, 1)]) == {lead(1, 1): None}
