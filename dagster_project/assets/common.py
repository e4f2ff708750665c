"""Config shared by the CRM assets."""

from datetime import UTC, datetime

import dagster as dg
from pydantic import Field


def parse_as_of(value: str | None) -> datetime:
    """The configured as-of time (timezone-aware; no offset means UTC), or now."""
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise dg.Failure(f"as_of {value!r} is not an ISO 8601 date-time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class AsOfConfig(dg.Config):
    """The time a run computes for: runs are deterministic given it (replays, tests)."""

    as_of: str | None = Field(
        default=None,
        description="ISO 8601 date-time, e.g. 2026-12-01T06:00:00+00:00 (no offset means UTC);"
        " default now.",
    )

    def as_of_datetime(self) -> datetime:
        return parse_as_of(self.as_of)
