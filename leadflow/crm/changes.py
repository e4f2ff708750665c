"""Where the incremental CRM steps look back to: the change floor of a step's last run.

A step records, with its work, the change floor of its own transaction (`watermarks.change_floor`:
the start of the oldest other client transaction then in flight in the database, or its own
start if earlier); its next run reads the rows changed after that time. That is exact under
late commits. While a session of a role the pipeline may not inspect (pg_stat_activity without
pg_read_all_stats) is connected, the floor moves back by LEADFLOW_NIGHTLY_CHANGE_OVERLAP_SECONDS.
Reading a row twice costs a little; missing one would be wrong.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from leadflow import settings, watermarks


def change_overlap() -> timedelta:
    """LEADFLOW_NIGHTLY_CHANGE_OVERLAP_SECONDS as a timedelta."""
    return timedelta(seconds=settings.current().nightly_change_overlap_seconds)


def changes_since(conn: psycopg.Connection) -> datetime:
    """The time the step's next run looks back to (module docstring); call it first in the
    step's transaction, before reading what it works on."""
    return watermarks.change_floor(conn, change_overlap())
