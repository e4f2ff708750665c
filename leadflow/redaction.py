"""Masking secrets in text that is printed or stored: the passwords of connection URLs
(`postgresql://leadflow:****@db:5432/crm`), of libpq conninfo strings and query parameters
(`password=****`), and any secret value the caller names (e.g. NEO4J_PASSWORD).

Pure string functions, no imports of the product: every command and step may use them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "****"

# scheme://netloc, the netloc running to the first path, query, fragment or white space
_URL = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<netloc>[^/?#\s]*)")
# password=… in a conninfo (key = value, maybe quoted) or a URL's query string
_PASSWORD_PARAM = re.compile(
    r"(?P<key>\b(?:ssl)?password\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|[^\s&'#]+)", re.IGNORECASE
)


def _mask_netloc(match: re.Match) -> str:
    netloc = match["netloc"]
    userinfo, at, hosts = netloc.rpartition("@")  # a raw "@" in a password: the last one counts
    if not at:
        return match[0]
    user, colon, _password = userinfo.partition(":")
    if not colon:
        return match[0]  # no password (a user name only)
    return f"{match['scheme']}{user}:{MASK}@{hosts}"


def mask_url(url: str | None) -> str | None:
    """A connection URL or conninfo with its password masked; None stays None."""
    if url is None:
        return None
    return _PASSWORD_PARAM.sub(lambda m: m["key"] + MASK, _URL.sub(_mask_netloc, url))


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every URL's and conninfo's password masked, and every value in `secrets`
    (passwords known to the caller, e.g. NEO4J_PASSWORD) replaced by the mask."""
    masked = mask_url(text) or ""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        masked = masked.replace(secret, MASK)
    return masked
