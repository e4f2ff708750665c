"""Referral handles: the `referred_by` cell of an import, as something a lead can be matched on.

A referral names another lead of the same organization by phone or e-mail. It is stored as a
handle in the form the leads table stores those (E.164, lower-case e-mail), so resolving it is
an equality match in SQL (referrals_sql.py). A referral that cannot be read only adds a note:
the lead itself is still loaded.
"""

from __future__ import annotations

from leadflow.leads.cleaning import clean_email
from leadflow.leads.phones import normalize_phone

INVALID_REFERRAL = "invalid_referral"
SELF_REFERRAL = "self_referral"

#: notes quote the offending value; long values are cut (as normalize.py does)
MAX_NOTE_VALUE_CHARS = 200


def _note(prefix: str, value: str) -> str:
    if len(value) > MAX_NOTE_VALUE_CHARS:
        value = value[:MAX_NOTE_VALUE_CHARS] + "…"
    return f"{prefix}: {value}"


def normalize_referral(
    value: str | None,
    region: str,
    *,
    own_phone: str | None = None,
    own_email: str | None = None,
) -> tuple[str | None, str | None]:
    """(handle, note) for one `referred_by` cell, read with the lead's own phone `region`.

    A phone number becomes E.164, otherwise an e-mail becomes lower-case; anything else gives
    (None, "invalid_referral: <value>"). A referral to the lead's own phone or e-mail
    (`own_phone` E.164, `own_email` cleaned) gives (None, "self_referral: <handle>"). An empty
    cell gives (None, None).
    """
    text = value.strip() if value else ""
    if not text:
        return None, None
    handle = normalize_phone(text, region).e164
    if handle is None:
        handle, _ = clean_email(text)
    if handle is None:
        return None, _note(INVALID_REFERRAL, text)
    if handle in (own_phone, own_email):
        return None, _note(SELF_REFERRAL, handle)
    return handle, None
