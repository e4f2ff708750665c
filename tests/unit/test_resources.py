"""The store resources read the environment and start nothing: a run without its variable fails
with a message naming the variable and the command that starts local servers."""

from __future__ import annotations

import dagster as dg
import pytest

from leadflow.crm.assets import lead_scores
from leadflow.resources import (
    MongoResource,
    Neo4jResource,
    PostgresResource,
    from_env,
    resources_from_env,
)
from leadflow.settings import MissingSettingError

VARIABLES = ("POSTGRES_URL", "NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "MONGO_URL", "REDIS_URL")


@pytest.fixture
def no_connection_variables(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_a_run_without_postgres_url_names_the_variable_and_leadflow_up(no_connection_variables):
    result = dg.materialize(
        [lead_scores],
        resources=resources_from_env(),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [event for event in result.all_events if event.is_failure]
    # Dagster wraps it ("Error executing resource_fn on ResourceDefinition postgres"); the UI
    # and the logs show the cause under it
    error, messages = failure.event_specific_data.error, []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    assert any("POSTGRES_URL is not set" in m and "leadflow local up" in m for m in messages), (
        messages
    )


@pytest.mark.parametrize(
    ("resource", "method", "variable"),
    [
        (PostgresResource(), "resolved_url", "POSTGRES_URL"),
        (Neo4jResource(), "resolved_uri", "NEO4J_URI"),
        (MongoResource(), "resolved_url", "MONGO_URL"),
    ],
)
def test_each_resource_names_its_variable(no_connection_variables, resource, method, variable):
    with pytest.raises(
        MissingSettingError, match=rf"^{variable} is not set: .*`leadflow local up`"
    ):
        getattr(resource, method)()


def test_variables_are_read_when_used_not_when_defined(no_connection_variables, monkeypatch):
    resource = PostgresResource()
    monkeypatch.setenv("POSTGRES_URL", "postgresql://db.example/crm")
    assert resource.resolved_url() == "postgresql://db.example/crm"
    monkeypatch.setenv("NEO4J_URI", "neo4j://graph.example:7687")
    monkeypatch.setenv("NEO4J_USER", "neo4j")
    monkeypatch.setenv("NEO4J_PASSWORD", "secret")
    graph = Neo4jResource()
    assert (graph.resolved_uri(), graph.auth()) == (
        "neo4j://graph.example:7687",
        ("neo4j", "secret"),
    )
    monkeypatch.delenv("NEO4J_USER")
    assert graph.auth() is None  # a server without auth


def test_explicit_resources_get_dagster_env_vars(no_connection_variables, monkeypatch):
    assert from_env("POSTGRES_URL") is None
    monkeypatch.setenv("POSTGRES_URL", "postgresql://db.example/crm")
    assert from_env("POSTGRES_URL") == dg.EnvVar("POSTGRES_URL")


def test_a_deployments_resources_read_the_environment_when_used(
    no_connection_variables, monkeypatch
):
    """Sealed (no run config): the value comes from the environment of the run's process."""
    postgres = resources_from_env()["postgres"]
    monkeypatch.setenv("POSTGRES_URL", "postgresql://db.example/crm")
    with dg.build_resources({"postgres": postgres}) as built:
        assert built.postgres.resolved_url() == "postgresql://db.example/crm"
