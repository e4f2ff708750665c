"""normalize_phone: formats accepted, reasons given, and agreement with phonenumbers."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from leadflow.leads.phones import PhoneResult, normalize_phone
from leadflow.leads.records import RejectReason


@pytest.mark.parametrize(
    "raw",
    [
        "(212) 456-7890",
        "212-456-7890",
        "212.456.7890",
        "212 456 7890",
        "2124567890",
        "12124567890",
        "1-212-456-7890",
        "1 (212) 456-7890",
        "+1 212 456 7890",
        "+1 (212) 456-7890",
        "+1.212.456.7890",
        "+12124567890",
        "  (212) 456-7890  ",
        "011 1 212 456 7890",
        "00 1 212 456 7890",
        "tel:+1-212-456-7890",
    ],
)
def test_us_formats(raw: str) -> None:
    result = normalize_phone(raw, "US")
    assert result == PhoneResult("+12124567890", "fixed_line_or_mobile", None, None)


@pytest.mark.parametrize(
    "raw",
    [
        "212-456-7890 x123",
        "212-456-7890x123",
        "212-456-7890 X 123",
        "212-456-7890 ext. 45",
        "212-456-7890 ext 45",
        "212-456-7890 ext:45",
        "212-456-7890 extension 7",
        "212-456-7890 #12",
        "(212) 456-7890, ext. 9",
        "tel:+1-212-456-7890;ext=314",
        "+1 212 456 7890 extension 314",
    ],
)
def test_extensions_are_stripped_not_errors(raw: str) -> None:
    assert normalize_phone(raw, "US").e164 == "+12124567890"


@pytest.mark.parametrize(
    ("raw", "region", "e164", "phone_type"),
    [
        ("+44 20 7123 4567", "GB", "+442071234567", "fixed_line"),
        ("020 7123 4567", "GB", "+442071234567", "fixed_line"),
        ("07911 123456", "GB", "+447911123456", "mobile"),
        ("0117 496 0000", "GB", "+441174960000", "fixed_line"),  # not mangled as 011 ...
        ("0044 20 7123 4567", "GB", "+442071234567", "fixed_line"),
        ("0412 345 678", "AU", "+61412345678", "mobile"),
        ("(02) 9876 5432", "AU", "+61298765432", "fixed_line"),
        ("+61 2 9876 5432", "AU", "+61298765432", "fixed_line"),
        ("0011 61 412 345 678", "AU", "+61412345678", "mobile"),  # AU's own exit code
        ("1-800-356-9377", "US", "+18003569377", "toll_free"),
        ("+44 20 7123 4567", "US", "+442071234567", "fixed_line"),  # + works from anywhere
    ],
)
def test_other_regions_and_types(raw: str, region: str, e164: str, phone_type: str) -> None:
    assert normalize_phone(raw, region) == PhoneResult(e164, phone_type, None, None)


def test_international_prefixes() -> None:
    # 00 is read as + from anywhere (it is not the dial-out code of the US, but no US
    # national number starts with 0, so the reading is unambiguous)
    assert normalize_phone("00 44 20 7123 4567", "US").e164 == "+442071234567"
    assert normalize_phone("0044 20 7123 4567", "AU").e164 == "+442071234567"
    assert normalize_phone("(00) 44 20 7123 4567", "US").e164 == "+442071234567"
    # 011 only from NANPA regions
    assert normalize_phone("011 44 20 7123 4567", "US").e164 == "+442071234567"
    assert normalize_phone("011 44 20 7123 4567", "CA").e164 == "+442071234567"
    assert normalize_phone("011 44 20 7123 4567", "JM").e164 == "+442071234567"
    gb = normalize_phone("011 44 20 7123 4567", "GB")
    assert gb.reason == RejectReason.INVALID_PHONE
    assert "011 is the international prefix from US/Canada" in (gb.detail or "")
    assert "+442071234567" in (gb.detail or "")


def test_region_is_case_insensitive() -> None:
    assert normalize_phone("0412 345 678", "au").e164 == "+61412345678"


@pytest.mark.parametrize(
    "raw", ["1-800-FLOWERS", "555-CALL-NOW", "N/A", "call me", "212 456 7890 ext"]
)
def test_letters_are_invalid(raw: str) -> None:
    assert normalize_phone(raw, "US") == PhoneResult(
        None, None, RejectReason.INVALID_PHONE, "contains letters"
    )


@pytest.mark.parametrize("raw", ["", "   ", "\t", "\n"])
def test_empty_is_missing(raw: str) -> None:
    result = normalize_phone(raw, "US")
    assert result.reason == RejectReason.MISSING_PHONE
    assert result.e164 is None


@pytest.mark.parametrize(
    ("raw", "region", "hint"),
    [
        ("020 7946 0958", "US", "valid as GB: write it as +442079460958"),
        ("0117 496 0000", "US", "valid as GB: write it as +441174960000"),
        ("07911 123456", "US", "valid as GB: write it as +447911123456"),
        ("0412 345 678", "US", "valid as AU: write it as +61412345678"),
        ("(416) 967-1111", "GB", "valid as CA: write it as +14169671111"),
    ],
)
def test_valid_elsewhere_says_where(raw: str, region: str, hint: str) -> None:
    result = normalize_phone(raw, region)
    assert result.reason == RejectReason.INVALID_PHONE
    assert result.detail is not None
    assert result.detail.startswith(f"not a valid {region} number")
    assert hint in result.detail


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("212-456-78", "too short"),
        ("+1 619 372 1251355", "too long"),
        ("---", "no digits"),
        ("+999 123", "unknown country code"),
        ("123-456-7890", "not a valid US number"),
        ("0" * 150, "too long to be a phone number"),
    ],
)
def test_invalid_numbers_explain_why(raw: str, words: str) -> None:
    result = normalize_phone(raw, "US")
    assert result.e164 is None
    assert result.reason == RejectReason.INVALID_PHONE
    assert words in (result.detail or "")


def test_too_short_does_not_suggest_another_country() -> None:
    # (215) 994-74 is a valid Irish number, but it is obviously a US number missing digits
    result = normalize_phone("(215) 994-74", "US")
    assert result.detail == "not a valid US number: too short"


def test_unknown_region_is_an_invalid_phone_not_a_crash() -> None:
    result = normalize_phone("(212) 456-7890", "XX")
    assert result.reason == RejectReason.INVALID_PHONE
    assert "unknown phone region" in (result.detail or "")
    assert normalize_phone("+1 212 456 7890", "XX").e164 == "+12124567890"


def test_fullwidth_digits() -> None:
    assert normalize_phone("２１２４５６７８９０", "US").e164 == "+12124567890"


def _reference(raw: str, region: str) -> tuple[str | None, str | None]:
    """What plain phonenumbers says: (E.164, type name) if valid, else (None, None)."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None, None
    if not phonenumbers.is_valid_number(number):
        return None, None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    ntype = phonenumbers.number_type(number)
    names = {v: k.lower() for k, v in vars(phonenumbers.PhoneNumberType).items() if k.isupper()}
    return e164, names[ntype]


@pytest.mark.parametrize("region", ["US", "CA", "GB", "AU", "DE", "IN", "JM", "FR"])
def test_agrees_with_phonenumbers_on_random_numbers(region: str) -> None:
    """The fast paths (direct NANPA build, precompiled typing) change nothing observable."""
    rng = random.Random(region)
    formats = ["{d}", "({a}) {b}-{c}", "+1 {a} {b} {c}", "1-{a}-{b}-{c}", "0{d}", "+{d}", "+44{d}"]
    checked = valid = 0
    for _ in range(1500):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.choice([7, 9, 10, 10, 11])))
        a, b, c = digits[:3], digits[3:6], digits[6:]
        raw = rng.choice(formats).format(d=digits, a=a, b=b, c=c)
        if raw.lstrip("+").startswith(("00", "011")):
            continue  # our prefix rules deliberately go beyond phonenumbers there
        expected = _reference(raw, region)
        got = normalize_phone(raw, region)
        assert (got.e164, got.phone_type) == expected, raw
        checked += 1
        valid += expected[0] is not None
    assert checked > 1000
    assert valid > 50  # the sample really exercised the valid path


def test_agrees_with_phonenumbers_on_known_valid_numbers() -> None:
    for region in ("US", "CA", "GB", "AU", "IE", "DE", "FR", "MX", "NZ", "ZA", "IN", "ES"):
        for ntype in (
            phonenumbers.PhoneNumberType.FIXED_LINE,
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.TOLL_FREE,
            phonenumbers.PhoneNumberType.VOIP,
        ):
            example = phonenumbers.example_number_for_type(region, ntype)
            if example is None:
                continue
            national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
            for raw in (national, phonenumbers.format_number(example, 1)):
                assert (
                    normalize_phone(raw, region).e164,
                    normalize_phone(raw, region).phone_type,
                ) == _reference(raw, region), (region, raw)
