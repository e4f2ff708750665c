"""The organization resolver and the schema check in the commands of graph, crm, segments,
sources, report and recommend (leadflow.cli.resolve, leadflow.cli.common): an unknown
organization, or an outdated schema, is refused with exit 2 before any work, naming the choices
(or the migrations), with nothing on stdout. None of these needs the graph, a CRM or the marts:
each is refused before it would reach them."""

from __future__ import annotations

import json
from collections.abc import Callable

import psycopg
import pytest

from tests.conftest import run_leadflow
from tests.integration.conftest import ORG1

pytestmark = pytest.mark.integration

MANAGER = "daniel.brooks@summit.example.com"
MANAGER_ID = "a1000000-0000-4000-8000-000000000002"
#: a command that reached the graph or the cache would fail (1) or warn: none may get that far
DEAD_ENDS = {"NEO4J_URI": "bolt://127.0.0.1:9", "REDIS_URL": "redis://127.0.0.1:9/0"}
CONNECT = (
    "--vendor",
    "hubspot",
    "--base-url",
    "https://api.hubapi.com",
    "--secret-env",
    "HUBSPOT_TOKEN_SUMMIT",
)

#: every command of the six modules that takes --org, with the rest of a valid command line
WITH_ORG: list[tuple[str, ...]] = [
    ("graph", "sync"),
    ("graph", "reconcile"),
    ("graph", "top-referrers"),
    ("graph", "agent-reach", MANAGER),
    ("crm", "sync"),
    ("crm", "push"),
    ("crm", "status"),
    ("crm", "connect", *CONNECT),
    ("segments", "preview", "{}"),
    ("sources", "list"),
    ("sources", "add", "walk in", "walk_in"),
    ("sources", "remove", "walk in"),
    ("sources", "unmapped"),
    ("report",),
    ("recommend", "--agent", MANAGER),
]


def _rows(url: str) -> tuple[int, ...]:
    """What the refused commands would have written."""
    with psycopg.connect(url) as conn:
        return tuple(
            conn.execute(f"select count(*) from {table}").fetchone()[0]
            for table in ("crm_connections", "source_aliases", "sync_watermarks")
        )


@pytest.mark.parametrize("command", WITH_ORG, ids=" ".join)
def test_an_unknown_organization_exits_2_naming_the_choices(
    seeded_url, command, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    before = _rows(seeded_url)
    result = run_leadflow(
        *command,
        "--org",
        "nowhere",
        env=DEAD_ENDS | {"POSTGRES_URL": seeded_url},
    )
    assert result.returncode == 2, result.stderr
    # the last line: recommend may warn first that its cache is unreachable
    assert result.stderr.splitlines()[-1] == (
        "leadflow: error: unknown organization --org 'nowhere': give a UUID, a slug or an exact"
        " name (northwind, southern-cross, summit)"
    )
    assert not result.stdout
    assert _rows(seeded_url) == before
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize(
    "command",
    [
        ("graph", "sync", "--org", "summit"),
        ("graph", "reconcile"),
        ("graph", "top-referrers", "--org", "summit"),
        ("graph", "referral-chain", "b1000000-0000-4000-8000-000000000003"),
        ("graph", "agent-reach", MANAGER),
        ("crm", "status"),
        ("crm", "sync", "--org", "summit"),
        ("crm", "connect", "--org", ORG1, *CONNECT),
        ("segments", "preview", "{}", "--org", "summit"),
        ("sources", "list"),
        ("sources", "import", "aliases.csv"),
        ("report", "--org", "summit"),
        ("recommend", "--agent", MANAGER),
    ],
    ids=" ".join,
)
def test_an_outdated_schema_exits_2_before_any_work(
    make_database: Callable[..., str], command, tmp_path, monkeypatch
):
    url = make_database("cli_unmigrated")  # empty: every migration pending
    monkeypatch.chdir(tmp_path)
    (tmp_path / "aliases.csv").write_text("alias,canonical_source\nwalk in,walk_in\n")
    result = run_leadflow(*command, env=DEAD_ENDS | {"POSTGRES_URL": url})
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("leadflow: error: the database schema is not up to date: ")
    assert "001_organizations_users (pending)" in result.stderr
    assert not result.stdout
    with psycopg.connect(url) as conn:  # nothing was created
        assert conn.execute(
            "select count(*) from pg_tables where schemaname = 'public'"
        ).fetchone() == (0,)


def test_recommend_takes_the_organization_by_uuid_slug_or_name_and_the_agent_by_e_mail(
    seeded_url,
):
    env = DEAD_ENDS | {"POSTGRES_URL": seeded_url}
    answers = []
    for org in (ORG1, "summit", "Summit Talent Partners"):
        for agent in (MANAGER_ID, MANAGER.upper()):
            result = run_leadflow("recommend", "--org", org, "--agent", agent, "--json", env=env)
            assert result.returncode == 0, result.stderr
            [line] = result.stdout.splitlines()  # one object on one line
            payload = json.loads(line)
            answers.append((payload["agent"], payload["email"], payload["organization_id"]))
    assert set(answers) == {(MANAGER_ID, MANAGER, ORG1)}
    # an unknown agent of a known organization: exit 2, the organization's users listed
    nobody = run_leadflow("recommend", "--org", "summit", "--agent", "x@y.example", env=env)
    assert nobody.returncode == 2 and not nobody.stdout
    assert nobody.stderr.splitlines()[-1].startswith(
        "leadflow: error: unknown user --agent 'x@y.example' of that organization"
    )
    assert MANAGER in nobody.stderr
