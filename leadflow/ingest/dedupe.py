"""In-file duplicates: rows of one file with the same (organization, phone) become one lead.

`merge_duplicate` states the survivorship rules of that fold as plain code; the import applies
them set-based in PostgreSQL (sql.fold_duplicates), and tests/integration/test_fold.py checks
the two agree on random rows. Duplicates against leads already in the database are merged
afterwards, in SQL (sql.load_staged), with the same rules.
"""

from __future__ import annotations

from leadflow.leads.records import STATUS_RANK, CleanLead

_NO_STATUS_RANK = -1  # None (the file said nothing) ranks below every real status


def _rank(status: str | None) -> int:
    return STATUS_RANK.get(status, _NO_STATUS_RANK) if status else _NO_STATUS_RANK


def merge_duplicate(survivor: CleanLead, newer: CleanLead) -> None:
    """Fold a later row of the same lead into `survivor` (mutated in place).

    The newer row is the fresher word on contact details (the company and the CRM's own
    status word included), but an empty cell never erases a value; the first source is kept
    (first-touch attribution); the status only moves up the funnel; tags and notes
    accumulate; `row_number` stays the first row's, and so does `phone_source`: the
    surviving phone is the first row's, so is the column it came from.
    """
    if newer.first_name:
        survivor.first_name = newer.first_name
    if newer.last_name:
        survivor.last_name = newer.last_name
    if newer.email:
        survivor.email = newer.email
    if newer.user_id:
        survivor.user_id = newer.user_id
    if newer.referred_by:
        survivor.referred_by = newer.referred_by
    if newer.phone_type:
        survivor.phone_type = newer.phone_type
    if newer.company:
        survivor.company = newer.company
    if newer.crm_status:
        survivor.crm_status = newer.crm_status
    if not survivor.source and newer.source:
        survivor.source = newer.source
    if _rank(newer.status) > _rank(survivor.status):
        survivor.status = newer.status
    if newer.tags:
        tags = survivor.tags
        for tag in newer.tags:
            if tag not in tags:
                tags.append(tag)
    if newer.notes:
        notes = survivor.notes
        for note in newer.notes:
            if note not in notes:
                notes.append(note)
