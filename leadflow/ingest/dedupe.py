"""In-file duplicates: rows of one file with the same (organization, phone) become one lead.

Duplicates against leads already in the database are merged later, in SQL; this only folds
the file onto itself, with the same survivorship rules, so the SQL merge sees one row per key.
"""

from __future__ import annotations

from collections.abc import Iterable

from leadflow.leads.records import STATUS_RANK, CleanLead

_SHARED_POOL_LIMIT = 100_000  # distinct repeated strings kept for sharing (see InFileDeduper)
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


class InFileDeduper:
    """Collapses rows with the same (organization_id, phone_number) as they stream in.

    Holds the surviving leads themselves (no copies) in a dict keyed by (org, phone), whose
    insertion order is the order of first appearance: about one dict entry per survivor.
    Leads arriving from worker processes carry their own copy of every repeated string (org
    id, owner id, phone type, status, source, company, CRM status, phone source: pickling
    shares them only within a chunk), so a survivor's repeated strings are swapped for one
    shared instance (up to ~0.3 GB less at 1M survivors). The shared pool is bounded, so
    unique values cannot make it a second copy.
    """

    __slots__ = ("_by_key", "_duplicates", "_shared")

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], CleanLead] = {}
        self._duplicates = 0
        self._shared: dict[str, str] = {}

    def _share(self, value: str | None) -> str | None:
        if value is None:
            return None
        shared = self._shared.get(value)
        if shared is not None:
            return shared
        if len(self._shared) < _SHARED_POOL_LIMIT:
            self._shared[value] = value
        return value

    def add(self, lead: CleanLead) -> None:
        """Keep `lead` as a new survivor, or merge it into the earlier row with its key."""
        key = (lead.organization_id, lead.phone_number)
        survivor = self._by_key.get(key)
        if survivor is None:
            share = self._share
            lead.organization_id = share(lead.organization_id)  # type: ignore[assignment]
            lead.user_id = share(lead.user_id)
            lead.phone_type = share(lead.phone_type)
            lead.status = share(lead.status)
            lead.source = share(lead.source)
            lead.company = share(lead.company)
            lead.crm_status = share(lead.crm_status)
            lead.phone_source = share(lead.phone_source)
            self._by_key[(lead.organization_id, lead.phone_number)] = lead
        else:
            merge_duplicate(survivor, lead)
            self._duplicates += 1

    def add_all(self, leads: Iterable[CleanLead]) -> None:
        """`add` every lead, in order (call it chunk by chunk, in row order)."""
        for lead in leads:
            self.add(lead)

    @property
    def duplicates(self) -> int:
        """Rows folded into an earlier one."""
        return self._duplicates

    def __len__(self) -> int:
        return len(self._by_key)

    def survivors(self) -> list[CleanLead]:
        """One lead per (org, phone), in order of first appearance."""
        return list(self._by_key.values())
