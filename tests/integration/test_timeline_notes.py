"""A note a file carried reaches the lead's timeline (issue 20): an event of type `note` whose
summary names where it came from, never the note's text (lead data stays in lead_notes and
stg_crm__lead_notes, the summaries carry none)."""

from __future__ import annotations

import pytest

from leadflow.analytics.project import run_dbt
from tests.integration.conftest import ORG1, one

pytestmark = pytest.mark.integration

NOTE = "Prefers calls after 5pm, Spanish speaker"


def test_an_imported_note_is_an_event_of_the_leads_timeline(
    crm_url, connect, write_csv, do_import, tmp_path
):
    path = write_csv(
        "with_notes.csv",
        ["first_name", "last_name", "phone_number", "Notes"],
        [["Rosa", "Diaz", "+14155550142", NOTE]],
    )
    [job] = do_import(path, org=ORG1)
    assert job.status == "succeeded" and job.inserted == 1
    target = tmp_path / "dbt"
    run_dbt(
        # cautious: the relationship tests of marts that merely ref a staging parent stay out
        [
            "build",
            "--select",
            "+lead_timeline",
            "--indirect-selection",
            "cautious",
            "--log-path",
            str(target / "logs"),
        ],
        crm_url,
        target_path=target / "target",
    )
    with connect() as conn:
        lead = one(conn, "select id from leads where phone_number = '+14155550142'")[0]
        events = conn.execute(
            "select event_type, event_subtype, actor_user_id, summary"
            " from analytics.lead_timeline where lead_id = %s order by event_seq",
            (lead,),
        ).fetchall()
        text = one(
            conn,
            "select note_text, note_source from analytics_staging.stg_crm__lead_notes"
            " where lead_id = %s",
            (lead,),
        )
    notes = [event for event in events if event[0] == "note"]
    assert notes == [("note", None, None, "Note kept from import: with_notes.csv")]
    assert all(NOTE not in event[3] for event in events)
    assert text == (NOTE, "import: with_notes.csv")
