"""The import runs on any executor.

Per-organization partitions run as separate runs at the same time under Dagster's
multiprocess executor, each step in a process of its own: nothing but PostgreSQL is shared, so
the same job runs on celery or k8s executors, whose run config is validated here (config only:
no broker or cluster here).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from dagster_celery import celery_executor
from dagster_k8s import k8s_job_executor

from leadflow.ingest.assets import organization_partitions
from tests.integration.conftest import ORG1, ORG2, ORG3, one
from tests.integration.executor_job import import_job_on, run_partition

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ORGS = (ORG1, ORG2, ORG3)


def _write(path: Path, first_digits: str) -> Path:
    rows = "".join(f"{first_digits}{n:04d},P{n}\n" for n in range(300))
    path.write_text("Phone,First Name\n" + rows)
    return path


def test_organization_partitions_run_in_parallel_on_the_multiprocess_executor(
    crm_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("POSTGRES_URL", crm_url)  # the run workers read it, as in production
    landing = tmp_path / "landing"
    monkeypatch.setenv("LEADFLOW_LANDING_DIR", str(landing))  # so do they this one
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    files = {}
    for n, org in enumerate(ORGS):
        (landing / org).mkdir(parents=True)
        files[org] = _write(landing.resolve() / org / f"{n}.csv", f"+121245{n}")
    instance = dg.DagsterInstance.from_config(str(home))
    instance.add_dynamic_partitions(organization_partitions.name, list(ORGS))
    # one run worker process per partition, all at once (what a run launcher does)
    with ProcessPoolExecutor(len(ORGS), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {org: pool.submit(run_partition, str(home), org, str(files[org])) for org in ORGS}
        outcomes = {org: future.result(timeout=300) for org, future in futures.items()}

    spans, step_pids = [], set()
    for org, (success, run_id) in outcomes.items():
        assert success, org
        events = [e for e in instance.all_logs(run_id) if e.dagster_event]
        [materialization] = [
            e.dagster_event.step_materialization_data.materialization
            for e in events
            if e.dagster_event.is_step_materialization
        ]
        assert materialization.partition == org
        assert materialization.metadata["inserted"].value == 300
        start = next(e for e in events if e.dagster_event.is_step_start)
        spans.append((events[0].timestamp, events[-1].timestamp))  # the run, first to last event
        step_pids.add(start.dagster_event.pid)
    instance.dispose()
    # every step ran in a process of its own, and the partitions' runs overlapped in time
    assert os.getpid() not in step_pids and len(step_pids) == len(ORGS)
    assert max(start for start, _ in spans) < min(end for _, end in spans)
    with psycopg.connect(crm_url) as conn:
        for n, org in enumerate(ORGS):
            count = one(
                conn,
                "select count(*) from leads where organization_id = %s and phone_number like %s",
                (org, f"+121245{n}%"),
            )
            assert count == (300,)
    assert sorted(p.name for p in (landing / "processed").iterdir()) == ["0.csv", "1.csv", "2.csv"]


def _run_config(execution: dict) -> dict:
    return {
        "execution": {"config": execution},
        "ops": {"crm_leads": {"config": {"files": ["/data/landing/leads.csv"], "org": ORG1}}},
    }


K8S = {
    "job_namespace": "leadflow",
    "job_image": "registry.example.com/leadflow:1.0",
    "image_pull_policy": "IfNotPresent",
    "env_secrets": ["leadflow-connections"],  # POSTGRES_URL, NEO4J_*, MONGO_URL
    "max_concurrent": 8,
    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
}
CELERY = {"broker": "redis://redis:6379/0", "backend": "redis://redis:6379/1"}


@pytest.mark.parametrize(
    ("executor", "config"), [(k8s_job_executor, K8S), (celery_executor, CELERY)]
)
def test_the_import_job_config_validates_for_k8s_and_celery(executor, config, monkeypatch):
    monkeypatch.setenv("POSTGRES_URL", "postgresql://leadflow@db.internal:5432/crm")
    job = import_job_on(executor)
    assert job.executor_def is executor
    validated = dg.validate_run_config(job, _run_config(config))
    assert validated["ops"]["crm_leads"]["config"]["org"] == ORG1


@pytest.mark.parametrize(
    ("executor", "config"),
    [(k8s_job_executor, {"job_namespace": 7}), (celery_executor, {"brokers": "redis://x"})],
)
def test_a_wrong_executor_config_is_refused(executor, config, monkeypatch):
    monkeypatch.setenv("POSTGRES_URL", "postgresql://leadflow@db.internal:5432/crm")
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(import_job_on(executor), _run_config(config))
