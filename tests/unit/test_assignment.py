"""Lead distribution strategies: evenness, continuity, load, weights, territories."""

from __future__ import annotations

from collections import Counter

import pytest

from leadflow.crm.assignment import (
    Agent,
    AssignmentState,
    LeadToAssign,
    Territory,
    assign,
    parse_strategy,
    plan,
)

A = "a0000000-0000-4000-8000-00000000000a"
B = "b0000000-0000-4000-8000-00000000000b"
C = "c0000000-0000-4000-8000-00000000000c"


def leads(n: int, phone: str = "+12125550100", start: int = 0) -> list[LeadToAssign]:
    return [LeadToAssign(f"lead-{i:05d}", phone) for i in range(start, start + n)]


def counts(assignments) -> Counter:
    return Counter(user for _, user, _ in assignments)


def test_round_robin_is_even_over_100_leads_and_3_agents():
    agents = [Agent(C), Agent(A), Agent(B)]  # order given does not matter: user-id order
    assignments, state = plan(leads(100), agents, "round_robin")
    assert [user for _, user, _ in assignments[:4]] == [A, B, C, A]
    assert counts(assignments) == {A: 34, B: 33, C: 33}
    assert state.cursor == A
    assert assignments[0].reason == "round robin 1/3"


def test_round_robin_continues_where_the_last_run_stopped():
    agents = [Agent(A), Agent(B), Agent(C)]
    first, state = plan(leads(100), agents, "round_robin")
    second, state = plan(leads(2, start=100), agents, "round_robin", state)
    assert [user for _, user, _ in second] == [B, C]
    assert counts(first + second) == {A: 34, B: 34, C: 34}
    # the state survives its JSON round trip (system_config)
    assert AssignmentState.from_json(state.to_json()) == state


def test_round_robin_cursor_of_a_departed_agent_moves_on_to_the_next_id():
    state = AssignmentState(cursor=B)  # B left; the rotation continues after B's place
    assert [u for _, u, _ in assign(leads(3), [Agent(A), Agent(C)], "round_robin", state)] == [
        C,
        A,
        C,
    ]


def test_evenness_holds_for_any_batch_split():
    agents = [Agent(A), Agent(B), Agent(C)]
    state = AssignmentState()
    total: Counter = Counter()
    for size in (1, 5, 2, 7, 1, 1, 13):
        run, state = plan(leads(size), agents, "round_robin", state)
        assert max(counts(run).values()) - min(counts(run).get(x, 0) for x in (A, B, C)) <= 1
        total += counts(run)
    assert max(total.values()) - min(total.values()) <= 1


def test_load_balanced_fills_the_emptiest_agents_first():
    agents = [Agent(A, open_leads=5), Agent(B, open_leads=0), Agent(C, open_leads=2)]
    assignments = assign(leads(7), agents, "load_balanced")
    # B 0,1,2 -> tie with C at 2 (B wins on id) -> C, B, C, B: loads end 5/5/4
    assert [user for _, user, _ in assignments] == [B, B, B, C, B, C, B]
    loads = {a.user_id: a.open_leads + counts(assignments)[a.user_id] for a in agents}
    assert loads == {A: 5, B: 5, C: 4}
    assert assignments[0].reason == "fewest open leads (0)"


def test_weighted_tracks_the_weights_1_2_3_over_1000_leads():
    agents = [Agent(A, weight=1), Agent(B, weight=2), Agent(C, weight=3)]
    assignments, _ = plan(leads(1000), agents, "weighted")
    # smooth WRR cycle of 6 for 1/2/3 is C B A C B C; 1000 = 166 cycles + C B A C
    assert [user for _, user, _ in assignments[:6]] == [C, B, A, C, B, C]
    share = counts(assignments)
    assert share == {A: 167, B: 333, C: 500}
    for user, weight in ((A, 1), (B, 2), (C, 3)):
        assert abs(share[user] / 1000 - weight / 6) <= 0.03
    assert assignments[0].reason == "weighted 3/6"


def test_weighted_keeps_the_shares_when_leads_arrive_one_at_a_time():
    agents = [Agent(A, weight=1), Agent(B, weight=2), Agent(C, weight=3)]
    state = AssignmentState()
    total: Counter = Counter()
    for i in range(600):
        run, state = plan(leads(1, start=i), agents, "weighted", state)
        state = AssignmentState.from_json(state.to_json())
        total += counts(run)
    assert total == {A: 100, B: 200, C: 300}


def test_weighted_zero_weight_takes_nothing_and_all_zero_assigns_nothing():
    agents = [Agent(A, weight=0), Agent(B, weight=1)]
    assert counts(assign(leads(10), agents, "weighted")) == {B: 10}
    assert assign(leads(3), [Agent(A, weight=0)], "weighted") == []


def test_territory_routes_by_most_specific_prefix_or_region_and_falls_back():
    agents = [
        Agent(A, territories=("+1212", "+1646")),
        Agent(B, territories=("US",)),
        Agent(C, territories=("GB", "+1")),
    ]
    batch = [
        LeadToAssign("manhattan", "+12125550100"),  # +1212 (4 digits) beats US (1.5) and +1 (1)
        LeadToAssign("queens", "+17185550100"),  # US beats +1
        LeadToAssign("toronto", "+14165550100"),  # CA: only +1 matches
        LeadToAssign("london", "+442079460000"),  # GB
        LeadToAssign("sydney", "+61255509912"),  # nothing: round robin from the start
        LeadToAssign("paris", "+33142685300"),  # nothing: round robin continues
    ]
    assignments, state = plan(batch, agents, "territory")
    by_lead = {lead: (user, reason) for lead, user, reason in assignments}
    assert by_lead["manhattan"] == (A, "territory +1212")
    assert by_lead["queens"] == (B, "territory US")
    assert by_lead["toronto"] == (C, "territory +1")
    assert by_lead["london"] == (C, "territory GB")
    assert by_lead["sydney"] == (A, "no territory matches AU; round robin 1/3")
    assert by_lead["paris"] == (B, "no territory matches FR; round robin 2/3")
    assert state.cursor == B


def test_territory_shared_by_two_agents_goes_to_the_lighter_one():
    agents = [Agent(A, open_leads=3, territories=("GB",)), Agent(B, territories=("GB",))]
    assignments = assign(leads(5, phone="+442079460000"), agents, "territory")
    assert counts(assignments) == {B: 4, A: 1}


def test_territory_specs_are_validated():
    assert Territory.parse(" gb ").region == "GB"
    assert Territory.parse("+1212").prefix == "+1212"
    for bad in ("+", "+12a", "XX", "Manhattan", "1212"):
        with pytest.raises(ValueError, match="territory"):
            Territory.parse(bad)


def test_no_agents_means_nothing_is_assigned():
    assert assign(leads(5), [], "round_robin") == []
    assert assign([], [Agent(A)], "round_robin") == []


def test_same_inputs_same_assignments():
    agents = [Agent(A, 2, 1.5, ("US",)), Agent(B, 0, 2.5, ("+1212",)), Agent(C, 1, 1, ("GB",))]
    for strategy in ("round_robin", "load_balanced", "weighted", "territory"):
        state = AssignmentState(cursor=A, weighted_current={A: 0.5, B: -1.0, C: 0.5})
        assert plan(leads(50), agents, strategy, state) == plan(leads(50), agents, strategy, state)


def test_strategy_names_are_validated():
    assert parse_strategy(None) == "round_robin"
    assert parse_strategy("territory") == "territory"
    with pytest.raises(ValueError, match="assignment_strategy"):
        parse_strategy("random")
    with pytest.raises(ValueError, match="unknown assignment strategy"):
        assign(leads(1), [Agent(A)], "random")
    with pytest.raises(ValueError, match="distinct"):
        assign(leads(1), [Agent(A), Agent(A)], "round_robin")


def test_state_from_malformed_json_restarts_the_rotation():
    assert AssignmentState.from_json(None) == AssignmentState()
    assert AssignmentState.from_json({"cursor": 3, "weighted_current": {"x": "1"}}) == (
        AssignmentState()
    )
