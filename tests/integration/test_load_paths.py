"""A lead file and a CRM's records take one load (leadflow/ingest/batch.py): the same people,
imported as a HubSpot-shaped file into one database and pulled from the HubSpot contract server
(leadflow/platform/crm_sandbox) into another seeded the same way, give the same accounting, the
same rejects, leads, audit rows and status history; only what wrote the change
(`change_source`), the batch ids and the CRM's own record links (audit `crm_record`) differ.

Two rounds: the first inserts, folds a duplicate, quarantines, screens a DNC number, merges into
a lead that was there, resolves a pending referral and drops an owner of another organization;
the second brings the changed records (the file: the same rows) and merges them.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from leadflow.crmsync.connections import Connection, save_connection
from leadflow.crmsync.load import load_connection
from leadflow.crmsync.pull import pull
from leadflow.crmsync.vendors import SPECS
from leadflow.ingest.pipeline import ImportRequest, run_import
from leadflow.platform.crm_sandbox import ContractServer, sandbox
from tests.integration.conftest import ORG1, ORG2_AGENT

pytestmark = pytest.mark.integration

TOKEN = "sandbox-token-1"
#: the HubSpot properties the mapping reads, as the file's headers
HEADERS = [column for column in SPECS["hubspot"].fields.values()]
OWNER_OF_ANOTHER_ORG = "77"  # a HubSpot owner the connection maps to a user of ORG2

ROUND_1 = [
    {
        "firstname": "Ann",
        "lastname": "Ames",
        "email": "ann@example.com",
        "phone": "(212) 555-0101",
        "company": "Acme",
        "hs_lead_status": "NEW",
        "lifecyclestage": "lead",
        "hs_analytics_source": "ORGANIC_SEARCH",
        "hubspot_owner_id": OWNER_OF_ANOTHER_ORG,
    },
    {"firstname": "Bob", "lastname": "Burr", "mobilephone": "212 555 0102"},
    {"firstname": "Cat", "lastname": "Cole", "phone": "12"},
    {
        "firstname": "Dan",
        "lastname": "Dorn",
        "phone": "+1 212 555 0104",
        "hs_lead_status": "IN_PROGRESS",
    },
    {"firstname": "Eve", "lastname": "Earl", "phone": "212.555.0105", "email": "eve@example.com"},
    {
        "firstname": "",
        "lastname": "Earl",
        "phone": "2125550105",
        "company": "Evecorp",
        "lifecyclestage": "customer",
    },
    {
        "firstname": "Fay",
        "lastname": "Fox",
        "phone": "212-555-0106",
        "email": "fay@example.com",
        "hs_lead_status": "CONNECTED",
    },
    {"firstname": "Gus", "email": "not an e-mail", "phone": "212 555 0107"},
]
#: record (by position in ROUND_1) -> the properties its second version changes
ROUND_2 = {
    0: {"lastname": "Ames-Smith", "hs_lead_status": "CONNECTED"},
    1: {"company": "Bobco", "email": "bob@example.com"},
    6: {"firstname": "Faye", "lifecyclestage": "customer"},
}


@pytest.fixture(autouse=True)
def loopback_crm(monkeypatch) -> None:
    monkeypatch.setenv("LEADFLOW_CRM_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setenv("LEADFLOW_CRM_TEST_TOKEN", TOKEN)


@pytest.fixture
def server() -> Iterator[ContractServer]:
    with sandbox("hubspot", token=TOKEN, page_size=100) as running:
        yield running


def _prepare(url: str) -> None:
    """What both databases hold before: a lead the file merges into, a lead whose referral
    waits for Ann's phone, and Dan's number on the DNC list."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into leads (organization_id, phone_number, first_name, last_name, status,"
            " source) values (%s, '+12125550106', 'Old', 'Fox', 'contacted', 'referral')",
            (ORG1,),
        )
        conn.execute(
            "insert into leads (organization_id, phone_number, first_name, referred_by_ref)"
            " values (%s, '+12125550199', 'Pending', '+12125550101')",
            (ORG1,),
        )
        conn.execute(
            "insert into dnc_list (organization_id, phone_number, reason) values (%s, %s, %s)",
            (ORG1, "+12125550104", "asked"),
        )


def _write_file(path: Path, records: list[dict]) -> Path:
    """The records as a HubSpot export whose headers are the property names; the owner column
    holds the user the connection maps the HubSpot owner to."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADERS)
        for record in records:
            owner = record.get("hubspot_owner_id")
            values = {**record, "hubspot_owner_id": ORG2_AGENT if owner else ""}
            out.writerow([values.get(header, "") for header in HEADERS])
    return path


def _import_file(url: str, path: Path, mapping: Path):
    request = ImportRequest(
        files=[str(path)], org=ORG1, source="hubspot", mapping=str(mapping), workers=1
    )
    [job] = run_import(request, lambda: psycopg.connect(url))
    assert job.status == "succeeded", job.message
    return job


def _sync(url: str, connection: Connection):
    pull(connection, url)
    return load_connection(lambda: psycopg.connect(url), connection)


ACCOUNTING = (
    "rows_read",
    "inserted",
    "merged",
    "duplicates_in_file",
    "quarantined",
    "dnc",
    "referrals",
    "owners_dropped",
)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _accounting(outcome) -> dict[str, int]:
    totals = {key: getattr(outcome, key) for key in ACCOUNTING}
    assert totals["rows_read"] == (
        totals["inserted"] + totals["merged"] + totals["duplicates_in_file"] + totals["quarantined"]
    )
    return totals


def _state(url: str, batch_id: str) -> dict[str, object]:
    """What a batch left, by phone instead of lead ids, batch ids blanked."""
    with psycopg.connect(url) as conn:
        phone_of = dict(
            conn.execute(
                "select id::text, phone_number from leads where organization_id = %s", (ORG1,)
            ).fetchall()
        )

        def by_phone(value):
            return phone_of.get(value, value) if isinstance(value, str) else value

        batch = conn.execute(
            "select rows_read, inserted, merged, duplicates_in_file, quarantined, dnc, status"
            " from import_batches where id = %s",
            (batch_id,),
        ).fetchone()
        rejects = conn.execute(
            "select row_number, reason from import_rejects where batch_id = %s order by 1",
            (batch_id,),
        ).fetchall()
        audit = conn.execute(
            """
            select l.phone_number, a.field_name, a.old_value, a.new_value, a.change_source
            from lead_audit_log a join leads l on l.id = a.lead_id
            where a.import_batch_id = %s and a.field_name <> 'crm_record'
            order by 1, 2, 3, 4
            """,
            (batch_id,),
        ).fetchall()
        history = conn.execute(
            """
            select l.phone_number, h.from_status, h.to_status, h.trigger_type, h.notes
            from lead_status_history h join leads l on l.id = h.lead_id
            where h.notes like %s order by 1, 2 nulls first, 3
            """,
            (f"%{batch_id}%",),
        ).fetchall()
        leads = conn.execute(
            """
            select phone_number, first_name, last_name, email, company, status, source,
                   phone_type, tags, crm_status, user_id, referred_by_ref,
                   referred_by_lead_id::text
            from leads where organization_id = %s and phone_number like '+1212555%%'
            order by phone_number
            """,
            (ORG1,),
        ).fetchall()
    return {
        "batch": batch,
        "rejects": rejects,
        "audit": [(p, f, by_phone(old), by_phone(new)) for p, f, old, new, _ in audit],
        "change_sources": sorted({row[4] for row in audit}),
        "history": [(*row[:4], UUID.sub("<batch>", row[4])) for row in history],
        "leads": [(*row[:-1], by_phone(row[-1])) for row in leads],
    }


def test_a_file_and_the_same_crm_records_load_alike(
    server, crm_url, new_seeded_database, tmp_path, caplog
):
    file_url, crm_path_url = crm_url, new_seeded_database("crm")
    for url in (file_url, crm_path_url):
        _prepare(url)
    mapping = tmp_path / "hubspot.json"
    mapping.write_text(json.dumps({c: f for f, c in SPECS["hubspot"].fields.items()}))
    server.add([{"properties": record} for record in ROUND_1])
    ids = [record["id"] for record in server.records()]  # in the order they were added
    with psycopg.connect(crm_path_url) as conn:
        connection = save_connection(
            conn,
            organization=ORG1,
            vendor="hubspot",
            base_url=server.base_url,
            secret_env="LEADFLOW_CRM_TEST_TOKEN",
            name="equivalence",
            options={"owners": {OWNER_OF_ANOTHER_ORG: ORG2_AGENT}},
        )

    # round 1: inserts, a folded duplicate, a reject, DNC, a merge, a referral, a dropped owner
    job = _import_file(file_url, _write_file(tmp_path / "round1.csv", ROUND_1), mapping)
    with caplog.at_level(logging.WARNING, logger="leadflow.crmsync.load"):
        outcome = _sync(crm_path_url, connection)
    assert (
        _accounting(job)
        == _accounting(outcome)
        == {
            "rows_read": 8,
            "inserted": 5,
            "merged": 1,
            "duplicates_in_file": 1,
            "quarantined": 1,
            "dnc": 1,
            "referrals": 1,
            "owners_dropped": 1,
        }
    )
    assert job.message == "1 owner(s) not in the lead's organization ignored"
    assert "1 owner(s) not in the lead's organization ignored" in caplog.text
    from_file, from_crm = _state(file_url, job.batch_id), _state(crm_path_url, outcome.batch_id)
    assert from_file.pop("change_sources") == ["import"]
    assert from_crm.pop("change_sources") == ["crm:hubspot"]
    assert from_file == from_crm
    assert from_file["batch"] == (8, 5, 1, 1, 1, 1, "succeeded")
    assert ("+12125550199", "referred_by_lead_id", None, "+12125550101") in from_file["audit"]
    assert outcome.linked == 7  # the CRM's own part: every loaded record linked to its lead

    # round 2: the changed records (the CRM sends only those; the file has the same rows)
    changed = []
    for position, fields in ROUND_2.items():
        server.update(
            ids[position], properties={**server.record(ids[position])["properties"], **fields}
        )
        changed.append({**ROUND_1[position], **fields})
    job = _import_file(file_url, _write_file(tmp_path / "round2.csv", changed), mapping)
    outcome = _sync(crm_path_url, connection)
    assert _accounting(job) == _accounting(outcome)
    assert (outcome.rows_read, outcome.merged) == (3, 3)
    from_file, from_crm = _state(file_url, job.batch_id), _state(crm_path_url, outcome.batch_id)
    assert from_file.pop("change_sources") == ["import"]
    assert from_crm.pop("change_sources") == ["crm:hubspot"]
    assert from_file == from_crm
    assert {(phone, field) for phone, field, _, _ in from_file["audit"]} >= {
        ("+12125550101", "last_name"),
        ("+12125550102", "company"),
        ("+12125550106", "first_name"),
    }
