"""The segment filter language: what compiles to what, and what is refused (no database)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leadflow.crm.segments import (
    MAX_CONDITIONS,
    CompiledFilter,
    SegmentFilterError,
    compile_filter,
    load_filter,
    segment_count_query,
    segment_query,
)

ORG = "11111111-1111-4111-8111-111111111111"
AGENT = "a1000000-0000-4000-8000-000000000003"
SEED = Path(__file__).resolve().parents[2] / "seeds" / "002_epic3_seed_data.sql"


def sql_of(compiled: CompiledFilter) -> str:
    return compiled.where.as_string(None)


def assert_only_placeholders(text: str, params: list) -> None:
    """Values never reach the SQL text: one %s per parameter and no other % at all."""
    assert text.count("%s") == len(params)
    assert "%" not in text.replace("%s", "")


@pytest.mark.parametrize(
    ("spec", "where", "params"),
    [
        ({}, "true", []),
        ({"status": ["hot", "qualified"]}, "l.status = any(%s::text[])", [["hot", "qualified"]]),
        ({"score": {"min": 70}}, "l.lead_score >= %s", [70]),
        ({"score": {"max": 50.5}}, "l.lead_score <= %s", [50.5]),
        (
            {"score": {"min": 10, "max": 20}},
            "(l.lead_score >= %s and l.lead_score <= %s)",
            [10, 20],
        ),
        ({"tags_any": ["hot", "nurse"]}, "l.tags && %s::text[]", [["hot", "nurse"]]),
        ({"tags_all": ["hot", "nurse"]}, "l.tags @> %s::text[]", [["hot", "nurse"]]),
        ({"sources": ["facebook"]}, "l.source = any(%s::text[])", [["facebook"]]),
        ({"source": ["facebook"]}, "l.source = any(%s::text[])", [["facebook"]]),
        ({"owners": [AGENT]}, "l.user_id = any(%s::uuid[])", [[uuid.UUID(AGENT)]]),
        ({"owners": ["unassigned"]}, "l.user_id is null", []),
        (
            {"owners": [AGENT, "unassigned"]},
            "(l.user_id = any(%s::uuid[]) or l.user_id is null)",
            [[uuid.UUID(AGENT)]],
        ),
        ({"has_email": True}, "(l.email is not null and l.email <> '')", []),
        ({"has_email": False}, "(l.email is null or l.email = '')", []),
        (
            {"name": "  O'Brien   Jr "},
            "(l.first_name || ' ' || l.last_name) ilike %s",
            ["%O'Brien Jr%"],
        ),
        (
            {"name": "100%_a\\b"},
            "(l.first_name || ' ' || l.last_name) ilike %s",
            ["%100\\%\\_a\\\\b%"],
        ),
        ({"all": []}, "true", []),
        (
            {"any": [{"status": ["new"]}, {"not": {"has_email": True}}]},
            "(l.status = any(%s::text[]) or (not coalesce((l.email is not null and l.email <> ''),"
            " false)))",
            [["new"]],
        ),
    ],
)
def test_each_key_compiles_to_a_parameterised_expression(spec, where, params):
    compiled = compile_filter(spec)
    assert sql_of(compiled) == where
    assert compiled.params == params
    assert_only_placeholders(sql_of(compiled), compiled.params)


def test_several_keys_are_anded_in_order():
    compiled = compile_filter({"status": ["hot"], "score": {"min": 70}, "has_email": True})
    assert sql_of(compiled) == (
        "(l.status = any(%s::text[]) and l.lead_score >= %s"
        " and (l.email is not null and l.email <> ''))"
    )
    assert compiled.params == [["hot"], 70]


def test_dates_are_utc_days_and_datetimes_keep_their_offset():
    compiled = compile_filter(
        {
            "created": {"from": "2026-01-01", "to": "2026-01-31"},
            "contacted": {"from": "2026-02-01T10:00:00+02:00", "to": "2026-02-02T10:00"},
        }
    )
    assert sql_of(compiled) == (
        "((l.created_at >= %s::timestamptz and l.created_at < %s::timestamptz)"
        " and (l.last_contact_date >= %s::timestamptz"
        " and l.last_contact_date <= %s::timestamptz))"
    )
    assert compiled.params == [
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 2, 1, tzinfo=UTC),  # `to` a date: the whole day, exclusive next midnight
        datetime(2026, 2, 1, 8, tzinfo=UTC),
        datetime(2026, 2, 2, 10, tzinfo=UTC),  # no offset: UTC
    ]


def test_json_text_is_accepted_and_the_same_as_the_object():
    spec = {"status": ["hot"], "any": [{"name": "x"}, {"score": {"max": 3}}]}
    assert compile_filter(json.dumps(spec)) == compile_filter(spec)


def _seed_segment_filters() -> list[dict]:
    text = SEED.read_text()
    block = text[text.index("insert into segments") :]
    block = block[: block.index(";\n")]
    return [json.loads(raw) for raw in re.findall(r"'(\{\"[^']*\})'\)", block)]


def test_the_seed_segments_compile():
    filters = _seed_segment_filters()
    assert len(filters) == 3
    for spec in filters:
        compiled = compile_filter(spec)
        assert_only_placeholders(sql_of(compiled), compiled.params)
    assert sql_of(compile_filter(filters[0])) == (
        "(l.status = any(%s::text[]) and l.lead_score >= %s)"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{", "filter: invalid JSON"),
        ("[1]", "filter: expected an object, got a list of 1 items"),
        ('{"score": {"min": NaN}}', "filter: invalid JSON: NaN is not a number"),
        ({"colour": ["red"]}, 'filter: unknown key "colour"; expected one of status, score'),
        ({"status": "hot"}, 'filter.status: expected a list of statuses, got "hot"'),
        ({"status": []}, "filter.status: expected a list of statuses, got an empty list"),
        ({"status": {"$ne": "x"}}, "filter.status: expected a list of statuses, got an object"),
        ({"status": ["hot", "warm"]}, 'filter.status[1]: unknown status "warm"; expected one of'),
        ({"status": ["hot", 3]}, "filter.status[1]: expected a string, got 3"),
        (
            {"any": [{"status": ["new"]}, {"score": {"min": "abc"}}]},
            'filter.any[1].score.min: expected a number, got "abc"',
        ),
        ({"score": {"min": True}}, "filter.score.min: expected a number, got true"),
        ({"score": {"min": 80, "max": 20}}, "filter.score: min 80 is above max 20"),
        ({"score": {}}, 'filter.score: expected "min" and/or "max", got an empty object'),
        ({"score": {"gt": 3}}, 'filter.score: unknown key "gt"; expected "min" and/or "max"'),
        ({"score": 70}, 'filter.score: expected an object with "min" and/or "max", got 70'),
        ({"owners": ["nobody"]}, 'filter.owners[0]: expected a user UUID or "unassigned"'),
        ({"created": {"from": "yesterday"}}, "filter.created.from: expected a date YYYY-MM-DD"),
        ({"created": {"from": "2026-02-30"}}, "filter.created.from: expected a date YYYY-MM-DD"),
        ({"created": {"to": "9999-12-31"}}, "filter.created.to: expected a date YYYY-MM-DD"),
        ({"created": {"from": "20260101"}}, "filter.created.from: expected a date YYYY-MM-DD"),
        (
            {"contacted": {"from": "2026-02-02", "to": "2026-02-01"}},
            "filter.contacted: from is after to",
        ),
        ({"has_email": "yes"}, 'filter.has_email: expected true or false, got "yes"'),
        ({"has_email": 1}, "filter.has_email: expected true or false, got 1"),
        ({"name": "   "}, "filter.name: expected a non-empty name"),
        ({"name": ["x"]}, "filter.name: expected a string, got a list of 1 items"),
        ({"any": []}, "filter.any: expected a list of filters, got an empty list"),
        ({"any": {"status": ["new"]}}, "filter.any: expected a list of filters, got an object"),
        ({"all": [{"status": ["new"]}, "hot"]}, 'filter.all[1]: expected an object, got "hot"'),
        ({"not": [{"status": ["new"]}]}, "filter.not: expected an object, got a list of 1 items"),
        (
            {"not": {"any": [{"all": [{"nope": 1}]}]}},
            'filter.not.any[0].all[0]: unknown key "nope"',
        ),
    ],
)
def test_invalid_filters_name_the_path(spec, message):
    with pytest.raises(SegmentFilterError) as excinfo:
        compile_filter(spec)
    assert str(excinfo.value).startswith(message), str(excinfo.value)


def test_hostile_strings_are_data_never_sql():
    hostile = "'; drop table leads; --"
    compiled = compile_filter(
        {"name": hostile, "tags_any": [hostile], "sources": ['x") or 1=1 --'], "status": ["new"]}
    )
    text = sql_of(compiled)
    assert "drop" not in text and "1=1" not in text
    assert_only_placeholders(text, compiled.params)
    assert compiled.params[0] == f"%{hostile}%"


def test_a_hostile_key_is_refused_without_echoing_it_at_length():
    key = "status = 'x' or 1=1; drop table leads; --" * 10
    with pytest.raises(SegmentFilterError, match=r"unknown key .{50,60}\.\.\.\"; expected"):
        compile_filter({key: ["hot"]})


def test_lists_over_1000_items_are_refused():
    compile_filter({"tags_any": [f"t{i}" for i in range(1000)]})
    with pytest.raises(SegmentFilterError, match=r"filter.tags_any: 10001 items, at most 1000"):
        compile_filter({"tags_any": [f"t{i}" for i in range(10_001)]})
    with pytest.raises(SegmentFilterError, match=r"filter.any: 1001 items"):
        compile_filter({"any": [{"status": ["new"]}] * 1001})


def test_strings_over_200_characters_are_refused():
    compile_filter({"name": "x" * 200})
    with pytest.raises(SegmentFilterError, match=r"filter.name: string of 201 characters"):
        compile_filter({"name": "x" * 201})
    with pytest.raises(SegmentFilterError, match=r"filter.tags_all\[0\]: string of 5000"):
        compile_filter({"tags_all": ["x" * 5000]})


def test_nesting_deeper_than_10_is_refused():
    def nested(depth: int) -> dict:
        spec: dict = {"status": ["new"]}
        for _ in range(depth - 1):
            spec = {"not": spec}
        return spec

    compile_filter(nested(10))
    with pytest.raises(SegmentFilterError, match=r"nested deeper than 10 levels"):
        compile_filter(nested(11))
    deep_json = '{"any": [' * 5000 + "{}" + "]}" * 5000
    with pytest.raises(SegmentFilterError, match=r"nested deeper than 10 levels"):
        compile_filter(deep_json)


def test_the_total_number_of_conditions_is_bounded():
    wide = {"any": [{"all": [{"status": ["new"]}] * 1000}] * 2}
    with pytest.raises(SegmentFilterError, match=f"more than {MAX_CONDITIONS} conditions"):
        compile_filter(wide)


def test_load_filter_refuses_non_objects_and_huge_text():
    assert load_filter('{"status": ["new"]}') == {"status": ["new"]}
    with pytest.raises(SegmentFilterError, match="expected an object, got null"):
        load_filter("null")
    with pytest.raises(SegmentFilterError, match="JSON text longer than"):
        load_filter(" " * 1_000_001)


def test_segment_query_scopes_to_one_organization_and_live_leads():
    compiled = compile_filter({"status": ["hot"]})
    query, params = segment_query(ORG, compiled, limit=5)
    text = query.as_string(None)
    assert text.startswith("select l.id, trim(l.first_name || ' ' || l.last_name) as name,")
    assert "from leads l where l.organization_id = %s and l.deleted_at is null and (" in text
    assert text.endswith("order by l.lead_score desc, l.created_at desc, l.id limit %s")
    assert params == [uuid.UUID(ORG), ["hot"], 5]

    query, params = segment_count_query(uuid.UUID(ORG), compile_filter({}))
    assert query.as_string(None) == (
        "select count(*) from leads l where l.organization_id = %s"
        " and l.deleted_at is null and (true)"
    )
    assert params == [uuid.UUID(ORG)]
    with pytest.raises(ValueError):
        segment_query("not-a-uuid", compiled)
    with pytest.raises(ValueError, match="limit"):
        segment_query(ORG, compiled, limit=-1)
