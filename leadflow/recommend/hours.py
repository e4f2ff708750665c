"""Calling hours: the local hours (organization time zone) at which a lead may be called.

An organization's window is the system_config key `calling_hours`, `{"start": "08:00", "end":
"21:00"}` (the organization's row, else the global one, else DEFAULT_CALLING_HOURS: 08:00-21:00,
the TCPA window). A best hour is a one-hour slot that lies wholly inside the window. The value
is tenant-written, hence hostile input: anything that is not exactly that shape (two "HH:MM"
times, start before end, at least one whole hour between them) is refused with a message that
says why, and the default applies; it never fails a run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg

from leadflow.postgres import config_value

CONFIG_KEY = "calling_hours"
_TIME_RE = re.compile(r"([01]?[0-9]|2[0-4]):([0-5][0-9])")
_MAX_SHOWN = 40


class CallingHoursError(ValueError):
    """A `calling_hours` value that cannot be used (the message says why)."""


@dataclass(frozen=True)
class CallingHours:
    """[start, end) in minutes after local midnight."""

    start: int
    end: int

    @property
    def slots(self) -> list[int]:
        """The hours h whose slot h:00-(h+1):00 lies wholly inside the window."""
        return [h for h in range(24) if h * 60 >= self.start and (h + 1) * 60 <= self.end]

    def allows(self, hour: int) -> bool:
        return hour in self.slots

    def nearest(self, hour: int) -> int:
        """The allowed hour closest to `hour` (the earlier one on a tie)."""
        return min(self.slots, key=lambda h: (abs(h - hour), h))

    def label(self) -> str:
        return f"{_hhmm(self.start)}–{_hhmm(self.end)}"

    def as_config(self) -> dict[str, str]:
        return {"start": _hhmm(self.start), "end": _hhmm(self.end)}


DEFAULT_CALLING_HOURS = CallingHours(8 * 60, 21 * 60)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _minutes(value: object, what: str) -> int:
    if not isinstance(value, str):
        raise CallingHoursError(f'{what} must be a time "HH:MM", not {_shown(value)}')
    match = _TIME_RE.fullmatch(value.strip()) if len(value) <= 8 else None
    if match is None:
        raise CallingHoursError(f'{what} must be a time "HH:MM", not {_shown(value)}')
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > 24 * 60:
        raise CallingHoursError(f'{what} must be a time "HH:MM", not {_shown(value)}')
    return minutes


def parse_calling_hours(value: object) -> CallingHours:
    """The window a `calling_hours` value names; CallingHoursError if it is not usable."""
    if not isinstance(value, dict):
        raise CallingHoursError(
            f'must be an object {{"start": "HH:MM", "end": "HH:MM"}}, not {_shown(value)}'
        )
    unknown = sorted(str(key) for key in value if key not in ("start", "end"))
    if unknown:
        raise CallingHoursError(f"unknown key(s) {_shown(unknown)}: only start and end")
    if "start" not in value or "end" not in value:
        raise CallingHoursError('needs both "start" and "end"')
    hours = CallingHours(_minutes(value["start"], "start"), _minutes(value["end"], "end"))
    if hours.start >= hours.end:
        raise CallingHoursError(
            f"start {hours.as_config()['start']} must come before end {hours.as_config()['end']}"
            " (a window never spans midnight)"
        )
    if not hours.slots:
        raise CallingHoursError(f"{hours.label()} holds no whole hour to call in")
    return hours


def calling_hours(
    conn: psycopg.Connection, organization_id: str
) -> tuple[CallingHours, str | None]:
    """The organization's calling window, and the problem with its configured value when it
    was refused (then the window is the default)."""
    value = config_value(conn, organization_id, CONFIG_KEY)
    if value is None:
        return DEFAULT_CALLING_HOURS, None
    try:
        return parse_calling_hours(value), None
    except CallingHoursError as exc:
        return DEFAULT_CALLING_HOURS, (
            f"system_config {CONFIG_KEY} of organization {organization_id}: {exc};"
            f" using {DEFAULT_CALLING_HOURS.label()}"
        )


def hour_window(hour: int | None, timezone: str | None) -> str | None:
    """ "09:00–10:00 America/New_York": the slot of a local hour, with its zone."""
    if hour is None:
        return None
    slot = f"{hour:02d}:00–{(hour + 1) % 24:02d}:00"
    return f"{slot} {timezone}" if timezone else slot
