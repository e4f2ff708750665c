"""Turning read rows into clean leads or quarantine records, one chunk at a time.

`normalize_rows` runs in worker processes (a ProcessPoolExecutor over chunks), so it and
`NormalizeContext` are module-level and plain: they must pickle. Every input row yields
exactly one CleanLead or one Reject; the import's row accounting depends on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import cast

from leadflow.ingest.exports import BLANK, CRM_STATUSES, MAX_CRM_STATUS_CHARS, status_key
from leadflow.ingest.extras import cap_extra_fields, owner_reference
from leadflow.ingest.referrals import normalize_referral
from leadflow.leads.cleaning import (
    SourceMapper,
    clean_company,
    clean_email,
    clean_name,
    clean_tags,
    looks_like_formula,
    split_full_name,
)
from leadflow.leads.ids import canonical_uuid
from leadflow.leads.phones import normalize_phone
from leadflow.leads.records import CleanLead, RawRow, Reject, RejectReason

DEFAULT_REGION = "US"

#: text fields screened for spreadsheet formulas (the phone is not: a leading + is normal)
FORMULA_CHECKED_FIELDS: tuple[str, ...] = (
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
    "company",
    "lifecycle_stage",
)
_FORMULA_FIRST_CHARS = frozenset("=+-@\t\r")
_UNKNOWN = object()  # a status value found in no table (see leadflow/ingest/exports.py)

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
    # lower-case slug -> org id: a tenant column may name organizations by slug (settle_tenant)
    organization_slugs: Mapping[str, str] | None = None


def _note(prefix: str, value: str) -> str:
    if len(value) > MAX_NOTE_VALUE_CHARS:
        value = value[:MAX_NOTE_VALUE_CHARS] + "…"
    return f"{prefix}: {value}"


def _reject(row: RawRow, reason: str, detail: str) -> Reject:
    return Reject(row.row_number, reason, detail, row.raw, row.line_number)


def _canonical_uuid(value: str, cache: dict[str, str | None]) -> str | None:
    """Lower-case hyphenated UUID, or None if `value` is not one (memoized per call)."""
    if value in cache:
        return cache[value]
    result = canonical_uuid(value)
    if len(cache) < _CACHE_LIMIT:
        cache[value] = result
    return result


def _organization(text: str, cache: dict[str, str | None], slugs: Mapping[str, str]) -> str | None:
    """The org id a row's organization cell names: a UUID, else a known slug (memoized)."""
    if text in cache:
        return cache[text]
    result = canonical_uuid(text)
    if result is None and slugs:
        result = slugs.get(text.lower())
    if len(cache) < _CACHE_LIMIT:
        cache[text] = result
    return result


def _file_columns(headers: Mapping[str, str] | None) -> tuple[tuple[str, ...], str | None, bool]:
    """What a file's columns let normalize_rows skip, decided once per file (per `headers`,
    which RowPlan shares between the rows of a file): (text fields to screen for formulas,
    header of the mobile column or None, whether there is a lifecycle column). Rows built
    without headers (tests, callers of their own) get every check."""
    if headers is None:
        return FORMULA_CHECKED_FIELDS, "mobile_phone", True
    screened = tuple(name for name in FORMULA_CHECKED_FIELDS if name in headers)
    return screened, headers.get("mobile_phone"), "lifecycle_stage" in headers


def _crm_status(text: str, cache: dict[str, object]) -> object:
    """What a status cell says: a leadflow status, None (unclear), BLANK or _UNKNOWN."""
    said = cache.get(text, cache)  # the cache itself marks "not looked up yet"
    if said is cache:
        said = CRM_STATUSES.get(status_key(text), _UNKNOWN)
        if len(cache) < _CACHE_LIMIT:
            cache[text] = said
    return said


def normalize_rows(
    rows: Iterable[RawRow], ctx: NormalizeContext
) -> tuple[list[CleanLead], list[Reject]]:
    """Normalize a chunk: (clean leads, rejects), exactly one of the two per input row.

    Order of checks per row: reading problem, organization, formulas, phone; everything after
    the phone only adds notes, because a lead with a good phone is worth keeping. When the
    phone cell is empty the mobile cell (a CRM export's second number) is the phone, and the
    lead says so in `phone_source`; a phone that is present but invalid is not replaced by
    the mobile: which number is the lead's would then depend on a typo.
    """
    mapper = SourceMapper(ctx.source_aliases)
    uuids: dict[str, str | None] = {}
    orgs: dict[str, str | None] = {}
    statuses: dict[str, object] = {}
    slugs = ctx.organization_slugs or {}
    default_org = (ctx.organization_id or "").strip().lower() or None
    # --owner: a user id, or an e-mail resolved in each lead's organization (sql.resolve_owners)
    default_owner, default_owner_email = owner_reference(ctx.owner_id)
    known = ctx.known_organizations
    regions = ctx.regions
    forced_region = ctx.region
    file_headers: object = _UNKNOWN  # the headers the file plan below was made for
    screened, mobile_header, has_stage = FORMULA_CHECKED_FIELDS, None, False

    clean: list[CleanLead] = []
    rejects: list[Reject] = []
    for row in rows:
        if row.problem:
            rejects.append(_reject(row, row.problem, row.detail or row.problem))
            continue
        if row.headers is not file_headers:  # a chunk is one file: once per chunk
            file_headers = row.headers
            screened, mobile_header, has_stage = _file_columns(row.headers)
        values = row.values
        get = values.get

        # organization: the row's own value (a UUID or a slug), else --org
        org_text = get("organization_id", "").strip()
        if org_text:
            org = _organization(org_text, orgs, slugs)
            if org is None:
                what = "a UUID or an organization's slug" if slugs else "a UUID"
                detail = f"organization_id {org_text[:100]!r} is not {what}"
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
        for name in screened:
            text = get(name)
            if text and text[0] in _FORMULA_FIRST_CHARS and looks_like_formula(text):
                formula_field = name
                break
        if formula_field is not None:
            shown = get(formula_field, "")[:80]
            detail = f"{formula_field} looks like a spreadsheet formula: {shown!r}"
            rejects.append(_reject(row, RejectReason.FORMULA_IN_CELL, detail))
            continue

        # phone, else the mobile when the phone cell is empty
        region = forced_region or regions.get(org) or DEFAULT_REGION
        phone_text = get("phone_number", "")
        phone_source = None
        if mobile_header is not None and (not phone_text or phone_text.isspace()):
            mobile_text = get("mobile_phone", "")
            if mobile_text and not mobile_text.isspace():
                phone_text, phone_source = mobile_text, mobile_header
        phone = normalize_phone(phone_text, region)
        if phone.e164 is None:
            reason = phone.reason or RejectReason.INVALID_PHONE
            detail = phone.detail or reason
            if phone_source is not None:
                detail = f"{detail} (the number in {phone_source!r}: the phone cell is empty)"
            elif mobile_header is not None and get("mobile_phone", "").strip():
                detail = (
                    f"{detail} ({mobile_header!r} holds a number too, not used in place of"
                    " an invalid phone)"
                )
            rejects.append(_reject(row, reason, detail))
            continue

        notes: list[str] = []
        file_notes = get("notes", "").strip()
        if file_notes:
            notes.append(file_notes)
        if row.notes:
            notes.extend(row.notes)

        # status: the CRM's lead status when it maps, else its lifecycle stage; a value
        # of unclear meaning is kept as written in crm_status (see leadflow/ingest/exports.py)
        status_text = get("status", "").strip()
        stage_text = get("lifecycle_stage", "").strip() if has_stage else ""
        status = crm_status = None
        if status_text or stage_text:
            said = _crm_status(status_text, statuses) if status_text else BLANK
            if said is _UNKNOWN:
                notes.append(_note("invalid_status", status_text))
            elif said:  # neither _UNKNOWN nor BLANK nor None: a leadflow status
                status = cast(str, said)
            if status is None:
                stage = _crm_status(stage_text, statuses) if stage_text else BLANK
                if stage is not _UNKNOWN and stage:
                    status = cast(str, stage)
                elif said is not BLANK:
                    crm_status = status_text[:MAX_CRM_STATUS_CHARS]
                elif stage is not BLANK:
                    crm_status = stage_text[:MAX_CRM_STATUS_CHARS]

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
        owner, owner_email = default_owner, default_owner_email
        if owner_text:
            owner_uuid = _canonical_uuid(owner_text, uuids)
            if owner_uuid is not None:
                owner, owner_email = owner_uuid, None
            else:
                _, given_email = owner_reference(owner_text)
                if given_email is None:  # a name: only a note, the lead keeps the default
                    notes.append(_note("invalid_owner", owner_text))
                else:  # resolved in the lead's organization, else noted (resolve_owners)
                    owner_email = given_email

        # a referral is read like the lead's own phone (same region) or e-mail; a bad one is
        # only noted, never a reason to lose the lead
        referred_by, referral_note = normalize_referral(
            get("referred_by", ""), region, own_phone=phone.e164, own_email=email
        )
        if referral_note:
            notes.append(referral_note)

        extra_fields, extra_notes = cap_extra_fields(row.extra)
        notes.extend(extra_notes)

        company = get("company")
        # positional, in CLEAN_LEAD_FIELDS order: keywords cost ~0.4 us per lead (measured)
        clean.append(
            CleanLead(
                row.row_number,  # row_number
                org,  # organization_id
                phone.e164,  # phone_number
                phone.phone_type,  # phone_type
                owner,  # user_id
                first,  # first_name
                last,  # last_name
                email,  # email
                status,  # status
                clean_tags(get("tags", "")),  # tags
                mapper.canonical(get("source", "").strip() or ctx.source or ""),  # source
                referred_by,  # referred_by
                notes,  # notes
                clean_company(company) if company else None,  # company
                crm_status,  # crm_status
                phone_source,  # phone_source
                file_notes or None,  # note
                owner_email,  # owner_email
                extra_fields or None,  # extra_fields
            )
        )
    return clean, rejects
