"""What the report shows, read from the `analytics` marts (plus `organizations` for names).

Every number comes from a mart dbt built, so the report agrees with what analysts query; the
records here hold those numbers and the ratios recomputed from summed counts, and know nothing
of HTML. The funnel's stage order is the dbt var `funnel_stages` (see `project.funnel_stages`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from leadflow.analytics.project import funnel_stages
from leadflow.analytics.report.formatting import DASH, clip
from leadflow.leads.ids import canonical_uuid
from leadflow.postgres import one_row, set_tenant

#: marts `leadflow demo` previews, in this order
MARTS = (
    "lead_funnel",
    "source_roi",
    "lead_score_trends",
    "organization_score_trends",
    "agent_coaching",
    "lead_timeline",
    "lead_stage_history",
    "segment_sizes",
    "recommendation_mix",
)
#: marts the report reads; any of them missing is a ReportError
REPORT_MARTS = (
    "lead_funnel",
    "source_roi",
    "organization_score_trends",
    "lead_score_trends",
    "agent_coaching",
    "lead_timeline",
)
MISSING_MARTS = "run `leadflow run` (or `make demo`) first to build the analytics marts"
TREND_WEEKS = 52
MOVERS = 5
COACHING_WEEKS = 4


class ReportError(RuntimeError):
    """The report cannot be produced; the message is one line meant for the user."""


# -- records ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Organization:
    id: uuid.UUID
    name: str
    slug: str | None
    timezone: str = "UTC"


@dataclass(frozen=True)
class FunnelStage:
    stage: str
    count: int
    step_rate: float | None
    cumulative_rate: float | None


@dataclass
class Funnel:
    """Stage counts of one scope (organization or all), summed over `lead_funnel` rows."""

    leads_entered: int = 0
    reached: dict[str, int] = field(default_factory=dict)
    exited_cold: int = 0
    exited_dnc: int = 0
    mart_rows: int = 0

    @property
    def is_empty(self) -> bool:
        return self.mart_rows == 0

    def stages(self) -> list[FunnelStage]:
        """Every funnel stage in order with its step rate (of the previous stage) and its
        cumulative rate (of the first stage, which every lead entered reaches)."""
        stages = funnel_stages()
        rows: list[FunnelStage] = []
        first = self.reached.get(stages[0], 0)
        previous: int | None = None
        for stage in stages:
            count = self.reached.get(stage, 0)
            step = None if previous is None else _ratio(count, previous)
            rows.append(FunnelStage(stage, count, step, _ratio(count, first)))
            previous = count
        return rows

    def exits(self) -> list[FunnelStage]:
        first = self.reached.get(funnel_stages()[0], 0)
        return [
            FunnelStage("cold", self.exited_cold, None, _ratio(self.exited_cold, first)),
            FunnelStage("dnc", self.exited_dnc, None, _ratio(self.exited_dnc, first)),
        ]


@dataclass(frozen=True)
class SourceRoi:
    source: str | None
    leads: int
    recruited: int
    cost_usd: float | None
    #: a total over several sources: the leads and recruits of the sources WITH cost data, the
    #: only ones its cost may be divided by (None: this row's own leads and recruits)
    priced_leads: int | None = None
    priced_recruited: int | None = None

    @property
    def cost_per_lead(self) -> float | None:
        leads = self.leads if self.priced_leads is None else self.priced_leads
        return None if self.cost_usd is None else _ratio(self.cost_usd, leads)

    @property
    def conversion_rate(self) -> float | None:
        return _ratio(self.recruited, self.leads)

    @property
    def cost_per_recruit(self) -> float | None:
        recruited = self.recruited if self.priced_recruited is None else self.priced_recruited
        return None if self.cost_usd is None else _ratio(self.cost_usd, recruited)

    @property
    def spend_without_recruits(self) -> bool:
        """Money spent (more than 0) and no recruit: cost per recruit is undefined, not 0."""
        return self.cost_usd is not None and self.cost_usd > 0 and self.recruited == 0


@dataclass(frozen=True)
class ScorePoint:
    week_start: date
    leads_scored: int
    avg_score: float | None
    median_score: float | None
    p90_score: float | None


@dataclass(frozen=True)
class ScoreMover:
    lead_id: str
    source: str | None
    owner_name: str | None
    delta: float
    lead_name: str | None = None


@dataclass(frozen=True)
class CoachingRow:
    user_id: str
    user_name: str | None
    week_start: date
    leads_assigned: int
    contacted_within_24h_share: float | None
    median_hours_to_first_contact: float | None
    activities_per_lead: float | None
    conversions: int
    org_avg_leads_assigned: float | None
    org_avg_contacted_within_24h_share: float | None
    org_avg_median_hours_to_first_contact: float | None
    org_avg_activities_per_lead: float | None
    org_avg_conversions: float | None


@dataclass
class OrganizationReport:
    organization: Organization
    funnel: Funnel = field(default_factory=Funnel)
    roi: list[SourceRoi] = field(default_factory=list)
    score_trend: list[ScorePoint] = field(default_factory=list)
    movers_week: date | None = None
    risers: list[ScoreMover] = field(default_factory=list)
    fallers: list[ScoreMover] = field(default_factory=list)
    coaching: list[CoachingRow] = field(default_factory=list)
    data_as_of: datetime | None = None


@dataclass
class ReportData:
    generated_at: datetime
    organizations: list[OrganizationReport]
    all_organizations: bool = False
    overall_funnel: Funnel | None = None

    @property
    def scope(self) -> str:
        if self.all_organizations or len(self.organizations) != 1:
            return "All organizations"
        return self.organizations[0].organization.name

    @property
    def data_as_of(self) -> datetime | None:
        stamps = [org.data_as_of for org in self.organizations if org.data_as_of is not None]
        return max(stamps) if stamps else None

    def section_counts(self) -> dict[str, int]:
        """Rows behind each section: lead_funnel rows summed, then rows shown per table/chart."""
        orgs = self.organizations
        funnel_rows = sum(org.funnel.mart_rows for org in orgs)
        if self.overall_funnel is not None:
            funnel_rows = self.overall_funnel.mart_rows
        return {
            "funnel": funnel_rows,
            "roi": sum(len(org.roi) for org in orgs),
            "score_trends": sum(len(org.score_trend) for org in orgs),
            "score_movers": sum(len(org.risers) + len(org.fallers) for org in orgs),
            "coaching": sum(len(org.coaching) for org in orgs),
        }


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    organizations: list[Organization]
    bytes: int
    sections: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "bytes": self.bytes,
            "organizations": [
                {"id": str(org.id), "slug": org.slug, "name": org.name}
                for org in self.organizations
            ],
            "sections": dict(self.sections),
        }


# -- reading the marts ------------------------------------------------------------------------
def missing_marts(conn: psycopg.Connection, marts: Sequence[str] = REPORT_MARTS) -> list[str]:
    rows = conn.execute(
        "select mart from unnest(%s::text[]) as mart"
        " where to_regclass(format('analytics.%%I', mart)) is null",
        [list(marts)],
    ).fetchall()
    return [row[0] for row in rows]


def _require_marts(conn: psycopg.Connection, marts: Sequence[str] = REPORT_MARTS) -> None:
    missing = missing_marts(conn, marts)
    if missing:
        names = ", ".join(f"analytics.{name}" for name in missing)
        raise ReportError(f"{names} not found: {MISSING_MARTS}")


def list_organizations(conn: psycopg.Connection) -> list[Organization]:
    rows = conn.execute(
        "select id, name, slug, timezone from public.organizations order by name, id"
    ).fetchall()
    return [Organization(row[0], row[1], row[2], row[3] or "UTC") for row in rows]


def resolve_organization(organizations: Sequence[Organization], key: str) -> Organization:
    """The organization whose UUID, slug (any case) or exact name is `key`."""
    wanted = key.strip()
    try:
        as_uuid = uuid.UUID(wanted)
    except ValueError:
        as_uuid = None
    for matches in (
        lambda org: as_uuid is not None and org.id == as_uuid,
        lambda org: org.slug is not None and org.slug.lower() == wanted.lower(),
        lambda org: org.name == wanted,
    ):
        found = [org for org in organizations if matches(org)]
        if len(found) == 1:
            return found[0]
    slugs = ", ".join(sorted(org.slug or str(org.id) for org in organizations)) or "none"
    raise ReportError(
        f"unknown organization {key!r}: give a UUID, an exact name or one of the slugs: {slugs}"
    )


def load_report_data(
    conn: psycopg.Connection, organization: str | None, *, now: datetime | None = None
) -> ReportData:
    """Everything the report shows, for one organization (UUID, slug or name) or all (None).

    One organization's report is read with the tenant set for the transaction, so a login of
    the application role (which sees nothing else) can write it, and no query can reach another
    organization's rows; such a login names its organization by UUID (it cannot see the
    others' slugs or names to resolve them)."""
    _require_marts(conn)
    as_uuid = canonical_uuid(organization) if organization is not None else None
    if as_uuid:  # a slug or a name is resolved below, by a role that sees the organizations
        set_tenant(conn, as_uuid)
    organizations = list_organizations(conn)
    if organization is not None:
        organizations = [resolve_organization(organizations, organization)]
        set_tenant(conn, organizations[0].id)
    reports = {org.id: OrganizationReport(org) for org in organizations}
    ids = list(reports)
    funnels = _load_funnels(conn, ids)
    for org_id, report in reports.items():
        report.funnel = funnels.get(org_id, Funnel())
    for org_id, rows in _load_roi(conn, ids).items():
        reports[org_id].roi = rows
    for org_id, points in _load_score_trend(conn, ids).items():
        reports[org_id].score_trend = points[-TREND_WEEKS:]
    _load_movers(conn, ids, reports)
    for org_id, coaching in _load_coaching(conn, ids).items():
        reports[org_id].coaching = coaching
    for org_id, stamp in _load_data_as_of(conn, ids).items():
        reports[org_id].data_as_of = stamp
    overall = None
    if organization is None:
        overall = _load_funnels(conn, None).get(None, Funnel())
    return ReportData(
        generated_at=now or datetime.now(UTC),
        organizations=list(reports.values()),
        all_organizations=organization is None,
        overall_funnel=overall,
    )


def _funnel_sums() -> sql.Composable:
    """count(*) as mart_rows and the sum of every count column of lead_funnel, one
    reached_<stage> per stage of var funnel_stages."""
    columns = [
        "leads_entered",
        *(f"reached_{stage}" for stage in funnel_stages()),
        "exited_cold",
        "exited_dnc",
    ]
    sums = [
        sql.SQL("coalesce(sum({col}), 0) as {col}").format(col=sql.Identifier(column))
        for column in columns
    ]
    return sql.SQL(", ").join([sql.SQL("count(*) as mart_rows"), *sums])


def _funnel_from_row(row: Mapping[str, Any]) -> Funnel:
    return Funnel(
        leads_entered=int(row["leads_entered"]),
        reached={stage: int(row[f"reached_{stage}"]) for stage in funnel_stages()},
        exited_cold=int(row["exited_cold"]),
        exited_dnc=int(row["exited_dnc"]),
        mart_rows=int(row["mart_rows"]),
    )


def _load_funnels(
    conn: psycopg.Connection, ids: list[uuid.UUID] | None
) -> dict[uuid.UUID | None, Funnel]:
    """Funnels per organization in `ids`, or one funnel over every row (key None) for None."""
    with conn.cursor(row_factory=dict_row) as cur:
        if ids is None:
            query = sql.SQL("select null::uuid as organization_id, {} from analytics.lead_funnel")
            cur.execute(query.format(_funnel_sums()))
        else:
            cur.execute(
                sql.SQL(
                    "select organization_id, {} from analytics.lead_funnel"
                    " where organization_id = any(%s) group by organization_id"
                ).format(_funnel_sums()),
                [ids],
            )
        return {row["organization_id"]: _funnel_from_row(row) for row in cur.fetchall()}


def load_funnel(conn: psycopg.Connection, organization_id: uuid.UUID | str | None) -> Funnel:
    _require_marts(conn, ("lead_funnel",))
    if organization_id is None:
        return _load_funnels(conn, None).get(None, Funnel())
    org_id = uuid.UUID(str(organization_id))
    return _load_funnels(conn, [org_id]).get(org_id, Funnel())


def _roi_rows(conn: psycopg.Connection, ids: list[uuid.UUID] | None) -> list[dict[str, Any]]:
    where = sql.SQL("where organization_id = any(%s)" if ids is not None else "")
    group = sql.SQL("organization_id" if ids is not None else "null::uuid")
    query = sql.SQL(
        """
        select {group} as organization_id, source,
               coalesce(sum(leads), 0) as leads,
               coalesce(sum(recruited), 0) as recruited,
               sum(cost_usd) as cost_usd
        from analytics.source_roi {where}
        group by 1, source
        order by 1, sum(leads) desc nulls last, source nulls last
        """
    ).format(group=group, where=where)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, [ids] if ids is not None else [])
        return cur.fetchall()


def _source_roi(row: Mapping[str, Any]) -> SourceRoi:
    cost = row["cost_usd"]
    return SourceRoi(
        source=row["source"],
        leads=int(row["leads"]),
        recruited=int(row["recruited"]),
        cost_usd=None if cost is None else float(cost),
    )


def _load_roi(conn: psycopg.Connection, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[SourceRoi]]:
    result: dict[uuid.UUID, list[SourceRoi]] = {}
    for row in _roi_rows(conn, ids):
        result.setdefault(row["organization_id"], []).append(_source_roi(row))
    return result


def load_roi(conn: psycopg.Connection, organization_id: uuid.UUID | str | None) -> list[SourceRoi]:
    """ROI by source for one organization, or by source across all organizations (None)."""
    _require_marts(conn, ("source_roi",))
    ids = None if organization_id is None else [uuid.UUID(str(organization_id))]
    return [_source_roi(row) for row in _roi_rows(conn, ids)]


def _load_score_trend(
    conn: psycopg.Connection, ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[ScorePoint]]:
    """Weekly rows of organization_score_trends: its median and p90 are percentiles over all the
    organization's leads, which no combination of lead_score_trends' group values gives."""
    query = """
        select organization_id, period_start, leads_scored, avg_score, median_score, p90_score
        from analytics.organization_score_trends
        where period_type = 'week' and organization_id = any(%s)
        order by organization_id, period_start
    """
    result: dict[uuid.UUID, list[ScorePoint]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, [ids])
        for row in cur.fetchall():
            result.setdefault(row["organization_id"], []).append(
                ScorePoint(
                    week_start=_as_date(row["period_start"]),
                    leads_scored=int(row["leads_scored"]),
                    avg_score=_float(row["avg_score"]),
                    median_score=_float(row["median_score"]),
                    p90_score=_float(row["p90_score"]),
                )
            )
    return result


def _load_movers(
    conn: psycopg.Connection, ids: list[uuid.UUID], reports: dict[uuid.UUID, OrganizationReport]
) -> None:
    query = """
        with latest as (
            select organization_id, max(period_start) as period_start
            from analytics.lead_score_trends
            where period_type = 'week' and organization_id = any(%(ids)s)
              and (top_riser_delta > 0 or top_faller_delta < 0)
            group by organization_id
        ),
        week as (
            select t.*
            from analytics.lead_score_trends as t
            join latest using (organization_id, period_start)
            where t.period_type = 'week'
        ),
        moves as (
            select organization_id, period_start, source, owner_user_id, owner_name,
                   top_riser_lead_id as lead_id, top_riser_lead_name as lead_name,
                   top_riser_delta::float8 as delta, 'rise' as kind
            from week where top_riser_delta > 0
            union all
            select organization_id, period_start, source, owner_user_id, owner_name,
                   top_faller_lead_id, top_faller_lead_name, top_faller_delta::float8, 'fall'
            from week where top_faller_delta < 0
        ),
        ranked as (
            select moves.*, row_number() over (
                partition by organization_id, kind order by abs(delta) desc, lead_id::text
            ) as rank
            from moves
        )
        select ranked.*
        from ranked
        where rank <= %(limit)s
        order by organization_id, kind desc, rank
    """
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, {"ids": ids, "limit": MOVERS})
        for row in cur.fetchall():
            report = reports[row["organization_id"]]
            report.movers_week = _as_date(row["period_start"])
            mover = ScoreMover(
                str(row["lead_id"]),
                row["source"],
                row["owner_name"],
                row["delta"],
                lead_name=row["lead_name"],
            )
            (report.risers if row["kind"] == "rise" else report.fallers).append(mover)


def _load_coaching(
    conn: psycopg.Connection, ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[CoachingRow]]:
    query = """
        with latest as (
            select organization_id, max(week_start) as last_week
            from analytics.agent_coaching
            where organization_id = any(%(ids)s)
            group by organization_id
        )
        select c.*
        from analytics.agent_coaching as c
        join latest using (organization_id)
        where c.week_start > latest.last_week - make_interval(weeks => %(weeks)s)
        order by c.organization_id, c.user_name nulls last, c.user_id, c.week_start desc
    """
    result: dict[uuid.UUID, list[CoachingRow]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, {"ids": ids, "weeks": COACHING_WEEKS})
        for row in cur.fetchall():
            result.setdefault(row["organization_id"], []).append(
                CoachingRow(
                    user_id=str(row["user_id"]),
                    user_name=row["user_name"],
                    week_start=_as_date(row["week_start"]),
                    leads_assigned=int(row["leads_assigned"] or 0),
                    contacted_within_24h_share=_float(row["contacted_within_24h_share"]),
                    median_hours_to_first_contact=_float(row["median_hours_to_first_contact"]),
                    activities_per_lead=_float(row["activities_per_lead"]),
                    conversions=int(row["conversions"] or 0),
                    org_avg_leads_assigned=_float(row["org_avg_leads_assigned"]),
                    org_avg_contacted_within_24h_share=_float(
                        row["org_avg_contacted_within_24h_share"]
                    ),
                    org_avg_median_hours_to_first_contact=_float(
                        row["org_avg_median_hours_to_first_contact"]
                    ),
                    org_avg_activities_per_lead=_float(row["org_avg_activities_per_lead"]),
                    org_avg_conversions=_float(row["org_avg_conversions"]),
                )
            )
    return result


def _load_data_as_of(conn: psycopg.Connection, ids: list[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    rows = conn.execute(
        "select organization_id, max(occurred_at) from analytics.lead_timeline"
        " where organization_id = any(%s) group by organization_id",
        [ids],
    ).fetchall()
    return {row[0]: row[1] for row in rows if row[1] is not None}


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _ratio(numerator: float | int | None, denominator: float | int | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return float(numerator) / float(denominator)


# -- previews for `leadflow demo` -------------------------------------------------------------
# mart -> (columns shown as "column" or "column:label", order by, filter)
_PREVIEWS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "lead_funnel": (
        (
            "organization_name:organization",
            "cohort_month:cohort",
            "source",
            "owner_name:owner",
            "leads_entered:entered",
            "reached_contacted:contacted",
            "reached_recruited:recruited",
        ),
        "leads_entered desc, funnel_key",
        "true",
    ),
    "source_roi": (
        (
            "organization_name:organization",
            "source",
            "month",
            "leads",
            "recruited",
            "cost_usd:cost",
            "cost_per_recruit:per_recruit",
        ),
        "month desc, cost_usd desc nulls last, roi_key",
        "true",
    ),
    "lead_score_trends": (
        (
            "period_start:week",
            "source",
            "leads_scored:scored",
            "avg_score:avg",
            "median_score:median",
            "p90_score:p90",
        ),
        "period_start desc, leads_scored desc, trend_key",
        "period_type = 'week'",
    ),
    "organization_score_trends": (
        (
            "organization_name:organization",
            "period_start:week",
            "leads_scored:scored",
            "avg_score:avg",
            "median_score:median",
            "p90_score:p90",
        ),
        "period_start desc, leads_scored desc, trend_key",
        "period_type = 'week'",
    ),
    "agent_coaching": (
        (
            "user_name:user",
            "week_start:week",
            "leads_assigned:assigned",
            "contacted_within_24h_share:24h_share",
            "activities_per_lead:acts_per_lead",
            "conversions",
        ),
        "week_start desc, leads_assigned desc, coaching_key",
        "true",
    ),
    "lead_timeline": (
        ("occurred_at", "lead_id", "event_type", "event_subtype", "summary"),
        "occurred_at desc, event_key",
        "true",
    ),
    "lead_stage_history": (
        (
            "lead_id",
            "stage",
            "visit_number:visit",
            "entered_at",
            "days_in_stage:days",
            "is_current:current",
        ),
        "entered_at desc, stage_visit_key",
        "true",
    ),
    "segment_sizes": (
        (
            "segment_name:segment",
            "counted_date:counted",
            "lead_count:leads",
            "change_from_previous:change",
        ),
        "lead_count desc, segment_size_key",
        "is_latest",
    ),
    "recommendation_mix": (
        (
            "ranked_by",
            "action",
            "channel",
            "leads",
            "share_of_leads:share",
            "avg_propensity:propensity",
            "model_status:model",
            "model_auc",
            "rule_auc",
        ),
        "leads desc, recommendation_mix_key",
        "true",
    ),
}


def mart_preview(conn: psycopg.Connection, limit: int = 3) -> dict[str, list[str]]:
    """Per mart: its row count, then a header and the first `limit` rows as aligned text."""
    missing = set(missing_marts(conn, MARTS))
    preview: dict[str, list[str]] = {}
    for mart in MARTS:
        if mart in missing:
            preview[mart] = [f"not built yet: {MISSING_MARTS}"]
            continue
        shown, order, where = _PREVIEWS[mart]
        columns = [entry.split(":")[0] for entry in shown]
        labels = [entry.split(":")[-1] for entry in shown]
        table = sql.Identifier("analytics", mart)
        (count,) = one_row(conn.execute(sql.SQL("select count(*) from {}").format(table)))
        rows = conn.execute(
            sql.SQL("select {cols} from {table} where {where} order by {order} limit %s").format(
                cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                table=table,
                where=sql.SQL(where),
                order=sql.SQL(order),
            ),
            [limit],
        ).fetchall()
        preview[mart] = [f"{count:,} rows", *(align_rows(labels, rows) if rows else [])]
    return preview


def align_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A header and rows as text columns; numbers right-aligned, long text clipped."""
    cells = [[_preview_cell(value) for value in row] for row in rows]
    numeric = [
        all(_is_number(row[i]) or row[i] is None for row in rows)
        and any(row[i] is not None for row in rows)
        for i in range(len(columns))
    ]
    widths = [max([len(columns[i])] + [len(row[i]) for row in cells]) for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        out = [
            value.rjust(widths[i]) if numeric[i] else value.ljust(widths[i])
            for i, value in enumerate(values)
        ]
        return "  ".join(out).rstrip()

    return [line(list(columns)), *(line(row) for row in cells)]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _preview_cell(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, uuid.UUID):
        return str(value)[:8]
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float | Decimal):
        number = float(value)
        return f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}"
    if isinstance(value, timedelta):
        return str(value)
    return clip(" ".join(str(value).split()), 28)
