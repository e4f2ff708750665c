"""The vendors' mapping, API configuration and push payloads (pure functions)."""

from __future__ import annotations

import pytest

from leadflow.crmsync.connections import Connection, CrmConfigError
from leadflow.crmsync.pull import dlt_credentials
from leadflow.crmsync.vendors import (
    RAW_FIELDS,
    SPECS,
    PushItem,
    UnknownVendor,
    canonical_values,
    push_failures,
    push_fields,
    push_request,
    raw_row,
    rest_api_config,
)
from leadflow.ingest.normalize import NormalizeContext, normalize_rows

ORG = "11111111-1111-4111-8111-111111111111"
USER = "a1000000-0000-4000-8000-000000000003"


def test_hubspot_contact_maps_to_the_file_fields():
    record = {
        "id": "101",
        "firstname": " ada ",
        "lastname": "LOVELACE",
        "email": "Ada@X.com",
        "phone": "",
        "mobilephone": "(415) 867-2309",
        "company": "Acme",
        "hs_lead_status": "IN_PROGRESS",
        "lifecyclestage": "lead",
        "hs_analytics_source": "PAID_SOCIAL",
        "hubspot_owner_id": "77",
    }
    values = canonical_values("hubspot", record, {"77": USER})
    assert values == {
        "first_name": "ada",
        "last_name": "LOVELACE",
        "email": "Ada@X.com",
        "mobile_phone": "(415) 867-2309",
        "company": "Acme",
        "status": "IN_PROGRESS",
        "lifecycle_stage": "lead",
        "source": "PAID_SOCIAL",
        "user_id": USER,
    }


def test_an_unmapped_owner_leaves_the_lead_unowned():
    assert "user_id" not in canonical_values("hubspot", {"hubspot_owner_id": "78"}, {"77": USER})


def test_salesforce_do_not_call_makes_the_status_dnc():
    record = {
        "id": "00Q1",
        "first_name": "Bo",
        "phone": "415 867 2309",
        "status": "Working - Contacted",
        "do_not_call": True,
    }
    assert canonical_values("salesforce", record)["status"] == "dnc"
    record["do_not_call"] = False
    assert canonical_values("salesforce", record)["status"] == "Working - Contacted"


def test_pipedrive_phone_list_primary_then_mobile_fallback():
    record = {
        "id": 5,
        "name": "Cy Twombly",
        "phone": [
            {"label": "work", "value": "", "primary": True},
            {"label": "mobile", "value": "+1 415 867 2309", "primary": False},
        ],
        "email": [{"label": "work", "value": "cy@x.com", "primary": True}],
        "owner_id": {"id": 9, "name": "Agent"},
        "org_name": "Acme",
    }
    values = canonical_values("pipedrive", record, {"9": USER})
    assert values["mobile_phone"] == "+1 415 867 2309"
    assert "phone_number" not in values  # the empty primary is empty: the mobile is the fallback
    assert values["full_name"] == "Cy Twombly"
    assert values["email"] == "cy@x.com"
    assert values["user_id"] == USER
    assert values["company"] == "Acme"


def test_pipedrive_record_goes_through_the_file_normalizer_with_its_phone_source():
    record = {
        "id": 5,
        "first_name": "Cy",
        "last_name": "T",
        "phone": [
            {"label": "mobile", "value": "", "primary": True},
            {"label": "mobile", "value": "415-867-2309", "primary": False},
        ],
    }
    row = raw_row("pipedrive", 1, record)
    ctx = NormalizeContext(
        known_organizations=frozenset({ORG}),
        regions={ORG: "US"},
        organization_id=ORG,
        source="pipedrive",
    )
    leads, rejects = normalize_rows([row], ctx)
    assert rejects == []
    assert leads[0].phone_number == "+14158672309"
    assert leads[0].source == "pipedrive"


def test_an_invalid_phone_is_a_reject_with_the_record_kept():
    row = raw_row("hubspot", 3, {"id": "9", "phone": "12345", "firstname": "x"})
    ctx = NormalizeContext(
        known_organizations=frozenset({ORG}), regions={ORG: "US"}, organization_id=ORG
    )
    leads, rejects = normalize_rows([row], ctx)
    assert leads == []
    assert rejects[0].reason == "invalid_phone"
    assert rejects[0].raw["id"] == "9"


def test_unknown_vendor_is_refused():
    with pytest.raises(UnknownVendor, match="one of hubspot, salesforce, pipedrive"):
        canonical_values("zoho", {})


def test_hubspot_first_pull_lists_then_searches_changes():
    full = rest_api_config("hubspot", "http://h/", "c1", ORG, None)["resources"][0]
    assert full["endpoint"]["path"] == "crm/v3/objects/contacts"
    assert full["endpoint"]["paginator"]["cursor_param"] == "after"
    changes = rest_api_config("hubspot", "http://h", "c1", ORG, "2026-12-01T00:00:00Z")
    endpoint = changes["resources"][0]["endpoint"]
    assert endpoint["path"] == "crm/v3/objects/contacts/search"
    assert endpoint["method"] == "POST"
    (flt,) = endpoint["json"]["filterGroups"][0]["filters"]
    assert (flt["propertyName"], flt["operator"]) == ("lastmodifieddate", "GTE")
    assert endpoint["paginator"]["cursor_body_path"] == "after"
    # HubSpot compares date-times as epoch milliseconds
    assert endpoint["incremental"]["convert"]("2026-12-01T00:00:00.500Z") == "1796083200500"
    assert "auth" not in changes["client"]  # the connection's session holds the token


def test_salesforce_changes_query_and_literal():
    config = rest_api_config("salesforce", "http://s", "c1", ORG, "x", api_version="v61.0")
    endpoint = config["resources"][0]["endpoint"]
    assert endpoint["path"] == "services/data/v61.0/query"
    assert "WHERE SystemModstamp >= {incremental.start_value}" in endpoint["params"]["q"]
    assert endpoint["paginator"] == {"type": "json_link", "next_url_path": "nextRecordsUrl"}
    convert = endpoint["incremental"]["convert"]
    assert convert("2026-12-01T10:00:00.123+0000") == "2026-12-01T10:00:00.123Z"
    first = rest_api_config("salesforce", "http://s", "c1", ORG, None)["resources"][0]
    assert "WHERE" not in first["endpoint"]["params"]["q"]


def test_pipedrive_uses_recents_for_changes_and_no_token_in_the_configuration():
    config = rest_api_config("pipedrive", "http://p/api", "c1", ORG, "2026-12-01 10:00:00")
    endpoint = config["resources"][0]["endpoint"]
    assert endpoint["path"] == "v1/recents"
    assert endpoint["params"]["items"] == "person"
    assert endpoint["paginator"]["has_more_path"] == (
        "additional_data.pagination.more_items_in_collection"
    )
    assert config["client"] == {"base_url": "http://p/api"}  # the session adds x-api-token
    full = rest_api_config("pipedrive", "http://p/api", "c1", ORG, None)["resources"][0]
    assert full["endpoint"]["path"] == "v1/persons"


ITEMS = [PushItem("101", "hot", 87, False), PushItem("102", "dnc", 10, True)]


def test_hubspot_push_is_one_batch_update_with_string_properties():
    method, path, body = push_request("hubspot", ITEMS, push_fields("hubspot"))
    assert (method, path) == ("POST", "crm/v3/objects/contacts/batch/update")
    assert body["inputs"][1] == {
        "id": "102",
        "properties": {"leadflow_status": "dnc", "leadflow_score": "10", "leadflow_dnc": "true"},
    }


def test_salesforce_push_is_a_composite_update_with_do_not_call():
    method, path, body = push_request("salesforce", ITEMS, push_fields("salesforce"))
    assert (method, path) == ("PATCH", "services/data/v60.0/composite/sobjects")
    assert body["allOrNone"] is False
    assert body["records"][1] == {
        "attributes": {"type": "Lead"},
        "id": "102",
        "Leadflow_Status__c": "dnc",
        "Leadflow_Score__c": 10,
        "DoNotCall": True,
    }


def test_pipedrive_push_is_one_put_per_person_with_the_configured_field_keys():
    fields = push_fields("pipedrive", {"score_field": "a1b2c3"})
    method, path, body = push_request("pipedrive", ITEMS[:1], fields)
    assert (method, path) == ("PUT", "v1/persons/101")
    assert body == {"leadflow_status": "hot", "a1b2c3": 87, "leadflow_dnc": False}
    with pytest.raises(ValueError, match="1..1"):
        push_request("pipedrive", ITEMS, fields)


def test_push_failures_per_vendor():
    hubspot_207 = {
        "errors": [{"category": "OBJECT_NOT_FOUND", "message": "gone", "context": {"ids": ["102"]}}]
    }
    assert push_failures("hubspot", ITEMS, 207, hubspot_207) == {"102": "OBJECT_NOT_FOUND: gone"}
    assert push_failures("hubspot", ITEMS, 200, {}) == {}
    assert set(push_failures("hubspot", ITEMS, 400, {"message": "bad"})) == {"101", "102"}
    salesforce = [
        {"id": "101", "success": True, "errors": []},
        {"success": False, "errors": [{"statusCode": "ENTITY_IS_DELETED"}]},
    ]
    assert push_failures("salesforce", ITEMS, 200, salesforce) == {"102": "ENTITY_IS_DELETED"}
    assert push_failures("pipedrive", ITEMS[:1], 404, {"error": "Person not found"}) == {
        "101": "HTTP 404: Person not found"
    }


def test_dlt_credentials_get_a_placeholder_password_only_when_missing():
    assert dlt_credentials("postgresql://postgres@127.0.0.1:5432/db") == (
        "postgresql://postgres:no-password@127.0.0.1:5432/db"
    )
    assert dlt_credentials("postgresql://u:s3cret@h/db") == "postgresql://u:s3cret@h:5432/db"
    assert dlt_credentials("user=u dbname=d host=127.0.0.1 port=55432 sslmode=disable") == (
        "postgresql://u:no-password@127.0.0.1:55432/d?sslmode=disable"
    )


def test_a_connection_names_its_missing_token_variable():
    connection = Connection(
        "c1",
        ORG,
        "hubspot",
        "acme-hubspot",
        "http://h",
        "HUBSPOT_TOKEN_ACME",
        organization_slug="summit",
    )
    with pytest.raises(CrmConfigError, match="HUBSPOT_TOKEN_ACME .* is not set") as caught:
        connection.token({})
    assert "'acme-hubspot' of organization summit" in str(caught.value)
    assert connection.token({"HUBSPOT_TOKEN_ACME": " tok "}) == "tok"


# -- the raw tables keep only what is mapped (issue 18) -----------------------------------------
HOSTILE = {f"{n:040x}": f"sensitive {n}" for n in range(50)}


@pytest.mark.parametrize("vendor", ["hubspot", "salesforce", "pipedrive"])
def test_a_raw_record_keeps_only_its_mapped_fields_id_time_and_owners(vendor):
    record = {
        "hubspot": {
            "id": "101",
            "updatedAt": "2026-12-01T00:00:00Z",
            "archived": False,
            "properties": {"firstname": "Ada", "phone": "415", "secret": "x", **HOSTILE},
            **HOSTILE,
        },
        "salesforce": {
            "attributes": {"type": "Lead"},
            "Id": "00Q1",
            "FirstName": "Bo",
            "SystemModstamp": "2026-12-01T00:00:00.000+0000",
            "DoNotCall": True,
            "Salary__c": 95000,
            **HOSTILE,
        },
        "pipedrive": {
            "item": "person",
            "id": 5,
            "data": {
                "id": 5,
                "name": "Cy",
                "label": 7,
                "update_time": "2026-12-01 00:00:00",
                **HOSTILE,
            },
        },
    }[vendor]
    config = rest_api_config(vendor, "http://x", "c1", ORG, None)
    resource = config["resources"][0]
    [step] = resource["processing_steps"]
    row = step["map"](record)
    assert set(row) == {key for key, _, _ in RAW_FIELDS[vendor]} | {
        "connection_id",
        "organization_id",
    }
    assert row["connection_id"] == "c1" and row["organization_id"] == ORG
    assert not set(row) & set(HOSTILE)
    # the columns are declared and typed, and dlt discards any other key (schema contract)
    assert set(resource["columns"]) == {key for key, _, _ in RAW_FIELDS[vendor]} | {
        "connection_id",
        "organization_id",
    }
    assert all(hint["data_type"] for hint in resource["columns"].values())
    assert resource["schema_contract"]["columns"] == "discard_value"


@pytest.mark.parametrize("vendor", ["hubspot", "salesforce", "pipedrive"])
def test_every_column_the_mapping_reads_is_kept(vendor):
    vendor_spec = SPECS[vendor]
    kept = {column for _, column, _ in RAW_FIELDS[vendor]}
    read = set(vendor_spec.fields.values()) | {vendor_spec.id_field, vendor_spec.modified_field}
    if vendor == "salesforce":
        read.add("do_not_call")
    assert read <= kept


def test_a_pipedrive_push_keeps_the_crm_id_in_one_path_segment():
    fields = push_fields("pipedrive")
    _, path, _ = push_request("pipedrive", [PushItem("1/../../users?x=#", "hot", 1, False)], fields)
    assert path == "v1/persons/1%2F..%2F..%2Fusers%3Fx%3D%23"
