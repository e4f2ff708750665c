"""DNC always wins over the recommendation cache, and `leadflow recommend` works as an
application role under row-level security (issue 18, items 7 and 8).

Before: only the pipeline steps invalidated the cache, so a number the application put on the
DNC list (or a lead it set to `dnc`) was served from Redis with action `call` until the next
step or the TTL (26 h); and `leadflow recommend` could not run as an application role at all.
Each test commits the change as the application role and reads through the CLI at once, with no
pipeline step in between.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

import dagster as dg
import psycopg
import pytest
import redis

from leadflow.recommend import cache
from leadflow.recommend.assets import lead_recommendations
from leadflow.resources import PostgresResource, RedisResource
from tests.conftest import run_leadflow
from tests.integration.tenant_isolation.conftest import ORG_A, ORG_B

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def filled(crm_url, redis_url, monkeypatch) -> dict[str, str]:
    """The nightly's recommendations in a cache of this test's own; an organization A lead
    whose recommendation is a call, in its agent's cached list."""
    monkeypatch.setenv("LEADFLOW_CACHE_PREFIX", f"lftest{uuid.uuid4().hex[:10]}")
    result = dg.materialize(
        [lead_recommendations],
        resources={
            "postgres": PostgresResource(url=crm_url),
            "redis": RedisResource(url=redis_url),
        },
        run_config={"ops": {"lead_recommendations": {"config": {"as_of": NOW.isoformat()}}}},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    with psycopg.connect(crm_url) as conn:
        lead, agent, phone = conn.execute(
            "select r.lead_id::text, r.user_id::text, l.phone_number"
            " from lead_recommendations r join leads l on l.id = r.lead_id"
            " where r.organization_id = %s and r.user_id is not null and r.action = 'call'"
            " order by r.agent_rank, r.lead_id limit 1",
            (ORG_A,),
        ).fetchone()
        others = {
            row[0]
            for row in conn.execute(
                "select lead_id::text from lead_recommendations where user_id = %s and lead_id <> %s",
                (agent, lead),
            )
        }
    return {"lead": lead, "agent": agent, "phone": phone, "others": others}


def _recommend(url: str, redis_url: str, *args: str) -> dict:
    result = run_leadflow(
        "recommend",
        *args,
        "--limit",
        "50",
        "--json",
        env={"POSTGRES_URL": url, "REDIS_URL": redis_url},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _application_writer(as_tenant) -> psycopg.Connection:
    """The application role acting for organization A (app.current_tenant_id, the one setting
    every policy reads, dnc_list's included)."""
    return as_tenant(ORG_A)


@pytest.mark.parametrize("change", ["dnc_list row", "status dnc"])
def test_a_lead_made_dnc_by_the_application_is_never_served_from_the_cache(
    app_url, crm_url, redis_url, as_tenant, filled, change
):
    lead, agent = filled["lead"], filled["agent"]
    # the legitimate path first: as the application role, from the cache, with the lead
    before = _recommend(app_url, redis_url, "--org", ORG_A, "--agent", agent)
    assert before["source"] == cache.Source.CACHE
    assert lead in {i["lead_id"] for i in before["items"]}
    assert next(i for i in before["items"] if i["lead_id"] == lead)["action"] == "call"

    writer = _application_writer(as_tenant)
    if change == "dnc_list row":
        writer.execute(
            "insert into dnc_list (organization_id, phone_number, reason, source)"
            " values (%s, %s, 'stop calling me', 'customer_request')",
            (ORG_A, filled["phone"]),
        )
    else:
        assert writer.execute("update leads set status = 'dnc' where id = %s", (lead,)).rowcount
    committed = time.monotonic()  # autocommit: committed; no pipeline step runs from here on

    after = _recommend(app_url, redis_url, "--org", ORG_A, "--agent", agent)
    entry = _recommend(app_url, redis_url, "--org", ORG_A, "--lead", lead)
    served_within = time.monotonic() - committed
    assert lead not in {i["lead_id"] for i in after["items"]}
    assert after["source"] == cache.Source.POSTGRES_STALE  # the cached list failed the check
    assert {i["lead_id"] for i in after["items"]} == filled["others"]  # the rest still served
    assert entry["item"] is None and entry["source"] == cache.Source.POSTGRES_STALE
    assert served_within < 30  # the very next reads, not a TTL or a schedule later

    # the refilled list is a cache hit again, still without the lead; so for every role
    again = _recommend(app_url, redis_url, "--org", ORG_A, "--agent", agent)
    assert again["source"] == cache.Source.CACHE and again["items"] == after["items"]
    for url in (app_url, crm_url):
        args = ("--org", ORG_A) if url == app_url else ()
        assert _recommend(url, redis_url, *args, "--lead", lead)["item"] is None


def test_recommend_as_the_application_role_needs_and_honours_org(
    app_url, crm_url, redis_url, filled
):
    agent, lead = filled["agent"], filled["lead"]
    env = {"POSTGRES_URL": app_url, "REDIS_URL": redis_url}
    # without a tenant the role sees no user: a clear error that names --org
    unscoped = run_leadflow("recommend", "--agent", agent, "--json", env=env)
    assert unscoped.returncode == 2 and "--org" in unscoped.stderr and not unscoped.stdout
    # a slug cannot be resolved before a tenant is set: the error says to give the UUID
    slug = run_leadflow("recommend", "--org", "summit", "--agent", agent, env=env)
    assert slug.returncode == 2 and "UUID" in slug.stderr
    # scoped to organization B, organization A's agent and lead do not exist
    for args in (("--agent", agent), ("--lead", lead)):
        other = run_leadflow("recommend", "--org", ORG_B, *args, "--json", env=env)
        assert other.returncode == 2 and "unknown" in other.stderr and not other.stdout
    # the legitimate paths: scoped by UUID as the application role; by slug, or unscoped, as
    # the owner; the JSON keys are the contract's
    scoped = _recommend(app_url, redis_url, "--org", ORG_A, "--agent", agent)
    assert set(scoped) == {"agent", "email", "organization_id", "source", "items"}
    assert scoped["organization_id"] == ORG_A and scoped["items"]
    by_slug = _recommend(crm_url, redis_url, "--org", "summit", "--agent", agent)
    unscoped_owner = _recommend(crm_url, redis_url, "--agent", agent)
    assert by_slug["items"] == unscoped_owner["items"] == scoped["items"]
    entry = _recommend(app_url, redis_url, "--org", ORG_A, "--lead", lead)
    assert set(entry) == {"lead", "organization_id", "source", "item"}
    assert entry["item"]["lead_id"] == lead


def test_nothing_unchecked_is_served_when_postgresql_cannot_be_asked(filled, redis_url):
    @contextmanager
    def unreachable():
        raise psycopg.OperationalError("connection refused")
        yield  # pragma: no cover

    client = redis.Redis.from_url(redis_url)
    try:
        for read in (
            lambda: cache.agent_list(client, unreachable, ORG_A, filled["agent"], 10),
            lambda: cache.lead_entry(client, unreachable, ORG_A, filled["lead"]),
        ):
            with pytest.raises(psycopg.OperationalError):
                read()
    finally:
        client.close()
