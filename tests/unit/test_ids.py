"""The one UUID canonicalizer every input goes through."""

from __future__ import annotations

import uuid

import pytest
from bson import Binary

from leadflow.leads.ids import canonical_uuid, require_uuid

ID = "11111111-1111-4111-8111-111111111111"


@pytest.mark.parametrize(
    "value",
    [
        ID,
        ID.upper(),
        f"  {ID}\t",
        "{" + ID + "}",
        ID.replace("-", ""),
        uuid.UUID(ID),
        Binary.from_uuid(uuid.UUID(ID)),
    ],
)
def test_every_spelling_gives_the_canonical_text(value):
    assert canonical_uuid(value) == ID


@pytest.mark.parametrize("value", [None, "", "not-a-uuid", 42, ID[:-1], Binary(b"\x00" * 3)])
def test_anything_else_is_none(value):
    assert canonical_uuid(value) is None


def test_require_uuid_names_what_was_wrong():
    class RequestError(ValueError):
        pass

    assert require_uuid(ID.upper(), "--org") == ID
    with pytest.raises(RequestError, match=r"--org 'nope' is not a UUID"):
        require_uuid("nope", "--org", RequestError)
