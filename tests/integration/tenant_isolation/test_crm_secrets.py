"""Hostile tenants against the CRM sync's secrets and hosts (issue 18, item 1).

A tenant's row never picks a secret or a host: organization B cannot make a sync read
organization A's token variable (or any process secret such as POSTGRES_URL), nor send a token
anywhere but the connection's vendor API, not even through a pagination link or a redirect
answered by a CRM. Every attack checks what an attacker's server actually received.
"""

from __future__ import annotations

import json

import psycopg
import pytest
import requests

from leadflow.crmsync.connections import save_connection
from leadflow.crmsync.sync import push_back, sync_connection
from leadflow.platform.crm_sandbox import generate_records, sandbox
from tests.conftest import run_leadflow
from tests.integration.tenant_isolation.conftest import ORG_A, ORG_B
from tests.integration.tenant_isolation.crm_support import (
    allow,
    hostile_connection,
    hostport,
    tenant_cannot_write,
    tokens_seen,
)

pytestmark = pytest.mark.integration

TOKEN_A = "summit-hubspot-token-4f1c9a"
VAR_A = "HUBSPOT_TOKEN_SUMMIT"
TOKEN_B = "northwind-hubspot-token-77e2d0"
VAR_B = "HUBSPOT_TOKEN_NORTHWIND"


@pytest.fixture
def tokens(monkeypatch) -> None:
    monkeypatch.setenv(VAR_A, TOKEN_A)
    monkeypatch.setenv(VAR_B, TOKEN_B)
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "1")


@pytest.fixture
def evil():
    """A server organization B controls: it records every request it receives."""
    with sandbox("hubspot", token="evil-knows-no-token") as server:
        yield server


def _a_connection(crm_url: str, server) -> None:
    with psycopg.connect(crm_url) as conn:
        save_connection(
            conn,
            organization=ORG_A,
            vendor="hubspot",
            name="summit-hs",
            base_url=server.base_url,
            secret_env=VAR_A,
        )


# -- who may write crm_connections --------------------------------------------------------------
def test_a_tenant_cannot_write_crm_connections(crm_url, as_tenant, tokens):
    with psycopg.connect(crm_url) as conn:
        mine = save_connection(
            conn,
            organization=ORG_B,
            vendor="hubspot",
            name="northwind-hs",
            base_url="https://api.hubapi.com",
            secret_env=VAR_B,
        )
    b = as_tenant(ORG_B)
    assert b.execute("select id::text from crm_connections").fetchall() == [(mine.id,)]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        b.execute(
            "insert into crm_connections (organization_id, vendor, name, base_url, secret_env)"
            " values (%s, 'hubspot', 'stolen', 'http://127.0.0.1:1', %s)",
            (ORG_B, VAR_A),
        )
    # no write privilege at all (migration 011: the application role reads connections only),
    # and the select-only policy of 013 behind it
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        b.execute(
            "update crm_connections set secret_env = %s, base_url = 'http://127.0.0.1:1'"
            " where id = %s",
            (VAR_A, mine.id),
        )
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        b.execute("delete from crm_connections where id = %s", (mine.id,))
    with psycopg.connect(crm_url) as conn:
        assert conn.execute(
            "select secret_env, base_url from crm_connections where id = %s", (mine.id,)
        ).fetchone() == (VAR_B, "https://api.hubapi.com")


# -- whose secret ---------------------------------------------------------------------------------
def test_one_variable_belongs_to_one_connection_in_the_whole_database(crm_url, tokens):
    with psycopg.connect(crm_url) as conn:
        save_connection(
            conn,
            organization=ORG_A,
            vendor="hubspot",
            name="summit-hs",
            base_url="https://api.hubapi.com",
            secret_env=VAR_A,
        )
    with pytest.raises(psycopg.errors.UniqueViolation):
        hostile_connection(
            crm_url,
            org=ORG_B,
            vendor="hubspot",
            name="theirs",
            base_url="https://api.hubapi.com",
            secret_env=VAR_A,
        )
    cli = run_leadflow(
        "crm",
        "connect",
        "--org",
        ORG_B,
        "--vendor",
        "hubspot",
        "--base-url",
        "https://api.hubapi.com",
        "--secret-env",
        VAR_A,
        env={"POSTGRES_URL": crm_url},
    )
    assert cli.returncode == 2 and VAR_A in cli.stderr


def test_the_sync_never_reads_a_variable_another_organization_names(
    crm_url, connect, tokens, evil, monkeypatch, as_tenant
):
    """Even with the unique index gone (a restored dump, a compromised row): B's connection
    naming A's variable is refused, and B's server receives nothing."""
    with sandbox("hubspot", token=TOKEN_A) as crm_a:
        crm_a.add(generate_records("hubspot", 20, seed=1))
        allow(monkeypatch, crm_a, evil)  # B's server is even a listed host
        _a_connection(crm_url, crm_a)
        tenant_cannot_write(
            as_tenant(ORG_B),
            org=ORG_B,
            vendor="hubspot",
            name="theirs",
            base_url=evil.base_url,
            secret_env=VAR_A,
        )
        with psycopg.connect(crm_url) as conn:
            conn.execute("drop index if exists crm_connections_secret_env_key")
        theirs = hostile_connection(
            crm_url,
            org=ORG_B,
            vendor="hubspot",
            name="theirs",
            base_url=evil.base_url,
            secret_env=VAR_A,
        )
        pulled = sync_connection(connect, crm_url, theirs)
        pushed = push_back(connect, theirs)
    assert tokens_seen(evil, TOKEN_A) == []
    assert evil.requests == []
    assert pulled["status"] == "failed" and VAR_A in pulled["error"]
    assert "refused" in pulled["error"]
    assert pushed["status"] == "failed" and "refused" in pushed["error"]


@pytest.mark.parametrize("variable", ["POSTGRES_URL", "NEO4J_PASSWORD", "LEADFLOW_CRM_CRON"])
def test_a_connection_cannot_name_a_process_secret(
    variable, crm_url, connect, tokens, evil, monkeypatch, as_tenant
):
    values = {
        "POSTGRES_URL": crm_url,
        "NEO4J_PASSWORD": "graph-password-93b1",
        "LEADFLOW_CRM_CRON": "30 1 * * *",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    allow(monkeypatch, evil)
    tenant_cannot_write(
        as_tenant(ORG_B),
        org=ORG_B,
        vendor="hubspot",
        name="theirs",
        base_url=evil.base_url,
        secret_env=variable,
    )
    theirs = hostile_connection(
        crm_url,
        org=ORG_B,
        vendor="hubspot",
        name="theirs",
        base_url=evil.base_url,
        secret_env=variable,
    )
    pulled = sync_connection(connect, crm_url, theirs)
    pushed = push_back(connect, theirs)
    assert evil.requests == [], tokens_seen(evil, values[variable])
    assert pulled["status"] == pushed["status"] == "failed"
    assert variable in pulled["error"] and "refused" in pulled["error"]
    cli = run_leadflow(
        "crm",
        "connect",
        "--org",
        ORG_B,
        "--vendor",
        "hubspot",
        "--base-url",
        "https://api.hubapi.com",
        "--secret-env",
        variable,
        "--name",
        "other",
        env={"POSTGRES_URL": crm_url},
    )
    assert cli.returncode == 2 and variable in cli.stderr


def test_a_vendor_prefix_must_match_the_connection_vendor(crm_url):
    env = {"POSTGRES_URL": crm_url}
    wrong = run_leadflow(
        "crm",
        "connect",
        "--org",
        ORG_A,
        "--vendor",
        "salesforce",
        "--base-url",
        "https://summit.my.salesforce.com",
        "--secret-env",
        "PIPEDRIVE_TOKEN_X",
        env=env,
    )
    assert wrong.returncode == 2 and "PIPEDRIVE_TOKEN_X" in wrong.stderr
    right = run_leadflow(
        "crm",
        "connect",
        "--org",
        ORG_A,
        "--vendor",
        "salesforce",
        "--base-url",
        "https://summit.my.salesforce.com",
        "--secret-env",
        "SF_TOKEN_SUMMIT",
        env=env,
    )
    assert right.returncode == 0, right.stderr


# -- where a token may go -------------------------------------------------------------------------
OFF_VENDOR_URLS = {
    "loopback": "http://127.0.0.1:{port}",
    "localhost": "http://localhost:{port}",
    "private": "http://10.0.0.1",
    "metadata": "http://169.254.169.254/latest/meta-data",
    "userinfo": "https://user:pass@api.hubapi.com",
    "fragment": "https://api.hubapi.com/#x",
    "http": "http://api.hubapi.com",
    "lookalike": "https://api.hubapi.com.evil.example",
    "query": "https://api.hubapi.com/?api_token=x",
}


@pytest.mark.parametrize("kind", OFF_VENDOR_URLS)
def test_connect_refuses_a_base_url_off_the_vendor(kind, crm_url, evil):
    url = OFF_VENDOR_URLS[kind].format(port=hostport(evil).split(":")[1])
    cli = run_leadflow(
        "crm",
        "connect",
        "--org",
        ORG_B,
        "--vendor",
        "hubspot",
        "--base-url",
        url,
        "--secret-env",
        VAR_B,
        env={"POSTGRES_URL": crm_url},
    )
    assert cli.returncode == 2, cli.stdout
    assert "base URL" in cli.stderr


#: the stored-row variants the sync must refuse without any request (the private and metadata
#: addresses are never contacted by the tests: only refused)
@pytest.mark.parametrize("kind", OFF_VENDOR_URLS)
def test_the_sync_refuses_a_stored_base_url_off_the_vendor(
    kind, crm_url, connect, tokens, evil, as_tenant
):
    url = OFF_VENDOR_URLS[kind].format(port=hostport(evil).split(":")[1])
    tenant_cannot_write(
        as_tenant(ORG_B), org=ORG_B, vendor="hubspot", name="theirs", base_url=url, secret_env=VAR_B
    )
    theirs = hostile_connection(
        crm_url, org=ORG_B, vendor="hubspot", name="theirs", base_url=url, secret_env=VAR_B
    )
    pulled = sync_connection(connect, crm_url, theirs)
    pushed = push_back(connect, theirs)
    assert evil.requests == [], tokens_seen(evil, TOKEN_B)
    assert pulled["status"] == pushed["status"] == "failed"
    assert "base URL" in pulled["error"] and "refused" in pulled["error"]


def test_api_version_reaches_the_url_only_as_a_version(crm_url, connect, monkeypatch):
    monkeypatch.setenv("SF_TOKEN_NORTHWIND", "sf-token-3c2b")
    with sandbox("salesforce", token="sf-token-3c2b") as server:
        allow(monkeypatch, server)
        env = {"POSTGRES_URL": crm_url, "LEADFLOW_CRM_ALLOWED_HOSTS": hostport(server)}
        cli = run_leadflow(
            "crm",
            "connect",
            "--org",
            ORG_B,
            "--vendor",
            "salesforce",
            "--base-url",
            server.base_url,
            "--secret-env",
            "SF_TOKEN_NORTHWIND",
            "--option",
            "api_version=v60.0/../../x",
            env=env,
        )
        assert cli.returncode == 2 and "api_version" in cli.stderr
        theirs = hostile_connection(
            crm_url,
            org=ORG_B,
            vendor="salesforce",
            name="theirs",
            base_url=server.base_url,
            secret_env="SF_TOKEN_NORTHWIND",
            options={"api_version": "v60.0/../../x"},
        )
        pulled = sync_connection(connect, crm_url, theirs)
        assert server.requests == []
        assert pulled["status"] == "failed" and "api_version" in pulled["error"]


def test_a_pagination_link_to_another_host_gets_no_request(crm_url, connect, evil, monkeypatch):
    """Salesforce answers with a nextRecordsUrl on another host: dlt would follow it with the
    token; the connection's session refuses any origin but the connection's, even one listed
    in LEADFLOW_CRM_ALLOWED_HOSTS (both servers are on 127.0.0.1, listed without a port)."""
    monkeypatch.setenv("SF_TOKEN_SUMMIT", "sf-token-summit-91ab")
    monkeypatch.setenv("LEADFLOW_CRM_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "1")
    with sandbox("salesforce", token="sf-token-summit-91ab", page_size=200) as server:
        server.add(generate_records("salesforce", 450, seed=3))
        server.link_pages_to(evil.base_url)
        with psycopg.connect(crm_url) as conn:
            mine = save_connection(
                conn,
                organization=ORG_A,
                vendor="salesforce",
                name="summit-sf",
                base_url=server.base_url,
                secret_env="SF_TOKEN_SUMMIT",
            )
        result = sync_connection(connect, crm_url, mine)
    assert tokens_seen(evil, "sf-token-summit-91ab") == []
    assert evil.requests == []
    assert result["status"] == "failed" and "refused" in result["error"]
    with connect() as conn:
        assert conn.execute("select count(*) from lead_external_ids").fetchone() == (0,)


@pytest.mark.parametrize("vendor", ["hubspot", "pipedrive"])
def test_a_redirect_to_another_host_gets_no_request(vendor, crm_url, connect, evil, monkeypatch):
    token = f"{vendor}-token-summit-5d1e"
    variable = f"{vendor.upper()}_TOKEN_SUMMIT"
    monkeypatch.setenv(variable, token)
    monkeypatch.setenv("LEADFLOW_CRM_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "1")
    with sandbox(vendor, token=token) as server:
        server.add(generate_records(vendor, 30, seed=4))
        server.redirect_next(evil.base_url + "/collect")
        with psycopg.connect(crm_url) as conn:
            mine = save_connection(
                conn,
                organization=ORG_A,
                vendor=vendor,
                name="summit",
                base_url=server.base_url,
                secret_env=variable,
            )
        result = sync_connection(connect, crm_url, mine)
    assert evil.requests == [], tokens_seen(evil, token)
    assert result["status"] == "failed" and "refused" in result["error"]


def test_the_pipedrive_token_travels_in_the_header_only(crm_url, connect, monkeypatch):
    token = "pipedrive-token-summit-0c7f"
    monkeypatch.setenv("PIPEDRIVE_TOKEN_SUMMIT", token)
    with sandbox("pipedrive", token=token) as server:
        allow(monkeypatch, server)
        server.add(generate_records("pipedrive", 120, seed=5))
        with psycopg.connect(crm_url) as conn:
            mine = save_connection(
                conn,
                organization=ORG_A,
                vendor="pipedrive",
                name="summit-pd",
                base_url=server.base_url,
                secret_env="PIPEDRIVE_TOKEN_SUMMIT",
            )
        pulled = sync_connection(connect, crm_url, mine)
        pushed = push_back(connect, mine)
        assert pulled["status"] == "succeeded", pulled.get("error")
        assert pushed["status"] == "succeeded", pushed.get("error")
        assert pushed["push"]["pushed"] > 0
        in_urls = [r for r in server.requests if token in json.dumps([r["path"], r["query"]])]
        assert in_urls == []
        assert all(r["headers"].get("x-api-token") == token for r in server.requests)
        # the contract server refuses a token in the query string, as a URL is logged everywhere
        refused = requests.get(server.base_url + "/v1/persons", params={"api_token": token})
        assert refused.status_code == 401


@pytest.mark.parametrize("vendor", ["hubspot", "salesforce", "pipedrive"])
def test_the_legitimate_sync_still_runs_with_a_listed_loopback_host(
    vendor, crm_url, connect, monkeypatch
):
    token = f"{vendor}-token-legit-8e8e"
    variable = f"LEADFLOW_CRM_{vendor.upper()}_SUMMIT"
    monkeypatch.setenv(variable, token)
    with sandbox(vendor, token=token) as server:
        allow(monkeypatch, server)
        server.add(generate_records(vendor, 120, seed=6))
        with psycopg.connect(crm_url) as conn:
            mine = save_connection(
                conn,
                organization=ORG_A,
                vendor=vendor,
                name="summit",
                base_url=server.base_url,
                secret_env=variable,
            )
        pulled = sync_connection(connect, crm_url, mine)
        assert pulled["status"] == "succeeded", pulled.get("error")
        assert pulled["pull"]["fetched"] == 120 and pulled["load"]["rows_read"] == 120
        pushed = push_back(connect, mine)
        assert pushed["status"] == "succeeded", pushed.get("error")
        assert pushed["push"]["pushed"] == len(server.updates) > 0
