"""Field-level cleaning: names, e-mails, companies, tags, lead sources and formula screening.

Every function is total over `str` (never raises on odd input) and cheap: they run on every
row of files up to a million rows, inside worker processes.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Inside a lower-cased name, the letter that starts the name or follows a space, hyphen,
# apostrophe (straight or curly), period or parenthesis: "o'brien" -> "O'Brien".
_NAME_WORD_START_RE = re.compile(r"(^|[\s\-'’.(])(\w)")
# Inside a name word, the separators after which a new capital is expected: "O'Neil", "Berners-Lee".
_NAME_SEGMENT_SPLIT_RE = re.compile(r"[\-'’.(]")

# Pragmatic e-mail syntax (not RFC 5322): a local part without spaces or "@", a domain of
# dot-separated labels of letters/digits/hyphens (Unicode letters allowed for IDNs), and a
# top-level label of two or more letters (or an xn-- punycode label).
_EMAIL_LOCAL_RE = re.compile(r"[^\s@\"(),:;<>\[\]\\]+")
_EMAIL_LABEL_RE = re.compile(r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?")
_EMAIL_TLD_RE = re.compile(r"(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})")
_MAX_EMAIL_LENGTH = 254
_MAX_LOCAL_LENGTH = 64

#: entries per cache of a pure cleaning function (per process: each worker has its own)
_CACHE_SIZE = 16_384

_TAG_SPLIT_RE = re.compile(r"[,;|]")

# Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
_FORMULA_PREFIXES = "+-@"
_FORMULA_MARKERS = ("|", "!", "=")
# a function call right after the sign: "-SUM(", "@HYPERLINK(", "+ cmd("
_FORMULA_CALL_RE = re.compile(r"^[+\-@]\s*[A-Za-z_][A-Za-z0-9_.]*\(")
_FORMULA_FIRST_CHARS = frozenset("=+-@\t\r")

_SOURCE_KEY_RE = re.compile(r"[\W_]+")
_SLUG_RE = re.compile(r"[\W_]+")
_MAX_SLUG_LENGTH = 50

#: the longest company name kept (the check constraint on leads.company allows 500)
MAX_COMPANY_CHARS = 500


@lru_cache(maxsize=_CACHE_SIZE)
def clean_name(value: str) -> str:
    """Trim and collapse spaces; re-case names typed in ALL CAPS or all lower case, and words
    typed with caps lock on ("mARCUS", "bERNERS-lEE").

    Other mixed case is left alone because it is usually deliberate (McDonald, DeShawn, van
    Dyk, d'Angelo). Cached: names repeat a lot in a file (a hit costs ~0.1 us, the work ~2 us).
    """
    name = " ".join(value.split())
    if not name:
        return name
    if name.isupper() or name.islower():
        return _title(name)
    return " ".join(_uninvert(word) if inverted_caps(word) else word for word in name.split(" "))


def inverted_caps(word: str) -> bool:
    """True for a word typed with caps lock on: its first letter lower case and most of its
    other letters upper case ("mARCUS", "oMAR", "bERNERS-lEE", "mCdONALD"). A lower-case
    particle before a capitalized name ("deVries", "d'Angelo", "van") is not: there the other
    letters are mostly lower case."""
    letters = [c for c in word if c.isalpha()]
    if len(letters) < 2 or not letters[0].islower():
        return False
    upper = sum(1 for c in letters[1:] if c.isupper())
    lower = sum(1 for c in letters[1:] if c.islower())
    return upper > lower


def _uninvert(word: str) -> str:
    """Undo caps lock (swap the case back: "mCdONALD" -> "McDonald", "o'nEIL" -> "O'Neil")
    when that gives a plausible name word, no two capitals in a row in any part; otherwise
    re-case it as an all-caps word is ("vanDER" -> "Vander")."""
    swapped = "".join(_swap(c) for c in word)
    for part in _NAME_SEGMENT_SPLIT_RE.split(swapped):
        if any(a.isupper() and b.isupper() for a, b in zip(part, part[1:], strict=False)):
            return _title(word)
        if part[:1].islower():
            return _title(word)
    return swapped


def _swap(char: str) -> str:
    swapped = char.swapcase()
    return swapped if len(swapped) == 1 else char  # "ß".swapcase() is "SS": keep the letter


def _title(name: str) -> str:
    return _NAME_WORD_START_RE.sub(_title_match, name.lower())


def _title_match(match: re.Match[str]) -> str:
    return match.group(1) + match.group(2).title()


def split_full_name(value: str) -> tuple[str, str]:
    """Split a single name column into (first, last): "Public, Jane" or "Jane Q. Public".

    With a comma the part before it is the last name; otherwise the first word is the first
    name and the rest the last name ("Jane Q. Public" -> ("Jane", "Q. Public")): cheap and
    predictable beats guessing middle names.
    """
    text = " ".join(value.split())
    if not text:
        return "", ""
    if "," in text:
        last, _, first = text.partition(",")
        first, last = first.strip(" ,"), last.strip(" ,")
        if first and last:
            return clean_name(first), clean_name(last)
        text = first or last
    first, _, last = text.partition(" ")
    return clean_name(first), clean_name(last)


def clean_company(value: str) -> str | None:
    """The lead's employer as the file wrote it: trimmed, runs of whitespace as one space.

    Case is kept: company names are brands ("eBay", "IBM", "McKinsey & Company"), so re-casing
    would be wrong more often than right, and `clean_name`'s ALL-CAPS rescue would turn "IBM"
    into "Ibm". None when empty; cut at MAX_COMPANY_CHARS so one giant cell cannot fail the
    file's load on the column's length check.
    """
    company = " ".join(value.split())
    if len(company) > MAX_COMPANY_CHARS:
        company = company[:MAX_COMPANY_CHARS].rstrip()
    return company or None


def clean_email(value: str) -> tuple[str | None, str | None]:
    """Trim and lower-case an e-mail; (email, None), (None, note) if invalid, (None, None) if empty.

    An invalid e-mail never rejects the lead: the phone is what matters, the note keeps the
    original for a human.
    """
    original = value.strip()
    if not original:
        return None, None
    email = original.lower()
    if email.startswith("mailto:"):
        email = email[7:].strip()
    if _valid_email(email):
        return email, None
    return None, f"invalid_email: {original}"


def _valid_email(email: str) -> bool:
    if len(email) > _MAX_EMAIL_LENGTH or email.count("@") != 1:
        return False
    local, _, domain = email.partition("@")
    if not local or len(local) > _MAX_LOCAL_LENGTH or not _EMAIL_LOCAL_RE.fullmatch(local):
        return False
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    return _valid_domain(domain)


@lru_cache(maxsize=_CACHE_SIZE)
def _valid_domain(domain: str) -> bool:
    """Cached: a file's e-mails share a few domains."""
    labels = domain.split(".")
    if len(labels) < 2:
        return False
    if not all(_EMAIL_LABEL_RE.fullmatch(label) for label in labels[:-1]):
        return False
    return _EMAIL_TLD_RE.fullmatch(labels[-1]) is not None


def clean_tags(value: str) -> list[str]:
    """Split on , ; or |, trim, lower-case, drop empties and repeats (first seen order kept)."""
    if not value:
        return []
    return list(_tags(value))  # a new list each time: a lead's tags grow when rows merge


@lru_cache(maxsize=_CACHE_SIZE)
def _tags(value: str) -> tuple[str, ...]:
    tags: dict[str, None] = {}
    for part in _TAG_SPLIT_RE.split(value):
        tag = " ".join(part.lower().split())
        if tag:
            tags.setdefault(tag, None)
    return tuple(tags)


def looks_like_formula(value: str) -> bool:
    """True if a spreadsheet would run the cell as a formula (CSV/formula injection).

    `=` always counts; `+`, `-` and `@` only with a formula-ish character (`|`, `!`, `=`) or a
    function call right after them, so "- no answer", "- called back (left vm)" or "@home"
    stay data. A leading tab or CR is skipped first, as Excel does.
    """
    if not value or value[0] not in _FORMULA_FIRST_CHARS:
        return False
    text = value.lstrip("\t\r")
    if not text:
        return False
    first = text[0]
    if first == "=":
        return True
    if first in _FORMULA_PREFIXES:
        return any(marker in text for marker in _FORMULA_MARKERS) or bool(
            _FORMULA_CALL_RE.match(text)
        )
    return False


def _source_key(value: str) -> str:
    """Lower-case, punctuation and whitespace collapsed to single spaces: "FB-Ads" -> "fb ads"."""
    return _SOURCE_KEY_RE.sub(" ", value.lower()).strip()


def _slug(value: str) -> str:
    """Lower-case, runs of non-alphanumerics as one "_", trimmed, at most 50 characters."""
    return _SLUG_RE.sub("_", value.lower()).strip("_")[:_MAX_SLUG_LENGTH].rstrip("_")


_BUILTIN_SOURCE_SPELLINGS: dict[str, tuple[str, ...]] = {
    "facebook": (
        "facebook",
        "fb",
        "facebook ads",
        "facebook lead ads",
        "fb ads",
        "fb lead ads",
        "meta",
        "meta ads",
    ),
    "linkedin": ("linkedin", "linked in", "li", "linkedin ads"),
    "indeed": ("indeed", "indeed.com"),
    "google": ("google", "google ads", "adwords", "google adwords"),
    "referral": (
        "referral",
        "referrals",
        "referred",
        "friend referral",
        "employee referral",
        "external referral",
        "partner referral",
    ),
    "website": ("website", "web", "site", "web form", "landing page", "organic"),
    "job_fair": ("job fair", "career fair", "jobfair"),
    "craigslist": ("craigslist",),
    "ziprecruiter": ("ziprecruiter", "zip recruiter"),
    "instagram": ("instagram",),
    "tiktok": ("tiktok", "tik tok"),
    "twitter": ("twitter", "x"),
    "email": ("email", "email campaign", "newsletter"),
    "cold_call": ("cold call", "outbound"),
    "event": ("event",),
}

#: built-in spelling -> canonical source; keys as typed (matching normalizes them)
BUILTIN_SOURCE_ALIASES: dict[str, str] = {
    spelling: canonical
    for canonical, spellings in _BUILTIN_SOURCE_SPELLINGS.items()
    for spelling in (canonical, *spellings)
}


class SourceMapper:
    """Maps the many spellings of a lead source to one canonical value.

    Matching ignores case, punctuation and spacing ("Facebook-Ads", "facebook ads" and
    "FacebookAds" are one key). Unknown sources become a slug instead of being dropped, so
    attribution is never lost; `extra` aliases (the org's config) override the built-ins.
    """

    __slots__ = ("_aliases", "_cache")

    def __init__(self, extra: dict[str, str] | None = None) -> None:
        self._aliases: dict[str, str] = {}
        for alias, canonical in BUILTIN_SOURCE_ALIASES.items():
            self._add(alias, canonical)
        for alias, canonical in (extra or {}).items():
            slug = _slug(canonical)
            if slug:
                self._add(alias, slug)
        self._cache: dict[str, str | None] = {}

    def _add(self, alias: str, canonical: str) -> None:
        key = _source_key(alias)
        if key:
            self._aliases[key] = canonical
            self._aliases[key.replace(" ", "")] = canonical

    def canonical(self, value: str) -> str | None:
        """Canonical source for `value`; None if empty; a slug of the value if unknown."""
        if not value:
            return None
        cached = self._cache.get(value)
        if cached is not None or value in self._cache:
            return cached
        key = _source_key(value)
        if not key:
            result = None
        else:
            result = self._aliases.get(key) or self._aliases.get(key.replace(" ", ""))
            if result is None:
                result = _slug(value) or None
        if len(self._cache) < 10_000:  # sources repeat a lot; bound memory on hostile input
            self._cache[value] = result
        return result
