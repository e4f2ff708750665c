"""Neo4j resource: the official driver, against Neo4j 5 or the local Bolt server."""

from __future__ import annotations

import dagster as dg
from neo4j import Driver, GraphDatabase
from pydantic import Field, PrivateAttr

from dagster_project.services import GraphService
from dagster_project.services.graph import graph_auth, graph_database


def server_agent(uri: str, timeout: float = 10.0) -> str:
    """The server's agent string as the driver sees it (detects Neo4j vs. ArcadeDB)."""
    with GraphDatabase.driver(uri, auth=graph_auth(), connection_timeout=timeout) as driver:
        return driver.get_server_info().agent


class Neo4jResource(dg.ConfigurableResource):
    """A driver for the graph; `uri` defaults to NEO4J_URI or the local Bolt server."""

    uri: str | None = Field(default=None, description="bolt:// or neo4j:// URI.")
    user: str | None = Field(default=None, description="Defaults to NEO4J_USER.")
    password: str | None = Field(default=None, description="Defaults to NEO4J_PASSWORD.")
    database: str | None = Field(default=None, description="Defaults to NEO4J_DATABASE/neo4j.")

    _driver: Driver | None = PrivateAttr(default=None)

    def resolved_uri(self) -> str:
        return self.uri or GraphService().ensure_running()

    def resolved_database(self) -> str:
        return self.database or graph_database()

    def get_driver(self) -> Driver:
        if self._driver is None:
            default_user, default_password = graph_auth()
            self._driver = GraphDatabase.driver(
                self.resolved_uri(),
                auth=(self.user or default_user, self.password or default_password),
            )
        return self._driver

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None
