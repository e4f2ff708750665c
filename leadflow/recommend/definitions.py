"""The recommendations domain's Definitions: the model, the recommendations and the quality
check. The cache resource (`redis`, REDIS_URL, optional) comes with the store resources
(leadflow/resources.py)."""

import dagster as dg

from leadflow.recommend.assets import RECOMMEND_ASSETS, RECOMMEND_CHECKS

defs = dg.Definitions(assets=RECOMMEND_ASSETS, asset_checks=RECOMMEND_CHECKS)
