"""The one redactor: every error text leadflow stores or prints about a remote system passes here
first (crm_sync_runs, `leadflow crm` output, Dagster failures, the alert webhook).

What it removes, wherever it appears in a text:
- the values of known secrets: the tokens read this process (`register_secret`), and the values
  of environment variables that hold secrets (names with TOKEN, SECRET, PASSWORD, API_KEY …, the
  CRM token variables, and the password of every URL-valued variable such as POSTGRES_URL), also
  URL-encoded;
- `api_token=…`, `access_token=…`, `password=…` and the like in a query string, a libpq string,
  a JSON or Python mapping (`"api_token": "…"`);
- `Authorization`, `x-api-token` and similar header values, and `Bearer …` anywhere;
- the password (or a lone token) in a URL's userinfo (`postgresql://user:…@host`).

Redaction is deliberately greedy: a false positive costs a word of an error message, a false
negative a credential in a database row or a chat channel.

`mask_url` is the display form for connection URLs a person reads (`leadflow local up`/`status`): the
password masked, user, host and port kept (`postgresql://leadflow:****@db:5432/crm`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, overload
from urllib.parse import quote, quote_plus, urlsplit

from leadflow.settings import CRM_SETTINGS, Settings

REDACTED = "[REDACTED]"
#: shorter values are never treated as secrets by value (they would blank common words)
MIN_SECRET_LENGTH = 6

#: variable names whose values are secrets
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|CREDENTIAL|PRIVATE_KEY|WEBHOOK")
#: prefixes of the variables that hold CRM tokens (see leadflow/crmsync/policy.py)
SECRET_VARIABLE_PREFIXES = ("HUBSPOT_", "SALESFORCE_", "SF_", "PIPEDRIVE_", "LEADFLOW_CRM_")

_KEYS = (
    r"api[_-]?token|access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token"
    r"|client[_-]?secret|api[_-]?key|apikey|password|passwd|pwd|secret|token|signature|sig"
)
#: key=value / key: value / "key": "value" (also %3D, the URL-encoded "=")
_KEY_VALUE = re.compile(
    rf"""(?P<key>(?<![A-Za-z0-9])(?:{_KEYS}))(?P<sep>["']?\s*(?:=|:|%3D)\s*["']?)"""
    r"""(?P<value>[^\s&"',;}\])]+)""",
    re.IGNORECASE,
)
_HEADER = re.compile(
    r"""(?P<key>(?<![A-Za-z0-9-])(?:proxy-)?authorization|x-api-token|x-api-key|api-token"""
    r"""|cookie|set-cookie)(?P<sep>["']?\s*[:=]\s*["']?)"""
    r"""(?P<scheme>(?:bearer|basic|token|digest)\s+)?(?P<value>[^\s"',;}\]]+)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(?P<scheme>bearer)\s+(?P<value>[A-Za-z0-9._~+/=-]{4,})", re.IGNORECASE)
_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s:/?#@'\"]*)"
    r"(?P<password>:[^\s/?#@'\"]*)?@"
)

_registered: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret this process read (a CRM token), so every later redaction removes it."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _registered.add(value)


def _url_password(value: str) -> str | None:
    if "://" not in value:
        return None
    try:
        return urlsplit(value.strip()).password
    except ValueError:
        return None


def environment_secrets(environ: Mapping[str, str] | None = None) -> set[str]:
    """The values of the environment that are secrets (see the module docstring)."""
    environ = Settings(environ).environ
    found: set[str] = set()
    for name, value in environ.items():
        if not value:
            continue
        crm = name.startswith(SECRET_VARIABLE_PREFIXES) and name not in CRM_SETTINGS
        if crm or SECRET_NAME.search(name):
            found.add(value.strip())
        password = _url_password(value)
        if password:
            found.add(password)
    return {value for value in found if len(value) >= MIN_SECRET_LENGTH}


def known_secrets(extra: Iterable[str | None] = ()) -> list[str]:
    """Every secret value to remove, longest first (a token containing another goes whole)."""
    with _lock:
        values = set(_registered)
    values |= environment_secrets()
    values |= {v for v in extra if v and len(v) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def _replace_values(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            if form in text:
                text = text.replace(form, REDACTED)
    return text


_T = TypeVar("_T")


@overload
def redact(text: str, secrets: Iterable[str | None] = ()) -> str: ...


@overload
def redact(text: _T, secrets: Iterable[str | None] = ()) -> _T: ...


def redact(text: Any, secrets: Iterable[str | None] = ()) -> Any:
    """`text` without any secret (see the module docstring); `secrets` are removed besides the
    known ones. Anything not a str is returned as it is."""
    if not isinstance(text, str) or not text:
        return text
    text = _replace_values(text, known_secrets(secrets))
    text = _USERINFO.sub(_userinfo, text)
    text = _HEADER.sub(lambda m: m["key"] + m["sep"] + (m["scheme"] or "") + REDACTED, text)
    text = _BEARER.sub(lambda m: m["scheme"] + " " + REDACTED, text)
    return _KEY_VALUE.sub(_key_value, text)


def _userinfo(match: re.Match[str]) -> str:
    if match["password"] is None:  # a lone token as the user: https://TOKEN@host
        return match["scheme"] + (REDACTED + "@" if match["user"] else "@")
    return f"{match['scheme']}{match['user']}:{REDACTED}@"


def _key_value(match: re.Match[str]) -> str:
    if match["value"].startswith(REDACTED[:-1]):  # redacted already
        return match.group(0)
    return match["key"] + match["sep"] + REDACTED


def redact_value(value: Any, secrets: Iterable[str | None] = ()) -> Any:
    """`value` (a JSON-like structure: dicts, lists, strings) with every string redacted."""
    secrets = list(secrets)
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {key: redact_value(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item, secrets) for item in value]
    return value


# -- connection URLs shown to people --------------------------------------------------------------
URL_MASK = "****"

# scheme://netloc, the netloc running to the first path, query, fragment or white space
_URL = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<netloc>[^/?#\s]*)")
# password=… in a conninfo (key = value, maybe quoted) or a URL's query string
_PASSWORD_PARAM = re.compile(
    r"(?P<key>\b(?:ssl)?password\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|[^\s&'#]+)", re.IGNORECASE
)


def _mask_netloc(match: re.Match[str]) -> str:
    netloc = match["netloc"]
    userinfo, at, hosts = netloc.rpartition("@")  # a raw "@" in a password: the last one counts
    if not at:
        return match[0]
    user, colon, _password = userinfo.partition(":")
    if not colon:
        return match[0]  # no password (a user name only)
    return f"{match['scheme']}{user}:{URL_MASK}@{hosts}"


def mask_url(url: str | None) -> str | None:
    """A connection URL or conninfo with its password masked; None stays None."""
    if url is None:
        return None
    return _PASSWORD_PARAM.sub(lambda m: m["key"] + URL_MASK, _URL.sub(_mask_netloc, url))
