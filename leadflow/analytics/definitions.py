"""The analytics domain's Definitions: the dbt project as assets, with its dbt resource."""

import dagster as dg

from leadflow.analytics.assets import ANALYTICS_ASSETS, dbt_resource

defs = dg.Definitions(assets=ANALYTICS_ASSETS, resources={"dbt": dbt_resource()})
