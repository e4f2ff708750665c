"""Smoke test: the single Definitions object loads with its resources."""

from leadflow.definitions import defs


def test_definitions_load_with_the_three_resources():
    repo = defs.get_repository_def()
    assert {"postgres", "neo4j", "mongo"} <= set(repo.get_top_level_resources())
