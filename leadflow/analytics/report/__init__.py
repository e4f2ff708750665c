"""The HTML report (`leadflow report`) and the chart metadata Dagster shows for the marts.

    data.py        records, and every query of the `analytics` marts (plus `organizations`)
    charts.py      inline SVG for the HTML; Markdown tables with text bars for the Dagster UI
    render.py      the HTML through the Jinja2 template templates/report.html.j2; write_report
    formatting.py  numbers, money, rates, stage labels and times as text, shared by all three

Everything is read from the `analytics` marts dbt builds (plus `organizations` for names), so the
report shows exactly what analysts query. The charts are inline SVG and the CSS is inline: the
file has no JavaScript, fonts or URLs, so it can be mailed, archived or printed as is.

Definitions (the same in the HTML and in the Markdown metadata):
- funnel: `reached_<stage>` summed over the `lead_funnel` rows of the scope, the stages in the
  order of the dbt var `funnel_stages` (dbt_project.yml); the step rate is
  reached(stage) / reached(previous stage), the cumulative rate reached(stage) / reached(new)
  (every lead entered reaches new, so this is the mart's cum_conv_to_<stage> over the scope);
  cold and DNC exits are shown as counts with their share of the leads that reached `new`.
- ROI: `source_roi` summed by source (leads, recruited, cost); cost per lead = cost / leads,
  conversion rate = recruited / leads, cost per recruit = cost / recruited, each from the sums
  ("—" when the denominator is 0 or the cost is unknown).
- score trend: the weekly rows of `organization_score_trends`, the latest 52 weeks: per
  organization and local week, the average, median (percentile_cont 0.5) and p90
  (percentile_cont 0.9) over the last score of the week of each of the organization's leads,
  all sources and owners together. These are true percentiles: they are not combined from
  `lead_score_trends`, whose per source and owner medians cannot be averaged into a median.
- movers: the top risers and fallers across the sources and owners of the latest week in which
  any score changed (the heading names that week; a later week without changes is said so),
  from `lead_score_trends`.
- coaching: every `agent_coaching` row of the organization's latest 4 weeks, each metric next to
  the organization's average; better/worse is highlighted where a direction is meaningful
  (higher share contacted within 24h, activities per lead and conversions; fewer hours to first
  contact). Leads assigned is workload, not performance, so it is not highlighted.
"""

from leadflow.analytics.report.charts import (
    BAR_WIDTH,
    funnel_markdown,
    funnel_svg,
    funnel_table_markdown,
    roi_markdown,
    roi_svg,
    roi_table_markdown,
    score_svg,
    text_bar,
)
from leadflow.analytics.report.data import (
    MARTS,
    REPORT_MARTS,
    CoachingRow,
    Funnel,
    FunnelStage,
    Organization,
    OrganizationReport,
    ReportData,
    ReportError,
    ReportSummary,
    ScoreMover,
    ScorePoint,
    SourceRoi,
    align_rows,
    list_organizations,
    load_funnel,
    load_report_data,
    load_roi,
    mart_preview,
    missing_marts,
    resolve_organization,
)
from leadflow.analytics.report.formatting import DASH
from leadflow.analytics.report.render import compare, render_html, write_report

__all__ = [
    "BAR_WIDTH",
    "DASH",
    "MARTS",
    "REPORT_MARTS",
    "CoachingRow",
    "Funnel",
    "FunnelStage",
    "Organization",
    "OrganizationReport",
    "ReportData",
    "ReportError",
    "ReportSummary",
    "ScoreMover",
    "ScorePoint",
    "SourceRoi",
    "align_rows",
    "compare",
    "funnel_markdown",
    "funnel_svg",
    "funnel_table_markdown",
    "list_organizations",
    "load_funnel",
    "load_report_data",
    "load_roi",
    "mart_preview",
    "missing_marts",
    "render_html",
    "resolve_organization",
    "roi_markdown",
    "roi_svg",
    "roi_table_markdown",
    "score_svg",
    "text_bar",
    "write_report",
]
