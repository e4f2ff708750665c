"""`leadflow sources list|add|remove|unmapped|import`: exit codes and --json on a migrated
database (migration 015's global aliases, one organization with leads and costs)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.conftest import run_leadflow

pytestmark = pytest.mark.integration

ORG = "76000000-0000-4000-8000-000000000001"
USER = "76a00000-0000-4000-8000-000000000001"


@pytest.fixture
def url(new_migrated_database: Callable[[str], str]) -> str:
    url = new_migrated_database("cli_sources")
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into organizations (id, name, slug) values (%s, 'Harbour Health', 'harbour')",
            (ORG,),
        )
        conn.execute(
            "insert into users (id, organization_id, email) values (%s, %s, 'a@h.example')",
            (USER, ORG),
        )
        for n, source in enumerate(["job_board_indeed", "walk_in", "walk_in", "Website"]):
            conn.execute(
                "insert into leads (organization_id, first_name, last_name, phone_number, status,"
                " source) values (%s, 'L', %s, %s, 'new', %s)",
                (ORG, f"L{n}", f"+1212557{n:04d}", source),
            )
        conn.execute(
            "insert into lead_source_costs (organization_id, user_id, source, period, cost_usd)"
            " values (%s, %s, 'career_fair', '2026-01', 250)",
            (ORG, USER),
        )
    return url


def sources(url: str, *args: str):
    return run_leadflow("sources", *args, env={"POSTGRES_URL": url})


def test_list_shows_the_global_aliases(url):
    result = sources(url, "list", "--json")
    assert result.returncode == 0
    payload = json.loads(result.stdout)
    assert payload["organization"] is None
    by_key = {a["alias_key"]: a for a in payload["aliases"]}
    assert by_key["job_board_indeed"]["canonical_source"] == "indeed"
    assert by_key["facebook"]["match_type"] == "prefix"
    assert all(a["organization_id"] is None for a in payload["aliases"])


def test_all_is_every_organization(url):
    every = sources(url, "list", "--org", "all", "--json")
    assert every.returncode == 0 and every.stdout == sources(url, "list", "--json").stdout
    unmapped = sources(url, "unmapped", "--org", "ALL", "--json")
    assert unmapped.returncode == 3
    assert json.loads(unmapped.stdout)["organization"] is None
    assert {s["source"] for s in json.loads(unmapped.stdout)["unmapped"]} == {
        "walk_in",
        "Website",
        "career_fair",
    }


def test_unmapped_add_remove_round_trip(url):
    result = sources(url, "unmapped", "--org", "harbour", "--json")
    assert result.returncode == 3  # found some
    payload = json.loads(result.stdout)
    assert payload["organization"] == {"id": ORG, "slug": "harbour", "name": "Harbour Health"}
    found = {s["source"]: s for s in payload["unmapped"]}
    assert set(found) == {"walk_in", "Website", "career_fair"}
    assert found["walk_in"]["leads"] == 2 and found["career_fair"]["cost_rows"] == 1
    assert found["career_fair"]["cost_usd"] == "250.00"

    added = sources(url, "add", "Walk-in", "Walk In Office", "--org", "Harbour Health", "--json")
    assert added.returncode == 0
    alias = json.loads(added.stdout)
    assert alias["created"] is True
    assert alias["alias"]["alias_key"] == "walk_in"
    assert alias["alias"]["canonical_source"] == "walk_in_office"
    assert alias["alias"]["organization_id"] == ORG
    again = json.loads(
        sources(url, "add", "walk in", "walk_in_office", "--org", ORG, "--json").stdout
    )
    assert again["created"] is False and again["alias"]["id"] == alias["alias"]["id"]
    assert sources(url, "add", "career fair", "job_fair", "--prefix").returncode == 0
    assert sources(url, "add", "website", "website").returncode == 0

    result = sources(url, "unmapped", "--org", "harbour", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["unmapped"] == []
    listed = json.loads(sources(url, "list", "--org", "harbour", "--json").stdout)
    assert {a["alias_key"] for a in listed["aliases"] if a["organization_id"] == ORG} == {"walk_in"}

    removed = sources(url, "remove", "WALK IN", "--org", "harbour", "--json")
    assert removed.returncode == 0
    assert [a["alias_key"] for a in json.loads(removed.stdout)["removed"]] == ["walk_in"]
    assert sources(url, "remove", "walk in", "--org", "harbour").returncode == 2  # nothing left
    assert "walk_in" in sources(url, "unmapped").stdout


def test_bad_requests_exit_2(url):
    unknown = sources(url, "list", "--org", "nowhere")
    assert unknown.returncode == 2 and not unknown.stdout
    assert unknown.stderr == (
        "leadflow: error: unknown organization --org 'nowhere': give a UUID, a slug or an"
        " exact name (harbour)\n"
    )
    # `all` is every organization where a command lists them, not an organization to add to
    refused = sources(url, "add", "walk in", "walk_in", "--org", "all")
    assert refused.returncode == 2 and "unknown organization --org 'all'" in refused.stderr
    assert sources(url, "add", "!!", "indeed").returncode == 2
    assert sources(url, "add", "indeed", "--", "--").returncode == 2


def test_import_adds_all_rows_or_none(url, tmp_path: Path):
    good = tmp_path / "aliases.csv"
    good.write_text(
        "alias,canonical_source,organization,match_type,note\n"
        "Walk In,walk_in,harbour,prefix,front desk\n"
        "Seek Jobs,seek,,exact,\n",
        encoding="utf-8",
    )
    result = sources(url, "import", str(good), "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {
        "file": str(good),
        "rows": 2,
        "created": 2,
        "updated": 0,
    }
    bad = tmp_path / "bad.csv"
    bad.write_text("alias,canonical_source,organization\nfoo,bar,\n--,x,\nok,y,nosuch\n")
    result = sources(url, "import", str(bad))
    assert result.returncode == 2
    assert "row 3" in result.stderr and "row 4" in result.stderr
    keys = [a["alias_key"] for a in json.loads(sources(url, "list", "--json").stdout)["aliases"]]
    assert "foo" not in keys and "seek_jobs" in keys
