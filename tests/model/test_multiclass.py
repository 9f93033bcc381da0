"""Multiclass: label encoding, the aligned probability matrix, the gate's metrics, fairness and behaviour.

Pure functions on tiny arrays and real scikit-learn models fitted on the tickets fixture (tests/helpers/multiclass.py).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, log_loss, roc_auc_score

from pipelines.datasets import coerce_types
from pipelines.evaluation import (
    all_metrics,
    directional,
    fairness,
    invariance,
    metric,
    minimum_functionality,
    per_class_metrics,
)
from pipelines.features import build_pipeline, encode_target, project_scores
from projects.contract import Directional, FairnessMetric, Invariance, MinimumFunctionality, Task
from tests.helpers import multiclass as mc

PROBA = np.array(
    [
        [0.7, 0.1, 0.1, 0.1],
        [0.2, 0.5, 0.2, 0.1],
        [0.1, 0.2, 0.6, 0.1],
        [0.1, 0.1, 0.2, 0.6],
        [0.4, 0.3, 0.2, 0.1],
        [0.1, 0.6, 0.2, 0.1],
        [0.3, 0.1, 0.5, 0.1],
        [0.25, 0.25, 0.1, 0.4],
    ]
)
LABELS = np.array([0, 1, 2, 3, 1, 1, 0, 3])


@pytest.fixture(scope="module")
def project():
    return mc.project()


@pytest.fixture(scope="module")
def frames(project):
    return [coerce_types(project, mc.batch(mc.START + dt.timedelta(days=i))) for i in range(4)]


@pytest.fixture(scope="module")
def model(project, frames):
    train = pd.concat(frames[:3], ignore_index=True)
    return build_pipeline(project).fit(train[project.schema.model_inputs], encode_target(project, train["team"]))


# --------------------------------------------------------------------------------------------- encoding
def test_labels_are_encoded_by_their_index_in_classes(project) -> None:
    labels = pd.Series(["account", "billing", "hardware", "network", "billing"], dtype="string")
    assert encode_target(project, labels).tolist() == [3, 0, 2, 1, 0]


def test_an_undeclared_label_is_named_with_the_column(project) -> None:
    with pytest.raises(ValueError, match=r"column 'team': value\(s\) \['legal'\] are not among the declared"):
        encode_target(project, pd.Series(["billing", "legal"], dtype="string"))


def test_a_coded_class_is_stored_as_its_declared_text() -> None:
    contract = mc.contract()
    contract["schema"]["target"]["classes"] = [1, 2, 3]
    contract["gate"]["behaviour"][1]["target_class"] = 2
    coded = mc.parse_project(contract)
    frame = coerce_types(coded, pd.DataFrame({"team": ["1", 2.0, " 3 "]}))
    assert frame["team"].tolist() == ["1", "2", "3"]
    assert encode_target(coded, frame["team"]).tolist() == [0, 1, 2]


def test_the_probability_matrix_is_aligned_to_classes_when_a_class_never_trained(project) -> None:
    # Given training data without any 'network' ticket
    train = pd.concat(
        [coerce_types(project, mc.batch(mc.START + dt.timedelta(days=i), drop=("network",))) for i in range(2)],
        ignore_index=True,
    )
    model = build_pipeline(project).fit(train[project.schema.model_inputs], encode_target(project, train["team"]))
    assert list(model.classes_) == [0, 2, 3], "the model never saw class 1 (network)"
    # When it scores, Then there is still one column per declared class, the unseen one at zero
    scores = project_scores(project, model, train[project.schema.model_inputs].head(20))
    assert scores.shape == (20, 4)
    assert np.allclose(scores[:, 1], 0.0)
    assert np.allclose(scores.sum(axis=1), 1.0)
    raw = model.predict_proba(train[project.schema.model_inputs].head(20))
    assert np.allclose(scores[:, [0, 2, 3]], raw), "the seen classes keep their own probabilities"


# --------------------------------------------------------------------------------------------- metrics
def test_multiclass_metrics_match_scikit_learn() -> None:
    assert metric("roc_auc", Task.classification, LABELS, PROBA) == pytest.approx(
        roc_auc_score(LABELS, PROBA, multi_class="ovr", average="macro")
    )
    assert metric("f1", Task.classification, LABELS, PROBA) == pytest.approx(
        f1_score(LABELS, PROBA.argmax(axis=1), average="macro")
    )
    assert metric("log_loss", Task.classification, LABELS, PROBA) == pytest.approx(log_loss(LABELS, PROBA))
    assert metric("accuracy", Task.classification, LABELS, PROBA) == pytest.approx(6 / 8)


def test_one_vs_rest_auc_leaves_out_a_class_absent_from_the_labels() -> None:
    present = LABELS != 3
    labels, proba = LABELS[present], PROBA[present]
    expected = np.mean([roc_auc_score(labels == k, proba[:, k]) for k in (0, 1, 2)])
    assert metric("roc_auc", Task.classification, labels, proba) == pytest.approx(expected)
    assert math.isnan(metric("roc_auc", Task.classification, np.array([2, 2]), PROBA[:2]))


def test_a_binary_only_metric_is_refused_for_multiclass_by_name() -> None:
    with pytest.raises(ValueError, match="metric 'average_precision': unknown for a multiclass target"):
        metric("average_precision", Task.classification, LABELS, PROBA)
    assert set(all_metrics(Task.classification, LABELS, PROBA)) == {
        "roc_auc",
        "f1",
        "accuracy",
        "precision",
        "recall",
        "log_loss",
    }


def test_per_class_metrics_count_and_score_each_class() -> None:
    rows = per_class_metrics(LABELS, PROBA, mc.CLASSES)
    assert [r["class"] for r in rows] == list(mc.CLASSES)
    assert [r["support"] for r in rows] == [2, 3, 1, 2]
    assert [r["predicted"] for r in rows] == [2, 2, 2, 2]
    assert rows[0]["recall"] == pytest.approx(0.5)
    assert rows[0]["precision"] == pytest.approx(0.5)
    assert rows[3]["roc_auc"] == pytest.approx(roc_auc_score(LABELS == 3, PROBA[:, 3]))


# --------------------------------------------------------------------------------------------- fairness
def test_demographic_parity_is_the_largest_class_gap_in_predicted_rates() -> None:
    groups = pd.Series(["a", "a", "a", "a", "b", "b", "b", "b"])
    # predicted: a -> [0, 1, 2, 3], b -> [0, 1, 2, 3] shifted: rows 4..7 predict [0, 1, 2, 3]
    result = fairness(FairnessMetric.demographic_parity, LABELS, PROBA, groups, mc.CLASSES)
    assert result.audited
    assert result.gap == pytest.approx(0.0), "both groups predict each class once in four"
    skewed = PROBA.copy()
    skewed[4:, :] = [0.1, 0.1, 0.7, 0.1]  # group b: always hardware
    result = fairness(FairnessMetric.demographic_parity, LABELS, skewed, groups, mc.CLASSES)
    assert result.worst_class == "hardware"
    assert result.gap == pytest.approx(1.0 - 0.25)
    by_group = {g["group"]: g for g in result.by_group}
    assert by_group["b"]["by_class"]["hardware"] == pytest.approx(1.0)
    assert by_group["a"]["value"] == pytest.approx(0.25)


def test_equal_opportunity_is_the_largest_per_class_recall_gap() -> None:
    groups = pd.Series(["a", "a", "a", "a", "b", "b", "b", "b"])
    # a: every label predicted right (recall 1 per class); b: labels [1, 1, 0, 3] predicted [0, 1, 2, 3]
    result = fairness(FairnessMetric.equal_opportunity, LABELS, PROBA, groups, mc.CLASSES)
    by_group = {g["group"]: g["by_class"] for g in result.by_group}
    assert by_group["a"] == {"billing": 1.0, "network": 1.0, "hardware": 1.0, "account": 1.0}
    assert by_group["b"]["billing"] == pytest.approx(0.0)
    assert by_group["b"]["network"] == pytest.approx(0.5)
    assert math.isnan(by_group["b"]["hardware"]), "no hardware ticket in group b: not compared"
    assert result.gap == pytest.approx(1.0)
    assert result.worst_class == "billing"


# --------------------------------------------------------------------------------------------- behaviour
def test_invariance_fails_when_the_predicted_class_or_probabilities_move(project, model, frames) -> None:
    holdout = frames[3]
    unused = Invariance(kind="invariance", name="x", column="language", values=("en", "fr"), tolerance=0.0)
    assert invariance(project, model, holdout, unused).passed
    used = Invariance(kind="invariance", name="y", column="channel", values=("email", "phone"), tolerance=0.05)
    result = invariance(project, model, holdout, used)
    assert not result.passed
    assert result.extra["predicted_class_changed"] > 0, result.detail
    assert "predicted class changed" in result.detail


def test_directional_moves_the_named_class_probability(project, model, frames) -> None:
    holdout = frames[3]
    rises = Directional(
        kind="directional", name="d", column="devices", delta=3, direction="increase", target_class="hardware"
    )
    falls = rises.model_copy(update={"target_class": "billing"})
    assert directional(project, model, holdout, rises).passed
    result = directional(project, model, holdout, falls)
    assert not result.passed, result.detail
    assert "P(billing)" in result.detail


def test_minimum_functionality_takes_a_multiclass_metric_on_a_slice(project, model, frames) -> None:
    holdout = frames[3]
    y = encode_target(project, holdout["team"])
    test = MinimumFunctionality(
        kind="minimum_functionality", name="m", where="channel == 'phone'", metric="f1", min=0.99, min_rows=10
    )
    result = minimum_functionality(project, model, holdout, y, test)
    mask = (holdout["channel"] == "phone").to_numpy()
    scores = project_scores(project, model, holdout[mask][project.schema.model_inputs])
    assert result.value == pytest.approx(f1_score(y[mask], scores.argmax(axis=1), average="macro"))
    assert not result.passed, "an f1 of 0.99 is out of reach on noisy tickets"
