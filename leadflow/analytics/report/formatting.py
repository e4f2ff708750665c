"""Numbers, money, rates, stages and times as the report writes them (plain text, not HTML).

Shared by the SVG charts, the HTML template (as filters) and the Markdown tables, so a value
reads the same everywhere; escaping is left to whoever puts the text into HTML or Markdown.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DASH = "—"
NO_SOURCE = "(no source)"
#: a cost nobody recorded (null in source_roi), which is not a cost of 0
NO_COST_DATA = "no cost data"
EXITS = ("cold", "dnc")
EXIT_LABELS = {"cold": "Exited: cold", "dnc": "Exited: DNC"}


def stage_label(stage: str) -> str:
    """'Contacted' for a funnel stage, 'Exited: DNC' for an exit: any stage the dbt var
    funnel_stages lists gets a label without a table to keep in step with it."""
    return EXIT_LABELS.get(stage) or stage.replace("_", " ").capitalize()


def fmt_int(value: int | float | None) -> str:
    return DASH if value is None else f"{round(value):,}"


def fmt_pct(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f}%"


def fmt_money(value: float | Decimal | None) -> str:
    return DASH if value is None else f"${float(value):,.2f}"


def fmt_cost(value: float | Decimal | None) -> str:
    """Money spent: "no cost data" when none was recorded ($0.00 is a recorded cost of 0)."""
    return NO_COST_DATA if value is None else fmt_money(value)


def fmt_num(value: float | Decimal | None, digits: int = 1) -> str:
    return DASH if value is None else f"{float(value):,.{digits}f}"


def fmt_num2(value: float | Decimal | None) -> str:
    return fmt_num(value, 2)


def fmt_source(source: str | None) -> str:
    return NO_SOURCE if source is None or source == "" else source


def fmt_stamp(value: datetime | None, timezone: str = "UTC") -> str:
    """'2026-03-13 18:15 America/New_York'; an unknown timezone falls back to UTC."""
    if value is None:
        return DASH
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone, timezone = ZoneInfo("UTC"), "UTC"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return f"{value.astimezone(zone):%Y-%m-%d %H:%M} {timezone}"


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
