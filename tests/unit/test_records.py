"""The tuple layout of a lead (what spools and worker processes carry) stays in step."""

from dataclasses import fields

from leadflow.leads.records import (
    CLEAN_LEAD_FIELDS,
    LEAD_STATUSES,
    STATUS_RANK,
    CleanLead,
    lead_from_tuple,
    lead_to_tuple,
)


def test_tuple_layout_matches_the_dataclass():
    assert tuple(f.name for f in fields(CleanLead)) == CLEAN_LEAD_FIELDS


def test_round_trip_keeps_every_field():
    lead = CleanLead(
        row_number=7, organization_id="o", phone_number="+12124567890", phone_type="mobile",
        user_id="u", first_name="Ana", last_name="Lima", email="a@example.com",
        status="hot", tags=["a", "b"], source="facebook", referred_by="+12124567891",
        notes=["invalid_email: x"],
    )  # fmt: skip
    values = lead_to_tuple(lead)
    assert values[CLEAN_LEAD_FIELDS.index("phone_number")] == "+12124567890"
    assert lead_from_tuple(values) == lead


def test_every_status_has_a_rank_and_dnc_outranks_all():
    assert set(STATUS_RANK) == set(LEAD_STATUSES)
    assert max(STATUS_RANK, key=STATUS_RANK.get) == "dnc"
    assert STATUS_RANK["new"] < STATUS_RANK["contacted"] < STATUS_RANK["recruited"]
