"""The recommendations domain's Definitions: the model, the recommendations, the quality check,
and the cache's freshness: the invalidation asset and the sensor that evaluates its automation
condition (this domain reacts to lead changes; the domains that make them know nothing of it).
The cache resource (`redis`, REDIS_URL, optional) comes with the store resources
(leadflow/resources.py)."""

import dagster as dg

from leadflow.recommend.assets import (
    RECOMMEND_ASSETS,
    RECOMMEND_CHECKS,
    recommendation_cache_invalidation,
)

recommendation_cache_sensor = dg.AutomationConditionSensorDefinition(
    "recommendation_cache_sensor",
    target=dg.AssetSelection.assets(recommendation_cache_invalidation),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Runs recommendation_cache_invalidation after an asset that writes leads"
    " materialized in a run without it (a launched import or CRM sync).",
)

defs = dg.Definitions(
    assets=RECOMMEND_ASSETS, asset_checks=RECOMMEND_CHECKS, sensors=[recommendation_cache_sensor]
)
