"""In-file dedupe: the survivorship rules (merge_duplicate; sql.fold_duplicates applies them
set-based, checked against this function in tests/integration/test_fold.py)."""

from __future__ import annotations

import pickle

from leadflow.ingest.dedupe import merge_duplicate
from leadflow.leads.records import CleanLead

ORG_A = "11111111-1111-4111-8111-111111111111"
ORG_B = "22222222-2222-4222-8222-222222222222"
PHONE = "+12124567890"
OWNER_1 = "a1000000-0000-4000-8000-000000000001"
OWNER_2 = "a1000000-0000-4000-8000-000000000002"


def _lead(row: int, phone: str = PHONE, org: str = ORG_A, **fields: object) -> CleanLead:
    return CleanLead(row_number=row, organization_id=org, phone_number=phone, **fields)  # type: ignore[arg-type]


def test_newer_non_empty_values_win() -> None:
    survivor = _lead(
        1,
        first_name="Jane",
        last_name="Doe",
        email="old@x.com",
        user_id=OWNER_1,
        referred_by="Bob",
        phone_type="fixed_line_or_mobile",
    )
    newer = _lead(
        5,
        first_name="Janet",
        last_name="Smith",
        email="new@x.com",
        user_id=OWNER_2,
        referred_by="Carol",
        phone_type="mobile",
    )
    merge_duplicate(survivor, newer)
    assert (survivor.first_name, survivor.last_name, survivor.email) == (
        "Janet",
        "Smith",
        "new@x.com",
    )
    assert (survivor.user_id, survivor.referred_by) == (OWNER_2, "Carol")
    assert survivor.phone_type == "mobile"
    assert survivor.row_number == 1


def test_empty_never_overwrites() -> None:
    survivor = _lead(
        1,
        first_name="Jane",
        last_name="Doe",
        email="j@x.com",
        user_id=OWNER_1,
        referred_by="Bob",
        phone_type="mobile",
        status="contacted",
        source="facebook",
        tags=["vip"],
        notes=["n1"],
    )
    before = pickle.dumps(survivor)
    merge_duplicate(survivor, _lead(2))
    assert pickle.dumps(survivor) == before


def test_newer_fills_what_the_survivor_lacked() -> None:
    survivor = _lead(1, first_name="Jane")
    merge_duplicate(survivor, _lead(2, last_name="Doe", email="j@x.com", source="linkedin"))
    assert (survivor.first_name, survivor.last_name, survivor.email) == ("Jane", "Doe", "j@x.com")
    assert survivor.source == "linkedin"


def test_first_source_wins() -> None:
    survivor = _lead(1, source="facebook")
    merge_duplicate(survivor, _lead(2, source="linkedin"))
    assert survivor.source == "facebook"


def test_status_only_moves_up() -> None:
    survivor = _lead(1, status="qualified")
    merge_duplicate(survivor, _lead(2, status="new"))
    assert survivor.status == "qualified"
    merge_duplicate(survivor, _lead(3, status=None))
    assert survivor.status == "qualified"
    merge_duplicate(survivor, _lead(4, status="hot"))
    assert survivor.status == "hot"
    merge_duplicate(survivor, _lead(5, status="dnc"))
    assert survivor.status == "dnc"
    merge_duplicate(survivor, _lead(6, status="recruited"))
    assert survivor.status == "dnc"  # terminal

    empty = _lead(1)
    merge_duplicate(empty, _lead(2, status="new"))
    assert empty.status == "new"  # anything beats None
    cold = _lead(1, status="cold")
    merge_duplicate(cold, _lead(2, status="new"))
    assert cold.status == "cold"


def test_tags_union_and_notes_concatenated_without_repeats() -> None:
    survivor = _lead(1, tags=["vip", "nurse"], notes=["called", "invalid_email: x@"])
    merge_duplicate(
        survivor, _lead(2, tags=["nurse", "remote", "vip", "hot"], notes=["called", "left vm"])
    )
    assert survivor.tags == ["vip", "nurse", "remote", "hot"]
    assert survivor.notes == ["called", "invalid_email: x@", "left vm"]


def test_company_and_crm_status_follow_the_contact_rule() -> None:
    """The newer non-empty value wins; an empty one never erases."""
    survivor = _lead(1, company="Acme", crm_status="Evangelist")
    merge_duplicate(survivor, _lead(2, company="Globex", crm_status="Recycled"))
    assert (survivor.company, survivor.crm_status) == ("Globex", "Recycled")
    merge_duplicate(survivor, _lead(3))
    assert (survivor.company, survivor.crm_status) == ("Globex", "Recycled")
    bare = _lead(1)
    merge_duplicate(bare, _lead(2, company="Initech", crm_status="Other"))
    assert (bare.company, bare.crm_status) == ("Initech", "Other")


def test_phone_source_stays_the_first_rows() -> None:
    """The surviving phone is the first row's, so is the column it came from."""
    from_mobile = _lead(1, phone_source="Mobile Phone Number")
    merge_duplicate(from_mobile, _lead(2))  # the same number, from the main phone column
    assert from_mobile.phone_source == "Mobile Phone Number"
    from_main = _lead(1)
    merge_duplicate(from_main, _lead(2, phone_source="Mobile"))
    assert from_main.phone_source is None
