"""MongoDB resource: a pymongo client, against MongoDB or the local wire-protocol server."""

from __future__ import annotations

import dagster as dg
from pydantic import Field, PrivateAttr
from pymongo import MongoClient
from pymongo.database import Database

from dagster_project.services import MongoService
from dagster_project.services.mongo import mongo_database


class MongoResource(dg.ConfigurableResource):
    """Activity events live here; `url` defaults to MONGO_URL or the local server."""

    url: str | None = Field(default=None, description="mongodb:// URL.")
    database: str | None = Field(default=None, description="Defaults to MONGO_DATABASE/leadflow.")

    _client: MongoClient | None = PrivateAttr(default=None)

    def resolved_url(self) -> str:
        return self.url or MongoService().ensure_running()

    def get_client(self) -> MongoClient:
        if self._client is None:
            self._client = MongoClient(
                self.resolved_url(), tz_aware=True, serverSelectionTimeoutMS=10000
            )
        return self._client

    def get_database(self) -> Database:
        return self.get_client()[self.database or mongo_database()]

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
