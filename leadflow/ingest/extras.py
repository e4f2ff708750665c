"""What a row carries beyond the lead's fields, kept on the lead within bounds.

A file's other columns and a CRM record's other properties become `leads.extra_fields`, a JSON
object of strings. Keys and values come from tenants: they are data only (never identifiers),
and bounded so that no file can grow a lead without limit. What a cap cuts is a note
(`extra_fields_cut`), never silence. Owners may be given as a user id or an e-mail address.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from leadflow.leads.ids import canonical_uuid

#: at most this many extra fields per lead (per row, and on the lead after a merge)
MAX_EXTRA_FIELDS = 50
#: a key longer than this is cut to it
MAX_EXTRA_KEY_CHARS = 64
#: a value longer than this is cut to it
MAX_EXTRA_VALUE_CHARS = 1000
#: note code for anything a cap cut
EXTRA_FIELDS_CUT = "extra_fields_cut"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def cap_extra_fields(fields: Mapping[str, Any] | None) -> tuple[dict[str, str], list[str]]:
    """(the extra fields to keep, notes on what was cut): empty values are left out (as an
    empty cell never overwrites a value), keys cut to MAX_EXTRA_KEY_CHARS and values to
    MAX_EXTRA_VALUE_CHARS, at most MAX_EXTRA_FIELDS keys in the row's order. Control characters
    other than tab and newline are dropped (PostgreSQL's jsonb refuses NUL)."""
    kept: dict[str, str] = {}
    if not fields:
        return kept, []
    long_keys: list[str] = []
    long_values: list[str] = []
    dropped: list[str] = []
    for raw_key, raw_value in fields.items():
        key = _clean(str(raw_key)).strip()
        value = _clean(_text(raw_value))
        if not key or not value:
            continue
        if len(key) > MAX_EXTRA_KEY_CHARS:
            long_keys.append(key[:40])
            key = key[:MAX_EXTRA_KEY_CHARS]
        if len(value) > MAX_EXTRA_VALUE_CHARS:
            long_values.append(key)
            value = value[:MAX_EXTRA_VALUE_CHARS]
        if key not in kept and len(kept) >= MAX_EXTRA_FIELDS:
            dropped.append(key)
            continue
        kept[key] = value
    notes: list[str] = []
    if dropped:
        notes.append(
            f"{EXTRA_FIELDS_CUT}: {len(dropped)} field(s) over the cap of {MAX_EXTRA_FIELDS}"
            f" not kept: {_listed(dropped)}"
        )
    if long_keys:
        notes.append(
            f"{EXTRA_FIELDS_CUT}: {len(long_keys)} key(s) cut to {MAX_EXTRA_KEY_CHARS}"
            f" characters: {_listed(long_keys)}"
        )
    if long_values:
        notes.append(
            f"{EXTRA_FIELDS_CUT}: {len(long_values)} value(s) cut to {MAX_EXTRA_VALUE_CHARS}"
            f" characters: {_listed(long_values)}"
        )
    return kept, notes


def _clean(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c for c in text if c.isprintable() or c in "\t\n")


def _listed(keys: list[str], shown: int = 5) -> str:
    text = ", ".join(repr(k[:40]) for k in keys[:shown])
    return text + (f" and {len(keys) - shown} more" if len(keys) > shown else "")


def owner_reference(text: str | None) -> tuple[str | None, str | None]:
    """(user id, e-mail) an owner cell names: a UUID in any spelling, else an e-mail address
    (lower-cased: matched case-insensitively within the lead's organization), else neither
    (a name, which is only a note)."""
    text = (text or "").strip()
    if not text:
        return None, None
    user_id = canonical_uuid(text)
    if user_id:
        return user_id, None
    local, at, domain = text.partition("@")
    well_formed = bool(at and local and "." in domain.strip("."))
    if well_formed and not any(c.isspace() or c == "@" for c in text.replace("@", "", 1)):
        return None, text.lower()
    return None, None
