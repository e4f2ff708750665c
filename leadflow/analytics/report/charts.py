"""Charts: inline SVG for the HTML report, Markdown tables with text bars for the Dagster UI.

The SVG functions return `markupsafe.Markup`: every piece of text in them (labels, sources,
organization names in titles) is escaped here, where the markup is built, so the template can
insert them as they are and user data is escaped exactly once. The Markdown functions return
plain text for `dg.MetadataValue.md` (HTML-escaped and with Markdown specials backslashed).
"""

from __future__ import annotations

import html
import math
import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import psycopg
from markupsafe import Markup, escape

from leadflow.analytics.report.data import Funnel, ScorePoint, SourceRoi, load_funnel, load_roi
from leadflow.analytics.report.formatting import (
    DASH,
    EXITS,
    NO_COST_DATA,
    clip,
    fmt_cost,
    fmt_int,
    fmt_money,
    fmt_num,
    fmt_pct,
    fmt_source,
    stage_label,
)

BAR_WIDTH = 20
SVG_WIDTH = 760


# -- SVG for the HTML report ------------------------------------------------------------------
def _svg(width: int, height: int, label: str, body: Iterable[str]) -> Markup:
    """The chart's <svg> element; `body` is markup whose text was escaped by the caller."""
    return Markup(
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{width}"'
        f' height="{height}" viewBox="0 0 {width} {height}">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _bar_px(value: float, maximum: float, width: float) -> float:
    if maximum <= 0 or value <= 0:
        return 0.0
    return max(width * value / maximum, 1.0)


def funnel_svg(funnel: Funnel, label: str) -> Markup:
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
            f'<g class="funnel-row" data-stage="{escape(row.stage)}" data-count="{row.count}">'
            f'<text x="{label_w}" y="{y + 13}" text-anchor="end">'
            f"{escape(stage_label(row.stage))}</text>"
            f'<rect class="{"bar-exit" if is_exit else "bar-stage"}" x="{bar_x}" y="{y}"'
            f' width="{width:.1f}" height="{bar_h}" rx="2"/>'
            f'<text class="value" x="{bar_x + width + 6:.1f}" y="{y + 13}">{escape(detail)}</text>'
            "</g>"
        )
        y += row_h
    return _svg(SVG_WIDTH, height, label, body)


def roi_svg(rows: Sequence[SourceRoi], label: str) -> Markup:
    """Horizontal bars of cost per recruit by source. Spend without a recruit is drawn too, at
    full width in its own colour (it costs more per recruit than any source that recruited) and
    labelled with the spend; a source with no cost data or no spend and no recruit has no bar."""
    label_w, bar_x, bar_max, row_h, bar_h = 150, 158, 380, 26, 16
    values = [row.cost_per_recruit for row in rows]
    maximum = max([v for v in values if v is not None] + [0.0])
    body: list[str] = []
    y = 4
    for row, value in zip(rows, values, strict=True):
        css = "bar-roi"
        if value is not None:
            width, text = _bar_px(value, maximum, bar_max), fmt_money(value)
        elif row.spend_without_recruits:
            css, width = "bar-spend", float(bar_max)
            text = f"{fmt_money(row.cost_usd)} spent, no recruits"
        elif row.cost_usd is None:
            width, text = 0.0, NO_COST_DATA
        else:
            width, text = 0.0, f"{DASH} (no recruits, no spend)"
        body.append(
            f'<g class="roi-row" data-source="{escape(fmt_source(row.source))}">'
            f'<text x="{label_w}" y="{y + 12}" text-anchor="end">'
            f"{escape(clip(fmt_source(row.source), 22))}</text>"
            f'<rect class="{css}" x="{bar_x}" y="{y}" width="{width:.1f}" height="{bar_h}"'
            ' rx="2"/>'
            f'<text class="value" x="{bar_x + width + 6:.1f}" y="{y + 12}">{escape(text)}</text>'
            "</g>"
        )
        y += row_h
    return _svg(SVG_WIDTH, y + 8, label, body)


_SERIES = (
    ("avg_score", "average", "line-avg"),
    ("median_score", "median", "line-median"),
    ("p90_score", "p90", "line-p90"),
)


def score_svg(points: Sequence[ScorePoint], label: str) -> Markup:
    """Weekly average, median and p90 score (0–100) as three lines over time."""
    left, right, top, bottom, height = 44, 16, 30, 36, 260
    plot_w = SVG_WIDTH - left - right
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
            f' text-anchor="middle">{escape(day.isoformat())}</text>'
        )
    for position, (attr, name, css) in enumerate(_SERIES):
        legend_x = left + 10 + position * 120
        body.append(
            f'<line class="{css}" x1="{legend_x}" y1="12" x2="{legend_x + 24}" y2="12"/>'
            f'<text class="axis" x="{legend_x + 30}" y="16">{escape(name)}</text>'
        )
        segment: list[str] = []
        segments: list[list[str]] = [segment]
        for point in points:
            value = getattr(point, attr)
            if value is None:
                segment = []
                segments.append(segment)
                continue
            cx, cy = f"{x_of(point.week_start):.1f}", f"{y_of(value):.1f}"
            segment.append(f"{cx},{cy}")
            tip = f"{point.week_start.isoformat()} {name}: {fmt_num(value)}"
            body.append(
                f'<circle class="{css}" cx="{cx}" cy="{cy}" r="2.5">'
                f"<title>{escape(tip)}</title></circle>"
            )
        for part in segments:
            if len(part) > 1:
                body.append(f'<polyline class="{css}" points="{" ".join(part)}"/>')
    return _svg(SVG_WIDTH, height, label, body)


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
            f"| {_md(stage_label(row.stage))} | {fmt_int(row.count)}"
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
        bar = text_bar(row.cost_per_recruit, maximum)
        if row.spend_without_recruits:
            bar = "░" * BAR_WIDTH + " spent, no recruits"
        lines.append(
            f"| {_md(fmt_source(row.source))} | {fmt_int(row.leads)} | {fmt_int(row.recruited)}"
            f" | {fmt_cost(row.cost_usd)} | {fmt_money(row.cost_per_lead)}"
            f" | {fmt_pct(row.conversion_rate)} | {fmt_money(row.cost_per_recruit)}"
            f" | {bar} |"
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
