"""The import's row rules (leadflow/ingest/quality_sql.py) on leads that break them, and the
same rows judged by great-expectations (issue 19: the checks run as plain SQL on an import,
where loading great-expectations alone took 4.9 s; great-expectations stays the reference of
what each rule means, here).

The leads table's own constraints would refuse such rows: a damaged copy of the seeded database
(constraints and unique indexes dropped, triggers off) stands for a table that drifted.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from leadflow.ingest.quality_sql import (
    E164_REGEX,
    PHONE_IS_E164,
    PHONE_UNIQUE_PER_ORGANIZATION,
    SCORE_IN_RANGE,
    STATUS_IN_ENUM,
    evaluate,
)
from leadflow.leads.records import LEAD_STATUSES
from tests.integration.conftest import ORG1, ORG2

pytestmark = pytest.mark.integration

RULES = [PHONE_IS_E164, STATUS_IN_ENUM, SCORE_IN_RANGE, PHONE_UNIQUE_PER_ORGANIZATION]
#: (organization, phone, status, score) of the rows that break a rule
BROKEN = [
    (ORG1, "0415 555 0101", "new", 10),  # not E.164
    (ORG1, "+14155550199", "bogus", 10),  # status outside the enum
    (ORG1, "+14155550198", "new", 150),  # score above 100
    (ORG1, "+14155550197", "new", 20),  # two live leads share a phone...
    (ORG1, "+14155550197", "contacted", 30),
    (ORG2, "12345", "bogus", -5),  # ...and another organization's rows are not looked at
]


@pytest.fixture(scope="module")
def damaged(request) -> str:
    url = request.getfixturevalue("new_seeded_database")("quality_rules")
    with psycopg.connect(url, autocommit=True) as conn:
        for (name,) in conn.execute(
            "select conname from pg_constraint where conrelid = 'leads'::regclass and contype = 'c'"
        ).fetchall():
            conn.execute(f'alter table leads drop constraint "{name}"')
        for (name,) in conn.execute(
            "select i.indexrelid::regclass::text from pg_index i"
            " where i.indrelid = 'leads'::regclass and i.indisunique and not i.indisprimary"
        ).fetchall():
            conn.execute(f"drop index {name}")
        conn.execute("set session_replication_role = replica")  # no trigger repairs a row
        for org, phone, status, score in BROKEN:
            conn.execute(
                "insert into leads (id, organization_id, first_name, last_name, phone_number,"
                " status, lead_score) values (%s, %s, 'Broken', 'Row', %s, %s, %s)",
                (uuid.uuid4(), org, phone, status, score),
            )
    return url


def _live_leads(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select organization_id::text, phone_number, status, lead_score from leads"
            " where deleted_at is null and organization_id = %s",
            (ORG1,),
        ).fetchall()


def test_each_rule_counts_and_shows_its_failing_rows(damaged):
    with psycopg.connect(damaged) as conn:
        outcomes = {o.name: o for o in evaluate(conn, [ORG1], RULES)}
    live = len(_live_leads(damaged))
    assert {o.rows_checked for o in outcomes.values()} == {live}
    phone, status, score, unique = (outcomes[rule.name] for rule in RULES)
    assert (phone.failing_count, phone.sample) == (1, ["0415 555 0101"])
    assert (status.failing_count, status.sample) == (1, ["bogus"])
    assert (score.failing_count, score.sample) == (1, [150])
    assert unique.failing_count == 2
    assert unique.sample == [{"organization_id": ORG1, "phone_number": "+14155550197"}] * 2
    assert not any(o.passed for o in outcomes.values())


def test_an_organization_without_broken_rows_passes(seeded_url):
    with psycopg.connect(seeded_url) as conn:
        outcomes = evaluate(conn, [ORG1, ORG2], RULES)
    assert all(o.passed and o.rows_checked > 0 and o.sample == [] for o in outcomes)


def test_great_expectations_judges_the_same_rows_the_same_way(damaged):
    """The reference: great-expectations' own expectations over the same live leads give the
    same element and unexpected counts as the SQL rules."""
    import great_expectations as gx  # the dev extra; loaded here only (seconds to import)
    import pandas as pd

    frame = pd.DataFrame(
        _live_leads(damaged), columns=["organization_id", "phone_number", "status", "lead_score"]
    )
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("leads")
        .add_dataframe_asset("live_leads")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    expectations = {
        PHONE_IS_E164.name: gx.expectations.ExpectColumnValuesToMatchRegex(
            column="phone_number", regex=E164_REGEX
        ),
        STATUS_IN_ENUM.name: gx.expectations.ExpectColumnValuesToBeInSet(
            column="status", value_set=list(LEAD_STATUSES)
        ),
        SCORE_IN_RANGE.name: gx.expectations.ExpectColumnValuesToBeBetween(
            column="lead_score", min_value=0, max_value=100
        ),
        PHONE_UNIQUE_PER_ORGANIZATION.name: gx.expectations.ExpectCompoundColumnsToBeUnique(
            column_list=["organization_id", "phone_number"]
        ),
    }
    with psycopg.connect(damaged) as conn:
        ours = {o.name: (o.rows_checked, o.failing_count) for o in evaluate(conn, [ORG1], RULES)}
    theirs = {}
    for name, expectation in expectations.items():
        result = batch.validate(expectation).result
        theirs[name] = (result["element_count"], result["unexpected_count"])
    assert ours == theirs
