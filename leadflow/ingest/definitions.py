"""The ingest domain's Definitions: the import chain, its quality checks, job and sensor, and
the file access of every launched import run (landing files only; see LandingFiles)."""

import dagster as dg

from leadflow.ingest.assets import INGEST_ASSETS, LandingFiles, import_job, landing_dir_sensor
from leadflow.ingest.checks import INGEST_CHECKS

defs = dg.Definitions(
    assets=INGEST_ASSETS,
    asset_checks=INGEST_CHECKS,
    jobs=[import_job],
    sensors=[landing_dir_sensor],
    resources={"lead_files": LandingFiles()},
)
