"""Hostile tenants against the propensity model store (issue 18, part 1).

A model row is read by the nightly step, which runs in the pipeline worker with every tenant's
secrets at hand. Before migration 012 the row held a joblib pickle, which the step unpickled:
an organization's application role could write its own row (its policy allowed every command),
and the pickled payload ran inside the worker (recorded in the branch's report: the payload
created its file, the nightly failed, and the organizations after it were never scored).

Now a model is JSON numbers checked by a strict schema (served.py), tenants may only read their
model rows, and a row that fails the checks costs its organization the model (it ranks by the
rule score, visibly), never the other organizations their recommendations.
"""

from __future__ import annotations

import base64
import copy
import pickle
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from psycopg.types.json import Jsonb

from leadflow.recommend import model as propensity
from leadflow.recommend import served, store
from leadflow.recommend.assets import lead_conversion_model_quality, lead_recommendations
from leadflow.resources import PostgresResource, RedisResource
from tests.integration.tenant_isolation.conftest import ORG_A, ORG_B
from tests.reco_rows import training_rows

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ORG_C = "33333333-3333-4333-8333-333333333333"


class CreatesAFile:
    """Unpickling this opens (creates) `path`: proof that code ran."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def document() -> dict:
    """A served model as the nightly stores it (fitted by scikit-learn, exported as JSON)."""
    rows = training_rows()
    result = propensity.train(rows[:900], rows[900:], min_gain=-1.0)
    return propensity.export(result.pipeline).to_json()


def _save(url: str, org: str, parameters: dict | None, status: str = "active") -> int:
    """The pipeline's write (the owner role here)."""
    with psycopg.connect(url) as conn:
        return store.save_model(
            conn,
            org,
            as_of=NOW,
            horizon_days=30,
            algorithm=propensity.ALGORITHM,
            status=status,
            metrics={"auc": 0.8},
            baseline={"auc": 0.6},
            beats_baseline=status == "active",
            feature_names=list(parameters["feature_names"]) if parameters else [],
            parameters=parameters,
        )


def _refused(conn: psycopg.Connection, statement: str, params: tuple) -> str:
    """What happened to a write: "refused: <error>" or "rows: <n>"."""
    try:
        return f"rows: {conn.execute(statement, params).rowcount}"
    except psycopg.Error as exc:
        return f"refused: {exc.sqlstate}"


def test_a_tenant_reads_its_model_metrics_but_cannot_write_any_model(crm_url, as_tenant, document):
    _save(crm_url, ORG_A, document)  # the legitimate writer: the pipeline
    _save(crm_url, ORG_B, document)
    tenant_b = as_tenant(ORG_B)
    insert = (
        "insert into lead_conversion_models (organization_id, version, as_of, algorithm,"
        " horizon_days, status, model_parameters, feature_names)"
        " values (%s, 90, now(), 'logistic_regression', 30, 'active', %s, %s)"
    )
    tampered = copy.deepcopy(document) | {"intercept": 50.0}  # "every lead converts"
    names = Jsonb(document["feature_names"])
    for org in (ORG_B, ORG_A):
        assert _refused(tenant_b, insert, (org, Jsonb(tampered), names)) == "refused: 42501"
        for statement in (
            "update lead_conversion_models set model_parameters = %s where organization_id = %s",
            "update lead_conversion_models set status = 'active', model_parameters = %s"
            " where organization_id = %s and version = 1",
        ):
            # no write privilege (migration 011), and no write policy behind it (012)
            assert _refused(tenant_b, statement, (Jsonb(tampered), org)) == "refused: 42501"
        assert (
            _refused(
                tenant_b, "delete from lead_conversion_models where organization_id = %s", (org,)
            )
            == "refused: 42501"
        )
    # the tenant's own metrics stay readable, another tenant's are not
    rows = tenant_b.execute(
        "select organization_id::text, version, metrics ->> 'auc' from lead_conversion_models"
    ).fetchall()
    assert rows == [(ORG_B, 1, "0.8")]
    # nothing changed: one row per organization, as the pipeline wrote it
    with psycopg.connect(crm_url) as owner:
        stored = owner.execute(
            "select organization_id::text, version, model_parameters = %s"
            " from lead_conversion_models order by 1",
            (Jsonb(document),),
        ).fetchall()
    assert stored == [(ORG_A, 1, True), (ORG_B, 1, True)]


def test_the_model_table_holds_no_bytes_to_unpickle(crm_url):
    with psycopg.connect(crm_url) as conn:
        types = conn.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_name = 'lead_conversion_models' and column_name like 'model%%'"
        ).fetchall()
    assert types == [("model_parameters", "jsonb")]


def test_a_tampered_model_row_runs_no_code_and_costs_only_its_organization_the_model(
    crm_url, document, tmp_path
):
    marker = tmp_path / "pwned"
    _save(crm_url, ORG_A, document)  # a valid model: organization A keeps being ranked by it
    # a compromise wrote organization B's row (as the owner: no tenant can): a pickled payload
    # that would create `marker` if anything unpickled it, where a reader expects numbers
    tampered = copy.deepcopy(document)
    payload = base64.b64encode(pickle.dumps(CreatesAFile(marker))).decode()
    tampered["intercept"] = payload
    tampered["py/reduce"] = [{"py/function": "builtins.open"}, [str(marker), "w"]]
    version = _save(crm_url, ORG_B, tampered)
    assert version == 1

    with psycopg.connect(crm_url) as conn:
        row = store.latest_model(conn, ORG_B)
    with pytest.raises(served.ModelFormatError) as refused:
        served.load(row["model_parameters"], organization_id=ORG_B, version=row["version"])
    assert str(refused.value).startswith(f"model v1 of organization {ORG_B} refused: ")

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [lead_recommendations],
        resources={"postgres": PostgresResource(url=crm_url), "redis": RedisResource(url=None)},
        run_config={"ops": {"lead_recommendations": {"config": {"as_of": NOW.isoformat()}}}},
        instance=instance,
    )
    assert not marker.exists()  # no code ran
    assert result.success  # the other organizations' nightly is unaffected
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    ranked = {
        s["organization_id"]: (s["ranked_by"], s["model_error"])
        for s in metadata["organizations"].value
    }
    assert ranked[ORG_A] == ("model", None)
    assert ranked[ORG_C] == ("rule", None)
    assert ranked[ORG_B][0] == "rule"
    assert f"model v1 of organization {ORG_B} refused" in ranked[ORG_B][1]
    assert metadata["refused_models"].value == [ranked[ORG_B][1]]
    logged = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any(f"organization {ORG_B} refused" in m and "rule score" in m for m in logged)
    with psycopg.connect(crm_url) as conn:
        per_org = dict(
            conn.execute(
                "select organization_id::text, count(*) from lead_recommendations group by 1"
            ).fetchall()
        )
        ranked_by = dict(
            conn.execute(
                "select organization_id::text, min(ranked_by) from lead_recommendations group by 1"
            ).fetchall()
        )
    assert set(per_org) == {ORG_A, ORG_B, ORG_C} and all(per_org.values())
    assert ranked_by == {ORG_A: "model", ORG_B: "rule", ORG_C: "rule"}

    check = lead_conversion_model_quality(postgres=PostgresResource(url=crm_url))
    assert check.passed is False and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["refused"].value == [ranked[ORG_B][1]]
    assert not marker.exists()


def test_the_check_passes_once_the_nightly_stores_a_valid_model_again(crm_url, document):
    tampered = copy.deepcopy(document)
    tampered["coefficients"] = tampered["coefficients"][:-1]
    _save(crm_url, ORG_B, tampered)
    assert lead_conversion_model_quality(postgres=PostgresResource(url=crm_url)).passed is False
    _save(crm_url, ORG_B, document)  # the next training writes the next version
    check = lead_conversion_model_quality(postgres=PostgresResource(url=crm_url))
    assert check.passed is True and check.metadata["refused"].value == []
