"""The HTML report (`leadflow report`) and the chart metadata Dagster shows for the marts.

Everything is read from the `analytics` marts dbt builds (plus `organizations` for names), so the
report shows exactly what analysts query. The charts are inline SVG drawn here and the CSS is
inline: the file has no JavaScript, fonts or URLs, so it can be mailed, archived or printed as is.

Definitions (the same in the HTML and in the Markdown metadata):
- funnel: `reached_<stage>` summed over the `lead_funnel` rows of the scope; the step rate is
  reached(stage) / reached(previous stage), the cumulative rate reached(stage) / reached(new)
  (every lead entered reaches new, so this is the mart's cum_conv_to_<stage> over the scope);
  cold and DNC exits are shown as counts with their share of the leads that reached `new`.
- ROI: `source_roi` summed by source (leads, recruited, cost); cost per lead = cost / leads,
  conversion rate = recruited / leads, cost per recruit = cost / recruited, each from the sums
  ("—" when the denominator is 0 or the cost is unknown).
- score trend: weekly rows of `lead_score_trends` combined across sources and owners, each of
  avg / median / p90 weighted by `leads_scored` (exact for the average; for the median and p90 it
  is the leads-weighted mean of the per-group values), the latest 52 weeks.
- movers: the top risers and fallers across the sources and owners of the latest week in which
  any score changed (the heading names that week; a later week without changes is said so).
- coaching: every `agent_coaching` row of the organization's latest 4 weeks, each metric next to
  the organization's average; better/worse is highlighted where a direction is meaningful
  (higher share contacted within 24h, activities per lead and conversions; fewer hours to first
  contact). Leads assigned is workload, not performance, so it is not highlighted.
"""

from __future__ import annotations

import html
import logging
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

log = logging.getLogger(__name__)

STAGES = ("new", "contacted", "qualified", "nurturing", "hot", "recruited")
EXITS = ("cold", "dnc")
STAGE_LABELS = {
    "new": "New",
    "contacted": "Contacted",
    "qualified": "Qualified",
    "nurturing": "Nurturing",
    "hot": "Hot",
    "recruited": "Recruited",
    "cold": "Exited: cold",
    "dnc": "Exited: DNC",
}
MARTS = (
    "lead_funnel",
    "source_roi",
    "lead_score_trends",
    "agent_coaching",
    "lead_timeline",
    "lead_stage_history",
    "segment_sizes",
)
REPORT_MARTS = ("lead_funnel", "source_roi", "lead_score_trends", "agent_coaching", "lead_timeline")
MISSING_MARTS = "run `leadflow run` (or `make demo`) first to build the analytics marts"
DASH = "—"
NO_SOURCE = "(no source)"
TREND_WEEKS = 52
MOVERS = 5
COACHING_WEEKS = 4
BAR_WIDTH = 20


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
        rows: list[FunnelStage] = []
        first = self.reached.get(STAGES[0], 0)
        previous: int | None = None
        for stage in STAGES:
            count = self.reached.get(stage, 0)
            step = None if previous is None else _ratio(count, previous)
            rows.append(FunnelStage(stage, count, step, _ratio(count, first)))
            previous = count
        return rows

    def exits(self) -> list[FunnelStage]:
        first = self.reached.get(STAGES[0], 0)
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

    @property
    def cost_per_lead(self) -> float | None:
        return None if self.cost_usd is None else _ratio(self.cost_usd, self.leads)

    @property
    def conversion_rate(self) -> float | None:
        return _ratio(self.recruited, self.leads)

    @property
    def cost_per_recruit(self) -> float | None:
        return None if self.cost_usd is None else _ratio(self.cost_usd, self.recruited)


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
    """Everything the report shows, for one organization (UUID, slug or name) or all (None)."""
    _require_marts(conn)
    organizations = list_organizations(conn)
    if organization is not None:
        organizations = [resolve_organization(organizations, organization)]
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
    for org_id, rows in _load_coaching(conn, ids).items():
        reports[org_id].coaching = rows
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


_FUNNEL_SUMS = sql.SQL(
    """
    count(*) as mart_rows,
    coalesce(sum(leads_entered), 0) as leads_entered,
    coalesce(sum(reached_new), 0) as reached_new,
    coalesce(sum(reached_contacted), 0) as reached_contacted,
    coalesce(sum(reached_qualified), 0) as reached_qualified,
    coalesce(sum(reached_nurturing), 0) as reached_nurturing,
    coalesce(sum(reached_hot), 0) as reached_hot,
    coalesce(sum(reached_recruited), 0) as reached_recruited,
    coalesce(sum(exited_cold), 0) as exited_cold,
    coalesce(sum(exited_dnc), 0) as exited_dnc
    """
)


def _funnel_from_row(row: Mapping[str, Any]) -> Funnel:
    return Funnel(
        leads_entered=int(row["leads_entered"]),
        reached={stage: int(row[f"reached_{stage}"]) for stage in STAGES},
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
            cur.execute(query.format(_FUNNEL_SUMS))
        else:
            cur.execute(
                sql.SQL(
                    "select organization_id, {} from analytics.lead_funnel"
                    " where organization_id = any(%s) group by organization_id"
                ).format(_FUNNEL_SUMS),
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


def _weighted(column: str) -> sql.Composable:
    col = sql.Identifier(column)
    return sql.SQL(
        "sum({col}::float8 * leads_scored)"
        " / nullif(sum(leads_scored) filter (where {col} is not null), 0)"
    ).format(col=col)


def _load_score_trend(
    conn: psycopg.Connection, ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[ScorePoint]]:
    query = sql.SQL(
        """
        select organization_id, period_start,
               coalesce(sum(leads_scored), 0) as leads_scored,
               {avg} as avg_score, {median} as median_score, {p90} as p90_score
        from analytics.lead_score_trends
        where period_type = 'week' and organization_id = any(%s)
        group by organization_id, period_start
        order by organization_id, period_start
        """
    ).format(avg=_weighted("avg_score"), median=_weighted("median_score"),
             p90=_weighted("p90_score"))  # fmt: skip
    result: dict[uuid.UUID, list[ScorePoint]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, [ids])
        for row in cur.fetchall():
            result.setdefault(row["organization_id"], []).append(
                ScorePoint(
                    week_start=_as_date(row["period_start"]),
                    leads_scored=int(row["leads_scored"]),
                    avg_score=row["avg_score"],
                    median_score=row["median_score"],
                    p90_score=row["p90_score"],
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
            select organization_id, period_start, source, owner_user_id,
                   top_riser_lead_id as lead_id, top_riser_delta::float8 as delta, 'rise' as kind
            from week where top_riser_delta > 0
            union all
            select organization_id, period_start, source, owner_user_id,
                   top_faller_lead_id, top_faller_delta::float8, 'fall'
            from week where top_faller_delta < 0
        ),
        ranked as (
            select moves.*, row_number() over (
                partition by organization_id, kind order by abs(delta) desc, lead_id::text
            ) as rank
            from moves
        ),
        owners as (
            select owner_user_id, max(owner_name) as owner_name
            from analytics.lead_funnel
            where organization_id = any(%(ids)s) and owner_user_id is not null
            group by owner_user_id
        )
        select ranked.*,
               case when ranked.owner_user_id is null then 'Unassigned'
                    else owners.owner_name end as owner_name
        from ranked left join owners using (owner_user_id)
        where rank <= %(limit)s
        order by organization_id, kind desc, rank
    """
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, {"ids": ids, "limit": MOVERS})
        for row in cur.fetchall():
            report = reports[row["organization_id"]]
            report.movers_week = _as_date(row["period_start"])
            mover = ScoreMover(str(row["lead_id"]), row["source"], row["owner_name"], row["delta"])
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


# -- formatting -------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt_int(value: int | float | None) -> str:
    return DASH if value is None else f"{round(value):,}"


def fmt_pct(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f}%"


def fmt_money(value: float | Decimal | None) -> str:
    return DASH if value is None else f"${float(value):,.2f}"


def fmt_num(value: float | Decimal | None, digits: int = 1) -> str:
    return DASH if value is None else f"{float(value):,.{digits}f}"


def _fmt2(value: float | Decimal | None) -> str:
    return fmt_num(value, 2)


def fmt_source(source: str | None) -> str:
    return NO_SOURCE if source is None or source == "" else source


def fmt_stamp(value: datetime | None, timezone: str = "UTC") -> str:
    if value is None:
        return DASH
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone, timezone = ZoneInfo("UTC"), "UTC"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return f"{value.astimezone(zone):%Y-%m-%d %H:%M} {timezone}"


# -- SVG charts -------------------------------------------------------------------------------
_SVG_WIDTH = 760


def _svg(width: int, height: int, label: str, body: Iterable[str]) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{_e(label)}" width="{width}"'
        f' height="{height}" viewBox="0 0 {width} {height}">'
        f"<title>{_e(label)}</title>{''.join(body)}</svg>"
    )


def _bar_px(value: float, maximum: float, width: float) -> float:
    if maximum <= 0 or value <= 0:
        return 0.0
    return max(width * value / maximum, 1.0)


def funnel_svg(funnel: Funnel, label: str) -> str:
    """Horizontal bars new → recruited, then the cold / DNC exits, with counts and rates."""
    label_w, bar_x, bar_max, row_h, bar_h = 118, 126, 360, 28, 18
    rows = funnel.stages()
    exits = funnel.exits()
    maximum = max([row.count for row in rows + exits] + [0])
    height = row_h * (len(rows) + len(exits)) + 16
    body: list[str] = []
    y = 4
    for index, row in enumerate(rows + exits):
        if index == len(rows):
            y += 12
        is_exit = row.stage in EXITS
        width = _bar_px(row.count, maximum, bar_max)
        if is_exit:
            detail = f"{fmt_int(row.count)} · {fmt_pct(row.cumulative_rate)} of new"
        elif row.step_rate is None:
            detail = f"{fmt_int(row.count)} · 100% of new" if row.count else fmt_int(row.count)
        else:
            detail = (
                f"{fmt_int(row.count)} · step {fmt_pct(row.step_rate)}"
                f" · cumulative {fmt_pct(row.cumulative_rate)}"
            )
        body.append(
            f'<g class="funnel-row" data-stage="{_e(row.stage)}" data-count="{row.count}">'
            f'<text x="{label_w}" y="{y + 13}" text-anchor="end">'
            f"{_e(STAGE_LABELS[row.stage])}</text>"
            f'<rect class="{"bar-exit" if is_exit else "bar-stage"}" x="{bar_x}" y="{y}"'
            f' width="{width:.1f}" height="{bar_h}" rx="2"/>'
            f'<text class="value" x="{bar_x + width + 6:.1f}" y="{y + 13}">{_e(detail)}</text>'
            "</g>"
        )
        y += row_h
    return _svg(_SVG_WIDTH, height, label, body)


def roi_svg(rows: Sequence[SourceRoi], label: str) -> str:
    """Horizontal bars of cost per recruit by source (no bar, "—" when it has no recruits)."""
    label_w, bar_x, bar_max, row_h, bar_h = 150, 158, 380, 26, 16
    values = [row.cost_per_recruit for row in rows]
    maximum = max([v for v in values if v is not None] + [0.0])
    body: list[str] = []
    y = 4
    for row, value in zip(rows, values, strict=True):
        width = 0.0 if value is None else _bar_px(value, maximum, bar_max)
        text = fmt_money(value) if value is not None else f"{DASH} (no recruits or no cost)"
        body.append(
            f'<g class="roi-row" data-source="{_e(fmt_source(row.source))}">'
            f'<text x="{label_w}" y="{y + 12}" text-anchor="end">'
            f"{_e(_clip(fmt_source(row.source), 22))}</text>"
            f'<rect class="bar-roi" x="{bar_x}" y="{y}" width="{width:.1f}" height="{bar_h}"'
            ' rx="2"/>'
            f'<text class="value" x="{bar_x + width + 6:.1f}" y="{y + 12}">{_e(text)}</text>'
            "</g>"
        )
        y += row_h
    return _svg(_SVG_WIDTH, y + 8, label, body)


_SERIES = (
    ("avg_score", "average", "line-avg"),
    ("median_score", "median", "line-median"),
    ("p90_score", "p90", "line-p90"),
)


def score_svg(points: Sequence[ScorePoint], label: str) -> str:
    """Weekly average, median and p90 score (0–100) as three lines over time."""
    left, right, top, bottom, height = 44, 16, 30, 36, 260
    plot_w = _SVG_WIDTH - left - right
    plot_h = height - top - bottom
    first, last = points[0].week_start, points[-1].week_start
    span = max((last - first).days, 1)

    def x_of(day: date) -> float:
        if first == last:
            return left + plot_w / 2
        return left + plot_w * (day - first).days / span

    def y_of(score: float) -> float:
        return top + plot_h * (1 - min(max(score, 0.0), 100.0) / 100)

    body: list[str] = []
    for tick in range(0, 101, 25):
        y = y_of(tick)
        body.append(
            f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>'
        )
    step = max(1, math.ceil(len(points) / 7))
    shown = list(range(0, len(points), step))
    if shown[-1] != len(points) - 1 and len(points) - 1 - shown[-1] >= step / 2:
        shown.append(len(points) - 1)
    for index in shown:
        day = points[index].week_start
        body.append(
            f'<text class="axis" x="{x_of(day):.1f}" y="{height - bottom + 16}"'
            f' text-anchor="middle">{_e(day.isoformat())}</text>'
        )
    for position, (attr, name, css) in enumerate(_SERIES):
        legend_x = left + 10 + position * 120
        body.append(
            f'<line class="{css}" x1="{legend_x}" y1="12" x2="{legend_x + 24}" y2="12"/>'
            f'<text class="axis" x="{legend_x + 30}" y="16">{_e(name)}</text>'
        )
        segment: list[str] = []
        segments: list[list[str]] = [segment]
        for point in points:
            value = getattr(point, attr)
            if value is None:
                segment = []
                segments.append(segment)
                continue
            xy = f"{x_of(point.week_start):.1f},{y_of(value):.1f}"
            segment.append(xy)
            body.append(
                f'<circle class="{css}" cx="{xy.split(",")[0]}" cy="{xy.split(",")[1]}" r="2.5">'
                f"<title>{_e(f'{point.week_start.isoformat()} {name}: {fmt_num(value)}')}</title>"
                "</circle>"
            )
        for part in segments:
            if len(part) > 1:
                body.append(f'<polyline class="{css}" points="{" ".join(part)}"/>')
    return _svg(_SVG_WIDTH, height, label, body)


# -- HTML -------------------------------------------------------------------------------------
_CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: #1f2933; background: #fff; margin: 0 auto; max-width: 980px; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 32px 0 8px; border-bottom: 2px solid #d9e2ec; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 20px 0 6px; }
.meta, .note, .hint { color: #52606d; }
.hint { font-size: 12px; }
.note { font-style: italic; padding: 8px 12px; background: #f5f7fa; border-left: 3px solid #9fb3c8; }
nav a { margin-right: 12px; color: #243b53; }
table { border-collapse: collapse; margin: 8px 0 4px; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e4e7eb; text-align: left; vertical-align: top; }
th { background: #f0f4f8; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td .avg { color: #7b8794; font-size: 11px; display: block; }
.better { color: #0b6e4f; font-weight: 600; }
.worse { color: #b42318; font-weight: 600; }
tr.total td { font-weight: 600; border-top: 2px solid #9fb3c8; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 6px 0; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  fill: #1f2933; }
svg text.axis { fill: #616e7c; font-size: 11px; }
.bar-stage { fill: #2f6fba; }
.bar-exit { fill: #c2554e; }
.bar-roi { fill: #3b8a63; }
.grid { stroke: #e4e7eb; stroke-width: 1; }
polyline, svg line.line-avg, svg line.line-median, svg line.line-p90 { fill: none; stroke-width: 2; }
.line-avg { stroke: #2f6fba; fill: #2f6fba; }
.line-median { stroke: #d9822b; fill: #d9822b; stroke-dasharray: 6 3; }
.line-p90 { stroke: #7c5295; fill: #7c5295; stroke-dasharray: 2 3; }
polyline.line-avg, polyline.line-median, polyline.line-p90 { fill: none; }
circle.line-median, circle.line-p90 { stroke-dasharray: none; }
code { font-size: 12px; }
section.org { break-before: page; }
section.org:first-of-type { break-before: auto; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  nav { display: none; }
  h2, h3 { break-after: avoid; }
  table, svg.chart, .block { break-inside: avoid; }
}
"""


def render_html(data: ReportData) -> str:
    """One self-contained HTML document (inline CSS and SVG, no script, no URL)."""
    title = f"Leadflow report — {data.scope}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        "<header>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">Generated at {_e(fmt_stamp(data.generated_at))}'
        f" · data as of {_e(_data_as_of_text(data))}</p>",
    ]
    if len(data.organizations) > 1:
        links = "".join(
            f'<a href="#org-{index}">{_e(report.organization.name)}</a>'
            for index, report in enumerate(data.organizations, start=1)
        )
        parts.append(f"<nav>{links}</nav>")
    parts.append("</header><main>")
    if not data.organizations:
        parts.append(_note("No organizations yet."))
    if data.overall_funnel is not None:
        parts.append('<section class="overall" id="all-organizations">')
        parts.append("<h2>All organizations</h2>")
        parts.append(_funnel_block(data.overall_funnel, "All organizations"))
        parts.append("</section>")
    for index, report in enumerate(data.organizations, start=1):
        parts.append(_organization_section(report, index, heading=len(data.organizations) > 1))
    parts.append(
        '</main><footer><p class="hint">Built from the <code>analytics</code> marts'
        " (lead_funnel, source_roi, lead_score_trends, agent_coaching, lead_timeline)."
        " Rates are recomputed from summed counts; “—” marks a rate without a denominator."
        "</p></footer></body></html>"
    )
    return "\n".join(parts) + "\n"


def _data_as_of_text(data: ReportData) -> str:
    if len(data.organizations) == 1 and not data.all_organizations:
        org = data.organizations[0]
        return fmt_stamp(org.data_as_of, org.organization.timezone)
    return fmt_stamp(data.data_as_of)


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


_NO_DATA = "No data yet: run `leadflow run` to (re)build the analytics marts."


def _organization_section(report: OrganizationReport, index: int, heading: bool) -> str:
    org = report.organization
    parts = [f'<section class="org" id="org-{index}" data-organization="{_e(org.slug or org.id)}">']
    if heading:
        parts.append(f"<h2>{_e(org.name)}</h2>")
    parts.append(
        f'<p class="meta">Timezone {_e(org.timezone)} · data as of'
        f" {_e(fmt_stamp(report.data_as_of, org.timezone))}</p>"
    )
    parts.append("<h3>Funnel</h3>")
    parts.append(_funnel_block(report.funnel, org.name))
    parts.append("<h3>ROI by source</h3>")
    parts.append(_roi_block(report.roi, org.name))
    parts.append("<h3>Score trends</h3>")
    parts.append(_score_block(report))
    parts.append("<h3>Coaching (latest 4 weeks)</h3>")
    parts.append(_coaching_block(report.coaching))
    parts.append("</section>")
    return "\n".join(parts)


def _funnel_block(funnel: Funnel, name: str) -> str:
    if funnel.is_empty:
        return _note(_NO_DATA)
    return (
        f'<div class="block funnel"><p class="meta">{fmt_int(funnel.leads_entered)} leads entered'
        f" · {fmt_int(funnel.reached.get('recruited', 0))} recruited</p>"
        f"{funnel_svg(funnel, f'Lead funnel, {name}')}"
        '<p class="hint">A lead counts for every stage up to the furthest one it reached. Step:'
        " share of the previous stage; cumulative: share of the leads that reached new.</p></div>"
    )


def _roi_block(rows: Sequence[SourceRoi], name: str) -> str:
    if not rows:
        return _note(_NO_DATA)
    total = SourceRoi(
        source="All sources",
        leads=sum(row.leads for row in rows),
        recruited=sum(row.recruited for row in rows),
        cost_usd=_sum_known(row.cost_usd for row in rows),
    )
    head = (
        "<tr><th>Source</th><th class=num>Leads</th><th class=num>Recruited</th>"
        "<th class=num>Cost</th><th class=num>Cost per lead</th>"
        "<th class=num>Conversion rate</th><th class=num>Cost per recruit</th></tr>"
    )
    body = [_roi_row(row) for row in rows] + [_roi_row(total, css="total")]
    return (
        f'<div class="block roi">{roi_svg(rows, f"Cost per recruit by source, {name}")}'
        f'<table class="roi"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table></div>'
    )


def _roi_row(row: SourceRoi, css: str = "") -> str:
    cells = [
        fmt_int(row.leads),
        fmt_int(row.recruited),
        fmt_money(row.cost_usd),
        fmt_money(row.cost_per_lead),
        fmt_pct(row.conversion_rate),
        fmt_money(row.cost_per_recruit),
    ]
    tds = "".join(f'<td class="num">{_e(cell)}</td>' for cell in cells)
    attr = f' class="{css}"' if css else ""
    return f"<tr{attr}><td>{_e(fmt_source(row.source))}</td>{tds}</tr>"


def _sum_known(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def _score_block(report: OrganizationReport) -> str:
    if not report.score_trend:
        return _note(_NO_DATA)
    name = report.organization.name
    parts = [
        '<div class="block scores">',
        score_svg(report.score_trend, f"Weekly lead score, {name}"),
        '<p class="hint">Weekly score across sources and owners, weighted by the leads scored'
        " in each group.</p></div>",
    ]
    movers = [("Rise", mover) for mover in report.risers]
    movers += [("Fall", mover) for mover in report.fallers]
    if not movers or report.movers_week is None:
        parts.append("<h3>Biggest movers</h3>")
        parts.append(_note("No lead's score has changed yet."))
        return "\n".join(parts)
    parts.append(f"<h3>Biggest movers, week of {_e(report.movers_week.isoformat())}</h3>")
    latest = report.score_trend[-1].week_start
    if report.movers_week < latest:
        parts.append(
            f'<p class="hint">No score changed in a later week (latest week {_e(latest)}).</p>'
        )
    rows = "".join(
        f"<tr><td>{_e(kind)}</td><td><code>{_e(mover.lead_id)}</code></td>"
        f"<td>{_e(fmt_source(mover.source))}</td><td>{_e(mover.owner_name or DASH)}</td>"
        f'<td class="num {"better" if mover.delta > 0 else "worse"}">'
        f"{_e(f'{mover.delta:+.1f}')}</td></tr>"
        for kind, mover in movers
    )
    parts.append(
        '<table class="movers"><thead><tr><th>Direction</th><th>Lead</th><th>Source</th>'
        f'<th>Owner</th><th class="num">Score change</th></tr></thead><tbody>{rows}</tbody></table>'
    )
    return "\n".join(parts)


# metric, header, value format, average format, direction (+1 higher is better, -1 lower is
# better, 0 not judged)
_COACHING_METRICS: tuple[tuple[str, str, Any, Any, int], ...] = (
    ("leads_assigned", "Leads assigned", fmt_int, fmt_num, 0),
    ("contacted_within_24h_share", "Contacted ≤ 24h", fmt_pct, fmt_pct, 1),
    ("median_hours_to_first_contact", "Median hours to first contact", fmt_num, fmt_num, -1),
    ("activities_per_lead", "Activities per lead", _fmt2, _fmt2, 1),
    ("conversions", "Conversions", fmt_int, fmt_num, 1),
)


def compare(value: float | None, average: float | None, direction: int) -> str:
    """'better', 'worse' or '' for a metric next to the organization's average."""
    if direction == 0 or value is None or average is None:
        return ""
    if math.isclose(value, average, rel_tol=1e-9, abs_tol=1e-9):
        return ""
    return "better" if (value - average) * direction > 0 else "worse"


def _coaching_block(rows: Sequence[CoachingRow]) -> str:
    if not rows:
        return _note(_NO_DATA)
    headers = "".join(f'<th class="num">{_e(header)}</th>' for _, header, *_ in _COACHING_METRICS)
    body: list[str] = []
    for row in rows:
        cells = [
            f"<td>{_e(row.user_name or row.user_id)}</td>",
            f"<td>{_e(row.week_start.isoformat())}</td>",
        ]
        for attr, _, value_fmt, avg_fmt, direction in _COACHING_METRICS:
            value = getattr(row, attr)
            average = getattr(row, f"org_avg_{attr}")
            verdict = compare(_float(value), average, direction)
            mark = {"better": " ▲", "worse": " ▼"}.get(verdict, "")
            css = f' class="{verdict}"' if verdict else ""
            cells.append(
                f'<td class="num"><span{css}>{_e(value_fmt(value) + mark)}</span>'
                f'<span class="avg">org avg {_e(avg_fmt(average))}</span></td>'
            )
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table class="coaching"><thead><tr><th>Agent</th><th>Week</th>{headers}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
        '<p class="hint">▲ better / ▼ worse than the organization average of the same week'
        " (fewer hours to first contact is better; leads assigned is not judged).</p>"
    )


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# -- writing ----------------------------------------------------------------------------------
def write_report(url: str, out: Path, organization: str | None = None) -> ReportSummary:
    """Render the report for one organization (UUID, slug or name) or all, and write it."""
    out = Path(out)
    try:
        with psycopg.connect(url) as conn:
            data = load_report_data(conn, organization)
    except psycopg.OperationalError as exc:
        raise ReportError(f"cannot connect to PostgreSQL: {_first_line(exc)}") from exc
    except psycopg.errors.UndefinedColumn as exc:
        raise ReportError(f"the analytics marts are out of date ({_first_line(exc)}): "
                          f"{MISSING_MARTS}") from exc  # fmt: skip
    document = render_html(data)
    encoded = document.encode("utf-8")
    target = out.expanduser().resolve()
    if target.is_dir():
        raise ReportError(f"cannot write the report to {target}: it is a directory")
    try:
        target.write_bytes(encoded)
    except OSError as exc:
        raise ReportError(f"cannot write the report to {target}: {exc.strerror or exc}") from exc
    summary = ReportSummary(
        path=target,
        organizations=[report.organization for report in data.organizations],
        bytes=len(encoded),
        sections=data.section_counts(),
    )
    log.info("report written", extra={"path": str(target), "bytes": summary.bytes})
    return summary


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


# -- Markdown for Dagster asset metadata ------------------------------------------------------
_MD_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\|*_`[]#"})


def _md(text: Any) -> str:
    """A table cell: HTML-escaped, Markdown specials backslashed, on one line."""
    return html.escape(" ".join(str(text).split()), quote=False).translate(_MD_SPECIAL)


def text_bar(value: float | None, maximum: float, width: int = BAR_WIDTH) -> str:
    """█ characters scaled so `maximum` gets `width` of them; a non-zero value gets at least 1."""
    if value is None or value <= 0 or maximum <= 0:
        return ""
    return "█" * max(1, round(width * value / maximum))


def funnel_table_markdown(funnel: Funnel) -> str:
    if funnel.is_empty:
        return "_No funnel data yet._"
    rows = funnel.stages() + funnel.exits()
    maximum = max(row.count for row in rows)
    lines = [
        f"**{fmt_int(funnel.leads_entered)} leads entered**",
        "",
        "| stage | leads | | step | cumulative |",
        "|---|---:|---|---:|---:|",
    ]
    for row in rows:
        step = DASH if row.stage in EXITS else fmt_pct(row.step_rate)
        cumulative = fmt_pct(row.cumulative_rate)
        lines.append(
            f"| {_md(STAGE_LABELS[row.stage])} | {fmt_int(row.count)}"
            f" | {text_bar(row.count, maximum)} | {step} | {cumulative} |"
        )
    return "\n".join(lines)


def roi_table_markdown(rows: Sequence[SourceRoi]) -> str:
    if not rows:
        return "_No ROI data yet._"
    maximum = max([row.cost_per_recruit or 0.0 for row in rows] + [0.0])
    lines = [
        "| source | leads | recruited | cost | cost per lead | conversion | cost per recruit | |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {_md(fmt_source(row.source))} | {fmt_int(row.leads)} | {fmt_int(row.recruited)}"
            f" | {fmt_money(row.cost_usd)} | {fmt_money(row.cost_per_lead)}"
            f" | {fmt_pct(row.conversion_rate)} | {fmt_money(row.cost_per_recruit)}"
            f" | {text_bar(row.cost_per_recruit, maximum)} |"
        )
    return "\n".join(lines)


def funnel_markdown(
    conn: psycopg.Connection, organization_id: uuid.UUID | str | None = None
) -> str:
    """The funnel of one organization (or all) as a Markdown table with text bars."""
    return funnel_table_markdown(load_funnel(conn, organization_id))


def roi_markdown(conn: psycopg.Connection, organization_id: uuid.UUID | str | None = None) -> str:
    """ROI by source of one organization (or all, summed by source) as a Markdown table."""
    return roi_table_markdown(load_roi(conn, organization_id))


# -- previews for `leadflow demo` -------------------------------------------------------------
# mart -> (columns shown as "column" or "column:label", order by, filter)
_PREVIEWS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "lead_funnel": (
        ("organization_name:organization", "cohort_month:cohort", "source", "owner_name:owner",
         "leads_entered:entered", "reached_contacted:contacted", "reached_recruited:recruited"),
        "leads_entered desc, funnel_key", "true",
    ),
    "source_roi": (
        ("source", "month", "leads", "recruited", "cost_usd:cost",
         "cost_per_recruit:per_recruit"),
        "month desc, cost_usd desc nulls last, roi_key", "true",
    ),
    "lead_score_trends": (
        ("period_start:week", "source", "leads_scored:scored", "avg_score:avg",
         "median_score:median", "p90_score:p90"),
        "period_start desc, leads_scored desc, trend_key", "period_type = 'week'",
    ),
    "agent_coaching": (
        ("user_name:user", "week_start:week", "leads_assigned:assigned",
         "contacted_within_24h_share:24h_share", "activities_per_lead:acts_per_lead",
         "conversions"),
        "week_start desc, leads_assigned desc, coaching_key", "true",
    ),
    "lead_timeline": (
        ("occurred_at", "lead_id", "event_type", "event_subtype", "summary"),
        "occurred_at desc, event_key", "true",
    ),
    "lead_stage_history": (
        ("lead_id", "stage", "visit_number:visit", "entered_at", "days_in_stage:days",
         "is_current:current"),
        "entered_at desc, stage_visit_key", "true",
    ),
    "segment_sizes": (
        ("segment_name:segment", "counted_date:counted", "lead_count:leads",
         "change_from_previous:change"),
        "lead_count desc, segment_size_key", "is_latest",
    ),
}  # fmt: skip


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
        count = conn.execute(sql.SQL("select count(*) from {}").format(table)).fetchone()[0]
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
    return _clip(" ".join(str(value).split()), 28)
