"""The ingest domain's Definitions: the import, its quality checks, job and sensor, the file
access of every launched import run (landing files only; see LandingFiles), and the nightly
resolution of pending referrals (`lead_referrals`)."""

import dagster as dg

from leadflow.ingest.assets import (
    INGEST_ASSETS,
    LandingFiles,
    import_job,
    landing_dir_sensor,
    lead_referrals,
)
from leadflow.ingest.checks import INGEST_CHECKS

defs = dg.Definitions(
    assets=[*INGEST_ASSETS, lead_referrals],
    asset_checks=INGEST_CHECKS,
    jobs=[import_job],
    sensors=[landing_dir_sensor],
    resources={"lead_files": LandingFiles()},
)
