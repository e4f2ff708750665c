"""Phone numbers to E.164, with a reason a human can act on when a number is rejected.

This runs once per imported row (up to a million per file), so the happy path is one
precompiled regex search, one `phonenumbers.parse` and one type lookup; the expensive work
(stripping extensions, probing other regions) only happens for the rare messy input.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import phonenumbers
from phonenumbers import (
    NumberParseException,
    PhoneMetadata,
    PhoneNumberDesc,
    PhoneNumberFormat,
    PhoneNumberType,
    re_util,
)
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, ValidationResult

from leadflow.leads.records import RejectReason

# phonenumbers compiles its patterns through `re`'s small cache, which it overflows (parse
# alone uses hundreds): its own unbounded pattern cache avoids recompiling on every call.
re_util.enable_pattern_cache()

#: regions that share +1 and dial out with 011 (US, CA, PR, JM, ...)
NANPA_REGIONS: frozenset[str] = frozenset(COUNTRY_CODE_TO_REGION_CODE[1])

#: where else an invalid number is tried, to tell the user which country it belongs to
ALTERNATE_REGIONS: tuple[str, ...] = (
    "US",
    "GB",
    "CA",
    "AU",
    "IE",
    "IN",
    "DE",
    "FR",
    "ES",
    "MX",
    "NZ",
    "ZA",
)

#: longer input is not a phone number; phonenumbers itself gives up at 250 characters
MAX_PHONE_LENGTH = 100

# PhoneNumberType int -> "mobile", "fixed_line", ...; UNKNOWN deliberately absent (-> None)
_TYPE_NAMES: dict[int, str] = {
    value: name.lower()
    for name, value in vars(PhoneNumberType).items()
    if name.isupper() and isinstance(value, int) and value != PhoneNumberType.UNKNOWN
}

# An extension at the end: "x123", "ext. 45", "ext 45", "ext:45", "extension 7", "#12",
# and the tel: URI form ";ext=12".
_EXTENSION_RE = re.compile(
    r"\s*(?:[,;]\s*)?(?:(?:extension|ext\.?|x)\s*[:.=]?|#)\s*\d{1,10}\s*$", re.IGNORECASE
)
# An RFC 3966 URI prefix, as CRMs and click-to-call exports write it: "tel:+1-212-...".
_TEL_PREFIX_RE = re.compile(r"^tel:\s*", re.IGNORECASE)
# Any letter (Unicode aware): a quick screen for the happy path, which has none.
_LETTER_RE = re.compile(r"[^\W\d_]")
# Leading punctuation before an international "00"/"011" (e.g. "(00) 44 ...").
_LEADING_PUNCT_RE = re.compile(r"^[\s().\-/]+")
_NON_DIGITS_RE = re.compile(r"\D")
# punctuation allowed in the NANPA fast path (deleted before counting digits)
_NANPA_PUNCT = str.maketrans("", "", " ()-.+")

_POSSIBLE_REASONS = {
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "wrong number of digits",
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
}


class PhoneResult(NamedTuple):
    """Outcome of normalizing one phone cell: E.164 and type, or a reason and detail.

    A NamedTuple, not a frozen dataclass: made once per imported row, and a frozen
    dataclass's __init__ costs ~1 us more (measured)."""

    e164: str | None
    phone_type: str | None  # lower-case PhoneNumberType name; None if unknown
    reason: str | None  # None when valid, else RejectReason.INVALID_PHONE / MISSING_PHONE
    detail: str | None  # human explanation when invalid


_MISSING = PhoneResult(None, None, RejectReason.MISSING_PHONE, "phone number is empty")


def _invalid(detail: str) -> PhoneResult:
    return PhoneResult(None, None, RejectReason.INVALID_PHONE, detail)


class _TypeMatcher:
    """`phonenumbers`' number typing for one region, with its patterns compiled once.

    Same logic as phonenumbers' internal type helper (general description, then the special
    types in its order, then fixed line / mobile), which otherwise goes through a regex cache
    lookup per pattern per call. Pinned to phonenumbers' own answers by the unit tests.
    """

    __slots__ = ("_general", "_fixed", "_mobile", "_same_fixed_mobile", "_special")

    _SPECIAL = (
        ("premium_rate", PhoneNumberType.PREMIUM_RATE),
        ("toll_free", PhoneNumberType.TOLL_FREE),
        ("shared_cost", PhoneNumberType.SHARED_COST),
        ("voip", PhoneNumberType.VOIP),
        ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
        ("pager", PhoneNumberType.PAGER),
        ("uan", PhoneNumberType.UAN),
        ("voicemail", PhoneNumberType.VOICEMAIL),
    )

    def __init__(self, metadata: PhoneMetadata) -> None:
        self._general = self._desc(metadata.general_desc)
        self._fixed = self._desc(metadata.fixed_line)
        self._mobile = self._desc(metadata.mobile)
        self._same_fixed_mobile = bool(metadata.same_mobile_and_fixed_line_pattern)
        self._special = [
            (desc, ntype)
            for attr, ntype in self._SPECIAL
            if (desc := self._desc(getattr(metadata, attr))) is not None
        ]

    @staticmethod
    def _desc(desc: PhoneNumberDesc | None) -> tuple[frozenset[int], re.Pattern[str]] | None:
        if desc is None or not desc.national_number_pattern:
            return None
        return frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern)

    @staticmethod
    def _matches(nsn: str, desc: tuple[frozenset[int], re.Pattern[str]] | None) -> bool:
        if desc is None:
            return False
        lengths, pattern = desc
        if lengths and len(nsn) not in lengths:
            return False
        return pattern.fullmatch(nsn) is not None

    def number_type(self, nsn: str) -> int:
        matches = self._matches
        if not matches(nsn, self._general):
            return PhoneNumberType.UNKNOWN
        for desc, ntype in self._special:
            if matches(nsn, desc):
                return ntype
        if matches(nsn, self._fixed):
            if self._same_fixed_mobile or matches(nsn, self._mobile):
                return PhoneNumberType.FIXED_LINE_OR_MOBILE
            return PhoneNumberType.FIXED_LINE
        if not self._same_fixed_mobile and matches(nsn, self._mobile):
            return PhoneNumberType.MOBILE
        return PhoneNumberType.UNKNOWN


_MATCHERS: dict[int, _TypeMatcher | None] = {}


def _main_matcher(country_code: int) -> _TypeMatcher | None:
    """Typing for a calling code's main region, when typing may start there (else None).

    `region_code_for_number` tries the main region (US for +1, GB for +44) first and, when it
    has no `leading_digits`, picks it iff the number is valid there; so a valid type from the
    main region is exactly what `number_type`/`is_valid_number` would say.
    """
    if country_code in _MATCHERS:
        return _MATCHERS[country_code]
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    matcher = None
    if regions:
        metadata = PhoneMetadata.metadata_for_region(regions[0], None)
        if metadata is not None and metadata.leading_digits is None:
            matcher = _TypeMatcher(metadata)
    _MATCHERS[country_code] = matcher
    return matcher


def _number_type(number: phonenumbers.PhoneNumber) -> int:
    """`phonenumbers.number_type`, UNKNOWN iff not `is_valid_number`; fast for the common case.

    The public calls resolve the region first, which for +1 means validating against the US
    metadata, then type against it again: the same pattern matching two or three times.
    """
    country_code = number.country_code
    if country_code is None:  # never for a parsed number (nor valid in any region without)
        return PhoneNumberType.UNKNOWN
    matcher = _main_matcher(country_code)
    if matcher is not None:
        ntype = matcher.number_type(phonenumbers.national_significant_number(number))
        if ntype != PhoneNumberType.UNKNOWN:
            return ntype
        if len(COUNTRY_CODE_TO_REGION_CODE[country_code]) == 1:
            return PhoneNumberType.UNKNOWN
    if phonenumbers.region_code_for_number(number) is None:
        return PhoneNumberType.UNKNOWN
    return phonenumbers.number_type(number)


def _parse_valid(text: str, region: str) -> tuple[phonenumbers.PhoneNumber | None, int]:
    """Parse and type a number; (number, type) with type UNKNOWN when it is not valid."""
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None, PhoneNumberType.UNKNOWN
    except Exception:  # noqa: BLE001 - a parser bug on odd input must not kill the import
        return None, PhoneNumberType.UNKNOWN
    return number, _number_type(number)


def _success(number: phonenumbers.PhoneNumber, ntype: int) -> PhoneResult:
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return PhoneResult(e164, _TYPE_NAMES.get(ntype), None, None)


def _nanpa_fast(text: str) -> PhoneResult | None:
    """Plain 10/11-digit NANPA input ("(212) 456-7890", "+1 212.456.7890") without parsing.

    For such input `phonenumbers.parse` yields country code 1 and the last ten digits, so the
    number can be built directly; only a VALID result is returned, anything else (None) goes
    through the full parser, so this can never accept what the parser would not.
    """
    digits = text.translate(_NANPA_PUNCT)
    if not (digits.isdigit() and digits.isascii()):
        return None
    plus = text[0] == "+"
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    elif plus or len(digits) != 10:
        return None
    if digits[0] in "01":
        return None
    matcher = _main_matcher(1)
    ntype = matcher.number_type(digits) if matcher is not None else PhoneNumberType.UNKNOWN
    if ntype == PhoneNumberType.UNKNOWN:
        return None  # maybe valid in another +1 region (CA, JM, ...): the full path decides
    return PhoneResult("+1" + digits, _TYPE_NAMES.get(ntype), None, None)


def normalize_phone(raw: str, region: str) -> PhoneResult:
    """Normalize one phone cell to E.164, dialed from `region` (ISO 3166 alpha-2)."""
    text = raw.strip() if raw else ""
    if not text:
        return _MISSING
    region = region.upper()
    if len(text) > MAX_PHONE_LENGTH:
        return _invalid(f"too long to be a phone number ({len(text)} characters)")

    if _LETTER_RE.search(text) or "#" in text:
        text = _EXTENSION_RE.sub("", _TEL_PREFIX_RE.sub("", text))
        if _LETTER_RE.search(text):
            # phonenumbers would turn 1-800-FLOWERS into digits; a CRM cannot dial that.
            return _invalid("contains letters")
        if not text:
            return _MISSING

    if region in NANPA_REGIONS and text.count("+") <= 1 and text.find("+") <= 0:
        fast = _nanpa_fast(text)
        if fast is not None:
            return fast

    number, ntype = _parse_valid(text, region)
    if number is not None and ntype != PhoneNumberType.UNKNOWN:
        return _success(number, ntype)

    # Slow path: international prefixes phonenumbers does not apply for this region.
    if not text.startswith("+"):
        digits = _LEADING_PUNCT_RE.sub("", text)
        retry = None
        if digits.startswith("00"):
            retry = "+" + digits[2:]
        elif digits.startswith("011") and region in NANPA_REGIONS:
            retry = "+" + digits[3:]
        if retry is not None:
            number2, ntype2 = _parse_valid(retry, region)
            if number2 is not None and ntype2 != PhoneNumberType.UNKNOWN:
                return _success(number2, ntype2)
    return _invalid(_explain(text, region, number))


_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}


def _explain(text: str, region: str, number: phonenumbers.PhoneNumber | None) -> str:
    """Say why a number is invalid and, if it is valid elsewhere, where and how to write it."""
    if region not in phonenumbers.SUPPORTED_REGIONS and not text.startswith("+"):
        return f"unknown phone region {region!r}: cannot read numbers without a +country code"
    if number is None:
        if not _NON_DIGITS_RE.sub("", text):
            return "not a phone number (no digits)"
        try:
            phonenumbers.parse(text, region)
        except NumberParseException as exc:
            return _PARSE_ERRORS.get(exc.error_type, "not a phone number")
        return "not a phone number"
    why = ""
    try:
        possible = phonenumbers.is_possible_number_with_reason(number)
    except Exception:  # noqa: BLE001 - only used to word the message
        possible = ValidationResult.IS_POSSIBLE
    if possible in _POSSIBLE_REASONS:
        why = f": {_POSSIBLE_REASONS[possible]}"
    if text.startswith("+"):
        return f"not a valid number{why}"
    base = f"not a valid {region} number{why}"
    if possible == ValidationResult.TOO_SHORT:
        return base  # digits missing: a typo, not another country's number
    digits = _NON_DIGITS_RE.sub("", text)
    if digits.startswith("011") and region not in NANPA_REGIONS:
        alt, alt_type = _parse_valid("+" + digits[3:], region)
        if alt is not None and alt_type != PhoneNumberType.UNKNOWN:
            e164 = phonenumbers.format_number(alt, PhoneNumberFormat.E164)
            return f"{base} (011 is the international prefix from US/Canada: write it as {e164})"
    for other in ALTERNATE_REGIONS:
        if other == region or not _could_be_national(digits, other):
            continue
        alt, alt_type = _parse_valid(text, other)
        if alt is not None and alt_type != PhoneNumberType.UNKNOWN:
            e164 = phonenumbers.format_number(alt, PhoneNumberFormat.E164)
            where = phonenumbers.region_code_for_number(alt)  # CA rather than US for +1 416
            if where not in ALTERNATE_REGIONS:
                where = other  # GB rather than GG (Guernsey) for 07911 ...
            return f"{base} (valid as {where}: write it as {e164})"
    return base


def _could_be_national(digits: str, region: str) -> bool:
    """Cheap pre-check before parsing in another region: does the digit count fit there?

    Parsing in all alternate regions costs ~1 ms per invalid row; most candidates are ruled
    out by length alone (with or without the region's national prefix).
    """
    lengths = _POSSIBLE_LENGTHS.get(region)
    if lengths is None:
        metadata = PhoneMetadata.metadata_for_region(region, None)
        if metadata is None or metadata.general_desc is None:
            return False
        lengths = (frozenset(metadata.general_desc.possible_length), metadata.national_prefix)
        _POSSIBLE_LENGTHS[region] = lengths
    possible, prefix = lengths
    if len(digits) in possible:
        return True
    if not prefix:
        return False
    return digits.startswith(prefix) and len(digits) - len(prefix) in possible


_POSSIBLE_LENGTHS: dict[str, tuple[frozenset[int], str | None]] = {}
