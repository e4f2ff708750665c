"""leadflow: a lead pipeline for a recruiting CRM, orchestrated by Dagster."""

__version__ = "0.1.0"
