"""The graph domain's Definitions: the CRM graph in Neo4j and its reconciliation check."""

import dagster as dg

from leadflow.graph.assets import GRAPH_ASSETS, GRAPH_CHECKS

defs = dg.Definitions(assets=GRAPH_ASSETS, asset_checks=GRAPH_CHECKS)
