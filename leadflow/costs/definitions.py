"""The costs domain's Definitions: the cost import asset, its job and landing sensor, and the
file access of every launched cost import run (landing cost files only; see LandingCostFiles)."""

import dagster as dg

from leadflow.costs.assets import (
    COSTS_ASSETS,
    LandingCostFiles,
    cost_import_job,
    cost_landing_sensor,
)

defs = dg.Definitions(
    assets=COSTS_ASSETS,
    jobs=[cost_import_job],
    sensors=[cost_landing_sensor],
    resources={"cost_files": LandingCostFiles()},
)
