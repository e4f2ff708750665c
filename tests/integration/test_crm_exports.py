"""Real CRM exports imported as-is (no mapping file): HubSpot, Salesforce (report and Data
Loader), Pipedrive and Zoho, end to end into PostgreSQL.

The expected accounting is the table of seeds/sample/exports/README.md (which the unit tests
tie to the generator); here every file goes through the real import and the database is read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import ORG1, one

pytestmark = pytest.mark.integration

EXPORTS = Path(__file__).resolve().parents[2] / "seeds" / "sample" / "exports"


def expected_accounting() -> dict[str, dict[str, int]]:
    """The README's table: file -> its figures."""
    lines = [
        line for line in (EXPORTS / "README.md").read_text().splitlines() if line.startswith("| `")
    ]
    header = [
        "rows",
        "quarantined",
        "missing_phone",
        "invalid_phone",
        "clean",
        "duplicates",
        "leads",
        "from_mobile",
        "crm_status",
    ]
    table = {}
    for line in lines:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        table[cells[0].strip("`")] = dict(zip(header, map(int, cells[1:]), strict=True))
    return table


EXPECTED = expected_accounting()


def test_the_table_lists_the_five_exports():
    assert sorted(EXPECTED) == sorted(path.name for path in EXPORTS.glob("*.csv"))
    assert len(EXPECTED) == 5


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_export_imports_as_is_with_the_expected_accounting(name, connect, do_import):
    figures = EXPECTED[name]
    [job] = do_import(EXPORTS / name, org=ORG1)
    assert job.status == "succeeded", job.message
    assert (job.rows_read, job.quarantined, job.duplicates_in_file, job.inserted, job.merged) == (
        figures["rows"],
        figures["quarantined"],
        figures["duplicates"],
        figures["leads"],
        0,
    )
    with connect() as conn:
        reasons = dict(
            conn.execute(
                "select reason, count(*) from import_rejects where batch_id = %s group by 1",
                (job.batch_id,),
            ).fetchall()
        )
        assert reasons == {
            reason: figures[reason]
            for reason in ("missing_phone", "invalid_phone")
            if figures[reason]
        }
        # every lead of the file in the organization of --org, none elsewhere
        assert one(
            conn,
            "select count(distinct organization_id) from leads where id in"
            " (select lead_id from lead_status_history where notes = %s)",
            (f"import batch {job.batch_id}",),
        ) == (1,)
        from_mobile = one(
            conn,
            "select count(*) from lead_audit_log where import_batch_id = %s"
            " and field_name = 'phone_source'",
            (job.batch_id,),
        )[0]
        kept_status = one(
            conn,
            "select count(*) from leads l join lead_status_history h on h.lead_id = l.id"
            " where h.notes = %s and l.crm_status is not null",
            (f"import batch {job.batch_id}",),
        )[0]
        companies = one(
            conn,
            "select count(*) from leads l join lead_status_history h on h.lead_id = l.id"
            " where h.notes = %s and l.company is not null",
            (f"import batch {job.batch_id}",),
        )[0]
    # the mobile is used when the main phone is empty, and the audit says which column
    assert from_mobile == figures["from_mobile"]
    # unclear CRM statuses are kept as written (rows folded into one lead keep the newest);
    # the employer is data, never the tenant
    if figures["crm_status"]:
        assert 0 < kept_status <= figures["crm_status"]
    else:
        assert kept_status == 0
    assert companies > figures["leads"] // 2


def test_pipedrive_organization_is_the_employer_not_the_tenant(connect, do_import):
    path = EXPORTS / "pipedrive_people.csv"
    # without --org there is no tenant: the Organization column holds company names
    [refused] = do_import(path)
    assert refused.status == "failed" and "--org" in refused.message
    [job] = do_import(path, org=ORG1)
    assert (job.inserted, job.quarantined) == (EXPECTED[path.name]["leads"], 20)
    with connect() as conn:
        unknown = one(
            conn,
            "select count(*) from import_rejects where batch_id = %s"
            " and reason = 'unknown_organization'",
            (job.batch_id,),
        )
        assert unknown == (0,)
        linda = one(
            conn,
            "select first_name, last_name, company from leads"
            " where organization_id = %s and phone_number = '+17135550183'",
            (ORG1,),
        )
        assert linda == ("Linda", "Clark", "Northwind Traders")
