"""The single Dagster entry point: `dagster dev` from the repository root loads `defs`.

Each domain builds its own Definitions (assets, checks, jobs, sensors); this module merges them
and adds the store resources, read from the environment (see leadflow/resources.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from leadflow.activities import definitions as activities
from leadflow.analytics import definitions as analytics
from leadflow.costs import definitions as costs
from leadflow.crm import definitions as crm
from leadflow.crmsync import definitions as crmsync
from leadflow.graph import definitions as graph
from leadflow.ingest import definitions as ingest
from leadflow.orchestration import definitions as orchestration
from leadflow.recommend import definitions as recommend
from leadflow.resources import RedisResource, from_env, resources_from_env
from leadflow.settings import nightly_settings


def build_defs(resources: Mapping[str, Any] | None = None) -> dg.Definitions:
    """All domains with the store resources from the environment, or `resources` instead
    (in-process runs against explicit servers: tests, scratch databases). The schedule
    settings are read here, once, for every schedule."""
    schedules = nightly_settings()
    return dg.Definitions.merge(
        ingest.defs,
        activities.defs,
        crm.defs,
        crmsync.build_defs(schedules),
        costs.defs,
        recommend.defs,
        graph.defs,
        analytics.defs,
        orchestration.build_defs(schedules),
        dg.Definitions(resources=_with_cache(resources) if resources else resources_from_env()),
    )


def _with_cache(resources: Mapping[str, Any]) -> dict[str, Any]:
    """Explicit resources, plus the optional cache (REDIS_URL) when they do not name one."""
    return {"redis": RedisResource(url=from_env("REDIS_URL")), **resources}


defs = build_defs()
