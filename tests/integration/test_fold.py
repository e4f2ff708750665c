"""sql.fold_duplicates (set-based, in PostgreSQL) folds a file's repeated (organization, phone)
keys exactly as dedupe.merge_duplicate says, on random rows with every kind of blank."""

from __future__ import annotations

import random
from dataclasses import replace

import psycopg
import pytest

from leadflow.ingest import sql
from leadflow.ingest.dedupe import merge_duplicate
from leadflow.leads.records import LEAD_STATUSES, CleanLead

pytestmark = pytest.mark.integration

ORGS = ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"]
OWNERS = ["a1000000-0000-4000-8000-000000000001", "a1000000-0000-4000-8000-000000000002"]
FIELDS = (
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
    "company",
    "crm_status",
    "phone_source",
)


def _random_leads(rng: random.Random, rows: int) -> list[CleanLead]:
    def maybe(*values):
        return rng.choice([None, *values])

    leads = []
    for row in range(1, rows + 1):
        leads.append(
            CleanLead(
                row,
                rng.choice(ORGS),
                f"+1212555{rng.randrange(40):04d}",  # ~40 keys per organization: many repeats
                maybe("mobile", "fixed_line_or_mobile"),
                maybe(*OWNERS),
                rng.choice(["", "Ann", "Bob", "Émile"]),
                rng.choice(["", "Lee", "O'Brien"]),
                maybe(f"a{row}@example.com"),
                maybe(*LEAD_STATUSES),
                rng.sample(["hot", "cdl", "night shift", 'say "hi"', "a,b"], rng.randrange(4)),
                maybe("facebook", "indeed", ""),
                maybe("+12125550000", "ref@example.com"),
                [],  # notes: not staged
                maybe("Acme", "Globex"),
                maybe("Evangelist", "Recycled"),
                maybe("Mobile"),
            )
        )
    return leads


def _python_fold(leads: list[CleanLead]) -> dict[tuple[str, str], tuple]:
    survivors: dict[tuple[str, str], CleanLead] = {}
    for lead in leads:  # file order
        key = (lead.organization_id, lead.phone_number)
        if key in survivors:
            merge_duplicate(survivors[key], lead)
        else:
            survivors[key] = replace(
                lead, tags=list(lead.tags), notes=list(lead.notes)
            )  # a copy: lists grow
    return {key: tuple(getattr(lead, f) for f in FIELDS) for key, lead in survivors.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_fold_equals_merge_duplicate(migrated_url, seed):
    rng = random.Random(seed)
    leads = _random_leads(rng, 600)
    rng.shuffle(leads)  # staged rows are in no particular order; row_number is the file order
    expected = _python_fold(sorted(leads, key=lambda lead: lead.row_number))
    with psycopg.connect(migrated_url) as conn:
        sql.create_staging(conn)
        with sql.staging_copy(conn) as copy:
            copy.write(sql.copy_text(sql.stage_lead(lead) for lead in leads))
        folded = sql.fold_duplicates(conn)
        columns = ", ".join(
            f"{f}::text" if f in ("organization_id", "user_id") else f for f in FIELDS
        )
        got = {
            (row[1], row[2]): row
            for row in conn.execute(f"select {columns} from stg_leads").fetchall()
        }
        conn.rollback()
    assert folded == len(leads) - len(expected)
    assert folded > 300  # the data does exercise the fold
    assert got.keys() == expected.keys()
    for key, row in expected.items():
        assert got[key] == row, key


def test_a_file_without_repeats_folds_nothing(migrated_url):
    leads = [CleanLead(n, ORGS[0], f"+1212555{n:04d}") for n in range(1, 6)]
    with psycopg.connect(migrated_url) as conn:
        sql.create_staging(conn)
        with sql.staging_copy(conn) as copy:
            copy.write(sql.copy_text(sql.stage_lead(lead) for lead in leads))
        assert sql.fold_duplicates(conn) == 0
        assert conn.execute("select count(*) from stg_leads").fetchone()[0] == 5
        conn.rollback()
