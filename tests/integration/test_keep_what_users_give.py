"""Issue 20, part 1: what a file carries is kept (notes, owners by e-mail, extra fields)."""

from __future__ import annotations

import json

import psycopg
import pytest

from leadflow.crmsync.connections import save_connection
from leadflow.crmsync.sync import sync_connection
from leadflow.ingest.extras import MAX_EXTRA_FIELDS, MAX_EXTRA_VALUE_CHARS
from leadflow.ingest.pipeline import ImportRequest, ImportRequestError, run_import
from leadflow.platform.crm_sandbox import sandbox
from tests.conftest import run_leadflow
from tests.integration.conftest import ORG1, ORG1_AGENT, one

PRIYA = "Priya.Patel@Summit.Example.com"  # ORG1_AGENT's e-mail, spelled in another case
HEADER = ["Phone", "First Name", "Owner", "Notes", "Preferred shift", "Licence number", "Langs"]


def _lead(conn, phone: str):
    return one(
        conn,
        "select id, user_id::text, extra_fields from leads"
        " where organization_id = %s and phone_number = %s",
        (ORG1, phone),
    )


def test_a_file_round_trips_notes_owners_and_extra_fields(connect, write_csv, do_import):
    path = write_csv(
        "kept.csv",
        HEADER,
        [
            ["2125550101", "Ana", PRIYA, "Prefers mornings", "night", "RN-1234", "en, es"],
            ["2125550102", "Ben", "nobody@summit.example.com", "", "day", "", ""],
        ],
    )
    [job] = do_import(path, org=ORG1)
    assert job.status == "succeeded", job.message
    assert (job.rows_read, job.inserted, job.merged, job.quarantined) == (2, 2, 0, 0)
    summary = job.summary()
    assert summary["notes"] == {"owner_not_found": 1}
    assert summary["lead_notes"] == 1
    assert summary["extra_fields"] == ["Langs", "Licence number", "Preferred shift"]
    with connect() as conn:
        ana_id, ana_owner, ana_extra = _lead(conn, "+12125550101")
        assert ana_owner == ORG1_AGENT  # resolved case-insensitively in the lead's organization
        assert ana_extra == {
            "Preferred shift": "night",
            "Licence number": "RN-1234",
            "Langs": "en, es",
        }
        ben_id, ben_owner, ben_extra = _lead(conn, "+12125550102")
        assert (ben_owner, ben_extra) == (None, {"Preferred shift": "day"})
        note = one(
            conn,
            "select organization_id::text, body, source, batch_id::text from lead_notes"
            " where lead_id = %s",
            (ana_id,),
        )
        assert note == (ORG1, "Prefers mornings", "import: kept.csv", job.batch_id)
        assert one(
            conn,
            "select organization_id::text, row_number, lead_id, code, detail from import_row_notes"
            " where batch_id = %s",
            (job.batch_id,),
        ) == (ORG1, 2, ben_id, "owner_not_found", "nobody@summit.example.com")

    # the same note again (another file, so not skipped as already imported): not duplicated
    again = write_csv(
        "again.csv", ["Phone", "Notes", "Comments"], [["2125550101", "Prefers mornings", "x"]]
    )
    [second] = do_import(again, org=ORG1)
    assert (second.merged, second.lead_notes) == (1, 0)
    with connect() as conn:
        assert one(conn, "select count(*) from lead_notes where lead_id = %s", (ana_id,)) == (1,)


def test_the_command_line_lists_what_was_kept(crm_url, write_csv):
    path = write_csv(
        "cli.csv",
        HEADER,
        [
            ["2125550111", "Ana", PRIYA, "Call after 6", "night", "RN-9", "en"],
            ["2125550112", "Ben", "ghost@example.com", "", "", "", ""],
            ["2125550113", "Cy", "Dana Whitfield", "", "", "", ""],
        ],
    )
    env = {"POSTGRES_URL": crm_url}
    result = run_leadflow("import", str(path), "--org", ORG1, "--json", env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["rows_read"], summary["inserted"]) == (3, 3)  # the contract keys hold
    assert summary["notes"] == {"invalid_owner": 1, "owner_not_found": 1}
    assert summary["lead_notes"] == 1
    [file] = summary["files"]
    assert file["notes"] == {"invalid_owner": 1, "owner_not_found": 1}
    assert file["extra_fields"] == ["Langs", "Licence number", "Preferred shift"]

    human = run_leadflow(
        "import",
        str(
            write_csv(
                "cli2.csv", HEADER, [["2125550114", "D", "ghost@example.com", "", "", "", ""]]
            )
        ),
        "--org",
        ORG1,
        env=env,
    )
    assert human.returncode == 0, human.stderr
    assert "row notes    1: owner_not_found 1" in human.stdout


def test_owner_flag_takes_an_email(connect, write_csv, do_import):
    path = write_csv(
        "flag.csv", ["Phone", "Owner"], [["2125550121", ""], ["2125550122", "ghost@x.example"]]
    )
    [job] = do_import(path, org=ORG1, owner=PRIYA.upper())
    assert job.status == "succeeded", job.message
    with connect() as conn:
        assert _lead(conn, "+12125550121")[1] == ORG1_AGENT
        # an owner the row names but nobody is: noted, and the lead takes --owner
        assert _lead(conn, "+12125550122")[1] == ORG1_AGENT
    assert job.notes == {"owner_not_found": 1}
    with pytest.raises(ImportRequestError, match="unknown user --owner"):
        run_import(ImportRequest(files=[str(path)], org=ORG1, owner="ghost@x.example"), connect)


def test_merge_adds_and_updates_extra_fields_with_an_audit_row(connect, write_csv, do_import):
    first = write_csv("m1.csv", ["Phone", "Shift", "Licence"], [["2125550131", "night", "RN-1"]])
    second = write_csv("m2.csv", ["Phone", "Shift", "Badge"], [["2125550131", "day", "B7"]])
    do_import(first, org=ORG1)
    [job] = do_import(second, org=ORG1)
    assert job.merged == 1
    with connect() as conn:
        lead_id, _, extra = _lead(conn, "+12125550131")
        # new keys added, existing keys take the newer row's value, keys it lacks stay
        assert extra == {"Shift": "day", "Licence": "RN-1", "Badge": "B7"}
        old, new = one(
            conn,
            "select old_value, new_value from lead_audit_log"
            " where lead_id = %s and field_name = 'extra_fields' and import_batch_id = %s",
            (lead_id, job.batch_id),
        )
        assert json.loads(old) == {"Shift": "night", "Licence": "RN-1"}
        assert json.loads(new) == extra
    # an empty cell never overwrites a kept value, and nothing changed writes no audit row
    third = write_csv("m3.csv", ["Phone", "Shift", "Badge"], [["2125550131", "", "B7"]])
    [job3] = do_import(third, org=ORG1)
    with connect() as conn:
        assert _lead(conn, "+12125550131")[2] == extra
        assert one(
            conn,
            "select count(*) from lead_audit_log where import_batch_id = %s and field_name = 'extra_fields'",
            (job3.batch_id,),
        ) == (0,)


def test_duplicates_in_a_file_fold_their_extra_fields(connect, write_csv, do_import):
    path = write_csv(
        "fold.csv",
        ["Phone", "Shift", "Licence", "Notes"],
        [["2125550141", "night", "RN-1", "first"], ["2125550141", "day", "", "second"]],
    )
    [job] = do_import(path, org=ORG1)
    assert (job.inserted, job.duplicates_in_file, job.lead_notes) == (1, 1, 2)
    with connect() as conn:
        lead_id, _, extra = _lead(conn, "+12125550141")
        assert extra == {"Shift": "day", "Licence": "RN-1"}
        notes = conn.execute(
            "select body from lead_notes where lead_id = %s order by body", (lead_id,)
        ).fetchall()
        assert notes == [("first",), ("second",)]


def test_caps_cut_and_say_so(connect, write_csv, do_import):
    many = [f"Field {n:02d}" for n in range(MAX_EXTRA_FIELDS + 5)]
    long_value = "x" * (MAX_EXTRA_VALUE_CHARS + 10)
    path = write_csv(
        "caps.csv",
        ["Phone", "Long", *many],
        [["2125550151", long_value, *(["v"] * len(many))]],
    )
    [job] = do_import(path, org=ORG1)
    assert job.status == "succeeded", job.message
    assert job.notes == {"extra_fields_cut": 2}
    with connect() as conn:
        lead_id, _, extra = _lead(conn, "+12125550151")
        assert len(extra) == MAX_EXTRA_FIELDS
        assert extra["Long"] == "x" * MAX_EXTRA_VALUE_CHARS
        details = [
            row[0]
            for row in conn.execute(
                "select detail from import_row_notes where lead_id = %s order by id", (lead_id,)
            )
        ]
        assert any("over the cap of 50 not kept" in d for d in details)
        assert any("cut to 1000 characters" in d for d in details)
    # a merge that would pass the lead's cap keeps the lead's own keys and notes the newcomers
    more = write_csv("caps2.csv", ["Phone", "Brand new", "Field 00"], [["2125550151", "n", "w"]])
    [merge] = do_import(more, org=ORG1)
    assert merge.notes == {"extra_fields_cut": 1}
    with connect() as conn:
        extra_after = _lead(conn, "+12125550151")[2]
        assert len(extra_after) == MAX_EXTRA_FIELDS and "Brand new" not in extra_after
        assert extra_after["Field 00"] == "w"  # an existing key is still updated


def test_hostile_keys_and_values_are_data(connect, write_csv, do_import):
    key = 'x"); drop table leads; --'
    path = write_csv(
        "hostile.csv", ["Phone", key, "{}"], [["2125550161", "'; select 1; --\x07", "[1]"]]
    )
    [job] = do_import(path, org=ORG1)
    assert job.status == "succeeded", job.message
    with connect() as conn:
        # a control character is dropped, the rest is kept as written
        assert _lead(conn, "+12125550161")[2] == {key: "'; select 1; --", "{}": "[1]"}


# -- CRM records: through the HubSpot contract server ---------------------------------------------
CRM_TOKEN = "sandbox-token-keep"


def test_a_crm_record_keeps_custom_properties_and_owners_by_email(crm_url, connect, monkeypatch):
    monkeypatch.setenv("LEADFLOW_CRM_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setenv("LEADFLOW_CRM_KEEP_TOKEN", CRM_TOKEN)
    with sandbox("hubspot", token=CRM_TOKEN, page_size=100) as server:
        server.add(
            [
                {
                    "properties": {
                        "firstname": "Ann",
                        "phone": "(415) 867-2301",
                        "hubspot_owner_id": "501",
                        "preferred_shift": "night",
                        "licence_number": "RN-77",
                        "secret_internal": "not asked for",
                        "recruiter_notes": "Met at the job fair",
                    }
                },
                {
                    "properties": {
                        "firstname": "Bob",
                        "phone": "(415) 867-2302",
                        "hubspot_owner_id": "999",
                    }
                },
                {
                    "properties": {
                        "firstname": "Cy",
                        "phone": "(415) 867-2303",
                        "hubspot_owner_id": "502",
                    }
                },
            ]
        )
        with psycopg.connect(crm_url) as conn:
            connection = save_connection(
                conn,
                organization=ORG1,
                vendor="hubspot",
                base_url=server.base_url,
                secret_env="LEADFLOW_CRM_KEEP_TOKEN",
                name="keep-hubspot",
                options={
                    # owners by user id or e-mail; 999 is mapped to no one
                    "owners": {"501": PRIYA, "502": "ghost@summit.example.com"},
                    "keep_properties": "preferred_shift,licence_number",
                    "notes_property": "recruiter_notes",
                },
            )
        result = sync_connection(connect, crm_url, connection)
        assert result["load"]["inserted"] == 3, result
        with connect() as conn:
            ann = one(
                conn,
                "select user_id::text, extra_fields from leads where phone_number = '+14158672301'",
            )
            assert ann == (ORG1_AGENT, {"preferred_shift": "night", "licence_number": "RN-77"})
            assert one(
                conn,
                "select n.body, n.source from lead_notes n join leads l on l.id = n.lead_id"
                " where l.phone_number = '+14158672301'",
            ) == ("Met at the job fair", "crm:hubspot: hubspot:keep-hubspot")
            batch_id = one(
                conn,
                "select id from import_batches where file_format = 'api' order by started_at desc",
            )[0]
            notes = conn.execute(
                "select code, detail from import_row_notes where batch_id = %s order by code",
                (batch_id,),
            ).fetchall()
            assert notes == [
                ("owner_not_found", "ghost@summit.example.com"),
                ("owner_not_mapped", "999"),
            ]
        # a changed custom property updates the lead's extra field (a merge, audited)
        [ann_id] = [r["id"] for r in server.records() if r["properties"]["firstname"] == "Ann"]
        server.update(ann_id, properties={"preferred_shift": "day"})
        assert sync_connection(connect, crm_url, connection)["load"]["merged"] == 1
        with connect() as conn:
            extra = one(conn, "select extra_fields from leads where phone_number = '+14158672301'")
            assert extra == ({"preferred_shift": "day", "licence_number": "RN-77"},)
