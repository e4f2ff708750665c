"""The CRM sync's policy (pure rules) and the connection session that enforces it per request:
which token variable a connection may name, where its requests may go (issue 18)."""

from __future__ import annotations

import pytest
import requests

from leadflow.crmsync.connections import Connection
from leadflow.crmsync.errors import CrmPolicyError
from leadflow.crmsync.http import auth_header, connection_session
from leadflow.crmsync.policy import (
    AllowedHosts,
    Origin,
    check_base_url,
    check_options,
    check_request_url,
    check_secret_env,
    is_public_address,
    parse_allowed_hosts,
    public_addresses,
    secret_env_problem,
    vendor_host,
)
from leadflow.platform.crm_sandbox import sandbox

NONE = AllowedHosts()
ORG = "11111111-1111-4111-8111-111111111111"


# -- secrets -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("vendor", "name"),
    [
        ("hubspot", "HUBSPOT_TOKEN_ACME"),
        ("hubspot", "LEADFLOW_CRM_ACME_HUBSPOT"),
        ("salesforce", "SF_TOKEN_ACME"),
        ("salesforce", "SALESFORCE_ACME"),
        ("pipedrive", "PIPEDRIVE_TOKEN_ACME"),
    ],
)
def test_crm_token_variables_of_the_vendor_are_accepted(vendor, name):
    assert secret_env_problem(vendor, name) is None


@pytest.mark.parametrize(
    ("vendor", "name", "reason"),
    [
        ("hubspot", "POSTGRES_URL", "HUBSPOT_… or LEADFLOW_CRM_…"),
        ("hubspot", "NEO4J_PASSWORD", "never reads other variables"),
        ("hubspot", "AWS_SECRET_ACCESS_KEY", "never reads other variables"),
        ("hubspot", "PIPEDRIVE_TOKEN_ACME", "HUBSPOT_…"),  # another vendor's variable
        ("salesforce", "HUBSPOT_TOKEN_ACME", "SALESFORCE_… or SF_…"),
        ("hubspot", "LEADFLOW_CRM_CRON", "leadflow's own settings"),
        ("hubspot", "LEADFLOW_CRM_ALLOWED_HOSTS", "leadflow's own settings"),
        ("hubspot", "HUBSPOT_", "HUBSPOT_…"),  # a prefix alone
        ("hubspot", "hubspot_token", "environment variable NAME"),
        ("hubspot", "pat-na1-123", "environment variable NAME"),
        ("hubspot", "HUBSPOT_TOKEN;rm", "environment variable NAME"),
    ],
)
def test_other_variables_are_refused_with_the_reason(vendor, name, reason):
    with pytest.raises(CrmPolicyError, match="refused") as refused:
        check_secret_env(vendor, name)
    assert reason in str(refused.value) and repr(name) in str(refused.value)


def test_a_connection_never_reads_a_refused_variable():
    connection = Connection(
        "c1",
        ORG,
        "hubspot",
        "evil",
        "https://api.hubapi.com",
        "POSTGRES_URL",
        organization_slug="northwind",
    )
    with pytest.raises(CrmPolicyError, match="'evil' of organization northwind"):
        connection.token({"POSTGRES_URL": "postgresql://u:p@db/x"})


# -- hosts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("vendor", "url", "origin"),
    [
        ("hubspot", "https://api.hubapi.com", Origin("https", "api.hubapi.com", 443)),
        ("hubspot", "https://API.HubAPI.com/", Origin("https", "api.hubapi.com", 443)),
        (
            "salesforce",
            "https://acme.my.salesforce.com",
            Origin("https", "acme.my.salesforce.com", 443),
        ),
        (
            "salesforce",
            "https://na1.salesforce.com:443",
            Origin("https", "na1.salesforce.com", 443),
        ),
        ("pipedrive", "https://acme.pipedrive.com/api", Origin("https", "acme.pipedrive.com", 443)),
    ],
)
def test_vendor_hosts_over_https_are_accepted(vendor, url, origin):
    assert check_base_url(vendor, url, NONE) == origin


@pytest.mark.parametrize(
    ("vendor", "url", "reason"),
    [
        ("hubspot", "http://127.0.0.1:8080", "loopback, private or link-local IP address"),
        ("hubspot", "http://localhost:8080", "not a hubspot API host"),
        ("hubspot", "http://10.0.0.1", "loopback, private or link-local IP address"),
        ("hubspot", "http://169.254.169.254/latest", "loopback, private or link-local"),
        ("hubspot", "http://[::1]:80", "loopback, private or link-local"),
        ("hubspot", "http://[::ffff:127.0.0.1]/", "loopback, private or link-local"),
        ("hubspot", "https://8.8.8.8", "a public IP address, not a hubspot API host"),
        ("hubspot", "https://user:pass@api.hubapi.com", "userinfo"),
        ("hubspot", "https://token@api.hubapi.com", "userinfo"),
        ("hubspot", "https://api.hubapi.com/#x", "fragment"),
        ("hubspot", "https://api.hubapi.com/?api_token=x", "query string"),
        ("hubspot", "http://api.hubapi.com", "plain http"),
        ("hubspot", "https://api.hubapi.com:8443", "port 8443"),
        ("hubspot", "https://api.hubapi.com.evil.example", "not a hubspot API host"),
        ("hubspot", "https://evil-api.hubapi.com", "not a hubspot API host"),
        ("salesforce", "https://salesforce.com.evil.example", "not a salesforce API host"),
        ("salesforce", "https://salesforce.com", "not a salesforce API host"),
        ("salesforce", "https://evil.com\\.my.salesforce.com", "backslash"),
        ("pipedrive", "https://acme.pipedrive.com.", "no valid host"),
        ("pipedrive", "https://acme.pipedrive.com:99999", "port"),
        ("pipedrive", "ftp://acme.pipedrive.com", "must start with https://"),
        ("pipedrive", "https://acme.pipedrive.com/api x", "whitespace"),
        ("pipedrive", "//acme.pipedrive.com", "must start with https://"),
    ],
)
def test_everything_else_is_refused_with_the_reason(vendor, url, reason):
    with pytest.raises(CrmPolicyError, match="base URL .* refused") as refused:
        check_base_url(vendor, url, NONE)
    assert reason in str(refused.value)


def test_listed_hosts_are_the_deployments_exceptions():
    allowed = parse_allowed_hosts(" 127.0.0.1:8080 , crm-proxy.internal,[::1]:9000,")
    assert str(allowed) == "127.0.0.1:8080,::1:9000,crm-proxy.internal"
    assert check_base_url("hubspot", "http://127.0.0.1:8080", allowed) == Origin(
        "http", "127.0.0.1", 8080
    )
    assert check_base_url("salesforce", "http://crm-proxy.internal:81/x", allowed).port == 81
    assert check_base_url("pipedrive", "http://[::1]:9000", allowed).host == "::1"
    with pytest.raises(CrmPolicyError, match="loopback"):  # another port of a listed host:port
        check_base_url("hubspot", "http://127.0.0.1:8081", allowed)
    with pytest.raises(CrmPolicyError, match="userinfo"):  # listing never allows userinfo
        check_base_url("hubspot", "http://u:p@127.0.0.1:8080", allowed)


@pytest.mark.parametrize("entry", ["http://x", "x/y", "u@x", "x:port", "x?y"])
def test_a_malformed_allowed_host_is_named(entry):
    with pytest.raises(CrmPolicyError, match="LEADFLOW_CRM_ALLOWED_HOSTS"):
        parse_allowed_hosts(entry)


def test_vendor_host_patterns():
    assert vendor_host("salesforce", "a-b.my.salesforce.com")
    assert not vendor_host("salesforce", "-a.salesforce.com")
    assert not vendor_host("pipedrive", "pipedrive.com")
    assert not vendor_host("hubspot", "x.api.hubapi.com")


ORIGIN = Origin("https", "acme.my.salesforce.com", 443)


@pytest.mark.parametrize(
    "url",
    [
        "https://acme.my.salesforce.com/services/data/v60.0/query/01g-200",
        "https://ACME.my.salesforce.com:443/x?y=1",
    ],
)
def test_requests_on_the_connection_origin_pass(url):
    check_request_url(ORIGIN, url)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/services/data/v60.0/query/01g-200",
        "http://acme.my.salesforce.com/x",  # the scheme changed
        "https://acme.my.salesforce.com:8443/x",  # the port changed
        "https://other.my.salesforce.com/x",  # another vendor host
        "https://x@acme.my.salesforce.com/x",
        "https://acme.my.salesforce.com\\@evil.example/",
    ],
)
def test_requests_anywhere_else_are_refused(url):
    with pytest.raises(
        CrmPolicyError, match=r"go to its API \(https://acme.my.salesforce.com:443\)"
    ):
        check_request_url(ORIGIN, url)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:10.0.0.1", False),
        ("224.0.0.1", False),
        ("not an address", False),
    ],
)
def test_public_addresses(address, public):
    assert is_public_address(address) is public


def test_a_vendor_name_resolving_inside_is_refused_unless_listed():
    inside = lambda host, port: ["52.1.2.3", "10.0.0.7"]  # noqa: E731
    with pytest.raises(CrmPolicyError, match="resolves to 10.0.0.7"):
        public_addresses("acme.my.salesforce.com", 443, NONE, inside)
    assert public_addresses("api.hubapi.com", 443, NONE, lambda h, p: ["104.16.1.1"]) == [
        "104.16.1.1"
    ]
    listed = parse_allowed_hosts("crm-proxy.internal")
    assert public_addresses("crm-proxy.internal", 443, listed, inside) == ["52.1.2.3", "10.0.0.7"]


# -- options -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {"api_version": "v60.0/../../x"},
        {"api_version": "v60"},
        {"api_version": "60.0"},
        {"api_version": 60},
        {"page_size": 0},
        {"page_size": "100; drop"},
        {"page_size": True},
        {"status_field": "a b"},
        {"score_field": {"x": 1}},
        {"owners": ["x"]},
    ],
)
def test_options_that_would_change_a_url_or_body_are_refused(options):
    with pytest.raises(CrmPolicyError, match="refused"):
        check_options(options)


def test_plain_options_pass():
    check_options(
        {
            "api_version": "v61.0",
            "page_size": "50",
            "status_field": "9f3c1e" * 6,
            "owners": {"005": "u"},
        }
    )


# -- the session ---------------------------------------------------------------------------------
def test_the_token_travels_in_the_vendors_header():
    assert auth_header("pipedrive", "t") == ("x-api-token", "t")
    assert auth_header("salesforce", "t") == ("Authorization", "Bearer t")


def test_the_session_sends_to_its_origin_only_and_adds_the_token_itself():
    with (
        sandbox("pipedrive", token="pd-unit-token") as server,
        sandbox("pipedrive", token="evil") as evil,
    ):
        allowed = parse_allowed_hosts("127.0.0.1")
        host, port = server.base_url.removeprefix("http://").split(":")
        session = connection_session(
            "pipedrive", Origin("http", host, int(port)), "pd-unit-token", allowed
        )
        assert session.get(server.base_url + "/v1/persons").status_code == 200
        assert server.requests[-1]["headers"]["x-api-token"] == "pd-unit-token"
        with pytest.raises(CrmPolicyError, match="refused a request"):
            session.get(evil.base_url + "/v1/persons")
        server.redirect_next(evil.base_url + "/v1/persons")
        with pytest.raises(CrmPolicyError, match="refused a request"):
            session.get(server.base_url + "/v1/persons")
        assert evil.requests == []


def test_the_session_connects_to_checked_addresses_only(monkeypatch):
    """A host that is not listed must resolve to public addresses; the socket then goes to the
    checked address (no second lookup)."""
    with sandbox("hubspot", token="hs-unit") as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        session = connection_session("hubspot", Origin("http", "crm.test", port), "hs-unit", NONE)
        monkeypatch.setattr(
            "leadflow.crmsync.policy.getaddrinfo_addresses", lambda host, port: ["127.0.0.1"]
        )
        with pytest.raises(CrmPolicyError, match="resolves to 127.0.0.1"):
            session.get(f"http://crm.test:{port}/crm/v3/objects/contacts")
        assert server.requests == []
        listed = connection_session(
            "hubspot",
            Origin("http", "crm.test", port),
            "hs-unit",
            parse_allowed_hosts(f"crm.test:{port}"),
        )
        answer = listed.get(f"http://crm.test:{port}/crm/v3/objects/contacts")
        assert answer.status_code == 200  # connected to the one address crm.test resolved to
        assert server.requests[-1]["headers"]["authorization"] == "Bearer hs-unit"


def test_the_session_retries_as_dlt_does(monkeypatch):
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.01")
    with sandbox("hubspot", token="hs-unit") as server:
        host, port = server.base_url.removeprefix("http://").split(":")
        session = connection_session(
            "hubspot", Origin("http", host, int(port)), "hs-unit", parse_allowed_hosts(host)
        )
        server.fail_next(503, count=2)
        assert session.get(server.base_url + "/crm/v3/objects/contacts").status_code == 200
        assert [r["status"] for r in server.requests] == [503, 503, 200]
    assert isinstance(session, requests.Session)


def test_every_leadflow_crm_setting_is_known_as_a_setting():
    """A LEADFLOW_CRM_… variable leadflow reads is a setting, never a connection's secret (nor
    redacted as one): settings.CRM_SETTINGS must name every one the package mentions."""
    import re
    from pathlib import Path

    import leadflow
    from leadflow.settings import CRM_SETTINGS

    package = Path(leadflow.__file__).parent
    named = {
        name
        for path in package.rglob("*.py")
        for name in re.findall(r"\bLEADFLOW_CRM_[A-Z0-9_]*[A-Z0-9]\b", path.read_text())
    }
    assert named <= CRM_SETTINGS
