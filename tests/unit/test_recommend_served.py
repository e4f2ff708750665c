"""The served propensity model (JSON numbers, numpy): what scikit-learn's pipeline computes,
to the last bits, and nothing a tampered document can smuggle in."""

from __future__ import annotations

import ast
import copy
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import leadflow
from leadflow.recommend import model as propensity
from leadflow.recommend import served
from leadflow.recommend.features import NUMERIC_FEATURES
from leadflow.recommend.served import FORMAT, ModelFormatError
from tests.reco_rows import RARE_SOURCES, training_rows

ORG = "22222222-2222-4222-8222-222222222222"


@pytest.fixture(scope="module")
def fitted():
    """A pipeline fitted as the nightly fits it, on rows with frequent, rare and empty sources."""
    rows = training_rows()
    result = propensity.train(rows[:900], rows[900:], min_gain=-1.0)  # always served
    assert result.status == "active"
    return result.pipeline, rows


@pytest.fixture(scope="module")
def document(fitted) -> dict:
    return propensity.export(fitted[0]).to_json()


def _sklearn(pipeline, rows):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # unknown categories: all zeros
        proba = pipeline.predict_proba(propensity.frame(rows))[:, 1]
        encoded = np.asarray(pipeline.named_steps["features"].transform(propensity.frame(rows)))
    return proba, encoded * pipeline.named_steps["model"].coef_[0]


def _scoring_rows(rows):
    """The training rows, plus values the encoder never saw or saw rarely, in any case."""
    extra = [
        rows[0] | {"source": "never_seen_before"},
        rows[1] | {"source": RARE_SOURCES[0].upper()},
        rows[2] | {"source": None},
        rows[3] | {"source": ""},
        rows[4] | {"calls": 10_000, "days_since_created": 0.0},
    ]
    return rows + extra


def test_the_document_names_the_encoders_parts(document):
    assert document["format"] == FORMAT
    assert document["numeric"]["features"] == list(NUMERIC_FEATURES)
    (source,) = document["categorical"]
    assert source["feature"] == "source"
    assert set(source["infrequent"]) == set(RARE_SOURCES)  # seen < min_frequency times
    assert "unknown" in source["categories"]  # the empty source, seen often enough
    assert document["feature_names"][-1] == "source=infrequent_sklearn"
    assert len(document["coefficients"]) == len(document["feature_names"])


def test_predictions_and_contributions_equal_the_sklearn_pipeline(fitted, document):
    pipeline, rows = fitted
    scoring = _scoring_rows(rows)
    expected, expected_contributions = _sklearn(pipeline, scoring)
    # through text, as PostgreSQL hands it back
    model = served.load(json.dumps(document), organization_id=ORG, version=3)
    scores, contributions = model.predict_with_contributions(scoring)
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(contributions, expected_contributions, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.predict(scoring), expected, rtol=0, atol=1e-12)
    assert list(model.feature_names) == propensity.feature_names(pipeline)
    unknown, rare = contributions[len(rows)], contributions[len(rows) + 1]
    assert not unknown[len(NUMERIC_FEATURES) :].any()  # a never-seen source: all zeros
    assert rare[-1] == model.coefficients[-1]  # a rare one: the infrequent column


def test_round_trip_is_exact(document):
    model = served.parse(document)
    assert model.to_json() == document
    assert served.parse(json.loads(json.dumps(model.to_json()))).to_json() == document


def test_no_rows_no_scores(document):
    model = served.parse(document)
    assert model.predict([]).shape == (0,)
    scores, contributions = model.predict_with_contributions([])
    assert scores.shape == (0,) and contributions.shape == (0, 0)


# -- tampering ---------------------------------------------------------------------------------
def _set(path: str, value):
    def change(doc: dict) -> None:
        *parents, last = path.split(".")
        node = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


def _delete(key: str):
    return lambda doc: doc.pop(key)


def _append(path: str, value):
    def change(doc: dict) -> None:
        node = doc
        for part in path.split("."):
            node = node[int(part)] if part.isdigit() else node[part]
        node.append(value)

    return change


PICKLE_AS_TEXT = "gASVIQAAAAAAAACMBWJ1aWx0aW5zlIwEb3BlbpSTlIwFL3RtcC94lIWUUpQu"

TAMPERING = [
    ("extra key", _set("__reduce__", ["os.system", "touch /tmp/x"]), "unexpected keys"),
    ("missing key", _delete("intercept"), "lacks ['intercept']"),
    ("other format", _set("format", "joblib"), "format 'joblib'"),
    ("pickle in a number", _set("intercept", PICKLE_AS_TEXT), "intercept must be a number"),
    (
        "code in a number",
        _set("coefficients.0", "__import__('os').system('id')"),
        "coefficients[0] must be a number",
    ),
    ("boolean as number", _set("coefficients.1", True), "coefficients[1] must be a number"),
    (
        "object as number",
        _set("numeric.mean.0", {"py/object": "os.system"}),
        "numeric.mean[0] must be a number",
    ),
    ("null number", _set("numeric.scale.0", None), "numeric.scale[0] must be a number"),
    ("huge number", _set("coefficients.2", 1e300), "coefficients[2] must be finite"),
    ("zero scale", _set("numeric.scale.3", 0.0), "numeric.scale must be at least"),
    ("negative scale", _set("numeric.scale.3", -1.0), "numeric.scale must be at least"),
    ("short coefficients", lambda d: d["coefficients"].pop(), "coefficients has"),
    ("long mean", _append("numeric.mean", 1.0), "numeric.mean has 24 numbers, expected 23"),
    ("renamed input", _set("numeric.features.0", "secret_score"), "not the inputs leadflow"),
    ("extra category", _append("categorical.0.categories", "zzz"), "feature_names"),
    ("category not text", _append("categorical.0.categories", 7), "non-empty text"),
    (
        "repeated category",
        lambda d: d["categorical"][0]["categories"].append(d["categorical"][0]["categories"][0]),
        "repeats a value",
    ),
    (
        "both frequent and rare",
        lambda d: d["categorical"][0]["infrequent"].append(d["categorical"][0]["categories"][0]),
        "both frequent and infrequent",
    ),
    ("long category", _set("categorical.0.categories.0", "x" * 500), "at most 200 characters"),
    (
        "too many categories",
        _set("categorical.0.infrequent", [f"s{i}" for i in range(6000)]),
        "at most",
    ),
    ("other categorical input", _set("categorical.0.feature", "phone_number"), "is not 'source'"),
    ("two categorical blocks", _append("categorical", {}), "categorical must be a list of 1"),
    ("feature names out of order", lambda d: d["feature_names"].reverse(), "feature_names"),
    ("numeric not an object", _set("numeric", [1, 2]), "numeric must be an object"),
]


@pytest.mark.parametrize(
    ("change", "message"), [t[1:] for t in TAMPERING], ids=[t[0] for t in TAMPERING]
)
def test_tampering_is_refused_naming_the_organization_and_version(document, change, message):
    tampered = copy.deepcopy(document)
    change(tampered)
    for form in (tampered, json.dumps(tampered)):
        with pytest.raises(ModelFormatError) as refused:
            served.load(form, organization_id=ORG, version=7)
        text = str(refused.value)
        assert text.startswith(f"model v7 of organization {ORG} refused: "), text
        assert message in text, text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ('{"format": NaN}', "not JSON"),
        ("[1, 2, 3]", "the model must be an object, not list"),
        ('"a string"', "the model must be an object, not str"),
        ("{" + " " * served.MAX_DOCUMENT_BYTES + "}", "refused unread"),
    ],
)
def test_documents_that_are_not_a_model_object_are_refused(text, message):
    with pytest.raises(ModelFormatError, match=message):
        served.load(text, organization_id=ORG, version=1)


def test_no_parameters_and_mismatched_row_feature_names_are_refused(document):
    with pytest.raises(ModelFormatError, match="no parameters stored"):
        served.load(None, organization_id=ORG, version=2)
    names = list(document["feature_names"])
    with pytest.raises(ModelFormatError, match="row's feature_names disagree"):
        served.load(document, organization_id=ORG, version=2, feature_names=names[::-1])
    served.load(document, organization_id=ORG, version=2, feature_names=names)


def test_a_model_the_reader_would_refuse_is_never_exported(fitted, monkeypatch):
    monkeypatch.setattr(served, "MAX_CATEGORIES", 2)
    with pytest.raises(ModelFormatError, match="at most"):
        propensity.export(fitted[0])


# -- nothing in the package unpickles ------------------------------------------------------------
#: modules whose loading runs code named by the data
UNSAFE_MODULES = {
    "pickle",
    "_pickle",
    "cPickle",
    "joblib",
    "dill",
    "cloudpickle",
    "shelve",
    "marshal",
    "jsonpickle",
}
#: calls that unpickle whatever object they are reached through
UNSAFE_CALLS = {"read_pickle", "Unpickler", "load_pickle"}


def _unsafe_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                f"import {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
            UNSAFE_MODULES
        ):
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in UNSAFE_CALLS:
                found.append(f"{name}(...)")
            if name == "__import__" or any(
                k.arg == "allow_pickle"
                and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                for k in node.keywords
            ):
                found.append(f"{name}(...) that may unpickle")
    return [f"{path}:{use}" for use in found]


def test_no_module_of_the_package_loads_pickles():
    root = Path(leadflow.__file__).parent
    modules = sorted(root.rglob("*.py"))
    assert len(modules) > 50
    unsafe = [use for path in modules for use in _unsafe_uses(path)]
    assert unsafe == []


def test_the_scan_finds_what_it_looks_for(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import joblib\nfrom pickle import loads\nimport pandas as pd\n"
        "pd.read_pickle('x')\nimport numpy as np\nnp.load('x', allow_pickle=True)\n"
    )
    assert len(_unsafe_uses(sample)) == 4
