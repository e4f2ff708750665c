"""The conversion-propensity model: training on past snapshots, judging on a later one.

Time-based holdout: the model learns from snapshots at as_of - (k+1)·horizon (k = 1..K, each
labelled with what happened in the horizon after it) and is judged on the snapshot at
as_of - horizon, whose horizon ended at as_of; nothing of the holdout period is seen in
training. The judge's figures sit beside the same figures of the rule-based `lead_score` on
the same leads (the baseline): ROC AUC, Brier score, and a reliability table (predicted vs.
observed rate per decile). A model is served only when its AUC beats the baseline's by
`min_gain`; otherwise it is flagged and recommendations rank by the rule score.

Logistic regression (standardized numbers, one-hot source) is what is served: its
per-feature contributions (coefficient × standardized value) are the reasons an agent reads.
scikit-learn fits it; what is stored and served is its parameters as JSON (`export`, served.py),
never a pickle: whoever manages to write a model row shapes numbers, never code the worker runs.
A gradient-boosting model is trained on the same split as evidence; its holdout AUC is recorded
beside (`metrics.gbm_auc`), so the choice can be revisited with numbers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from leadflow.recommend.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, matrix
from leadflow.recommend.served import (
    Categorical,
    ModelFormatError,
    ServedModel,
    encoded_names,
    parse,
)

ALGORITHM = "logistic_regression"
#: fewer labelled leads (or positives, or negatives) than this in train or holdout: no model
MIN_ROWS = 200
MIN_CLASS = 10


@dataclass
class TrainingResult:
    status: str  # active | flagged | insufficient_data
    metrics: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)
    beats_baseline: bool = False
    pipeline: Pipeline | None = None
    feature_names: list[str] = field(default_factory=list)
    reason: str | None = None


def make_pipeline() -> Pipeline:
    features = ColumnTransformer(
        [
            ("num", StandardScaler(), list(NUMERIC_FEATURES)),
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", min_frequency=5, sparse_output=False),
                list(CATEGORICAL_FEATURES),
            ),
        ]
    )
    return Pipeline([("features", features), ("model", LogisticRegression(C=0.5, max_iter=2000))])


def frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(matrix(rows), columns=[*NUMERIC_FEATURES, *CATEGORICAL_FEATURES])


class ReliabilityBin(TypedDict):
    """One bin of the reliability table (a JSON object of the stored metrics)."""

    leads: int
    predicted: float  # mean predicted probability, 4 decimals
    observed: float  # observed conversion rate, 4 decimals


def reliability(labels: np.ndarray, predicted: np.ndarray, bins: int = 10) -> list[ReliabilityBin]:
    """Predicted vs. observed conversion per decile of the prediction (equal-count bins)."""
    order = np.argsort(predicted, kind="stable")
    table: list[ReliabilityBin] = []
    for chunk in np.array_split(order, min(bins, len(order))):
        if len(chunk):
            table.append(
                {
                    "leads": int(len(chunk)),
                    "predicted": round(float(predicted[chunk].mean()), 4),
                    "observed": round(float(labels[chunk].mean()), 4),
                }
            )
    return table


def calibration_error(table: list[ReliabilityBin]) -> float:
    """Expected calibration error: the leads-weighted mean |predicted - observed|."""
    total = sum(row["leads"] for row in table) or 1
    return round(
        sum(row["leads"] * abs(row["predicted"] - row["observed"]) for row in table) / total, 4
    )


def _figures(labels: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    table = reliability(labels, predicted)
    return {
        "auc": round(float(roc_auc_score(labels, predicted)), 4),
        "brier": round(float(brier_score_loss(labels, predicted)), 4),
        "calibration_error": calibration_error(table),
        "reliability": table,
    }


def _enough(labels: list[int]) -> bool:
    positives = sum(labels)
    return (
        len(labels) >= MIN_ROWS and positives >= MIN_CLASS and len(labels) - positives >= MIN_CLASS
    )


def train(
    train_rows: list[dict], holdout_rows: list[dict], min_gain: float = 0.01
) -> TrainingResult:
    """Fit on `train_rows`, judge on `holdout_rows` against the rule score, and (when it is
    served) refit on both. Rows are snapshot rows with a `label`."""
    train_labels = [1 if r["label"] else 0 for r in train_rows]
    holdout_labels = [1 if r["label"] else 0 for r in holdout_rows]
    counts = {
        "train_leads": len(train_labels),
        "train_recruited": sum(train_labels),
        "holdout_leads": len(holdout_labels),
        "holdout_recruited": sum(holdout_labels),
    }
    if not (_enough(train_labels) and _enough(holdout_labels)):
        return TrainingResult(
            status="insufficient_data",
            metrics=counts,
            reason=(
                f"too little history: train {counts['train_leads']} leads /"
                f" {counts['train_recruited']} recruited, holdout {counts['holdout_leads']} /"
                f" {counts['holdout_recruited']} (need >= {MIN_ROWS} leads and >= {MIN_CLASS}"
                " of each outcome in both)"
            ),
        )
    y_train, y_holdout = np.array(train_labels), np.array(holdout_labels)
    x_train, x_holdout = frame(train_rows), frame(holdout_rows)
    pipeline = make_pipeline()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # rare categories folded
        pipeline.fit(x_train, y_train)
        predicted = pipeline.predict_proba(x_holdout)[:, 1]
    metrics = counts | _figures(y_holdout, predicted) | {"algorithm": ALGORITHM}
    baseline_scores = np.array([float(r["rule_score"] or 0) for r in holdout_rows]) / 100.0
    baseline = _figures(y_holdout, baseline_scores) | {"algorithm": "rule lead_score / 100"}
    gbm = HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.05, categorical_features="from_dtype", random_state=7
    )
    gbm_train = x_train.astype({name: "category" for name in CATEGORICAL_FEATURES})
    gbm_holdout = x_holdout.astype(
        {name: pd.CategoricalDtype(gbm_train[name].cat.categories) for name in CATEGORICAL_FEATURES}
    )
    gbm.fit(gbm_train, y_train)
    metrics["gbm_auc"] = round(
        float(roc_auc_score(y_holdout, gbm.predict_proba(gbm_holdout)[:, 1])), 4
    )
    beats = metrics["auc"] >= baseline["auc"] + min_gain
    metrics["min_gain"] = min_gain
    if beats:  # serve a model that has seen the most recent history too
        final = make_pipeline()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            final.fit(pd.concat([x_train, x_holdout]), np.concatenate([y_train, y_holdout]))
        pipeline = final
    return TrainingResult(
        status="active" if beats else "flagged",
        metrics=metrics,
        baseline=baseline,
        beats_baseline=beats,
        pipeline=pipeline,
        feature_names=feature_names(pipeline),
        reason=None
        if beats
        else (
            f"holdout AUC {metrics['auc']} does not beat the rule score's {baseline['auc']}"
            f" by {min_gain}: recommendations rank by the rule score"
        ),
    )


def feature_names(pipeline: Pipeline) -> list[str]:
    """Names of the model's inputs after encoding: numbers as they are, `source=<value>`."""
    names = []
    for name in pipeline.named_steps["features"].get_feature_names_out():
        kind, _, feature = name.partition("__")
        names.append(feature.replace("source_", "source=", 1) if kind == "cat" else feature)
    return names


def export(pipeline: Pipeline) -> ServedModel:
    """The fitted pipeline as the served model (served.py): its scaler's mean and scale, its
    encoder's frequent and infrequent categories, the regression's coefficients and intercept.
    Checked against the pipeline's own feature names and by `served.parse`, so what is stored
    is what the reader accepts."""
    features = pipeline.named_steps["features"]
    scaler = features.named_transformers_["num"]
    encoder = features.named_transformers_["cat"]
    regression = pipeline.named_steps["model"]
    infrequent = getattr(encoder, "infrequent_categories_", None) or [None] * len(
        encoder.categories_
    )
    categorical = []
    for feature, seen, rare in zip(
        CATEGORICAL_FEATURES, encoder.categories_, infrequent, strict=True
    ):
        rare = [str(v) for v in rare] if rare is not None else []
        categorical.append(
            Categorical(feature, tuple(str(v) for v in seen if str(v) not in rare), tuple(rare))
        )
    model = ServedModel(
        numeric=tuple(NUMERIC_FEATURES),
        mean=np.asarray(scaler.mean_, dtype=np.float64),
        scale=np.asarray(scaler.scale_, dtype=np.float64),
        categorical=tuple(categorical),
        feature_names=tuple(feature_names(pipeline)),
        coefficients=np.asarray(regression.coef_[0], dtype=np.float64),
        intercept=float(regression.intercept_[0]),
    )
    if list(model.feature_names) != encoded_names(model.numeric, model.categorical):
        raise ModelFormatError("the pipeline's feature names do not follow its encoders")
    return parse(model.to_json())
