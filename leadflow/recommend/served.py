"""The served propensity model: a fitted logistic regression as plain JSON, scored with numpy.

A model row is written under an organization's row-level security policy, so reading it must
never run code: no pickle, no joblib, only `json` and numbers checked against a strict schema
before anything is computed. The document (column `lead_conversion_models.model_parameters`):

    {"format": "leadflow.logistic_regression/1",
     "numeric": {"features": [23 names, NUMERIC_FEATURES order], "mean": [...], "scale": [...]},
     "categorical": [{"feature": "source", "categories": ["facebook", ...],
                      "infrequent": ["job_fair", ...]}],
     "feature_names": ["rule_score", ..., "source=facebook", ..., "source=infrequent_sklearn"],
     "coefficients": [one per feature name], "intercept": -2.31}

It is what scikit-learn's pipeline (`model.make_pipeline`) computes, nothing more: numbers are
standardized ((x - mean) / scale, StandardScaler); a category is one-hot in the column of its
value when it was seen at least `min_frequency` times (`categories`, in output order), in one
shared last column when it was seen fewer times (`infrequent`: OneHotEncoder's
`min_frequency`), and all zeros when it was never seen (`handle_unknown="ignore"`); the
propensity is the logistic of coefficients · encoded + intercept, and a feature's contribution
(the reasons an agent reads) is its coefficient × its encoded value.

`load` refuses anything else, naming the organization and the version: unknown or missing keys,
wrong types, lengths that disagree with the feature names, non-finite or absurd numbers,
oversized documents.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from leadflow.recommend.features import (
    CATEGORICAL_FEATURES,
    MAX_CATEGORY_TEXT,
    NUMERIC_FEATURES,
    matrix,
)

FORMAT = "leadflow.logistic_regression/1"
#: the encoded column of the categories seen fewer than min_frequency times (sklearn's name)
INFREQUENT = "infrequent_sklearn"

#: bounds of a document: far above what a fitted model holds, far below what hurts a worker
MAX_DOCUMENT_BYTES = 1_000_000
MAX_CATEGORIES = 5_000  # per categorical feature, frequent and infrequent together
MAX_TEXT = MAX_CATEGORY_TEXT  # characters of a category value
MAX_ABS = 1e9  # |any number|: a regularized model's coefficients are small
MIN_SCALE = 1e-9

_KEYS = {"format", "numeric", "categorical", "feature_names", "coefficients", "intercept"}
_NUMERIC_KEYS = {"features", "mean", "scale"}
_CATEGORICAL_KEYS = {"feature", "categories", "infrequent"}


class ModelFormatError(ValueError):
    """A stored model that is not a valid served model (tampered or corrupt)."""


@dataclass(frozen=True)
class Categorical:
    feature: str
    categories: tuple[str, ...]  # frequent values, in output column order
    infrequent: tuple[str, ...]  # values folded into the last column

    @property
    def columns(self) -> list[str]:
        return [*self.categories, *([INFREQUENT] if self.infrequent else [])]

    def column_of(self) -> dict[str, int]:
        """value -> its column within this feature's block (unknown values: absent)."""
        index = {value: i for i, value in enumerate(self.categories)}
        index.update({value: len(self.categories) for value in self.infrequent})
        return index


@dataclass(frozen=True)
class ServedModel:
    numeric: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    categorical: tuple[Categorical, ...]
    feature_names: tuple[str, ...]
    coefficients: np.ndarray
    intercept: float

    def encode(self, rows: Sequence[Mapping]) -> np.ndarray:
        """The rows as the model's inputs: standardized numbers, then one-hot categories."""
        inputs = matrix(rows)
        numbers = np.array([[r[name] for name in self.numeric] for r in inputs], dtype=np.float64)
        numbers = numbers.reshape(len(inputs), len(self.numeric))
        numbers -= self.mean
        numbers /= self.scale
        blocks = [numbers]
        for category in self.categorical:
            width = len(category.columns)
            block = np.zeros((len(inputs), width), dtype=np.float64)
            column_of = category.column_of()
            for i, r in enumerate(inputs):
                column = column_of.get(r[category.feature])
                if column is not None:
                    block[i, column] = 1.0
            blocks.append(block)
        return np.hstack(blocks)

    def _probability(self, encoded: np.ndarray) -> np.ndarray:
        # a row's sum alone, in the same order whatever the batch (a matrix product may not):
        # a lead scored among its organization and scored alone gets the same bits
        decision = (encoded * self.coefficients).sum(axis=1) + self.intercept
        # the logistic without overflow: exp of a non-positive number only
        small = np.exp(-np.abs(decision))
        probability = np.where(decision >= 0, 1.0 / (1.0 + small), small / (1.0 + small))
        return cast(np.ndarray, probability)

    def predict(self, rows: Sequence[Mapping]) -> np.ndarray:
        """Propensity per row."""
        if not rows:
            return np.zeros(0)
        return self._probability(self.encode(rows))

    def predict_with_contributions(self, rows: Sequence[Mapping]) -> tuple[np.ndarray, np.ndarray]:
        """(propensity per lead, per lead and encoded feature: coefficient × encoded value,
        the log-odds it pushes up or down relative to an average lead)."""
        if not rows:
            return np.zeros(0), np.zeros((0, 0))
        encoded = self.encode(rows)
        return self._probability(encoded), encoded * self.coefficients

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "numeric": {
                "features": list(self.numeric),
                "mean": [float(v) for v in self.mean],
                "scale": [float(v) for v in self.scale],
            },
            "categorical": [
                {
                    "feature": c.feature,
                    "categories": list(c.categories),
                    "infrequent": list(c.infrequent),
                }
                for c in self.categorical
            ],
            "feature_names": list(self.feature_names),
            "coefficients": [float(v) for v in self.coefficients],
            "intercept": float(self.intercept),
        }


def encoded_names(numeric: Sequence[str], categorical: Sequence[Categorical]) -> list[str]:
    """The encoded feature names a model of these inputs has (numbers, `source=<value>`)."""
    return [*numeric, *(f"{c.feature}={column}" for c in categorical for column in c.columns)]


# -- validation ------------------------------------------------------------------------------------
def _object(value: Any, keys: set[str], where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ModelFormatError(f"{where} must be an object, not {type(value).__name__}")
    if set(value) != keys:
        extra, missing = sorted(set(value) - keys), sorted(keys - set(value))
        raise ModelFormatError(
            f"{where} has unexpected keys {extra} / lacks {missing} (expected exactly"
            f" {sorted(keys)})"
        )
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelFormatError(f"{where} must be a number, not {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or abs(number) > MAX_ABS:
        raise ModelFormatError(f"{where} must be finite and at most {MAX_ABS:g} in size: {value}")
    return number


def _numbers(value: Any, length: int, where: str) -> np.ndarray:
    if not isinstance(value, list):
        raise ModelFormatError(f"{where} must be a list, not {type(value).__name__}")
    if len(value) != length:
        raise ModelFormatError(f"{where} has {len(value)} numbers, expected {length}")
    return np.array([_number(v, f"{where}[{i}]") for i, v in enumerate(value)], dtype=np.float64)


def _texts(value: Any, where: str, limit: int, longest: int = MAX_TEXT) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ModelFormatError(f"{where} must be a list, not {type(value).__name__}")
    if len(value) > limit:
        raise ModelFormatError(f"{where} has {len(value)} entries, at most {limit} allowed")
    for i, text in enumerate(value):
        if not isinstance(text, str) or not text or len(text) > longest:
            raise ModelFormatError(
                f"{where}[{i}] must be a non-empty text of at most {longest} characters"
            )
    if len(set(value)) != len(value):
        raise ModelFormatError(f"{where} repeats a value")
    return tuple(value)


def parse(document: Any) -> ServedModel:
    """A ServedModel from its JSON (text or already decoded); ModelFormatError saying what is
    wrong otherwise. Only JSON decoding and checks run: nothing in the document names code."""
    if isinstance(document, (str, bytes)):
        size = len(document)  # characters never outnumber bytes: encode only what may fit
        if size <= MAX_DOCUMENT_BYTES and isinstance(document, str):
            size = len(document.encode())
        if size > MAX_DOCUMENT_BYTES:
            raise ModelFormatError(
                f"document of over {MAX_DOCUMENT_BYTES:,} bytes ({size:,}): refused unread"
            )
        try:
            document = json.loads(document, parse_constant=_no_constant)
        except ValueError as exc:
            raise ModelFormatError(f"not JSON: {exc}") from None
    doc = _object(document, _KEYS, "the model")
    if doc["format"] != FORMAT:
        raise ModelFormatError(f"format {doc['format']!r} is not {FORMAT!r}")
    numeric = _object(doc["numeric"], _NUMERIC_KEYS, "numeric")
    features = _texts(numeric["features"], "numeric.features", len(NUMERIC_FEATURES))
    if features != NUMERIC_FEATURES:
        raise ModelFormatError(
            f"numeric.features {list(features)} are not the inputs leadflow computes"
            f" {list(NUMERIC_FEATURES)}"
        )
    mean = _numbers(numeric["mean"], len(features), "numeric.mean")
    scale = _numbers(numeric["scale"], len(features), "numeric.scale")
    if (scale < MIN_SCALE).any():
        raise ModelFormatError(f"numeric.scale must be at least {MIN_SCALE:g} everywhere")
    blocks = doc["categorical"]
    if not isinstance(blocks, list) or len(blocks) != len(CATEGORICAL_FEATURES):
        raise ModelFormatError(
            f"categorical must be a list of {len(CATEGORICAL_FEATURES)} object(s), one per"
            f" categorical input {list(CATEGORICAL_FEATURES)}"
        )
    categorical = []
    for i, (block, expected) in enumerate(zip(blocks, CATEGORICAL_FEATURES, strict=True)):
        where = f"categorical[{i}]"
        block = _object(block, _CATEGORICAL_KEYS, where)
        if block["feature"] != expected:
            raise ModelFormatError(f"{where}.feature {block['feature']!r} is not {expected!r}")
        categories = _texts(block["categories"], f"{where}.categories", MAX_CATEGORIES)
        infrequent = _texts(
            block["infrequent"], f"{where}.infrequent", MAX_CATEGORIES - len(categories)
        )
        if set(categories) & set(infrequent):
            raise ModelFormatError(f"{where}: a value is both frequent and infrequent")
        if INFREQUENT in categories:
            raise ModelFormatError(f"{where}.categories holds the reserved {INFREQUENT!r}")
        categorical.append(Categorical(expected, categories, infrequent))
    names = _texts(
        doc["feature_names"],
        "feature_names",
        len(features) + 2 * MAX_CATEGORIES,
        longest=2 * MAX_TEXT,
    )
    expected_names = encoded_names(features, categorical)
    if list(names) != expected_names:
        raise ModelFormatError(
            f"feature_names ({len(names)}) disagree with the inputs and categories"
            f" ({len(expected_names)} encoded features)"
        )
    coefficients = _numbers(doc["coefficients"], len(names), "coefficients")
    intercept = _number(doc["intercept"], "intercept")
    return ServedModel(features, mean, scale, tuple(categorical), names, coefficients, intercept)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def load(
    document: Any, *, organization_id: str, version: int, feature_names: Sequence[str] | None = None
) -> ServedModel:
    """The organization's stored model `version`, checked; ModelFormatError naming both when it
    is not a valid served model (or its row's `feature_names` disagree with it)."""
    try:
        if document is None:
            raise ModelFormatError("no parameters stored")
        model = parse(document)
        if feature_names is not None and list(feature_names) != list(model.feature_names):
            raise ModelFormatError("the row's feature_names disagree with the model's")
    except ModelFormatError as exc:
        raise ModelFormatError(
            f"model v{version} of organization {organization_id} refused: {exc}"
        ) from None
    return model
