"""Pure rules of what a row keeps besides the lead's fields (leadflow/ingest/extras.py)."""

from __future__ import annotations

import pytest

from leadflow.ingest.extras import (
    MAX_EXTRA_FIELDS,
    MAX_EXTRA_KEY_CHARS,
    MAX_EXTRA_VALUE_CHARS,
    cap_extra_fields,
    owner_reference,
)

USER = "a1000000-0000-4000-8000-000000000003"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (USER, (USER, None)),
        (USER.upper(), (USER, None)),
        ("{" + USER + "}", (USER, None)),
        ("  Priya.Patel@Summit.Example.com ", (None, "priya.patel@summit.example.com")),
        ("Dana Whitfield", (None, None)),
        ("dana@", (None, None)),
        ("a b@example.com", (None, None)),
        ("a@b@example.com", (None, None)),
        ("a@localhost", (None, None)),
        ("", (None, None)),
        (None, (None, None)),
    ],
)
def test_owner_reference(text, expected) -> None:
    assert owner_reference(text) == expected


def test_cap_keeps_small_rows_as_they_are_without_empty_values() -> None:
    kept, notes = cap_extra_fields({"Shift": " night ", "Empty": "  ", "n": 3, "flag": True})
    assert kept == {"Shift": "night", "n": "3", "flag": "true"}
    assert notes == []
    assert cap_extra_fields(None) == ({}, [])


def test_cap_on_keys_count_key_length_and_value_length() -> None:
    fields = {f"k{n:03d}": "v" for n in range(MAX_EXTRA_FIELDS + 3)}
    fields["K" * 100] = "w" * (MAX_EXTRA_VALUE_CHARS + 1)
    kept, notes = cap_extra_fields(fields)
    assert len(kept) == MAX_EXTRA_FIELDS
    assert list(kept) == [f"k{n:03d}" for n in range(MAX_EXTRA_FIELDS)]  # the row's order
    assert notes[0].startswith("extra_fields_cut: 4 field(s) over the cap of 50 not kept:")
    assert notes[1].startswith("extra_fields_cut: 1 key(s) cut to 64 characters")
    assert notes[2].startswith("extra_fields_cut: 1 value(s) cut to 1000 characters")
    kept, _ = cap_extra_fields({"K" * 100: "w" * (MAX_EXTRA_VALUE_CHARS + 1)})
    assert kept == {"K" * MAX_EXTRA_KEY_CHARS: "w" * MAX_EXTRA_VALUE_CHARS}


def test_cap_makes_lists_and_objects_json_and_drops_control_characters() -> None:
    kept, _ = cap_extra_fields({"langs": ["en", "es"], "obj": {"b": 1}, "bell\x07": "a\x00b\tc"})
    assert kept == {"langs": '["en", "es"]', "obj": '{"b": 1}', "bell": "ab\tc"}
