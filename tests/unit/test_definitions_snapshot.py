"""The whole Definitions, pinned: every asset (group, upstream assets, external or not), asset
check, job (and the assets it runs), schedule and sensor, against a checked-in expected file.

A change to the asset graph, intended or not, shows up here as a diff of one line per thing.
When the change is intended, rewrite the file and commit it with the change:

    LEADFLOW_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest -n 0 tests/unit/test_definitions_snapshot.py

The rendering leaves out what the environment sets (cron strings, timezones, retry counts:
LEADFLOW_NIGHTLY_*), so the file is the same on every machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import yaml

from leadflow.analytics.assets import source_writers
from leadflow.analytics.project import project_dir
from leadflow.definitions import defs

EXPECTED = Path(__file__).parent / "snapshots" / "definitions.txt"
UPDATE_VARIABLE = "LEADFLOW_UPDATE_SNAPSHOT"

#: writers the dbt sources may name before their asset is defined (none now)
PENDING_WRITERS: set[str] = set()


def _key(key: dg.AssetKey) -> str:
    return key.to_user_string()


def render(definitions: dg.Definitions) -> str:
    graph = definitions.resolve_asset_graph()
    repo = definitions.get_repository_def()
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=_key):
        node = graph.get(key)
        kind = "asset" if node.is_materializable else "external"
        deps = ", ".join(sorted(_key(parent) for parent in node.parent_keys)) or "-"
        lines.append(f"{kind} {_key(key)} [{node.group_name}] <- {deps}")
    for check in sorted(graph.asset_check_keys, key=lambda c: (_key(c.asset_key), c.name)):
        lines.append(f"check {_key(check.asset_key)} : {check.name}")
    for job in sorted(repo.get_all_jobs(), key=lambda j: j.name):
        if job.name.startswith("__ASSET_JOB"):
            continue
        selected = job.asset_layer.executable_asset_keys if job.asset_layer else set()
        lines.append(f"job {job.name}: {len(selected)} asset(s)")
        lines.extend(f"job {job.name} runs {_key(key)}" for key in sorted(selected, key=_key))
    for schedule in sorted(repo.schedule_defs, key=lambda s: s.name):
        lines.append(f"schedule {schedule.name} -> {schedule.job_name}")
    for sensor in sorted(repo.sensor_defs, key=lambda s: s.name):
        jobs = ", ".join(sorted(target.job_name for target in sensor.targets)) or "-"
        lines.append(f"sensor {sensor.name} -> {jobs}")
    return "\n".join(lines) + "\n"


def test_the_definitions_match_the_snapshot():
    actual = render(defs)
    if os.environ.get(UPDATE_VARIABLE):
        EXPECTED.parent.mkdir(exist_ok=True)
        EXPECTED.write_text(actual, encoding="utf-8")
    expected = EXPECTED.read_text(encoding="utf-8") if EXPECTED.exists() else ""
    assert actual == expected, (
        f"the Definitions differ from {EXPECTED.relative_to(Path(__file__).parents[2])}; if the change is "
        f"intended, run `{UPDATE_VARIABLE}=1 .venv/bin/python -m pytest -n 0 "
        "tests/unit/test_definitions_snapshot.py` and commit the file"
    )


def test_every_writer_a_dbt_source_names_is_an_asset():
    """`meta.leadflow.writers` of the sources is what puts the writers upstream of the tables:
    a misspelt or removed asset would silently become a stub without a definition."""
    sources = yaml.safe_load((project_dir() / "models/staging/_crm__sources.yml").read_text())
    defined = {
        _key(key)
        for key in defs.resolve_asset_graph().get_all_asset_keys()
        if defs.resolve_asset_graph().get(key).is_materializable
    }
    named = {
        writer
        for source in sources["sources"]
        for table in source["tables"]
        for writer in source_writers({"unique_id": table["name"], "meta": table.get("meta")})
    }
    assert "crm_leads" in named and "lead_source_costs" in named
    assert named - defined <= PENDING_WRITERS, sorted(named - defined - PENDING_WRITERS)


def test_every_writer_of_leads_and_costs_is_upstream_of_its_source():
    graph = defs.resolve_asset_graph()
    leads = {_key(k) for k in graph.get(dg.AssetKey(["crm", "leads"])).parent_keys}
    assert leads == {
        "crm_leads",
        "crm_api_leads",
        "lead_referrals",
        "lead_scores",
        "lead_assignments",
        "lead_activities",
    }
    costs = graph.get(dg.AssetKey(["crm", "lead_source_costs"]))
    assert {_key(k) for k in costs.parent_keys} == {"lead_source_costs"}
    assert graph.get(dg.AssetKey("lead_source_costs")).group_name == "costs"
    staging = graph.get(dg.AssetKey(["analytics_staging", "stg_crm__lead_source_costs"]))
    assert dg.AssetKey(["crm", "lead_source_costs"]) in staging.parent_keys


def test_the_nightly_job_builds_the_dbt_models_after_every_writer_it_runs():
    """The source assets are external: the dbt step's order comes from the models' direct
    dependencies on the writers (LeadflowDbtTranslator), without which dbt could read tables
    the same run has not written yet."""
    job = defs.resolve_job_def("nightly_sync_job")
    upstream = {
        output.node_name
        for output in job.graph.dependency_structure.all_upstream_outputs_from_node(
            "analytics_models"
        )
    }
    assert upstream == {
        "lead_activities",
        "lead_scores",
        "lead_assignments",
        "nurture_enrollments",
        "segment_counts",
        "lead_conversion_model",
        "lead_recommendations",
        "lead_referrals",
    }
