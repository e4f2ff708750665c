"""Turning read rows into clean leads or quarantine records, one chunk at a time.

`normalize_rows` runs in worker processes (a ProcessPoolExecutor over chunks), so it and
`NormalizeContext` are module-level and plain: they must pickle. Every input row yields
exactly one CleanLead or one Reject; the import's row accounting depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from leadflow.ingest.referrals import normalize_referral
from leadflow.leads.cleaning import (
    SourceMapper,
    clean_email,
    clean_name,
    clean_tags,
    looks_like_formula,
    split_full_name,
)
from leadflow.leads.ids import canonical_uuid
from leadflow.leads.phones import normalize_phone
from leadflow.leads.records import LEAD_STATUSES, CleanLead, RawRow, Reject, RejectReason

DEFAULT_REGION = "US"

#: text fields screened for spreadsheet formulas (the phone is not: a leading + is normal)
FORMULA_CHECKED_FIELDS = (
    "first_name",
    "last_name",
    "full_name",
    "email",
    "source",
    "tags",
    "status",
    "notes",
    "referred_by",
    "user_id",
)
_FORMULA_FIRST_CHARS = frozenset("=+-@\t\r")

_STATUSES = frozenset(LEAD_STATUSES)
# Spellings of a status worth rescuing: losing a do-not-call marker is a compliance problem.
_STATUS_ALIASES = {"do not call": "dnc", "donotcall": "dnc"}

#: notes quote the offending value; long values are cut so a note stays a note
MAX_NOTE_VALUE_CHARS = 200
#: bound on the per-call UUID caches (org and owner ids repeat a lot within a chunk)
_CACHE_LIMIT = 10_000


@dataclass(slots=True)
class NormalizeContext:
    """Everything `normalize_rows` needs besides the rows: plain data, picklable."""

    known_organizations: frozenset[str]  # org ids (lower-case uuid strings) that exist
    regions: dict[str, str]  # org id -> default region (from system_config; missing -> "US")
    organization_id: str | None = None  # --org: used when the file has no organization_id
    owner_id: str | None = None  # --owner: default owner when the row has none
    source: str | None = None  # --source: default source when the row has none
    region: str | None = None  # --region: overrides the org's region for this import
    source_aliases: dict[str, str] | None = None  # extra aliases for SourceMapper


def _note(prefix: str, value: str) -> str:
    if len(value) > MAX_NOTE_VALUE_CHARS:
        value = value[:MAX_NOTE_VALUE_CHARS] + "…"
    return f"{prefix}: {value}"


def _reject(row: RawRow, reason: str, detail: str) -> Reject:
    return Reject(row.row_number, reason, detail, row.raw)


def _canonical_uuid(value: str, cache: dict[str, str | None]) -> str | None:
    """Lower-case hyphenated UUID, or None if `value` is not one (memoized per call)."""
    if value in cache:
        return cache[value]
    result = canonical_uuid(value)
    if len(cache) < _CACHE_LIMIT:
        cache[value] = result
    return result


def _clean_status(value: str) -> str | None:
    """A known status, or None (empty or unknown: the caller notes the unknown ones)."""
    status = value.lower()
    if status in _STATUSES:
        return status
    key = " ".join(status.replace("-", " ").replace("_", " ").split())
    if key in _STATUSES:
        return key
    return _STATUS_ALIASES.get(key)


def normalize_rows(
    rows: list[RawRow], ctx: NormalizeContext
) -> tuple[list[CleanLead], list[Reject]]:
    """Normalize a chunk: (clean leads, rejects), exactly one of the two per input row.

    Order of checks per row: reading problem, organization, formulas, phone; everything after
    the phone only adds notes, because a lead with a good phone is worth keeping.
    """
    mapper = SourceMapper(ctx.source_aliases)
    uuids: dict[str, str | None] = {}
    default_org = (ctx.organization_id or "").strip().lower() or None
    default_owner = (ctx.owner_id or "").strip().lower() or None
    known = ctx.known_organizations
    regions = ctx.regions
    forced_region = ctx.region

    clean: list[CleanLead] = []
    rejects: list[Reject] = []
    for row in rows:
        if row.problem:
            rejects.append(_reject(row, row.problem, row.detail or row.problem))
            continue
        values = row.values
        get = values.get

        # organization: the row's own value, else --org
        org_text = get("organization_id", "").strip()
        if org_text:
            org = _canonical_uuid(org_text, uuids)
            if org is None:
                detail = f"organization_id {org_text[:100]!r} is not a UUID"
                rejects.append(_reject(row, RejectReason.UNKNOWN_ORGANIZATION, detail))
                continue
        else:
            org = default_org
            if org is None:
                detail = "the row has no organization_id and no default organization was given"
                rejects.append(_reject(row, RejectReason.MISSING_ORGANIZATION, detail))
                continue
        if org not in known:
            detail = f"organization {org} does not exist"
            rejects.append(_reject(row, RejectReason.UNKNOWN_ORGANIZATION, detail))
            continue

        # formula injection: quarantine the whole row, it would be re-exported to spreadsheets
        formula_field = None
        for name in FORMULA_CHECKED_FIELDS:
            text = get(name)
            if text and text[0] in _FORMULA_FIRST_CHARS and looks_like_formula(text):
                formula_field = name
                break
        if formula_field is not None:
            shown = get(formula_field, "")[:80]
            detail = f"{formula_field} looks like a spreadsheet formula: {shown!r}"
            rejects.append(_reject(row, RejectReason.FORMULA_IN_CELL, detail))
            continue

        # phone
        region = forced_region or regions.get(org) or DEFAULT_REGION
        phone = normalize_phone(get("phone_number", ""), region)
        if phone.e164 is None:
            reason = phone.reason or RejectReason.INVALID_PHONE
            rejects.append(_reject(row, reason, phone.detail or reason))
            continue

        notes: list[str] = []
        file_notes = get("notes", "").strip()
        if file_notes:
            notes.append(file_notes)

        status_text = get("status", "").strip()
        status = None
        if status_text:
            status = _clean_status(status_text)
            if status is None:
                notes.append(_note("invalid_status", status_text))

        first = clean_name(get("first_name", ""))
        last = clean_name(get("last_name", ""))
        if not first and not last:
            full = get("full_name", "")
            if full:
                first, last = split_full_name(full)

        email, email_note = clean_email(get("email", ""))
        if email_note:
            notes.append(_note("invalid_email", email_note.partition(": ")[2]))

        owner_text = get("user_id", "").strip()
        owner = default_owner
        if owner_text:
            owner_uuid = _canonical_uuid(owner_text, uuids)
            if owner_uuid is None:
                notes.append(_note("invalid_owner", owner_text))
            else:
                owner = owner_uuid

        # a referral is read like the lead's own phone (same region) or e-mail; a bad one is
        # only noted, never a reason to lose the lead
        referred_by, referral_note = normalize_referral(
            get("referred_by", ""), region, own_phone=phone.e164, own_email=email
        )
        if referral_note:
            notes.append(referral_note)

        clean.append(
            CleanLead(
                row_number=row.row_number,
                organization_id=org,
                phone_number=phone.e164,
                phone_type=phone.phone_type,
                user_id=owner,
                first_name=first,
                last_name=last,
                email=email,
                status=status,
                tags=clean_tags(get("tags", "")),
                source=mapper.canonical(get("source", "").strip() or ctx.source or ""),
                referred_by=referred_by,
                notes=notes,
            )
        )
    return clean, rejects
