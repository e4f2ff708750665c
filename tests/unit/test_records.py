"""The positional layout of a lead (how normalize builds CleanLeads) stays in step."""

from dataclasses import fields

from leadflow.leads.records import (
    CLEAN_LEAD_FIELDS,
    LEAD_FIELDS,
    LEAD_STATUSES,
    STATUS_RANK,
    CleanLead,
)


def test_tuple_layout_matches_the_dataclass():
    assert tuple(f.name for f in fields(CleanLead)) == CLEAN_LEAD_FIELDS


def test_new_lead_fields_are_appended_so_older_positions_hold():
    """normalize builds leads positionally: appending keeps every earlier position, and the
    three CRM fields default to None."""
    assert CLEAN_LEAD_FIELDS[:13] == (
        "row_number",
        "organization_id",
        "phone_number",
        "phone_type",
        "user_id",
        "first_name",
        "last_name",
        "email",
        "status",
        "tags",
        "source",
        "referred_by",
        "notes",
    )
    assert CLEAN_LEAD_FIELDS[13:16] == ("company", "crm_status", "phone_source")
    assert CLEAN_LEAD_FIELDS[16:] == ("note", "owner_email", "extra_fields")  # issue 20
    lead = CleanLead(row_number=1, organization_id="o", phone_number="+12124567890")
    assert (lead.company, lead.crm_status, lead.phone_source) == (None, None, None)


def test_lead_fields_know_the_crm_columns():
    assert {"mobile_phone", "company", "lifecycle_stage"} <= set(LEAD_FIELDS)
    assert len(set(LEAD_FIELDS)) == len(LEAD_FIELDS)


def test_every_status_has_a_rank_and_dnc_outranks_all():
    assert set(STATUS_RANK) == set(LEAD_STATUSES)
    assert max(STATUS_RANK, key=STATUS_RANK.get) == "dnc"
    assert STATUS_RANK["new"] < STATUS_RANK["contacted"] < STATUS_RANK["recruited"]
