"""The CRM domain's Definitions: scores, assignments, segment sizes, nurture enrollments."""

import dagster as dg

from leadflow.crm.assets import CRM_ASSETS

defs = dg.Definitions(assets=CRM_ASSETS)
