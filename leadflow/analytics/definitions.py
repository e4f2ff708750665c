"""The analytics domain's Definitions: the dbt project as assets (its sources as the CRM tables
they read), with its dbt resource."""

import dagster as dg

from leadflow.analytics.assets import ANALYTICS_ASSETS, dbt_resource
from leadflow.resources import sealed

# sealed: a launched run cannot name another dbt project or executable
defs = dg.Definitions(assets=ANALYTICS_ASSETS, resources={"dbt": sealed(dbt_resource())})
