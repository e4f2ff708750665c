"""Staged rows as COPY text (sql.copy_text, formatted in the normalization workers) reach
stg_leads exactly: every escape of COPY's text format and of array literals, NULLs, jsonb."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

from leadflow.ingest import sql
from leadflow.leads.records import CleanLead, Reject

pytestmark = pytest.mark.integration

ORG = "be000000-0000-4000-8000-000000000001"
AWKWARD = [
    "plain",
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "back\\slash",
    'double "quote"',
    "comma, inside",
    "{braces}",
    "NULL",
    "\\N",
    "",
    "Zoë Siobhán 王",
]


@pytest.fixture
def conn(migrated_url):
    with psycopg.connect(migrated_url) as conn:
        yield conn
        conn.rollback()


def _staged_back(conn: psycopg.Connection, rows: list[tuple]) -> list[tuple]:
    sql.create_staging(conn)
    with sql.staging_copy(conn) as copy:
        copy.write(sql.copy_text(rows))
    return conn.execute(
        "select row_number, organization_id::text, user_id, first_name, last_name, phone_number,"
        " email, tags, source, referred_by, company, crm_status, phone_source, reject_reason,"
        " reject_detail, raw_row, reject_organization_id::text from stg_leads order by row_number"
    ).fetchall()


def test_clean_leads_round_trip_every_escape(conn):
    leads = [
        CleanLead(
            i + 1,
            ORG,
            f"+1212555{i:04d}",
            None,
            None,
            text,
            text,
            None,
            None,
            [text, "b"] if text else [],
            text,
            None,
            [],
            text or None,
            text or None,
            None,
        )
        for i, text in enumerate(AWKWARD)
    ]
    back = _staged_back(conn, [sql.stage_lead(lead) for lead in leads])
    assert len(back) == len(AWKWARD)
    for lead, row in zip(leads, back, strict=True):
        assert row[0] == lead.row_number
        assert row[1] == ORG
        assert row[2] is None  # NULL stays NULL
        assert (row[3], row[4]) == (lead.first_name, lead.last_name)
        assert row[5] == lead.phone_number
        assert row[7] == lead.tags  # array elements with quotes, commas, braces, "NULL"
        assert row[8] == lead.source
        assert (row[10], row[11]) == (lead.company, lead.crm_status)
        assert row[13] is None


def test_rejects_round_trip_with_their_raw_row(conn):
    raw = {"Phone": "12\t34", "Notes": 'said "hi"\nand left \\ a note', "Empty": "", "王": "x"}
    reject = Reject(7, "invalid_phone", "not a phone number (no digits)\tdetail", raw)
    [row] = _staged_back(conn, [sql.stage_reject(reject, ORG)])
    assert row[0] == 7
    assert row[1] is None and row[7] is None  # a reject carries no lead
    assert row[13:] == ("invalid_phone", "not a phone number (no digits)\tdetail", raw, ORG)


def test_text_array_literal():
    assert sql.text_array([]) == "{}"
    assert sql.text_array(None) == "{}"
    assert sql.text_array(["a b", 'q"', "s\\"]) == '{"a b","q\\"","s\\\\"}'
    # Jsonb is staged as json text
    assert b"\\\\n" in sql.copy_text([(1, *[None] * 16, Jsonb({"k": "a\nb"}), None)])
