"""dbt models (dbt/) as Dagster assets: staging → intermediate → marts on PostgreSQL.

The lineage runs from the assets that write the CRM tables to the marts in one graph: each dbt
source is an asset of its own (`crm/leads`, `crm/lead_source_costs`, …; group `dbt_sources`, not
materialized by Dagster: the tables are PostgreSQL's), downstream of every asset that writes its
table (`meta.leadflow.writers` in dbt/models/staging/_crm__sources.yml). Models are grouped by
layer; dbt tests become asset checks, and error-severity ones block the models downstream (dbt
skips them, Dagster marks the check failed).

Tests cost what they check (issue 21): on an incremental build the data tests of the incremental
marts see only the keys this build rebuilt (dbt var `leadflow_full_tests` false; the scope is
recorded by each mart's pre-hook, macros/incremental.sql); the whole test set runs on a
`--full-refresh`, on the first build and when the last full test pass is
LEADFLOW_NIGHTLY_FULL_EVERY_DAYS old (watermark `dbt:full_tests`, written only after a build
whose every node succeeded).
"""

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject, dbt_assets
from dagster_dbt.dbt_manifest import validate_manifest
from pydantic import Field

from leadflow import watermarks
from leadflow.analytics.dbt_project import DBT_PROJECT, require_manifest
from leadflow.analytics.project import dbt_env, dbt_executable, prune_run_targets
from leadflow.analytics.resource import LeadflowDbtCliResource
from leadflow.dagster_vocab import full_refresh_requested
from leadflow.resources import PostgresResource

LAYERS = ("staging", "intermediate", "marts")
#: the group of the dbt sources: the CRM tables as the dbt project reads them
SOURCES_GROUP = "dbt_sources"
# Marts whose materialization carries a chart (Markdown) in the Dagster UI.
CHART_MARTS = {"lead_funnel", "source_roi"}
#: the watermark of the last build that ran the whole dbt test set
FULL_TESTS_WATERMARK = "dbt:full_tests"
#: the dbt var that runs every test over whole marts instead of the keys the build rebuilt
FULL_TESTS_VAR = "leadflow_full_tests"


def source_writers(dbt_resource_props: Mapping[str, Any]) -> list[str]:
    """The asset keys (single names) of the assets that write a source's table, from its
    `meta: {leadflow: {writers: [...]}}`."""
    meta = dbt_resource_props.get("meta") or {}
    writers = (meta.get("leadflow") or {}).get("writers") or []
    if not isinstance(writers, list) or not all(isinstance(w, str) and w for w in writers):
        raise ValueError(
            f"source {dbt_resource_props.get('unique_id')}: meta.leadflow.writers must be a "
            "list of asset names"
        )
    return writers


class LeadflowDbtTranslator(DagsterDbtTranslator):
    """Keys as dagster-dbt makes them (`crm/leads` for a source, `analytics/lead_funnel` for a
    model: schema, then name); models grouped by layer; a source depends on the assets that
    write its table.

    A model reading a source depends on those writers too. The source assets are external
    (nothing to run), and a job orders its steps by the dependencies between the assets it runs:
    without the direct edge, `nightly_sync_job` could build the staging models before
    `lead_scores` or `lead_activities` wrote their tables."""

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec.replace_attributes(
                group_name=SOURCES_GROUP,
                deps=[dg.AssetKey(writer) for writer in source_writers(props)],
            )
        known = {dep.asset_key for dep in spec.deps}
        writers = [
            dg.AssetKey(writer)
            for parent in (props.get("depends_on") or {}).get("nodes", [])
            if parent.startswith("source.")
            for writer in source_writers(self.get_resource_props(manifest, parent))
        ]
        extra = [dg.AssetDep(key) for key in dict.fromkeys(writers) if key not in known]
        return spec.replace_attributes(group_name=_layer_group(props), deps=[*spec.deps, *extra])


def _layer_group(dbt_resource_props: Mapping[str, Any]) -> str:
    fqn = dbt_resource_props.get("fqn") or []
    layer = fqn[1] if len(fqn) > 2 else None
    if layer in LAYERS:
        return "marts" if layer == "marts" else f"dbt_{layer}"
    return "dbt_other"


TRANSLATOR = LeadflowDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def dbt_source_tables(manifest: Mapping[str, Any]) -> list[dg.AssetSpec]:
    """The dbt sources as assets of their own: the CRM tables, written by the assets their
    specs depend on and read by the staging models. Not materialized by Dagster (external)."""
    specs = []
    for unique_id in sorted(manifest.get("sources", {})):
        spec = TRANSLATOR.get_asset_spec(manifest, unique_id, DBT_PROJECT)
        specs.append(
            dg.AssetSpec(
                key=spec.key,
                deps=spec.deps,
                description=spec.description,
                group_name=spec.group_name,
                kinds={"postgres"},
                metadata={
                    k: v for k, v in spec.metadata.items() if not k.startswith("dagster_dbt")
                },
            )
        )
    return specs


def dbt_resource() -> LeadflowDbtCliResource:
    # DbtCliResource.__init__ takes a DbtProject, but mypy types a subclass's __init__ from the
    # pydantic fields (project_dir: str)
    return LeadflowDbtCliResource(
        project_dir=DBT_PROJECT,  # type: ignore[arg-type]
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


DBT_PROJECT.prepare_if_dev()  # `dagster dev`: parse now, so edited models are in the graph
MANIFEST = validate_manifest(require_manifest())


@dbt_assets(
    manifest=MANIFEST,
    project=DBT_PROJECT,
    dagster_dbt_translator=TRANSLATOR,
    name="analytics_models",
)
def analytics_models(
    context: dg.AssetExecutionContext,
    dbt: LeadflowDbtCliResource,
    postgres: PostgresResource,
    config: DbtBuildConfig,
) -> Iterator[Any]:
    full_refresh = config.full_refresh or full_refresh_requested(context)
    started = datetime.now(UTC)
    with postgres.connection() as conn:
        mark = watermarks.read(conn, FULL_TESTS_WATERMARK)
    full_reason = watermarks.full_due(
        mark, started, watermarks.full_every(), requested=full_refresh
    )
    scope = dbt_test_scope_metadata(full_reason)
    context.log.info(f"dbt tests: {scope['tests_scope']} ({scope['full_reason']})")
    args = [
        "build",
        # unit tests check the SQL against fixtures, not the data: CI runs them, a nightly not
        "--exclude-resource-type",
        "unit_test",
        *(["--full-refresh"] if full_refresh else []),
        "--vars",
        json.dumps({FULL_TESTS_VAR: full_reason is not None}),
    ]
    # the connection of this run's `postgres`, for this dbt process only (see resource.py)
    env = dbt_env(postgres.resolved_url())
    invocation = dbt.cli(args, context=context, raise_on_error=False, env=env)
    for event in invocation.stream():
        if isinstance(event, dg.Output):
            mart = context.asset_key_for_output(event.output_name).path[-1]
            metadata = {**event.metadata, **{k: dg.MetadataValue.text(v) for k, v in scope.items()}}
            event = event.with_metadata(metadata)
            if mart in CHART_MARTS:
                event = _with_chart(context, postgres, event, mart)
        yield event
    prune_run_targets()
    if not invocation.is_successful():
        _raise_for_results(invocation.get_artifact("run_results.json"))
    # only after a build whose every node succeeded: a failed build leaves it where it was
    with postgres.connection() as conn:
        watermarks.write(
            conn,
            FULL_TESTS_WATERMARK,
            started,
            detail=scope["full_reason"][:200],
            full=full_reason is not None,
        )


def dbt_test_scope_metadata(full_reason: str | None) -> dict[str, str]:
    """The asset metadata that says which tests ran: `changed` (the keys the build rebuilt) or
    `full`, and why."""
    if full_reason is None:
        return {"tests_scope": "changed", "full_reason": "none: incremental build"}
    return {"tests_scope": "full", "full_reason": full_reason}


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
        "errors": dg.MetadataValue.int(len(errors)),
        "failed_tests": dg.MetadataValue.int(len(failures)),
        "details": dg.MetadataValue.md("\n".join(lines) or "see the dbt log"),
    }
    if errors:
        raise dg.Failure(description=f"dbt build: {len(errors)} node(s) errored", metadata=metadata)
    raise dg.Failure(
        description=f"dbt build: {len(failures)} error-severity test(s) failed",
        metadata=metadata,
        allow_retries=False,
    )


#: the CRM tables the dbt sources name, as assets downstream of the assets that write them
DBT_SOURCE_TABLES = dbt_source_tables(MANIFEST)
ANALYTICS_ASSETS: list[dg.AssetsDefinition | dg.AssetSpec] = [analytics_models, *DBT_SOURCE_TABLES]
