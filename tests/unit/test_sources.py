"""Canonical sources: the key and the alias matching `leadflow sources` and dbt staging share."""

from __future__ import annotations

import pytest

from leadflow.sources import (
    Alias,
    SeenSource,
    SourceAliasError,
    best_alias,
    canonical_source,
    source_key,
    unmapped,
    validate,
)

ORG = "74000000-0000-4000-8000-000000000001"
OTHER = "75000000-0000-4000-8000-000000000002"

GLOBAL = [
    Alias("indeed", "indeed", match_type="prefix"),
    Alias("job board indeed", "indeed", match_type="prefix"),
    Alias("seek", "seek", match_type="prefix"),
    Alias("facebook", "facebook", match_type="prefix"),
    Alias("paid social", "facebook"),
    Alias("referrals", "referral"),
]


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Job Board – Indeed", "job_board_indeed"),
        ("job_board_indeed", "job_board_indeed"),
        ("  JOB-BOARD   indeed!! ", "job_board_indeed"),
        ("seek.com.au", "seek_com_au"),
        ("indeed", "indeed"),
        ("---", None),
        ("", None),
        (None, None),
    ],
)
def test_source_key_ignores_case_spacing_and_punctuation(raw, key):
    assert source_key(raw) == key


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Job Board – Indeed", "indeed"),
        ("indeed", "indeed"),
        ("Indeed.com", "indeed"),  # prefix: indeed_com
        ("seek_com_au", "seek"),
        ("facebook_nurses_q3", "facebook"),
        ("Paid Social", "facebook"),
        ("paid_social_tiktok", "paid_social_tiktok"),  # exact alias: no prefix match
        ("facebookish", "facebookish"),  # a prefix needs "_" after it
        ("Website", "website"),  # no alias: its key
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_global_aliases(raw, canonical):
    assert canonical_source(GLOBAL, ORG, raw) == canonical


def test_the_organizations_alias_wins_over_a_global_one_and_only_in_it():
    aliases = [*GLOBAL, Alias("paid social", "instagram", organization_id=ORG)]
    assert canonical_source(aliases, ORG, "paid_social") == "instagram"
    assert canonical_source(aliases, OTHER, "paid_social") == "facebook"


def test_organization_prefix_beats_global_exact_and_exact_beats_prefix():
    aliases = [
        Alias("facebook nurses q3", "facebook_nursing"),  # global exact
        Alias("facebook", "meta", organization_id=ORG, match_type="prefix"),
    ]
    assert canonical_source(aliases, ORG, "facebook_nurses_q3") == "meta"
    assert canonical_source(aliases, OTHER, "facebook_nurses_q3") == "facebook_nursing"
    same_scope = [
        Alias("facebook", "facebook", match_type="prefix"),
        Alias("facebook nurses", "nursing", match_type="prefix"),
        Alias("facebook nurses q3", "q3"),
    ]
    assert canonical_source(same_scope, ORG, "facebook_nurses_q3") == "q3"  # exact key
    assert canonical_source(same_scope, ORG, "facebook_nurses_q4") == "nursing"  # longest
    assert canonical_source(same_scope, ORG, "facebook_ads") == "facebook"


def test_best_alias_names_the_row_that_matched():
    alias = best_alias(GLOBAL, ORG, "Job Board – Indeed")
    assert alias is not None and alias.alias == "job board indeed"
    assert best_alias(GLOBAL, ORG, "website") is None


def test_validate_refuses_names_without_letters_and_normalizes_the_canonical():
    assert validate(" Walk-in ", "Walk In", "exact") == ("Walk-in", "walk_in")
    with pytest.raises(SourceAliasError, match="no letter or digit"):
        validate("--", "x", "exact")
    with pytest.raises(SourceAliasError, match="canonical source"):
        validate("x", "–", "exact")
    with pytest.raises(SourceAliasError, match="match type"):
        validate("x", "y", "regex")


def test_unmapped_leaves_out_aliased_and_already_canonical_sources():
    seen = [
        SeenSource(ORG, "demo", "job_board_indeed", 95, 0, None),
        SeenSource(ORG, "demo", "facebook", 3, 1, None),  # a canonical name (and a prefix)
        SeenSource(ORG, "demo", "walk_in", 5, 0, None),
        SeenSource(ORG, "demo", "indeed", 2, 1, None),
    ]
    assert [s.source for s in unmapped(seen, GLOBAL)] == ["walk_in"]
    assert unmapped(seen, [*GLOBAL, Alias("walk in", "walk_in", organization_id=ORG)]) == []
