"""CRM sync end to end: real loopback HTTP servers answering each vendor's documented contract
(leadflow/platform/crm_sandbox), dlt pulling into the raw schemas of a real PostgreSQL, the
import path turning records into leads, and the push writing back.

Expected figures are computed here from the generated records with phonenumbers itself
(which numbers are valid, which repeat), not read from the code under test.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import phonenumbers
import psycopg
import pytest

from leadflow.crmsync.connections import Connection, save_connection
from leadflow.crmsync.load import load_connection
from leadflow.crmsync.pull import pull
from leadflow.crmsync.sync import push_back, sync_connection
from leadflow.platform.crm_sandbox import ContractServer, generate_records, sandbox
from tests.conftest import run_leadflow
from tests.integration.conftest import ORG1, ORG2, one

pytestmark = pytest.mark.integration

RECORDS = 1500
PAGE = {"hubspot": 100, "salesforce": 400, "pipedrive": 100}
TOKEN = "sandbox-token-1"


@pytest.fixture(autouse=True)
def loopback_crm(monkeypatch) -> None:
    """The contract servers are on loopback: listed, as a deployment lists its own servers."""
    monkeypatch.setenv("LEADFLOW_CRM_ALLOWED_HOSTS", "127.0.0.1")


@pytest.fixture
def server(request) -> Iterator[ContractServer]:
    vendor = request.param
    with sandbox(vendor, token=TOKEN, page_size=PAGE[vendor]) as running:
        yield running


@pytest.fixture
def token_env(monkeypatch) -> str:
    monkeypatch.setenv("LEADFLOW_CRM_TEST_TOKEN", TOKEN)
    return "LEADFLOW_CRM_TEST_TOKEN"


def _connect_to(
    crm_url: str,
    server: ContractServer,
    token_env: str,
    org: str = ORG1,
    name: str | None = None,
    **options,
) -> Connection:
    with psycopg.connect(crm_url) as conn:
        return save_connection(
            conn,
            organization=org,
            vendor=server.vendor,
            base_url=server.base_url,
            secret_env=token_env,
            name=name or f"test-{server.vendor}",
            options=options,
        )


# -- what the records should give, computed independently -----------------------------------------
def _phones(vendor: str, record: dict) -> tuple[str, str]:
    """(phone, mobile) as the vendor's record writes them."""
    if vendor == "hubspot":
        props = record["properties"]
        return props.get("phone") or "", props.get("mobilephone") or ""
    if vendor == "salesforce":
        return record.get("Phone") or "", record.get("MobilePhone") or ""
    numbers = record.get("phone") or []
    primary = next((n for n in numbers if n.get("primary")), numbers[0] if numbers else {})
    mobile = next(
        (
            n["value"]
            for n in numbers
            if n is not primary and n.get("value") and n.get("label") == "mobile"
        ),
        "",
    )
    return primary.get("value") or "", mobile


def _e164(text: str) -> str | None:
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def expected_phone(vendor: str, record: dict) -> str | None:
    """The lead's phone: the main number when present (valid or not), else the mobile."""
    phone, mobile = _phones(vendor, record)
    return _e164(phone) if phone.strip() else (_e164(mobile) if mobile.strip() else None)


def record_id(vendor: str, record: dict) -> str:
    return str(record["Id"] if vendor == "salesforce" else record["id"])


def _set_name(vendor: str, server: ContractServer, rid: str, value: str) -> None:
    field = {"hubspot": "firstname", "salesforce": "FirstName", "pipedrive": "first_name"}[vendor]
    if vendor == "hubspot":
        server.update(rid, properties={**server.record(rid)["properties"], field: value})
    else:
        server.update(rid, **{field: value})


def _set_phone(vendor: str, server: ContractServer, rid: str, value: str) -> None:
    if vendor == "hubspot":
        server.update(rid, properties={**server.record(rid)["properties"], "phone": value})
    elif vendor == "salesforce":
        server.update(rid, Phone=value)
    else:
        server.update(rid, phone=[{"label": "work", "value": value, "primary": True}])


VENDORS = ["hubspot", "salesforce", "pipedrive"]


@pytest.mark.parametrize("server", VENDORS, indirect=True)
def test_full_pull_then_only_the_changes(server, crm_url, connect, token_env):
    vendor = server.vendor
    server.add(generate_records(vendor, RECORDS, seed=11))
    records = server.records()
    connection = _connect_to(crm_url, server, token_env)

    first = sync_connection(connect, crm_url, connection)
    assert first["status"] == "succeeded", first.get("error")
    load = first["load"]

    phones = {record_id(vendor, r): expected_phone(vendor, r) for r in records}
    valid = [p for p in phones.values() if p]
    assert first["pull"]["mode"] == "full"
    assert first["pull"]["fetched"] == RECORDS
    assert load["rows_read"] == RECORDS
    assert load["quarantined"] == RECORDS - len(valid)
    assert load["duplicates_in_file"] == len(valid) - len(set(valid))
    assert load["inserted"] == len(set(valid))
    assert load["merged"] == 0
    assert load["rows_read"] == (
        load["inserted"] + load["merged"] + load["duplicates_in_file"] + load["quarantined"]
    )
    # every page was read through the list endpoint's pagination
    list_path = {"hubspot": "/crm/v3/objects/contacts", "pipedrive": "/v1/persons"}.get(
        vendor, "/services/data/v60.0/query"
    )
    pages = [r for r in server.requests if r["path"].startswith(list_path) and r["status"] == 200]
    assert len(pages) >= -(-RECORDS // PAGE[vendor])

    with connect() as conn:
        batch = one(
            conn,
            "select rows_read, inserted, merged, duplicates_in_file, quarantined,"
            " file_format, file_name from import_batches where id = %s",
            (load["batch_id"],),
        )
        assert batch == (
            RECORDS,
            load["inserted"],
            0,
            load["duplicates_in_file"],
            load["quarantined"],
            "api",
            f"{vendor}:test-{vendor}",
        )
        # row level: every record with a valid phone is linked to the lead with that phone
        linked = dict(
            conn.execute(
                "select e.external_id, l.phone_number from lead_external_ids e"
                " join leads l on l.id = e.lead_id where e.connection_id = %s",
                (connection.id,),
            ).fetchall()
        )
        assert linked == {rid: phone for rid, phone in phones.items() if phone}
        raw = one(
            conn,
            f"select count(*) from raw_{vendor}.{ {'hubspot': 'contacts', 'salesforce': 'leads', 'pipedrive': 'persons'}[vendor] }"
            " where connection_id = %s",
            (connection.id,),
        )[0]
        assert raw == RECORDS
        reasons = dict(
            conn.execute(
                "select reason, count(*) from import_rejects where batch_id = %s group by reason",
                (load["batch_id"],),
            ).fetchall()
        )
        assert sum(reasons.values()) == load["quarantined"]
        assert set(reasons) <= {"invalid_phone", "missing_phone"}
        assert (
            one(
                conn,
                "select count(distinct change_source) filter (where change_source"
                " <> %s) from lead_audit_log where import_batch_id = %s",
                (f"crm:{vendor}", load["batch_id"]),
            )[0]
            == 0
        )

    # the second run fetches only what changed: 20 renamed, 5 of them with a new phone
    server.reset_log()
    valid_ids = [
        rid for rid, phone in phones.items() if phone and list(phones.values()).count(phone) == 1
    ]
    renamed = valid_ids[:20]
    for n, rid in enumerate(renamed):
        _set_name(vendor, server, rid, f"Renamed{n}")
    moved = renamed[:5]
    new_phones = {
        rid: f"+1 617 555 {7100 + n:04d}".replace("555", "867") for n, rid in enumerate(moved)
    }
    for rid, value in new_phones.items():
        _set_phone(vendor, server, rid, value)
    with connect() as conn:
        before = dict(
            conn.execute(
                "select external_id, lead_id::text from lead_external_ids where external_id = any(%s)"
                " and connection_id = %s",
                (moved, connection.id),
            ).fetchall()
        )
    second = sync_connection(connect, crm_url, connection)
    assert second["status"] == "succeeded", second.get("error")
    assert second["pull"]["mode"] == "incremental"
    assert second["pull"]["fetched"] == len(renamed)
    assert second["load"]["rows_read"] == len(renamed)
    assert second["load"]["merged"] == len(renamed)
    assert second["load"]["inserted"] == 0
    assert second["load"]["phone_changes"] == len(moved)
    served = sum(r["returned"] for r in server.requests)
    assert len(renamed) <= served <= len(renamed) + 1  # + the boundary record dlt drops
    assert not any(r["path"] == list_path and vendor != "salesforce" for r in server.requests)
    with connect() as conn:
        after = dict(
            conn.execute(
                "select e.external_id, l.id::text from lead_external_ids e join leads l"
                " on l.id = e.lead_id where e.external_id = any(%s) and e.connection_id = %s",
                (moved, connection.id),
            ).fetchall()
        )
        assert after == before  # the same leads, merged by external id
        for rid in moved:
            phone, first_name = one(
                conn, "select phone_number, first_name from leads where id = %s", (after[rid],)
            )
            assert phone == _e164(new_phones[rid])
            assert first_name.startswith("Renamed")
            assert one(
                conn,
                "select change_source from lead_audit_log where lead_id = %s and"
                " field_name = 'phone_number'",
                (after[rid],),
            ) == (f"crm:{vendor}",)

    # a third run with nothing changed fetches nothing and writes no batch
    third = sync_connection(connect, crm_url, connection)
    assert third["pull"]["fetched"] == 0
    assert third["load"]["rows_read"] == 0 and third["load"]["batch_id"] is None


# -- failures ------------------------------------------------------------------------------------
@pytest.mark.parametrize("server", ["hubspot"], indirect=True)
def test_429_waits_for_retry_after_and_5xx_is_retried(server, crm_url, connect, token_env):
    server.add(generate_records("hubspot", 250, seed=5))
    connection = _connect_to(crm_url, server, token_env)
    server.fail_next(429, retry_after=1)
    server.fail_next(503, count=2)
    result = sync_connection(connect, crm_url, connection)
    assert result["status"] == "succeeded", result.get("error")
    assert result["pull"]["fetched"] == 250
    statuses = [r["status"] for r in server.requests]
    assert statuses[:4] == [429, 503, 503, 200]
    assert statuses.count(200) == 3  # 250 records, 100 a page


@pytest.mark.parametrize("server", ["salesforce"], indirect=True)
def test_401_is_an_error_naming_the_connection_and_its_token_variable(
    server, crm_url, connect, monkeypatch
):
    server.add(generate_records("salesforce", 50, seed=5))
    monkeypatch.setenv("SF_TOKEN_SUMMIT", "expired-token")
    with psycopg.connect(crm_url) as conn:
        connection = save_connection(
            conn,
            organization="summit",
            vendor="salesforce",
            base_url=server.base_url,
            secret_env="SF_TOKEN_SUMMIT",
            name="summit-sf",
        )
    result = sync_connection(connect, crm_url, connection)
    assert result["status"] == "failed"
    assert "salesforce connection 'summit-sf' of organization summit" in result["error"]
    assert "refused the token in SF_TOKEN_SUMMIT (HTTP 401" in result["error"]
    assert [r["status"] for r in server.requests] == [401]  # not retried
    with connect() as conn:
        assert one(
            conn,
            "select status, error from crm_sync_runs where connection_id = %s",
            (connection.id,),
        ) == ("failed", result["error"])
        assert one(conn, "select count(*) from import_batches where file_format = 'api'") == (0,)
    # the CLI says the same in one line and exits 1
    cli = run_leadflow("crm", "sync", "--org", "summit", env={"POSTGRES_URL": crm_url})
    assert cli.returncode == 1
    assert "refused the token in SF_TOKEN_SUMMIT" in cli.stdout
    assert "Traceback" not in cli.stdout + cli.stderr


@pytest.mark.parametrize("server", ["pipedrive"], indirect=True)
def test_a_missing_token_variable_is_named(server, crm_url, connect, monkeypatch):
    monkeypatch.delenv("PIPEDRIVE_TOKEN_SUMMIT", raising=False)
    with psycopg.connect(crm_url) as conn:
        connection = save_connection(
            conn,
            organization=ORG1,
            vendor="pipedrive",
            base_url=server.base_url,
            secret_env="PIPEDRIVE_TOKEN_SUMMIT",
        )
    result = sync_connection(connect, crm_url, connection)
    assert result["status"] == "failed"
    assert (
        "environment variable PIPEDRIVE_TOKEN_SUMMIT (its API token) is not set" in result["error"]
    )
    assert server.requests == []
    push = push_back(connect, connection)
    assert push["status"] == "failed" and "PIPEDRIVE_TOKEN_SUMMIT" in push["error"]


@pytest.mark.parametrize("server", ["hubspot"], indirect=True)
def test_a_pull_killed_midway_resumes_from_the_last_committed_cursor(
    server, crm_url, connect, token_env, tmp_path
):
    """SIGKILL a real `leadflow crm sync` while the server holds its fourth page: nothing of
    the interrupted pull is committed; the next sync reads everything and accounts for it."""
    import signal
    import subprocess
    import sys

    server.add(generate_records("hubspot", 600, seed=9))
    connection = _connect_to(crm_url, server, token_env)
    server.hold_after(3)
    env = {**os.environ, "POSTGRES_URL": crm_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "leadflow.cli", "crm", "sync", "--org", ORG1],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert server.holding.wait(timeout=90), "the pull never reached the held page"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        server.release.set()
        if process.poll() is None:
            process.kill()
    with connect() as conn:
        if one(conn, "select to_regclass('raw_hubspot.contacts')")[0]:  # dlt created it
            raw = "select count(*) from raw_hubspot.contacts where connection_id = %s"
            assert one(conn, raw, (connection.id,)) == (0,)
        assert one(conn, "select count(*) from lead_external_ids") == (0,)
    server.reset_log()
    result = sync_connection(connect, crm_url, connection)
    assert result["status"] == "succeeded", result.get("error")
    assert result["pull"]["mode"] == "full"
    assert result["pull"]["fetched"] == 600
    load = result["load"]
    assert (
        load["rows_read"]
        == 600
        == (load["inserted"] + load["merged"] + load["duplicates_in_file"] + load["quarantined"])
    )


@pytest.mark.parametrize("server", ["salesforce"], indirect=True)
def test_records_pulled_but_not_loaded_are_loaded_by_the_next_sync(
    server, crm_url, connect, token_env
):
    """The process died after dlt committed the records and the cursor, before the leads: the
    next sync fetches nothing new and loads the committed records, exactly once."""
    server.add(generate_records("salesforce", 300, seed=4))
    connection = _connect_to(crm_url, server, token_env)
    pulled = pull(connection, crm_url)
    assert pulled.fetched == 300
    result = sync_connection(connect, crm_url, connection)
    assert result["pull"]["fetched"] == 0
    assert result["load"]["rows_read"] == 300
    again = load_connection(connect, connection)
    assert again.rows_read == 0 and again.batch_id is None


@pytest.mark.parametrize("server", ["hubspot"], indirect=True)
def test_a_record_whose_new_phone_is_another_leads_merges_there(
    server, crm_url, connect, token_env
):
    server.add(
        [
            {"properties": {"firstname": "Ann", "phone": "(415) 867-2301"}},
            {"properties": {"firstname": "Bob", "phone": "(415) 867-2302"}},
        ]
    )
    connection = _connect_to(crm_url, server, token_env)
    assert sync_connection(connect, crm_url, connection)["load"]["inserted"] == 2
    ann, bob = (record_id("hubspot", r) for r in server.records())
    _set_phone("hubspot", server, ann, "415.867.2302")  # Ann now has Bob's number
    result = sync_connection(connect, crm_url, connection)
    assert result["load"]["merged"] == 1 and result["load"]["phone_changes"] == 0
    with connect() as conn:
        links = dict(conn.execute("select external_id, lead_id from lead_external_ids").fetchall())
        assert links[ann] == links[bob]
        assert one(
            conn,
            "select new_value, change_source from lead_audit_log where lead_id = %s"
            " and field_name = 'crm_record' and new_value = %s",
            (links[bob], f"hubspot:{ann}"),
        ) == (f"hubspot:{ann}", "crm:hubspot")


# -- push ----------------------------------------------------------------------------------------
STATUS_FIELD = {
    "hubspot": "leadflow_status",
    "salesforce": "Leadflow_Status__c",
    "pipedrive": "leadflow_status",
}
SCORE_FIELD = {
    "hubspot": "leadflow_score",
    "salesforce": "Leadflow_Score__c",
    "pipedrive": "leadflow_score",
}
DNC_FIELD = {"hubspot": "leadflow_dnc", "salesforce": "DoNotCall", "pipedrive": "leadflow_dnc"}


def _field(vendor: str, record: dict, name: str):
    return (record["properties"] if vendor == "hubspot" else record).get(name)


def _dnc_value(vendor: str, value) -> bool:
    return value == "true" if vendor == "hubspot" else bool(value)


def _remove(vendor: str, server: ContractServer, rid: str) -> None:
    flag = {
        "hubspot": {"archived": True},
        "salesforce": {"IsDeleted": True},
        "pipedrive": {"active_flag": False},
    }[vendor]
    server.update(rid, **flag)


@pytest.mark.parametrize("server", VENDORS, indirect=True)
def test_push_writes_only_changed_leads_and_dnc_as_do_not_call(server, crm_url, connect, token_env):
    vendor = server.vendor
    server.add(generate_records(vendor, 400, seed=21))
    connection = _connect_to(crm_url, server, token_env)
    assert sync_connection(connect, crm_url, connection)["status"] == "succeeded"
    with connect() as conn:
        linked = dict(
            conn.execute(
                "select external_id, lead_id::text from lead_external_ids where connection_id = %s"
                " and lead_id in (select lead_id from lead_external_ids group by lead_id"
                "                 having count(*) = 1)",
                (connection.id,),
            ).fetchall()
        )
        total = one(
            conn,
            "select count(*) from lead_external_ids where connection_id = %s",
            (connection.id,),
        )[0]

    server.reset_log()
    first = push_back(connect, connection)
    assert first["status"] == "succeeded", first.get("error")
    assert first["push"]["pushed"] == total == len(server.updates)
    with connect() as conn:  # what the CRM says now is what leadflow says
        for rid, lead_id in list(linked.items())[:25]:
            status, score, dnc = one(
                conn,
                "select l.status, l.lead_score, l.status = 'dnc' or"
                " exists (select 1 from dnc_list d where d.organization_id"
                " = l.organization_id and d.phone_number = l.phone_number)"
                " from leads l where id = %s",
                (lead_id,),
            )
            record = server.record(rid)
            assert _field(vendor, record, STATUS_FIELD[vendor]) == status
            assert str(_field(vendor, record, SCORE_FIELD[vendor])) == str(score)
            assert _dnc_value(vendor, _field(vendor, record, DNC_FIELD[vendor])) == dnc

    server.reset_log()
    second = push_back(connect, connection)
    assert second["push"]["pushed"] == 0 and second["push"]["calls"] == 0
    assert server.requests == []

    ids = list(linked)
    status_changed, score_changed, now_dnc, gone = ids[0:3], ids[3:5], ids[5], ids[6]
    with connect() as conn:
        conn.execute(
            "update leads set status = 'hot' where id = any(%s::uuid[]) and status <> 'dnc'",
            ([linked[i] for i in status_changed],),
        )
        conn.execute(
            "update leads set lead_score = (lead_score + 37) %% 100 where id = any(%s::uuid[])",
            ([linked[i] for i in score_changed],),
        )
        conn.execute(
            "insert into dnc_list (organization_id, phone_number, reason)"
            " select organization_id, phone_number, 'asked' from leads where id = %s",
            (linked[now_dnc],),
        )
        conn.execute(
            "update leads set lead_score = (lead_score + 11) %% 100 where id = %s", (linked[gone],)
        )
    _remove(vendor, server, gone)
    server.reset_log()
    server.fail_next(429, retry_after=1)
    third = push_back(connect, connection)
    written = {u["id"] for u in server.updates}
    assert written == set(status_changed) | set(score_changed) | {now_dnc}
    assert third["push"]["pushed"] == 6 and third["push"]["failed"] == 1
    assert third["status"] == "failed" and "refused 1 record" in third["error"]
    assert server.requests[0]["status"] == 429
    assert _dnc_value(vendor, _field(vendor, server.record(now_dnc), DNC_FIELD[vendor])) is True
    with connect() as conn:
        assert one(
            conn,
            "select pushed_dnc from lead_external_ids where external_id = %s"
            " and connection_id = %s",
            (now_dnc, connection.id),
        ) == (True,)
        watermark = one(
            conn,
            "select pushed_until from crm_sync_state where connection_id = %s",
            (connection.id,),
        )[0]
    # the refused record is tried again, the others are not written again
    server.reset_log()
    fourth = push_back(connect, connection)
    assert {u["id"] for u in server.updates} == set()
    assert fourth["push"]["failed"] == 1 and fourth["push"]["pushed"] == 0
    with connect() as conn:  # the watermark waits for the refused record
        assert (
            one(
                conn,
                "select pushed_until from crm_sync_state where connection_id = %s",
                (connection.id,),
            )[0]
            == watermark
        )


# -- the command line ----------------------------------------------------------------------------
@pytest.mark.parametrize("server", ["pipedrive"], indirect=True)
def test_cli_connect_sync_push_status(server, crm_url, token_env):
    server.add(generate_records("pipedrive", 120, seed=8))
    env = {"POSTGRES_URL": crm_url}
    connect_cli = run_leadflow(
        "crm",
        "connect",
        "--org",
        "summit",
        "--vendor",
        "pipedrive",
        "--name",
        "summit-pd",
        "--base-url",
        server.base_url,
        "--secret-env",
        token_env,
        "--option",
        'score_field="9f3c1e"',
        "--json",
        env=env,
    )
    assert connect_cli.returncode == 0, connect_cli.stderr
    saved = json.loads(connect_cli.stdout)
    assert (saved["vendor"], saved["name"], saved["secret_env"]) == (
        "pipedrive",
        "summit-pd",
        token_env,
    )

    synced = run_leadflow("crm", "sync", "--org", "summit", "--json", env=env)
    assert synced.returncode == 0, synced.stderr
    [result] = json.loads(synced.stdout)["connections"]
    assert result["pull"]["fetched"] == 120 and result["load"]["rows_read"] == 120

    pushed = run_leadflow("crm", "push", "--connection", "summit-pd", "--json", env=env)
    assert pushed.returncode == 0, pushed.stderr
    [push] = json.loads(pushed.stdout)["connections"]
    assert push["push"]["pushed"] == len(server.updates) > 0
    assert all("9f3c1e" in update["fields"] for update in server.updates)

    status = run_leadflow("crm", "status", "--org", ORG1, "--json", env=env)
    [state] = json.loads(status.stdout)["connections"]
    assert state["last_pull"]["status"] == "succeeded" and state["last_pull"]["fetched"] == 120
    assert state["last_push"]["pushed"] == push["push"]["pushed"]
    assert state["linked_records"] == result["load"]["linked"]
    assert TOKEN not in status.stdout  # the token is never shown, only its variable
    # the organization by exact name too (UUID or slug only before), and `all` for every one
    by_name = run_leadflow("crm", "status", "--org", "Summit Talent Partners", "--json", env=env)
    assert by_name.returncode == 0, by_name.stderr
    assert json.loads(by_name.stdout) == json.loads(status.stdout)
    every = run_leadflow("crm", "status", "--org", "all", "--json", env=env)
    assert [c["connection"] for c in json.loads(every.stdout)["connections"]] == ["summit-pd"]
    assert len(status.stdout.splitlines()) == 1  # --json: one object on one line
    text = run_leadflow("crm", "status", env=env)
    assert "summit/summit-pd (pipedrive)" in text.stdout and f"token ${token_env}" in text.stdout


def test_cli_bad_requests_exit_2(crm_url):
    env = {"POSTGRES_URL": crm_url}
    connect_args = ("--vendor", "hubspot", "--base-url", "https://api.hubapi.com")
    connect_args += ("--secret-env", "HUBSPOT_TOKEN_X")
    for command, args in (("sync", ()), ("push", ()), ("status", ()), ("connect", connect_args)):
        unknown = run_leadflow("crm", command, "--org", "nowhere", *args, env=env)
        assert unknown.returncode == 2, (command, unknown.stderr)
        assert "unknown organization --org 'nowhere'" in unknown.stderr
        assert "northwind, southern-cross, summit" in unknown.stderr  # the choices
        assert not unknown.stdout
    secret = run_leadflow(
        "crm",
        "connect",
        "--org",
        "summit",
        "--vendor",
        "hubspot",
        "--base-url",
        "https://api.hubapi.com",
        "--secret-env",
        "pat-na1-123",
        env=env,
    )
    assert secret.returncode == 2 and "environment variable NAME" in secret.stderr
    missing = run_leadflow("crm", "push", "--connection", "nope", env=env)
    assert missing.returncode == 2 and "no CRM connection named 'nope'" in missing.stderr


# -- tenancy and concurrency ---------------------------------------------------------------------
@pytest.mark.parametrize("server", ["hubspot"], indirect=True)
def test_a_tenant_sees_only_its_own_connections_runs_and_links(
    server, crm_url, connect, token_env, monkeypatch
):
    server.add(generate_records("hubspot", 60, seed=3))
    monkeypatch.setenv("HUBSPOT_TOKEN_NORTHWIND", TOKEN)  # one variable is one connection's
    mine = _connect_to(crm_url, server, token_env, org=ORG1, name="mine")
    theirs = _connect_to(crm_url, server, "HUBSPOT_TOKEN_NORTHWIND", org=ORG2, name="theirs")
    assert sync_connection(connect, crm_url, mine)["status"] == "succeeded"
    with connect() as conn:
        conn.execute("create role lf_crm_tenant nologin")
        conn.execute(
            "grant select on crm_connections, crm_sync_runs, crm_sync_state,"
            " lead_external_ids to lf_crm_tenant"
        )
        conn.execute("set role lf_crm_tenant")
        conn.execute("select set_config('app.current_tenant_id', %s, true)", (ORG2,))
        assert conn.execute("select id::text from crm_connections").fetchall() == [(theirs.id,)]
        assert one(conn, "select count(*) from lead_external_ids") == (0,)
        assert one(conn, "select count(*) from crm_sync_runs") == (0,)
        conn.execute("select set_config('app.current_tenant_id', %s, true)", (ORG1,))
        assert conn.execute("select id::text from crm_connections").fetchall() == [(mine.id,)]
        assert one(conn, "select count(*) from lead_external_ids")[0] > 0
        conn.rollback()


@pytest.mark.parametrize("server", ["hubspot"], indirect=True)
def test_a_second_pull_of_the_same_connection_waits_its_turn(server, crm_url, connect, token_env):
    """While one pull holds the connection's lock (on another session), a second one refuses
    with a clear message instead of pulling the same pages twice."""
    connection = _connect_to(crm_url, server, token_env)
    key = f"leadflow.crm.pull:{connection.id}"
    with psycopg.connect(crm_url, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (key,))
        result = sync_connection(connect, crm_url, connection)
    assert result["status"] == "failed"
    assert "another pull of this connection is running" in result["error"]
    assert server.requests == []
    assert sync_connection(connect, crm_url, connection)["status"] == "succeeded"


@pytest.mark.parametrize("server", ["hubspot"], indirect=True)
def test_a_lead_two_records_share_keeps_its_phone_when_one_record_moves(
    server, crm_url, connect, token_env
):
    """Two CRM records of one person (same phone) are one lead; when one of them changes its
    phone, the lead stays with the other and the moved record becomes a lead of its own;
    syncing both again (e.g. the push's echo) changes nothing: no back and forth."""
    server.add(
        [
            {"properties": {"firstname": "Ann", "phone": "(415) 867-2301"}},
            {"properties": {"firstname": "Ann", "phone": "415.867.2301", "email": "ann@x.com"}},
        ]
    )
    connection = _connect_to(crm_url, server, token_env)
    first = sync_connection(connect, crm_url, connection)["load"]
    assert (first["inserted"], first["duplicates_in_file"]) == (1, 1)
    kept, moved = (record_id("hubspot", r) for r in server.records())
    _set_phone("hubspot", server, moved, "(415) 867-2399")
    second = sync_connection(connect, crm_url, connection)["load"]
    assert (second["inserted"], second["phone_changes"]) == (1, 0)
    for rid in (kept, moved):  # both records change again: nothing moves
        _set_name("hubspot", server, rid, "Ann")
    third = sync_connection(connect, crm_url, connection)["load"]
    assert (third["rows_read"], third["inserted"], third["phone_changes"]) == (2, 0, 0)
    with connect() as conn:
        phones = dict(
            conn.execute(
                "select e.external_id, l.phone_number from lead_external_ids e"
                " join leads l on l.id = e.lead_id"
            ).fetchall()
        )
    assert phones == {kept: "+14158672301", moved: "+14158672399"}
