"""The recommendations domain's Definitions: the model, the recommendations, the quality check,
and the cache resource (REDIS_URL; optional)."""

import dagster as dg

from leadflow.recommend.assets import RECOMMEND_ASSETS, RECOMMEND_CHECKS
from leadflow.resources import RedisResource, from_env

defs = dg.Definitions(
    assets=RECOMMEND_ASSETS,
    asset_checks=RECOMMEND_CHECKS,
    resources={"redis": RedisResource(url=from_env("REDIS_URL"))},
)
