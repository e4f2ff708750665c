"""Where the incremental CRM steps look back to: the database time of a step's last run.

A row's `updated_at` is the start of the transaction that wrote it, which may commit after a
step read. So a step records, with its work, the start of its own transaction or of the oldest
client transaction then in flight in the database if earlier, less an overlap
(LEADFLOW_NIGHTLY_CHANGE_OVERLAP_SECONDS) for a writer pg_stat_activity does not show (another
role's session without pg_read_all_stats); its next run reads the rows changed after that time.
Reading a row twice costs a little; missing one would be wrong.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

import psycopg

from leadflow import settings
from leadflow.postgres import one_row


def change_overlap() -> timedelta:
    """LEADFLOW_NIGHTLY_CHANGE_OVERLAP_SECONDS as a timedelta."""
    return timedelta(seconds=settings.current().nightly_change_overlap_seconds)


def changes_since(conn: psycopg.Connection) -> datetime:
    """The time the step's next run looks back to (module docstring); call it first in the
    step's transaction, before reading what it works on."""
    cursor = conn.execute(
        """
        select least(now(), min(xact_start))
        from pg_stat_activity
        where datname = current_database() and backend_type = 'client backend'
          and xact_start is not null
        """
    )
    return cast(datetime, one_row(cursor)[0]) - change_overlap()
