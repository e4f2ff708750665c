"""normalize_referral: phone (lead's region) or e-mail handles, invalid and self referrals."""

from __future__ import annotations

import pytest

from leadflow.ingest.normalize import NormalizeContext, normalize_rows
from leadflow.ingest.referrals import normalize_referral
from leadflow.leads.records import RawRow

ORG_US = "11111111-1111-4111-8111-111111111111"
ORG_GB = "22222222-2222-4222-8222-222222222222"


@pytest.mark.parametrize(
    ("value", "region", "handle"),
    [
        ("(212) 456-7890", "US", "+12124567890"),  # national, US
        ("212.456.7890", "US", "+12124567890"),
        ("020 7946 0958", "GB", "+442079460958"),  # national, GB
        ("07911 123456", "GB", "+447911123456"),
        ("+44 20 7946 0958", "US", "+442079460958"),  # +E.164 whatever the region
        ("+1 212 456 7890", "GB", "+12124567890"),
        ("tel:+1-212-456-7890", "US", "+12124567890"),
        ("  Jane.Doe@Example.COM ", "US", "jane.doe@example.com"),  # e-mail, lower-cased
        ("mailto:Bob@Example.org", "GB", "bob@example.org"),
    ],
)
def test_phone_or_email_handles(value: str, region: str, handle: str) -> None:
    assert normalize_referral(value, region) == (handle, None)


def test_national_number_uses_the_leads_region() -> None:
    # a GB national number means nothing dialled from the US: not a referral
    assert normalize_referral("020 7946 0958", "US") == (None, "invalid_referral: 020 7946 0958")


@pytest.mark.parametrize(
    ("value", "note"),
    [
        ("Jane Doe", "invalid_referral: Jane Doe"),
        ("12345", "invalid_referral: 12345"),
        ("jane@", "invalid_referral: jane@"),
        ("  call Bob ", "invalid_referral: call Bob"),
        ("x" * 250, "invalid_referral: " + "x" * 200 + "…"),
    ],
)
def test_garbage_is_noted(value: str, note: str) -> None:
    assert normalize_referral(value, "US") == (None, note)


@pytest.mark.parametrize("value", ["", "   ", None])
def test_empty_is_nothing(value: str | None) -> None:
    assert normalize_referral(value, "US") == (None, None)


def test_self_referral_is_dropped() -> None:
    own = {"own_phone": "+12124567890", "own_email": "jane@example.com"}
    assert normalize_referral("212-456-7890", "US", **own) == (
        None,
        "self_referral: +12124567890",
    )
    assert normalize_referral("JANE@example.com", "US", **own) == (
        None,
        "self_referral: jane@example.com",
    )
    assert normalize_referral("bob@example.com", "US", **own) == ("bob@example.com", None)
    assert normalize_referral("(415) 555-2671", "US", own_phone="+12124567890") == (
        "+14155552671",
        None,
    )


def _normalized(referred_by: str, org: str = ORG_US, **values: str):
    values = {"phone_number": "(212) 456-7890", "referred_by": referred_by, **values}
    ctx = NormalizeContext(
        known_organizations=frozenset({ORG_US, ORG_GB}),
        regions={ORG_US: "US", ORG_GB: "GB"},
        organization_id=org,
    )
    clean, rejects = normalize_rows([RawRow(1, values, dict(values))], ctx)
    assert not rejects
    return clean[0]


def test_normalize_rows_keeps_the_lead_whatever_the_referral() -> None:
    lead = _normalized(" (646) 285-8916 ")
    assert (lead.referred_by, lead.notes) == ("+16462858916", [])
    lead = _normalized("Emily from the job fair", notes="met twice")
    assert (lead.referred_by, lead.notes) == (
        None,
        ["met twice", "invalid_referral: Emily from the job fair"],
    )
    lead = _normalized("JANE@example.com", email="Jane@Example.com")
    assert (lead.referred_by, lead.notes) == (None, ["self_referral: jane@example.com"])
    lead = _normalized("+1 212 456 7890")
    assert (lead.referred_by, lead.notes) == (None, ["self_referral: +12124567890"])


def test_normalize_rows_reads_the_referral_in_the_organizations_region() -> None:
    lead = _normalized("020 7946 0958", org=ORG_GB, phone_number="07911 123456")
    assert lead.referred_by == "+442079460958"
