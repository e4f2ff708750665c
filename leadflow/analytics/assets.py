"""dbt models (dbt/) as Dagster assets: staging → intermediate → marts on PostgreSQL.

Each dbt source maps to the Dagster asset that fills its table (`meta.dagster_asset` in
dbt/models/staging/_crm__sources.yml), so the lineage runs from lead files to marts in one graph.
Models are grouped by layer; dbt tests become asset checks, and error-severity ones block the
models downstream (dbt skips them, Dagster marks the check failed).
"""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)
from pydantic import Field

from leadflow.analytics.project import (
    connection_env,
    dbt_executable,
    ensure_manifest,
    profiles_dir,
    project_dir,
    prune_run_targets,
)
from leadflow.resources import PostgresResource

LAYERS = ("staging", "intermediate", "marts")
# Marts whose materialization carries a chart (Markdown) in the Dagster UI.
CHART_MARTS = {"lead_funnel", "source_roi"}


class LeadflowDbtTranslator(DagsterDbtTranslator):
    """Sources → the upstream asset that fills the table; models grouped by layer."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            upstream = (dbt_resource_props.get("meta") or {}).get("dagster_asset")
            if upstream:
                return dg.AssetKey(upstream)
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn") or []
        layer = fqn[1] if len(fqn) > 2 else None
        if layer in LAYERS:
            return "marts" if layer == "marts" else f"dbt_{layer}"
        return "dbt_other"


TRANSLATOR = LeadflowDbtTranslator(
    settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True,
        enable_duplicate_source_asset_keys=True,  # leads + status history both come from crm_leads
    )
)


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(
        project_dir=str(project_dir()),
        profiles_dir=str(profiles_dir()),
        dbt_executable=dbt_executable(),
    )


class DbtBuildConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Rebuild incremental marts from scratch (`dbt build --full-refresh`).",
    )


def _chart_metadata(postgres: PostgresResource, mart: str) -> dict[str, dg.MetadataValue]:
    from leadflow.analytics import report

    with postgres.connection() as conn:
        if mart == "lead_funnel":
            return {"funnel": dg.MetadataValue.md(report.funnel_markdown(conn))}
        return {"roi_by_source": dg.MetadataValue.md(report.roi_markdown(conn))}


@dbt_assets(
    manifest=ensure_manifest(),
    dagster_dbt_translator=TRANSLATOR,
    name="analytics_models",
)
def analytics_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    postgres: PostgresResource,
    config: DbtBuildConfig,
) -> Iterator[Any]:
    args = ["build", *(["--full-refresh"] if config.full_refresh else [])]
    with connection_env(postgres.resolved_url()):
        invocation = dbt.cli(args, context=context, raise_on_error=False)
        for event in invocation.stream():
            if isinstance(event, dg.Output):
                mart = context.asset_key_for_output(event.output_name).path[-1]
                if mart in CHART_MARTS:
                    event = _with_chart(context, postgres, event, mart)
            yield event
        prune_run_targets()
        if not invocation.is_successful():
            _raise_for_results(invocation.get_artifact("run_results.json"))


def _with_chart(
    context: dg.AssetExecutionContext, postgres: PostgresResource, event: dg.Output, mart: str
) -> dg.Output:
    try:
        return event.with_metadata({**event.metadata, **_chart_metadata(postgres, mart)})
    except Exception as exc:  # a chart must never fail the build
        context.log.warning(f"chart metadata for {mart} skipped: {exc}")
        return event


def _raise_for_results(run_results: Mapping[str, Any]) -> None:
    """Model errors may be transient (retried); failed error-severity tests are data problems
    (not retried: the same data fails again); both fail the step so the failure sensor alerts."""
    results = run_results.get("results", [])
    errors = [r for r in results if r.get("status") == "error"]
    failures = [r for r in results if r.get("status") == "fail"]
    lines = [
        f"- {r['unique_id']}: {r.get('status')} {(r.get('message') or '').strip()[:300]}"
        for r in (errors + failures)[:25]
    ]
    metadata = {
        "errors": len(errors),
        "failed_tests": len(failures),
        "details": dg.MetadataValue.md("\n".join(lines) or "see the dbt log"),
    }
    if errors:
        raise dg.Failure(description=f"dbt build: {len(errors)} node(s) errored", metadata=metadata)
    raise dg.Failure(
        description=f"dbt build: {len(failures)} error-severity test(s) failed",
        metadata=metadata,
        allow_retries=False,
    )


ANALYTICS_ASSETS = [analytics_models]
