"""Smoke test: the single Definitions object loads with its resources."""

from leadflow.definitions import defs


def test_definitions_load_with_the_three_resources():
    repo = defs.get_repository_def()
    assert {"postgres", "neo4j", "mongo"} <= set(repo.get_top_level_resources())


def test_no_launched_run_can_repoint_a_resource():
    """The Dagster UI has no login: run config must not pick a server, a project or an
    executable (before migration 011's issue, `resources.postgres.config.url` was accepted and
    the run wrote every tenant's leads to the server it named)."""
    import dagster as dg
    import pytest

    repo = defs.get_repository_def()
    resources = repo.get_top_level_resources()
    hostile = {
        "url": "postgresql://evil.example:5432/x",
        "uri": "bolt://evil.example:7687",
        "project_dir": "/tmp/evil",
        "dbt_executable": "/bin/sh",
    }
    for key, definition in resources.items():
        fields = getattr(definition.config_schema.as_field().config_type, "fields", None) or {}
        assert not fields, f"resource {key} takes run config: {sorted(fields)}"
    for job in repo.get_all_jobs():
        for key in job.resource_defs:
            if key not in resources:
                continue
            for field, value in hostile.items():
                with pytest.raises(dg.DagsterInvalidConfigError):
                    dg.validate_run_config(job, {"resources": {key: {"config": {field: value}}}})


def test_one_partitions_definition_for_the_organization_key_space():
    """The imports, the CRM sync and the graph are partitioned alike: an organization's
    partition is the same key in each (there used to be `crm_organizations` besides)."""
    from leadflow.dagster_vocab import organization_partitions

    graph = defs.resolve_asset_graph()
    partitioned = {
        key.to_user_string(): graph.get(key).partitions_def
        for key in graph.get_all_asset_keys()
        if graph.get(key).partitions_def is not None
    }
    assert {"crm_leads", "crm_api_leads", "crm_pushback", "crm_graph"} <= set(partitioned)
    assert all(p == organization_partitions for p in partitioned.values()), partitioned


def test_the_crm_sync_finds_no_connection_for_the_multi_org_partition():
    """`multi_org` (files with an organization column) is no organization, nor a slug to look
    up: nothing is asked of PostgreSQL (this one does not exist)."""
    from leadflow.crmsync.assets import _org_connections
    from leadflow.resources import PostgresResource

    nowhere = PostgresResource(url="postgresql://nobody@127.0.0.1:1/none")
    assert _org_connections(nowhere, "multi_org") == []
