"""Identifiers as the database stores them: one canonicalizer for every UUID that comes in.

Organization, user and lead ids arrive as file cells, CLI options, Dagster partition keys,
metadata values, MongoDB documents (str or BSON Binary) and config JSON. They are compared and
put into SQL as the canonical lower-case hyphenated text, whatever the spelling.
"""

from __future__ import annotations

import uuid
from typing import Any


def canonical_uuid(value: Any) -> str | None:
    """`value` (str with any case, braces or surrounding blanks, uuid.UUID, or a BSON Binary of
    subtype 3/4) as its canonical string; None when it is not a UUID."""
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        return str(value)
    as_uuid = getattr(value, "as_uuid", None)  # bson.Binary
    if callable(as_uuid):
        try:
            return str(as_uuid())
        except ValueError:
            return None
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None


def require_uuid(value: Any, what: str, error: type[Exception] = ValueError) -> str:
    """canonical_uuid, or `error` saying "<what> <value> is not a UUID"."""
    canonical = canonical_uuid(value)
    if canonical is None:
        raise error(f"{what} {value!r} is not a UUID")
    return canonical
