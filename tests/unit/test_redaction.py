"""The one redactor (leadflow.redaction): no token survives in a text leadflow stores or prints."""

from __future__ import annotations

import pytest

from leadflow.orchestration.alerts import failure_payload
from leadflow.redaction import (
    REDACTED,
    environment_secrets,
    mask_url,
    redact,
    redact_value,
    register_secret,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "500 Server Error for url: http://127.0.0.1:5000/v1/persons?sort=x&api_token=abc123&start=0",
            "500 Server Error for url: http://127.0.0.1:5000/v1/persons?sort=x&api_token=[REDACTED]&start=0",
        ),
        ("GET /x?access_token=tok-9&y=1", "GET /x?access_token=[REDACTED]&y=1"),
        ("url=/v1/persons%3Fapi_token%3Dabc123", "url=/v1/persons%3Fapi_token%3D[REDACTED]"),
        ("Authorization: Bearer pat-na1-0123", "Authorization: Bearer [REDACTED]"),
        ("{'Authorization': 'Bearer pat-na1-0123'}", "{'Authorization': 'Bearer [REDACTED]'}"),
        ('{"x-api-token": "pd-0123456"}', '{"x-api-token": "[REDACTED]"}'),
        ("headers x-api-token=pd-0123456 sent", "headers x-api-token=[REDACTED] sent"),
        ("sent bearer eyJhbGciOi.x.y to", "sent bearer [REDACTED] to"),
        ("postgresql://leadflow:s3cr3t@db:5432/x", "postgresql://leadflow:[REDACTED]@db:5432/x"),
        ("https://tok123@api.hubapi.com/x", "https://[REDACTED]@api.hubapi.com/x"),
        ("host=db user=u password=s3cr3t dbname=x", "host=db user=u password=[REDACTED] dbname=x"),
        (
            '{"client_secret": "abc", "refresh_token": "def"}',
            '{"client_secret": "[REDACTED]", "refresh_token": "[REDACTED]"}',
        ),
    ],
)
def test_patterns(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "hubspot connection 'acme' of organization summit: the CRM refused the token in"
        " HUBSPOT_TOKEN_ACME (HTTP 401 from https://api.hubapi.com); set a valid token",
        "HTTP 500 from http://127.0.0.1:5000 after retries",
        '{"secret_env": "HUBSPOT_TOKEN_ACME", "base_url": "https://acme.pipedrive.com/api"}',
        "password authentication failed for user leadflow",
        "token from $HUBSPOT_TOKEN_ACME",
    ],
)
def test_ordinary_texts_stay_as_they_are(text):
    assert redact(text) == text


def test_known_token_values_go_wherever_they_are():
    register_secret("pd-registered-0a1b2c")
    assert redact("echo: pd-registered-0a1b2c!") == f"echo: {REDACTED}!"
    assert redact("x=pd%2Fslash%2Bplus", secrets=["pd/slash+plus"]) == f"x={REDACTED}"
    assert redact("tiny t", secrets=["t"]) == "tiny t"  # too short to be a secret by value


def test_the_environments_secrets(monkeypatch):
    environ = {
        "HUBSPOT_TOKEN_ACME": "hs-value-1234",
        "LEADFLOW_CRM_ACME": "crm-value-1234",
        "MY_API_KEY": "key-value-1234",
        "LEADFLOW_ALERT_WEBHOOK": "https://hooks.slack.com/services/T1/B2/xyz",
        "POSTGRES_URL": "postgresql://u:db-password-1@h/x",
        "LEADFLOW_CRM_CRON": "30 1 * * *",  # a setting, not a secret
        "LEADFLOW_CRM_ALLOWED_HOSTS": "127.0.0.1:5000",
        "HOME": "/home/leadflow",
    }
    assert environment_secrets(environ) == {
        "hs-value-1234",
        "crm-value-1234",
        "key-value-1234",
        "db-password-1",
        "https://hooks.slack.com/services/T1/B2/xyz",  # a chat webhook's URL is its secret
    }
    monkeypatch.setenv("SF_TOKEN_X", "sf-secret-from-env")
    assert redact("oops sf-secret-from-env") == f"oops {REDACTED}"


def test_structures_are_redacted_string_by_string():
    value = {"error": "…&api_token=abc123", "n": 3, "list": ["Bearer abcdef"], "ok": True}
    assert redact_value(value) == {
        "error": "…&api_token=[REDACTED]",
        "n": 3,
        "list": ["Bearer [REDACTED]"],
        "ok": True,
    }
    assert redact(None) is None


def test_every_alert_is_redacted():
    payload = failure_payload(
        "crm_sync_job",
        "0123456789",
        "HTTP 500 for url: /v1/persons?api_token=abc123",
        ["raw_pipedrive"],
        {"note": "Bearer zyxwvu"},
    )
    assert "abc123" not in str(payload) and "zyxwvu" not in str(payload)
    assert payload["error"].endswith("api_token=[REDACTED]")


# -- connection URLs shown to people (leadflow up / status) ---------------------------------------
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://leadflow:s3cret@db:5432/crm", "postgresql://leadflow:****@db:5432/crm"),
        ("postgresql://leadflow@db:5432/crm", "postgresql://leadflow@db:5432/crm"),
        ("postgresql://db/crm", "postgresql://db/crm"),
        ("redis://:s3cret@cache:6379/0", "redis://:****@cache:6379/0"),
        ("rediss://default:s3cret@cache:6380", "rediss://default:****@cache:6380"),
        (
            "mongodb+srv://lf:s3cret@cluster.example.net/?authSource=admin",
            "mongodb+srv://lf:****@cluster.example.net/?authSource=admin",
        ),
        ("postgresql://u:p@ss@db/crm", "postgresql://u:****@db/crm"),  # a raw "@" in it
        ("postgresql://u:s3cret@h1:5432,h2:5432/crm", "postgresql://u:****@h1:5432,h2:5432/crm"),
        (
            "postgresql://db/crm?user=lf&password=s3cret&sslmode=require",
            "postgresql://db/crm?user=lf&password=****&sslmode=require",
        ),
        ("host=db user=lf password=s3cret dbname=crm", "host=db user=lf password=**** dbname=crm"),
        ("host=db password = 'se cret' dbname=crm", "host=db password = **** dbname=crm"),
        ("host=db sslpassword=s3cret", "host=db sslpassword=****"),
        ("bolt://127.0.0.1:7687", "bolt://127.0.0.1:7687"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert mask_url(shown) == shown  # masking is idempotent


def test_mask_url_keeps_none() -> None:
    assert mask_url(None) is None
