"""The CRM sandboxes answer their vendors' contracts over real HTTP: paging, incremental reads,
writes, auth, scripted failures; and the generated test data is as messy as promised."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import phonenumbers
import pytest
import requests

from leadflow.platform.crm_sandbox import (
    ContractServer,
    HubSpotServer,
    PipedriveServer,
    SalesforceServer,
    generate_records,
    sandbox,
)
from leadflow.platform.crm_sandbox.data import INVALID_PHONES

HS_CONTACTS = "/crm/v3/objects/contacts"
SF_API = "/services/data/v60.0"


def _session(server: ContractServer) -> requests.Session:
    session = requests.Session()
    if server.vendor == "pipedrive":
        session.headers["x-api-token"] = server.token
    else:
        session.headers["Authorization"] = f"Bearer {server.token}"
    return session


@pytest.fixture
def hubspot() -> Iterator[HubSpotServer]:
    with HubSpotServer() as server:
        yield server


@pytest.fixture
def salesforce() -> Iterator[SalesforceServer]:
    with SalesforceServer() as server:
        yield server


@pytest.fixture
def pipedrive() -> Iterator[PipedriveServer]:
    with PipedriveServer() as server:
        yield server


# -- HubSpot --------------------------------------------------------------------------------


def test_hubspot_list_pages_walk_every_record_once(hubspot):
    hubspot.add(generate_records("hubspot", 250))
    http = _session(hubspot)
    seen, pages, after = [], 0, None
    while True:
        params = {"limit": 100, "properties": "firstname,phone", "archived": "false"}
        if after:
            params["after"] = after
        body = http.get(hubspot.base_url + HS_CONTACTS, params=params).json()
        pages += 1
        seen += [row["id"] for row in body["results"]]
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
        assert body["paging"]["next"]["link"].startswith(hubspot.base_url + HS_CONTACTS)
    assert pages == 3
    assert seen == [row["id"] for row in hubspot.records()]
    assert len(set(seen)) == 250
    first = hubspot.records()[0]
    listed = http.get(hubspot.base_url + HS_CONTACTS, params={"limit": 1, "properties": "phone"})
    assert listed.json()["results"][0]["properties"] == {
        "phone": first["properties"]["phone"],
        "hs_object_id": first["id"],
        "createdate": first["properties"]["createdate"],
        "lastmodifieddate": first["properties"]["lastmodifieddate"],
    }


def test_hubspot_limit_is_capped_and_the_link_is_followable():
    with HubSpotServer(page_size=40) as server:
        server.add(generate_records("hubspot", 50))
        http = _session(server)
        body = http.get(server.base_url + HS_CONTACTS, params={"limit": 100}).json()
        assert len(body["results"]) == 40
        rest = http.get(body["paging"]["next"]["link"]).json()
        assert len(rest["results"]) == 10 and "paging" not in rest
        default = http.get(server.base_url + HS_CONTACTS).json()
        assert len(default["results"]) == 10


def test_hubspot_search_gt_returns_only_records_changed_after_a_timestamp(hubspot):
    hubspot.add(generate_records("hubspot", 30))
    watermark = max(row["updatedAt"] for row in hubspot.records())
    hubspot.update("120", hs_lead_status="CONNECTED")
    hubspot.update("105", properties={"phone": "(415) 867-2309"})
    http = _session(hubspot)
    millis = round(datetime.fromisoformat(watermark).timestamp() * 1000)
    for value in (str(millis), millis, watermark):
        body = http.post(
            hubspot.base_url + f"{HS_CONTACTS}/search",
            json={
                "filterGroups": [
                    {
                        "filters": [
                            {"propertyName": "lastmodifieddate", "operator": "GT", "value": value}
                        ]
                    }
                ],
                "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                "properties": ["phone", "hs_lead_status"],
                "limit": 100,
            },
        ).json()
        assert body["total"] == 2
        assert [row["id"] for row in body["results"]] == ["120", "105"]
        assert body["results"][1]["properties"]["phone"] == "(415) 867-2309"
        assert "paging" not in body
    gte = http.post(
        hubspot.base_url + f"{HS_CONTACTS}/search",
        json={
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": millis}
                    ]
                }
            ]
        },
    ).json()
    assert gte["total"] == 3  # the record at the watermark itself too
    eq = http.post(
        hubspot.base_url + f"{HS_CONTACTS}/search",
        json={
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "hs_lead_status", "operator": "EQ", "value": "CONNECTED"}
                    ]
                }
            ]
        },
    ).json()
    assert eq["total"] == sum(
        row["properties"]["hs_lead_status"] == "CONNECTED" for row in hubspot.records()
    )


def test_hubspot_search_pages_by_offset_up_to_the_10000_window(hubspot):
    hubspot.add(generate_records("hubspot", 25))
    http = _session(hubspot)
    url = hubspot.base_url + f"{HS_CONTACTS}/search"
    seen, after = [], None
    while True:
        body = http.post(url, json={"limit": 10, **({"after": after} if after else {})}).json()
        assert body["total"] == 25
        seen += [row["id"] for row in body["results"]]
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
    assert seen == [row["id"] for row in hubspot.records()]
    beyond = http.post(url, json={"limit": 10, "after": "10000"})
    assert beyond.status_code == 400
    assert beyond.json()["category"] == "VALIDATION_ERROR"
    assert "10000" in beyond.json()["message"]


def test_hubspot_batch_update_writes_bumps_and_logs(hubspot):
    hubspot.add(generate_records("hubspot", 5))
    before = hubspot.record("102")
    http = _session(hubspot)
    url = hubspot.base_url + f"{HS_CONTACTS}/batch/update"
    ok = http.post(
        url,
        json={
            "inputs": [
                {"id": "102", "properties": {"leadflow_status": "called", "leadflow_score": 7}}
            ]
        },
    )
    assert ok.status_code == 200
    assert ok.json()["status"] == "COMPLETE"
    after = hubspot.record("102")
    assert after["properties"]["leadflow_status"] == "called"
    assert after["properties"]["leadflow_score"] == "7"  # HubSpot keeps values as strings
    assert after["updatedAt"] > before["updatedAt"]
    assert after["properties"]["lastmodifieddate"] == after["updatedAt"]
    assert hubspot.updates == [
        {"id": "102", "fields": {"leadflow_status": "called", "leadflow_score": 7}}
    ]
    partial = http.post(
        url,
        json={
            "inputs": [
                {"id": "103", "properties": {"leadflow_dnc": True}},
                {"id": "999", "properties": {"leadflow_dnc": True}},
            ]
        },
    )
    assert partial.status_code == 207
    assert partial.json()["numErrors"] == 1
    assert partial.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert partial.json()["errors"][0]["context"] == {"ids": ["999"]}
    assert [row["id"] for row in partial.json()["results"]] == ["103"]
    assert hubspot.record("103")["properties"]["leadflow_dnc"] == "true"
    assert [u["id"] for u in hubspot.updates] == ["102", "103"]
    too_many = http.post(url, json={"inputs": [{"id": "101", "properties": {}}] * 101})
    assert too_many.status_code == 400
    assert too_many.json()["category"] == "VALIDATION_ERROR"


def test_hubspot_rejects_missing_and_wrong_tokens(hubspot):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "sandbox-token"}):
        answer = requests.get(hubspot.base_url + HS_CONTACTS, headers=headers)
        assert answer.status_code == 401
        body = answer.json()
        assert body["category"] == "INVALID_AUTHENTICATION"
        assert body["message"].startswith("Authentication credentials not found.")
    assert [entry["status"] for entry in hubspot.requests] == [401, 401, 401]


def test_failures_come_after_auth_in_order_then_stop(hubspot):
    http = _session(hubspot)
    url = hubspot.base_url + HS_CONTACTS
    hubspot.fail_next(429, retry_after=7)
    hubspot.fail_next(503)
    assert requests.get(url).status_code == 401  # auth first: no failure used
    limited = http.get(url)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert limited.json() == {
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
        "policyName": "SECONDLY",
    }
    unavailable = http.get(url)
    assert unavailable.status_code == 503
    assert unavailable.json()["category"] == "INTERNAL_ERROR"
    assert http.get(url).status_code == 200
    hubspot.fail_next(429, count=2)
    assert [http.get(url).headers.get("Retry-After") for _ in range(3)] == ["1", "1", None]
    assert [entry["status"] for entry in hubspot.requests] == [401, 429, 503, 200, 429, 429, 200]


def test_the_request_log_and_its_reset(hubspot):
    hubspot.add([{"properties": {"firstname": "Ada"}}])
    http = _session(hubspot)
    http.get(hubspot.base_url + HS_CONTACTS, params={"limit": "5", "after": "100"})
    http.post(hubspot.base_url + f"{HS_CONTACTS}/search", json={"limit": 1})
    http.get(hubspot.base_url + "/crm/v3/objects/nothing")
    assert all(r["headers"]["authorization"] == "Bearer sandbox-token" for r in hubspot.requests)
    assert [{k: v for k, v in r.items() if k != "headers"} for r in hubspot.requests] == [
        {
            "method": "GET",
            "path": HS_CONTACTS,
            "query": {"limit": "5", "after": "100"},
            "json": None,
            "status": 200,
            "returned": 1,  # the one record (ids start above 100)
        },
        {
            "method": "POST",
            "path": f"{HS_CONTACTS}/search",
            "query": {},
            "json": {"limit": 1},
            "status": 200,
            "returned": 1,
        },
        {
            "method": "GET",
            "path": "/crm/v3/objects/nothing",
            "query": {},
            "json": None,
            "status": 404,
            "returned": 0,
        },
    ]
    hubspot.reset_log()
    assert hubspot.requests == [] and hubspot.updates == []


# -- Salesforce -----------------------------------------------------------------------------


def _soql(server: SalesforceServer, http: requests.Session, soql: str) -> requests.Response:
    return http.get(server.base_url + f"{SF_API}/query", params={"q": soql})


def _walk(server: SalesforceServer, http: requests.Session, soql: str) -> tuple[list[dict], int]:
    body = _soql(server, http, soql).json()
    rows, pages = list(body["records"]), 1
    while not body["done"]:
        body = http.get(server.base_url + body["nextRecordsUrl"]).json()
        rows += body["records"]
        pages += 1
    assert "nextRecordsUrl" not in body
    return rows, pages


def test_salesforce_query_chains_next_records_urls_over_every_record_once():
    with SalesforceServer(page_size=100) as server:
        server.add(generate_records("salesforce", 250))
        http = _session(server)
        first = _soql(server, http, "SELECT Id, Phone FROM Lead ORDER BY Id ASC").json()
        assert first["totalSize"] == 250 and first["done"] is False
        assert first["nextRecordsUrl"].startswith(f"{SF_API}/query/01gSANDBOX")
        assert first["nextRecordsUrl"].endswith("-100")
        rows, pages = _walk(server, http, "select id, phone from lead")
    assert pages == 3
    assert [row["Id"] for row in rows] == [row["Id"] for row in server.records()]
    assert set(rows[0]) == {"attributes", "Id", "Phone"}
    assert rows[0]["attributes"] == {
        "type": "Lead",
        "url": f"{SF_API}/sobjects/Lead/{rows[0]['Id']}",
    }
    assert all(len(row["Id"]) == 18 and row["Id"].startswith("00Q") for row in rows)


def test_salesforce_default_page_is_2000(salesforce):
    salesforce.add(generate_records("salesforce", 250))
    body = _soql(salesforce, _session(salesforce), "SELECT Id FROM Lead").json()
    assert body["done"] is True and len(body["records"]) == 250
    assert "nextRecordsUrl" not in body


def test_salesforce_where_system_modstamp_returns_only_changed_leads(salesforce):
    salesforce.add(generate_records("salesforce", 20))
    ids = [row["Id"] for row in salesforce.records()]
    watermark = max(row["SystemModstamp"] for row in salesforce.records())
    assert watermark.endswith("+0000") and len(watermark) == len("2026-12-01T10:00:00.123+0000")
    salesforce.update(ids[7], Status="Working - Contacted")
    salesforce.update(ids[3], Phone="415.867.2309")
    http = _session(salesforce)
    soql = (
        "SELECT Id, Status, Phone, SystemModstamp FROM Lead WHERE SystemModstamp > {} "
        "ORDER BY SystemModstamp ASC"
    )
    iso_z = watermark[:-5] + "Z"  # the same instant as SOQL's Z form
    for literal in (watermark, iso_z):
        body = _soql(salesforce, http, soql.format(literal)).json()
        assert [row["Id"] for row in body["records"]] == [ids[7], ids[3]]
        assert body["records"][1]["Phone"] == "415.867.2309"
    both = _soql(salesforce, http, soql.format(watermark).replace(">", ">=")).json()
    assert both["totalSize"] == 3
    limited = _soql(salesforce, http, "SELECT Id FROM Lead ORDER BY Id ASC LIMIT 5").json()
    assert [row["Id"] for row in limited["records"]] == ids[:5] and limited["totalSize"] == 5


def test_salesforce_rejects_bad_queries_and_locators(salesforce):
    salesforce.add(generate_records("salesforce", 3))
    http = _session(salesforce)
    cases = {
        "SELEC Id FROM Lead": "MALFORMED_QUERY",
        "SELECT Id FROM Lead WHERE SystemModstamp > yesterday": "MALFORMED_QUERY",
        "SELECT Id FROM Lead WHERE SystemModstamp > 2026-01-01T00:00:00Z OR Id = 'x'": (
            "MALFORMED_QUERY"
        ),
        "SELECT Id, Nonsense FROM Lead": "INVALID_FIELD",
        "SELECT Id FROM Lead WHERE SystemModstamp > '2026-01-01T00:00:00Z'": "INVALID_FIELD",
    }
    for soql, code in cases.items():
        answer = _soql(salesforce, http, soql)
        assert answer.status_code == 400, soql
        assert answer.json()[0]["errorCode"] == code, soql
    custom = _soql(salesforce, http, "SELECT Id, Leadflow_Status__c FROM Lead").json()
    assert [row["Leadflow_Status__c"] for row in custom["records"]] == [None, None, None]
    stale = http.get(salesforce.base_url + f"{SF_API}/query/01gSANDBOX99-2000")
    assert stale.status_code == 400
    assert stale.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_salesforce_patch_writes_bumps_and_logs(salesforce):
    salesforce.add(generate_records("salesforce", 3))
    lead_id = salesforce.records()[1]["Id"]
    before = salesforce.record(lead_id)["SystemModstamp"]
    http = _session(salesforce)
    url = salesforce.base_url + f"{SF_API}/sobjects/Lead/{lead_id}"
    answer = http.patch(url, json={"Leadflow_Status__c": "called", "Leadflow_Score__c": 55})
    assert answer.status_code == 204 and answer.content == b""
    after = salesforce.record(lead_id)
    assert after["Leadflow_Status__c"] == "called" and after["Leadflow_Score__c"] == 55
    assert after["SystemModstamp"] > before
    assert salesforce.updates == [
        {"id": lead_id, "fields": {"Leadflow_Status__c": "called", "Leadflow_Score__c": 55}}
    ]
    missing = http.patch(
        salesforce.base_url + f"{SF_API}/sobjects/Lead/00Q000000000000AAA", json={}
    )
    assert missing.status_code == 404
    assert missing.json() == [
        {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
    ]
    read_only = http.patch(url, json={"SystemModstamp": "2020-01-01T00:00:00.000+0000"})
    assert read_only.status_code == 400
    assert read_only.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert len(salesforce.updates) == 1


def test_salesforce_collection_update_answers_in_input_order(salesforce):
    salesforce.add(generate_records("salesforce", 4))
    ids = [row["Id"] for row in salesforce.records()]
    salesforce.update(ids[2], IsDeleted=True)
    http = _session(salesforce)
    url = salesforce.base_url + f"{SF_API}/composite/sobjects"

    def lead(record_id: str, **fields: object) -> dict:
        return {"attributes": {"type": "Lead"}, "id": record_id, **fields}

    answer = http.patch(
        url,
        json={
            "allOrNone": False,
            "records": [
                lead(ids[0], Leadflow_Status__c="a"),
                lead("00Q000000000000AAA", Leadflow_Status__c="b"),
                lead(ids[2], Leadflow_Status__c="c"),
                lead(ids[1], Leadflow_Status__c="d"),
            ],
        },
    )
    assert answer.status_code == 200
    results = answer.json()
    assert results[0] == {"id": ids[0], "success": True, "errors": []}
    assert results[1]["success"] is False and results[1]["errors"][0]["statusCode"] == "NOT_FOUND"
    assert results[2]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert results[3] == {"id": ids[1], "success": True, "errors": []}
    assert [u["id"] for u in salesforce.updates] == [ids[0], ids[1]]
    assert salesforce.record(ids[1])["Leadflow_Status__c"] == "d"
    stamp = salesforce.record(ids[3])["SystemModstamp"]
    rolled_back = http.patch(
        url,
        json={"allOrNone": True, "records": [lead(ids[3], Status="x"), lead("00Q000000000000AAA")]},
    ).json()
    assert rolled_back[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert salesforce.record(ids[3])["SystemModstamp"] == stamp
    too_many = http.patch(url, json={"allOrNone": False, "records": [lead(ids[0])] * 201})
    assert too_many.status_code == 400
    deleted_gone = _soql(salesforce, http, "SELECT Id FROM Lead").json()
    assert ids[2] not in [row["Id"] for row in deleted_gone["records"]]


def test_salesforce_auth_and_failures(salesforce):
    url = salesforce.base_url + f"{SF_API}/query"
    for headers in ({}, {"Authorization": "Bearer nope"}):
        answer = requests.get(url, params={"q": "SELECT Id FROM Lead"}, headers=headers)
        assert answer.status_code == 401
        assert answer.json() == [
            {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
        ]
    salesforce.fail_next(429)
    salesforce.fail_next(500)
    http = _session(salesforce)
    limited = _soql(salesforce, http, "SELECT Id FROM Lead")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert limited.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    failed = _soql(salesforce, http, "SELECT Id FROM Lead")
    assert failed.status_code == 500 and failed.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"


# -- Pipedrive ------------------------------------------------------------------------------


def test_pipedrive_list_pages_walk_every_person_once(pipedrive):
    pipedrive.add(generate_records("pipedrive", 250))
    http = _session(pipedrive)
    seen, start, pages = [], 0, 0
    while True:
        body = http.get(pipedrive.base_url + "/v1/persons", params={"start": start, "limit": 100})
        body = body.json()
        pages += 1
        assert body["success"] is True
        seen += [person["id"] for person in body["data"]]
        pagination = body["additional_data"]["pagination"]
        if not pagination["more_items_in_collection"]:
            assert "next_start" not in pagination
            break
        start = pagination["next_start"]
    assert pages == 3
    assert seen == list(range(1, 251))
    sorted_desc = http.get(
        pipedrive.base_url + "/v1/persons", params={"limit": 3, "sort": "update_time DESC"}
    ).json()
    assert [person["id"] for person in sorted_desc["data"]] == [250, 249, 248]
    past_end = http.get(pipedrive.base_url + "/v1/persons", params={"start": 300}).json()
    assert past_end["data"] is None


def test_pipedrive_limit_caps():
    with PipedriveServer(page_size=50) as server:
        server.add(generate_records("pipedrive", 60))
        body = _session(server).get(server.base_url + "/v1/persons", params={"limit": 500}).json()
        assert len(body["data"]) == 50
        assert body["additional_data"]["pagination"]["limit"] == 50


def test_pipedrive_recents_since_a_timestamp(pipedrive):
    pipedrive.add(generate_records("pipedrive", 10))
    since = max(person["update_time"] for person in pipedrive.records())
    pipedrive.update(4, label=5)
    pipedrive.update(2, active_flag=False)  # a deleted person still shows as a change
    http = _session(pipedrive)
    url = pipedrive.base_url + "/v1/recents"
    body = http.get(url, params={"since_timestamp": since, "items": "person"}).json()
    # inclusive: the person written at `since` itself comes back too
    assert [item["id"] for item in body["data"]] == [10, 4, 2]
    assert body["data"][0]["item"] == "person"
    assert body["data"][1]["data"]["label"] == 5
    assert body["data"][2]["data"]["active_flag"] is False
    assert body["additional_data"]["since_timestamp"] == since
    assert body["additional_data"]["last_timestamp_on_page"] == pipedrive.record(2)["update_time"]
    paged = http.get(url, params={"since_timestamp": since, "limit": 2}).json()
    assert paged["additional_data"]["pagination"]["next_start"] == 2
    assert 2 not in [p["id"] for p in http.get(pipedrive.base_url + "/v1/persons").json()["data"]]
    missing = http.get(url, params={"items": "person"})
    assert missing.status_code == 400
    assert missing.json()["error"] == "since_timestamp is required"
    assert missing.json()["success"] is False


def test_pipedrive_put_writes_bumps_and_logs(pipedrive):
    pipedrive.add(generate_records("pipedrive", 3))
    before = pipedrive.record(2)["update_time"]
    http = _session(pipedrive)
    key = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
    first = http.put(pipedrive.base_url + "/v1/persons/2", json={key: "called"})
    second = http.put(pipedrive.base_url + "/v1/persons/2", json={"label": 7})
    assert first.status_code == second.status_code == 200
    assert second.json()["success"] is True and second.json()["data"][key] == "called"
    times = [first.json()["data"]["update_time"], second.json()["data"]["update_time"]]
    assert before < times[0] < times[1]  # whole seconds, still strictly increasing
    assert pipedrive.record(2)["label"] == 7
    assert pipedrive.updates == [
        {"id": "2", "fields": {key: "called"}},
        {"id": "2", "fields": {"label": 7}},
    ]
    missing = http.put(pipedrive.base_url + "/v1/persons/99", json={"label": 7})
    assert missing.status_code == 404
    assert missing.json() == {"success": False, "error": "Person not found", "errorCode": 404}


def test_pipedrive_auth_by_header_only_and_failures(pipedrive):
    url = pipedrive.base_url + "/v1/persons"
    for params in ({}, {"api_token": "wrong"}, {"api_token": pipedrive.token}):
        answer = requests.get(url, params=params)
        assert answer.status_code == 401
        assert answer.json() == {
            "success": False,
            "error": "unauthorized access",
            "errorCode": 401,
            "error_info": "Please check developers.pipedrive.com",
        }
    assert requests.get(url, headers={"x-api-token": pipedrive.token}).status_code == 200
    both = requests.get(url, params={"api_token": "x"}, headers={"x-api-token": pipedrive.token})
    assert both.status_code == 401  # a token in the query string is never accepted
    pipedrive.fail_next(429, retry_after=2)
    limited = _session(pipedrive).get(url)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert limited.json() == {
        "success": False,
        "error": "Rate limit has been exceeded",
        "errorCode": 429,
    }


# -- every vendor ---------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", ["hubspot", "salesforce", "pipedrive"])
def test_two_writes_never_share_a_modified_time(vendor):
    server = sandbox(vendor)
    server.add(generate_records(vendor, 5))
    first = server.records()[0]
    record_id = first.get("id", first.get("Id"))
    server.update(record_id)
    server.update(record_id)

    def modified(record: dict) -> str:
        return record.get("updatedAt") or record.get("SystemModstamp") or record["update_time"]

    stamps = [modified(record) for record in server.records()]
    assert len(set(stamps)) == len(stamps)
    assert modified(server.record(record_id)) > max(stamps[1:])


def test_stop_is_prompt_with_an_open_keep_alive_connection_and_idempotent():
    server = HubSpotServer()
    base = server.start()
    assert server.start() == base
    http = _session(server)
    assert http.get(base + HS_CONTACTS).status_code == 200  # the connection stays open
    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < 1
    server.stop()
    with pytest.raises(requests.ConnectionError):
        http.get(base + HS_CONTACTS, timeout=2)


def test_sandbox_factory():
    assert isinstance(sandbox("hubspot"), HubSpotServer)
    assert isinstance(sandbox("salesforce", token="t", page_size=5), SalesforceServer)
    assert sandbox("pipedrive").vendor == "pipedrive"
    with pytest.raises(ValueError, match="unknown CRM vendor"):
        sandbox("zoho")


# -- generated data -------------------------------------------------------------------------


def _valid(text: str | None) -> str | None:
    """The E.164 form of a valid US number, else None."""
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phones(vendor: str, record: dict) -> tuple[str | None, str | None]:
    if vendor == "hubspot":
        return record["properties"]["phone"], record["properties"]["mobilephone"]
    if vendor == "salesforce":
        return record["Phone"], record["MobilePhone"]
    entries = record["phone"]
    mobile = next((e["value"] for e in entries if e.get("label") == "mobile"), None)
    return entries[0]["value"], mobile


@pytest.mark.parametrize("vendor", ["hubspot", "salesforce", "pipedrive"])
def test_generated_records_have_the_promised_mess(vendor):
    records = generate_records(vendor, 1000)
    counts = {"valid": 0, "invalid": 0, "mobile_only": 0, "no_phone": 0, "duplicate": 0}
    seen: set[str] = set()
    for record in records:
        phone, mobile = _phones(vendor, record)
        primary, second = _valid(phone), _valid(mobile)
        if phone and primary is None:
            counts["invalid"] += 1
            assert phone in INVALID_PHONES
        elif not phone:
            counts["mobile_only" if second else "no_phone"] += 1
            assert mobile is None or second, mobile
        else:
            counts["duplicate" if primary in seen else "valid"] += 1
        seen.update(number for number in (primary, second) if number)
    share = {case: n / len(records) for case, n in counts.items()}
    assert 0.04 <= share["invalid"] <= 0.06
    assert 0.04 <= share["duplicate"] <= 0.06
    assert 0.03 <= share["mobile_only"] <= 0.05
    assert 0.01 <= share["no_phone"] <= 0.03
    assert 0.80 <= share["valid"] <= 0.88
    texts = [_phones(vendor, record)[0] or "" for record in records]
    assert any("ext." in text for text in texts)
    assert any(text.startswith("(") for text in texts)
    assert any(text.startswith("+1 ") for text in texts)
    assert any(text.count(".") == 2 for text in texts)


def test_generated_duplicates_differ_in_formatting():
    records = generate_records("hubspot", 1000)
    first_text: dict[str, str] = {}
    duplicates = 0
    for record in records:
        phone, mobile = _phones("hubspot", record)
        for text in (phone, mobile):
            number = _valid(text)
            if number is None:
                continue
            if number in first_text and text is phone:
                duplicates += 1
                assert text != first_text[number]
            first_text.setdefault(number, text)
    assert duplicates == 50


def test_generated_records_are_deterministic_and_vendor_shaped():
    assert generate_records("salesforce", 200, seed=3) == generate_records(
        "salesforce", 200, seed=3
    )
    assert generate_records("salesforce", 200, seed=3) != generate_records(
        "salesforce", 200, seed=4
    )
    hubspot = generate_records("hubspot", 500)
    statuses = {record["properties"]["hs_lead_status"] for record in hubspot}
    assert statuses <= {
        "NEW",
        "OPEN",
        "IN_PROGRESS",
        "ATTEMPTED_TO_CONTACT",
        "CONNECTED",
        "OPEN_DEAL",
        "UNQUALIFIED",
        "BAD_TIMING",
    }
    assert {r["properties"]["hs_analytics_source"] for r in hubspot} == {
        "ORGANIC_SEARCH",
        "PAID_SOCIAL",
        "OFFLINE",
        "REFERRALS",
    }
    assert all("id" not in record for record in hubspot)
    names = [record["properties"]["firstname"] for record in hubspot]
    assert any(name != name.strip() for name in names)
    assert any(name.isupper() for name in names)
    emails = [record["properties"]["email"] or "" for record in hubspot]
    assert any(email != email.strip() for email in emails)
    assert any(email.endswith("@") for email in emails)
    salesforce = generate_records("salesforce", 1000)
    assert sum(record["DoNotCall"] for record in salesforce) == 20
    assert {record["Status"] for record in salesforce} == {
        "Open - Not Contacted",
        "Working - Contacted",
        "Closed - Converted",
        "Closed - Not Converted",
    }
    assert {record["LeadSource"] for record in salesforce} == {
        "Web",
        "Phone Inquiry",
        "Partner Referral",
        "Purchased List",
    }
    pipedrive = generate_records("pipedrive", 100)
    assert all(isinstance(record["phone"], list) for record in pipedrive)
    assert {type(record["label"]) for record in pipedrive} <= {int, type(None)}
    with pytest.raises(ValueError):
        generate_records("zoho", 1)


# -- hostile answers (for the tenant-isolation tests) ---------------------------------------


def test_a_scripted_redirect_answers_302_to_the_location(hubspot):
    hubspot.redirect_next("http://127.0.0.1:9/elsewhere")
    answer = _session(hubspot).get(hubspot.base_url + HS_CONTACTS, allow_redirects=False)
    assert (
        answer.status_code == 302 and answer.headers["Location"] == "http://127.0.0.1:9/elsewhere"
    )
    assert _session(hubspot).get(hubspot.base_url + HS_CONTACTS).status_code == 200


@pytest.mark.parametrize("vendor", ["hubspot", "salesforce", "pipedrive"])
def test_injected_keys_ride_on_every_returned_record(vendor):
    with sandbox(vendor) as server:
        server.add(generate_records(vendor, 3, seed=1))
        server.inject_keys({"k1": "v1", "k2": 2})
        path = {"hubspot": HS_CONTACTS, "pipedrive": "/v1/persons"}.get(vendor, f"{SF_API}/query")
        params = {"q": "SELECT Id FROM Lead"} if vendor == "salesforce" else {}
        body = _session(server).get(server.base_url + path, params=params).json()
        records = body.get("results") or body.get("records") or body.get("data")
        assert len(records) == 3 and all(r["k1"] == "v1" and r["k2"] == 2 for r in records)
        server.inject_keys({})
        body = _session(server).get(server.base_url + path, params=params).json()
        records = body.get("results") or body.get("records") or body.get("data")
        assert not any("k1" in r for r in records)


def test_salesforce_pages_can_link_to_another_host(salesforce):
    salesforce.page_size = 200
    salesforce.add(generate_records("salesforce", 250, seed=2))
    salesforce.link_pages_to("http://127.0.0.1:9")
    body = _soql(salesforce, _session(salesforce), "SELECT Id FROM Lead").json()
    assert body["nextRecordsUrl"].startswith(f"http://127.0.0.1:9{SF_API}/query/")


def test_custom_fields_are_deterministic_and_carried_by_the_records():
    from leadflow.platform.crm_sandbox import custom_fields

    fields = custom_fields("pipedrive", 5, seed=3)
    assert fields == custom_fields("pipedrive", 5, seed=3)
    assert all(len(key) == 40 and int(key, 16) >= 0 for key in fields)
    records = generate_records("pipedrive", 2, seed=3, extra_fields=5)
    assert all(set(fields) <= set(record) for record in records)
    hubspot = generate_records("hubspot", 1, seed=3, extra_fields=2)[0]
    assert {"custom_0", "custom_1"} <= set(hubspot["properties"])
