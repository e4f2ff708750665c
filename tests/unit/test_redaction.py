"""Masking passwords in what the command line prints."""

from __future__ import annotations

import pytest

from leadflow.redaction import mask_url, redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://leadflow:s3cret@db:5432/crm", "postgresql://leadflow:****@db:5432/crm"),
        ("postgresql://leadflow@db:5432/crm", "postgresql://leadflow@db:5432/crm"),
        ("postgresql://db/crm", "postgresql://db/crm"),
        ("redis://:s3cret@cache:6379/0", "redis://:****@cache:6379/0"),
        ("rediss://default:s3cret@cache:6380", "rediss://default:****@cache:6380"),
        ("mongodb+srv://lf:s3cret@cluster.example.net/?authSource=admin",
         "mongodb+srv://lf:****@cluster.example.net/?authSource=admin"),
        ("postgresql://u:p@ss@db/crm", "postgresql://u:****@db/crm"),  # a raw "@" in it
        ("postgresql://u:s3cret@h1:5432,h2:5432/crm", "postgresql://u:****@h1:5432,h2:5432/crm"),
        ("postgresql://db/crm?user=lf&password=s3cret&sslmode=require",
         "postgresql://db/crm?user=lf&password=****&sslmode=require"),
        ("host=db user=lf password=s3cret dbname=crm", "host=db user=lf password=**** dbname=crm"),
        ("host=db password = 'se cret' dbname=crm", "host=db password = **** dbname=crm"),
        ("host=db sslpassword=s3cret", "host=db sslpassword=****"),
        ("bolt://127.0.0.1:7687", "bolt://127.0.0.1:7687"),
    ],
)  # fmt: skip
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert mask_url(shown) == shown  # masking is idempotent


def test_mask_url_keeps_none() -> None:
    assert mask_url(None) is None


def test_redact_masks_urls_in_text_and_named_secrets() -> None:
    text = (
        "could not reach postgresql://lf:pgpw@db/crm; graph auth failed for neo4j/b0lt "
        "(password=qs1 given)"
    )
    assert redact(text, ["b0lt", None, ""]) == (
        "could not reach postgresql://lf:****@db/crm; graph auth failed for neo4j/**** "
        "(password=**** given)"
    )
