"""Lead distribution: which active agent gets each unassigned lead. Pure and deterministic.

Strategies (system_config `assignment_strategy`, organization row, else global, else
round_robin):

round_robin    agents in user-id order, continuing after the agent served last (the cursor
               persisted between runs), so over any run the counts differ by at most one.
load_balanced  the agent with the fewest open leads (their existing load plus what this run
               gave them) gets the next lead; ties go to the smaller user id.
weighted       smooth weighted round robin (nginx's algorithm): every pick adds each agent's
               weight to its "current" value, the largest current wins (ties: smaller user id)
               and loses the sum of the weights. Over n leads an agent with weight w gets
               n * w / sum(weights) leads, +-1; the current values are persisted, so small
               runs (one lead at a time) keep the shares too. Agents absent from
               `assignment_weights` weigh 1; weight 0 takes no leads.
territory      an agent's territories are E.164 prefixes ("+1212") or region codes ("GB", from
               phonenumbers.region_code_for_number). The most specific match wins: a prefix pins
               its digits, a region its country code's digits plus one half (so "+44" < "GB" <
               "+4420"). Several agents on the same territory: fewest open leads, then user id.
               A lead no territory matches goes round robin over all agents (same cursor).

Only the agents passed in are considered: the caller passes the organization's ACTIVE users with
role 'agent' (managers supervise and take leads by manual reassignment only).
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import phonenumbers

STRATEGIES = ("round_robin", "load_balanced", "weighted", "territory")
DEFAULT_STRATEGY = "round_robin"


@dataclass(frozen=True)
class Agent:
    """An active agent who can receive leads, with the configuration that concerns them."""

    user_id: str
    open_leads: int = 0
    weight: float = 1.0
    territories: tuple[str, ...] = ()


@dataclass(frozen=True)
class LeadToAssign:
    lead_id: str
    phone_number: str


class Assignment(NamedTuple):
    lead_id: str
    user_id: str
    reason: str


@dataclass(frozen=True)
class AssignmentState:
    """What one run hands the next: the round robin cursor and the weighted current values."""

    cursor: str | None = None
    weighted_current: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"cursor": self.cursor, "weighted_current": dict(self.weighted_current)}

    @classmethod
    def from_json(cls, value: object) -> AssignmentState:
        """Tolerant: a missing or malformed cursor restarts the rotation, it does not fail."""
        if not isinstance(value, Mapping):
            return cls()
        cursor = value.get("cursor")
        current = value.get("weighted_current")
        return cls(
            cursor=cursor if isinstance(cursor, str) else None,
            weighted_current={
                str(k): float(v)
                for k, v in (current.items() if isinstance(current, Mapping) else ())
                if isinstance(v, int | float) and not isinstance(v, bool)
            },
        )


@dataclass(frozen=True)
class Territory:
    """One territory rule: an E.164 prefix or a region code."""

    spec: str
    prefix: str | None = None
    region: str | None = None

    @classmethod
    def parse(cls, spec: str) -> Territory:
        text = str(spec).strip()
        if text.startswith("+") and text[1:].isdigit() and len(text) >= 2:
            return cls(text, prefix=text)
        if len(text) == 2 and text.isalpha():
            region = text.upper()
            if phonenumbers.country_code_for_region(region) == 0:
                raise ValueError(f"territory {spec!r}: unknown region code")
            return cls(region, region=region)
        raise ValueError(f"territory {spec!r} is neither an E.164 prefix (+1212) nor a region (GB)")

    def specificity(self, phone: str, region: str | None) -> float | None:
        """How precisely this rule matches the phone; None when it does not match."""
        if self.prefix is not None:
            return float(len(self.prefix) - 1) if phone.startswith(self.prefix) else None
        if region is not None and region == self.region:
            return len(str(phonenumbers.country_code_for_region(region))) + 0.5
        return None


def parse_strategy(value: object) -> str:
    """The configured strategy; unknown values are an error, not a silent round robin."""
    if value is None:
        return DEFAULT_STRATEGY
    if value not in STRATEGIES:
        raise ValueError(f"assignment_strategy {value!r} is not one of {STRATEGIES}")
    return str(value)


def region_of(phone: str) -> str | None:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        return None


#: what a strategy returns: the assignments, and the state for the next run
_Planned = tuple[list[Assignment], AssignmentState]


class _RoundRobin:
    """Agents in user-id order; the next agent is the first one after the cursor (wrapping)."""

    def __init__(self, agents: Sequence[Agent], cursor: str | None) -> None:
        self.ids = sorted(agent.user_id for agent in agents)
        self.cursor = cursor

    def next(self) -> tuple[str, int]:
        """(user id, 1-based position in the rotation)."""
        index = 0 if self.cursor is None else bisect.bisect_right(self.ids, self.cursor)
        if index >= len(self.ids):
            index = 0
        self.cursor = self.ids[index]
        return self.cursor, index + 1


def _round_robin(
    leads: list[LeadToAssign], agents: list[Agent], state: AssignmentState
) -> _Planned:
    rotation = _RoundRobin(agents, state.cursor)
    out: list[Assignment] = []
    for lead in leads:
        user, position = rotation.next()
        out.append(Assignment(lead.lead_id, user, f"round robin {position}/{len(agents)}"))
    return out, AssignmentState(rotation.cursor, state.weighted_current)


def _load_balanced(
    leads: list[LeadToAssign], agents: list[Agent], state: AssignmentState
) -> _Planned:
    heap = [(agent.open_leads, agent.user_id) for agent in agents]
    heapq.heapify(heap)
    out: list[Assignment] = []
    for lead in leads:
        load, user = heapq.heappop(heap)
        out.append(Assignment(lead.lead_id, user, f"fewest open leads ({load})"))
        heapq.heappush(heap, (load + 1, user))
    return out, state


def _weighted(leads: list[LeadToAssign], agents: list[Agent], state: AssignmentState) -> _Planned:
    eligible = sorted((a for a in agents if a.weight > 0), key=lambda a: a.user_id)
    if not eligible:
        return [], state
    total = sum(agent.weight for agent in eligible)
    current = {a.user_id: state.weighted_current.get(a.user_id, 0.0) for a in eligible}
    out: list[Assignment] = []
    for lead in leads:
        best: Agent | None = None
        for agent in eligible:
            current[agent.user_id] += agent.weight
            if best is None or current[agent.user_id] > current[best.user_id]:
                best = agent
        assert best is not None  # eligible is not empty
        current[best.user_id] -= total
        out.append(Assignment(lead.lead_id, best.user_id, f"weighted {best.weight:g}/{total:g}"))
    return out, AssignmentState(state.cursor, current)


def _territory(leads: list[LeadToAssign], agents: list[Agent], state: AssignmentState) -> _Planned:
    rules = [(agent, Territory.parse(spec)) for agent in agents for spec in agent.territories]
    load = {agent.user_id: agent.open_leads for agent in agents}
    rotation = _RoundRobin(agents, state.cursor)
    out: list[Assignment] = []
    for lead in leads:
        region = region_of(lead.phone_number)
        matches = [
            (score, agent, rule)
            for agent, rule in rules
            if (score := rule.specificity(lead.phone_number, region)) is not None
        ]
        if matches:
            best = max(score for score, _, _ in matches)
            _, agent, rule = min(
                ((s, a, r) for s, a, r in matches if s == best),
                key=lambda m: (load[m[1].user_id], m[1].user_id),
            )
            user, reason = agent.user_id, f"territory {rule.spec}"
        else:
            user, position = rotation.next()
            where = region or lead.phone_number[:4]
            reason = f"no territory matches {where}; round robin {position}/{len(agents)}"
        load[user] += 1
        out.append(Assignment(lead.lead_id, user, reason))
    return out, AssignmentState(rotation.cursor, state.weighted_current)


_STRATEGIES: dict[str, Callable[[list[LeadToAssign], list[Agent], AssignmentState], _Planned]] = {
    "round_robin": _round_robin,
    "load_balanced": _load_balanced,
    "weighted": _weighted,
    "territory": _territory,
}


def plan(
    leads: Sequence[LeadToAssign],
    agents: Sequence[Agent],
    strategy: str,
    state: AssignmentState | None = None,
) -> tuple[list[Assignment], AssignmentState]:
    """Assign `leads` (in the order given) to `agents`; also return the state for the next run.

    Leads stay unassigned (absent from the result) only when no agent can take them: no agents,
    or all weights 0 under `weighted`.
    """
    state = state or AssignmentState()
    if strategy not in _STRATEGIES:
        raise ValueError(f"unknown assignment strategy {strategy!r}; known: {STRATEGIES}")
    ids = [agent.user_id for agent in agents]
    if len(set(ids)) != len(ids):
        raise ValueError("agents must be distinct")
    if not leads or not agents:
        return [], state
    return _STRATEGIES[strategy](list(leads), list(agents), state)


def assign(
    leads: Sequence[LeadToAssign],
    agents: Sequence[Agent],
    strategy: str,
    state: AssignmentState | None = None,
) -> list[Assignment]:
    """[(lead_id, user_id, reason)] for `leads`; see `plan` for the state handed to the next run."""
    return plan(leads, agents, strategy, state)[0]
