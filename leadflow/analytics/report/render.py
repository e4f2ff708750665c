"""The HTML report: `ReportData` through the Jinja2 template `templates/report.html.j2`.

Autoescape is on, so every value from the marts (organization names, sources, agent names) is
escaped once, by the template; the SVG charts come from charts.py as Markup with their text
already escaped. The CSS is included inline and the charts are inline SVG: the document has no
JavaScript, fonts or URLs and can be mailed, archived or printed as is.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import cast

import jinja2
import psycopg

from leadflow.analytics.project import DbtError
from leadflow.analytics.report.charts import funnel_svg, roi_svg, score_svg
from leadflow.analytics.report.data import (
    COACHING_WEEKS,
    MISSING_MARTS,
    REPORT_MARTS,
    CoachingRow,
    ReportData,
    ReportError,
    ReportSummary,
    SourceRoi,
    load_report_data,
)
from leadflow.analytics.report.formatting import (
    DASH,
    fmt_cost,
    fmt_int,
    fmt_money,
    fmt_num,
    fmt_num2,
    fmt_pct,
    fmt_source,
    fmt_stamp,
)

log = logging.getLogger(__name__)

TEMPLATE = "report.html.j2"
_MARKS = {"better": " ▲", "worse": " ▼"}


def compare(value: float | None, average: float | None, direction: int) -> str:
    """'better', 'worse' or '' for a metric next to the organization's average."""
    if direction == 0 or value is None or average is None:
        return ""
    if math.isclose(value, average, rel_tol=1e-9, abs_tol=1e-9):
        return ""
    return "better" if (value - average) * direction > 0 else "worse"


@dataclass(frozen=True)
class CoachingMetric:
    """One coaching column: a CoachingRow attribute next to its `org_avg_` twin.

    `direction` says which way is better: +1 higher, -1 lower, 0 not judged (workload such as
    leads assigned is not performance)."""

    attr: str
    header: str
    value_format: Callable[[float | None], str]
    average_format: Callable[[float | None], str]
    direction: int

    def value(self, row: CoachingRow) -> float | None:
        value = getattr(row, self.attr)
        return None if value is None else float(value)

    def average(self, row: CoachingRow) -> float | None:
        return cast(float | None, getattr(row, f"org_avg_{self.attr}"))

    def verdict(self, row: CoachingRow) -> str:
        return compare(self.value(row), self.average(row), self.direction)

    def value_text(self, row: CoachingRow) -> str:
        """The value with ▲ / ▼ when it is better / worse than the average."""
        return self.value_format(getattr(row, self.attr)) + _MARKS.get(self.verdict(row), "")

    def average_text(self, row: CoachingRow) -> str:
        return self.average_format(self.average(row))


COACHING_METRICS = (
    CoachingMetric("leads_assigned", "Leads assigned", fmt_int, fmt_num, 0),
    CoachingMetric("contacted_within_24h_share", "Contacted ≤ 24h", fmt_pct, fmt_pct, 1),
    CoachingMetric(
        "median_hours_to_first_contact", "Median hours to first contact", fmt_num, fmt_num, -1
    ),
    CoachingMetric("activities_per_lead", "Activities per lead", fmt_num2, fmt_num2, 1),
    CoachingMetric("conversions", "Conversions", fmt_int, fmt_num, 1),
)


def roi_total(rows: Sequence[SourceRoi]) -> SourceRoi:
    """The 'All sources' row: counts and known costs summed, so its ratios come from the sums;
    the cost is divided only by the leads and recruits of sources with cost data (a source with
    no cost data is unknown, not free)."""
    priced = [row for row in rows if row.cost_usd is not None]
    return SourceRoi(
        source="All sources",
        leads=sum(row.leads for row in rows),
        recruited=sum(row.recruited for row in rows),
        cost_usd=_sum_known(row.cost_usd for row in rows),
        priced_leads=sum(row.leads for row in priced),
        priced_recruited=sum(row.recruited for row in priced),
    )


def _sum_known(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def data_as_of_text(data: ReportData) -> str:
    """One organization: its newest event in its own timezone; several: the newest in UTC."""
    if len(data.organizations) == 1 and not data.all_organizations:
        org = data.organizations[0]
        return fmt_stamp(org.data_as_of, org.organization.timezone)
    return fmt_stamp(data.data_as_of)


@cache
def environment() -> jinja2.Environment:
    """The template environment: templates shipped in the package (package data), autoescape
    on, undefined names an error rather than an empty string."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("leadflow.analytics.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        fmt_int=fmt_int,
        fmt_pct=fmt_pct,
        fmt_money=fmt_money,
        fmt_cost=fmt_cost,
        fmt_num=fmt_num,
        fmt_source=fmt_source,
        fmt_stamp=fmt_stamp,
    )
    env.globals.update(
        funnel_svg=funnel_svg,
        roi_svg=roi_svg,
        score_svg=score_svg,
        roi_total=roi_total,
        coaching_metrics=COACHING_METRICS,
        coaching_weeks=COACHING_WEEKS,
        dash=DASH,
    )
    return env


def render_html(data: ReportData) -> str:
    """One self-contained HTML document (inline CSS and SVG, no script, no URL)."""
    template = environment().get_template(TEMPLATE)
    return template.render(data=data, data_as_of=data_as_of_text(data), marts=REPORT_MARTS)


def write_report(url: str, out: Path, organization: str | None = None) -> ReportSummary:
    """Render the report for one organization (UUID, slug or name) or all, and write it."""
    out = Path(out)
    try:
        with psycopg.connect(url) as conn:
            data = load_report_data(conn, organization)
    except psycopg.OperationalError as exc:
        raise ReportError(f"cannot connect to PostgreSQL: {_first_line(exc)}") from exc
    except psycopg.errors.UndefinedColumn as exc:
        raise ReportError(
            f"the analytics marts are out of date ({_first_line(exc)}): {MISSING_MARTS}"
        ) from exc
    except DbtError as exc:  # the funnel stages come from dbt_project.yml
        raise ReportError(_first_line(exc)) from exc
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
