"""The activities domain's Definitions: MongoDB events copied into lead_activities."""

import dagster as dg

from leadflow.activities.assets import ACTIVITIES_ASSETS

defs = dg.Definitions(assets=ACTIVITIES_ASSETS)
