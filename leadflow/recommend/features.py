"""What the propensity model sees of a lead at a point in time, and how a feature reads in words.

A snapshot is one row per lead of the organization as it stood at time T: nothing after T is
read (activities, status changes, scores, nurture), so a model trained on a past snapshot and
judged on a later one is honest. The label of a snapshot is whether the lead reached
`recruited` within the horizon after T. Leads created after T, and leads already recruited or
DNC at T, are not in the snapshot; a snapshot is only labelled when its horizon has fully
passed (censoring: a young lead is not a negative).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from leadflow.leads.records import STATUS_RANK

CHANNELS = ("call", "sms", "email")

#: numeric features, in the model's column order
NUMERIC_FEATURES = (
    "rule_score",
    "qualification",
    "engagement",
    "intent",
    "demographic",
    "calls",
    "calls_answered",
    "sms",
    "sms_replied",
    "emails",
    "emails_replied",
    "meetings_completed",
    "inbound",
    "failed_attempts",
    "days_since_created",
    "days_since_activity",
    "days_since_contact",
    "status_changes",
    "max_status_rank",
    "status_rank",
    "nurture_step",
    "nurture_active",
    "nurture_completed",
)
#: categorical features (one-hot, unknown values ignored)
CATEGORICAL_FEATURES = ("source",)

#: characters of a category value the model sees (a longer source is cut: a stored model's
#: categories are bounded, see served.py)
MAX_CATEGORY_TEXT = 200

#: a lead with no activity / no contact yet counts as this many days since (a cap, not null)
NEVER_DAYS = 365.0

#: the features that change with time alone, every one an age in days: since the lead was
#: created, since its last activity (not a note), since it was last reached. Each is a step
#: function of the age (`age_bucket`): the largest of AGE_BOUNDARIES_DAYS it has reached, 0
#: before the first. A lead's features therefore change with time only when one of its three
#: ages crosses a boundary, i.e. when its created_at or the time of one of its activities lies
#: a boundary before the as-of: the incremental ranking finds exactly those leads with indexed
#: range scans (store.CHANGED_SQL) instead of scoring everyone. 45 (SILENT_DAYS) and 365
#: (NEVER_DAYS) are boundaries, so the actions' thresholds read the same as on exact ages.
TIME_FEATURES = ("days_since_created", "days_since_activity", "days_since_contact")
AGE_BOUNDARIES_DAYS = (1, 3, 7, 14, 30, 45, 60, 90, 180, 365)


def age_bucket(days: float) -> float:
    """An age in days as the model and the actions see it: the largest boundary reached."""
    reached = 0.0
    for boundary in AGE_BOUNDARIES_DAYS:
        if days >= boundary:
            reached = float(boundary)
        else:
            break
    return reached


def bucket_ages(row: dict) -> dict:
    """The snapshot row with its TIME_FEATURES as buckets (in place; returned for chaining)."""
    for name in TIME_FEATURES:
        row[name] = age_bucket(float(row[name]))
    return row


_RANK_SQL = (
    "case {col} "
    + " ".join(f"when '{s}' then {r}" for s, r in STATUS_RANK.items() if s != "dnc")
    + " else 0 end"
)

#: one row per lead of %(org)s as it stood at %(as_of)s, with the label "recruited within
#: %(horizon)s days after as_of" (null when %(labelled)s is false); %(ids)s: only these leads
#: (null: every one). The ages come out exact: store.snapshot buckets them (age_bucket).
SNAPSHOT_SQL = f"""
with base as (
    select l.id, l.user_id, l.source, l.created_at, l.phone_number, l.organization_id,
           l.status as current_status, l.first_name, l.last_name
    from leads l
    where l.organization_id = %(org)s and l.deleted_at is null and l.created_at <= %(as_of)s
      and (%(ids)s::uuid[] is null or l.id = any(%(ids)s::uuid[]))
),
status_at as (
    select distinct on (h.lead_id) h.lead_id, h.to_status
    from lead_status_history h join base b on b.id = h.lead_id
    where h.changed_at <= %(as_of)s
    order by h.lead_id, h.changed_at desc, h.id desc
),
status_path as (
    select h.lead_id, count(*) as changes,
           max({_RANK_SQL.format(col="h.to_status")}) as max_rank
    from lead_status_history h join base b on b.id = h.lead_id
    where h.changed_at <= %(as_of)s
    group by h.lead_id
),
score_at as (
    select distinct on (s.lead_id) s.lead_id, s.score, s.factors
    from lead_score_history s join base b on b.id = s.lead_id
    where s.calculated_at <= %(as_of)s
    order by s.lead_id, s.calculated_at desc, s.id desc
),
acts as (
    select a.lead_id,
        count(*) filter (where a.activity_type = 'call' and a.direction is distinct from 'inbound') as calls,
        count(*) filter (where a.activity_type = 'call' and a.outcome = 'answered') as calls_answered,
        count(*) filter (where a.activity_type = 'sms' and a.direction is distinct from 'inbound') as sms,
        count(*) filter (where a.activity_type = 'sms' and (a.outcome = 'replied' or a.direction = 'inbound')) as sms_replied,
        count(*) filter (where a.activity_type = 'email' and a.direction is distinct from 'inbound') as emails,
        count(*) filter (where a.activity_type = 'email' and (a.outcome = 'replied' or a.direction = 'inbound')) as emails_replied,
        count(*) filter (where a.activity_type = 'meeting' and a.outcome = 'completed') as meetings_completed,
        count(*) filter (where a.direction = 'inbound') as inbound,
        count(*) filter (where (a.activity_type, coalesce(a.outcome, '')) in
            (('call', 'no_answer'), ('call', 'busy'), ('sms', 'failed'), ('email', 'bounced'),
             ('meeting', 'no_show'))) as failed_attempts,
        max(a.occurred_at) filter (where a.activity_type <> 'note') as last_activity,
        max(a.occurred_at) filter (where
            (a.activity_type = 'call' and a.outcome = 'answered')
            or (a.activity_type in ('sms', 'email') and (a.outcome = 'replied' or a.direction = 'inbound'))
            or (a.activity_type = 'meeting' and a.outcome = 'completed')
            or (a.activity_type = 'call' and a.direction = 'inbound')) as last_contact
    from lead_activities a join base b on b.id = a.lead_id
    where a.organization_id = %(org)s and a.occurred_at <= %(as_of)s
    group by a.lead_id
),
nurture as (
    select e.lead_id, max(e.current_step) as step,
           bool_or(e.status = 'active') as active,
           count(*) filter (where e.status = 'completed') as completed
    from lead_sequence_enrollments e join base b on b.id = e.lead_id
    where e.enrolled_at <= %(as_of)s
    group by e.lead_id
),
outcome as (
    select h.lead_id, true as recruited
    from lead_status_history h join base b on b.id = h.lead_id
    where %(labelled)s and h.to_status = 'recruited'
      and h.changed_at > %(as_of)s
      and h.changed_at <= %(as_of)s + make_interval(days => %(horizon)s)
    group by h.lead_id
)
select b.id::text as lead_id, b.user_id::text as user_id, coalesce(b.source, '') as source,
       b.first_name, b.last_name, b.phone_number,
       -- a past snapshot reads the status history; the present one the lead itself
       case when %(labelled)s then coalesce(st.to_status, 'new') else b.current_status end
           as status,
       coalesce(sc.score, 0) as rule_score,
       coalesce((sc.factors ->> 'qualification')::float, 0) as qualification,
       coalesce((sc.factors ->> 'engagement')::float, 0) as engagement,
       coalesce((sc.factors ->> 'intent')::float, 0) as intent,
       coalesce((sc.factors ->> 'demographic')::float, 0) as demographic,
       coalesce(a.calls, 0) as calls, coalesce(a.calls_answered, 0) as calls_answered,
       coalesce(a.sms, 0) as sms, coalesce(a.sms_replied, 0) as sms_replied,
       coalesce(a.emails, 0) as emails, coalesce(a.emails_replied, 0) as emails_replied,
       coalesce(a.meetings_completed, 0) as meetings_completed,
       coalesce(a.inbound, 0) as inbound, coalesce(a.failed_attempts, 0) as failed_attempts,
       extract(epoch from %(as_of)s - b.created_at) / 86400.0 as days_since_created,
       coalesce(extract(epoch from %(as_of)s - a.last_activity) / 86400.0, {NEVER_DAYS}) as days_since_activity,
       coalesce(extract(epoch from %(as_of)s - a.last_contact) / 86400.0, {NEVER_DAYS}) as days_since_contact,
       coalesce(sp.changes, 0) as status_changes, coalesce(sp.max_rank, 0) as max_status_rank,
       {_RANK_SQL.format(col="case when %(labelled)s then coalesce(st.to_status, 'new') else b.current_status end")}
           as status_rank,
       coalesce(n.step, 0) as nurture_step,
       case when n.active then 1 else 0 end as nurture_active,
       coalesce(n.completed, 0) as nurture_completed,
       exists (select 1 from dnc_list d where d.organization_id = b.organization_id
               and d.phone_number = b.phone_number
               and (not %(labelled)s or d.added_at <= %(as_of)s)) as on_dnc_list,
       case when %(labelled)s then coalesce(o.recruited, false) end as label
from base b
left join status_at st on st.lead_id = b.id
left join status_path sp on sp.lead_id = b.id
left join score_at sc on sc.lead_id = b.id
left join acts a on a.lead_id = b.id
left join nurture n on n.lead_id = b.id
left join outcome o on o.lead_id = b.id
order by b.id
"""


@dataclass(frozen=True)
class Snapshot:
    """Leads as they stood at one time: rows (dicts with every feature), eligible only."""

    as_of: object
    rows: list[dict]


def eligible(row: Mapping) -> bool:
    """A lead the model ranks and recommendations name: not recruited, not DNC (status or
    the organization's list)."""
    return row["status"] not in ("recruited", "dnc") and not row["on_dnc_list"]


def matrix(rows: Sequence[Mapping]) -> list[dict]:
    """Feature dicts in the model's input shape (numbers as floats, categories as text)."""
    return [
        {
            **{name: float(row[name] or 0) for name in NUMERIC_FEATURES},
            **{
                name: str(row[name] or "").lower()[:MAX_CATEGORY_TEXT] or "unknown"
                for name in CATEGORICAL_FEATURES
            },
        }
        for row in rows
    ]


# -- reasons in words ------------------------------------------------------------------------------
def _plural(count: float, word: str) -> str:
    n = int(count)
    return f"{n} {word}{'' if n == 1 else 's'}"


def _age(bucket: float, *, ago: bool = True) -> str:
    """An age bucket in words: "within the last day", "over 14 days ago" / "over 14 days"."""
    if bucket < 1:
        return "within the last day" if ago else "less than a day"
    said = f"over {_plural(bucket, 'day')}"
    return f"{said} ago" if ago else said


def phrase(feature: str, row: Mapping, positive: bool) -> str | None:
    """A feature's value said for an agent ("answered 3 calls"), or None when it says
    nothing worth reading. `positive`: the feature pushes the lead up (else down)."""
    value = row.get(feature)
    if feature.startswith("source="):
        source = feature.split("=", 1)[1]
        return (
            f"comes from {source}, a source that converts"
            if positive
            else f"comes from {source}, a source that rarely converts"
        )
    if value is None:
        return None
    value = float(value)
    said = {
        "rule_score": f"lead score {value:.0f}",
        "qualification": f"qualification {value:.0f}",
        "engagement": f"engagement {value:.0f}",
        "intent": f"intent {value:.0f}",
        "demographic": f"demographic fit {value:.0f}",
        "calls_answered": f"answered {_plural(value, 'call')}",
        "sms_replied": f"replied to {_plural(value, 'SMS')}".replace("SMSs", "SMS"),
        "emails_replied": f"replied to {_plural(value, 'e-mail')}",
        "meetings_completed": f"{_plural(value, 'meeting')} held",
        "inbound": f"reached out {_plural(value, 'time')} on their own",
        "failed_attempts": f"{_plural(value, 'unanswered attempt')}",
        "calls": f"{_plural(value, 'call')} made",
        "sms": f"{_plural(value, 'SMS')} sent".replace("SMSs", "SMS"),
        "emails": f"{_plural(value, 'e-mail')} sent",
        "days_since_contact": (
            "never reached yet" if value >= NEVER_DAYS else f"last reached {_age(value)}"
        ),
        "days_since_activity": (
            "never contacted" if value >= NEVER_DAYS else f"last touched {_age(value)}"
        ),
        "days_since_created": f"in the pipeline for {_age(value, ago=False)}",
        "status_rank": f"status {row.get('status', '')}",
        "max_status_rank": "got further along the funnel before",
        "status_changes": f"{_plural(value, 'status change')}",
        "nurture_step": f"at step {value:.0f} of a nurture sequence",
        "nurture_active": "in an active nurture sequence",
        "nurture_completed": "finished a nurture sequence",
    }.get(feature)
    if said is None or (
        value == 0 and feature not in ("days_since_contact", "days_since_activity")
    ):
        return None
    return said
