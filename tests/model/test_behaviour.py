"""Metrics, fairness and the behavioural tests, as pure functions on small frames and real sklearn models."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipelines.evaluation import (
    EvaluationError,
    directional,
    fairness,
    invariance,
    metric,
    minimum_functionality,
    run_behaviour,
)
from projects.contract import Directional, FairnessMetric, Invariance, MinimumFunctionality, Task
from tests.helpers import builders
from tests.helpers.models import fit_on


# --------------------------------------------------------------------------------------------- metrics
def test_metrics_match_hand_computed_values():
    y = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.6, 0.4, 0.9])
    assert metric("roc_auc", Task.classification, y, scores) == pytest.approx(0.75)
    assert metric("accuracy", Task.classification, y, scores) == pytest.approx(0.5)
    assert metric("rmse", Task.regression, np.array([1.0, 3.0]), np.array([2.0, 1.0])) == pytest.approx(math.sqrt(2.5))
    assert metric("mae", Task.regression, np.array([1.0, 3.0]), np.array([2.0, 1.0])) == pytest.approx(1.5)


def test_undefined_metric_is_nan_and_unknown_metric_is_named():
    assert math.isnan(metric("roc_auc", Task.classification, np.array([1, 1]), np.array([0.2, 0.9])))
    with pytest.raises(EvaluationError, match="metric 'rmse': unknown for classification"):
        metric("rmse", Task.classification, np.array([1]), np.array([1.0]))


# --------------------------------------------------------------------------------------------- fairness
def test_demographic_parity_is_the_gap_in_positive_prediction_rates():
    groups = pd.Series(["a", "a", "a", "a", "b", "b", "b", "b"])
    scores = np.array([0.9, 0.9, 0.9, 0.1, 0.9, 0.1, 0.1, 0.1])  # a: 3/4 flagged, b: 1/4
    result = fairness(FairnessMetric.demographic_parity, np.zeros(8), scores, groups)
    assert result.gap == pytest.approx(0.5)
    assert {r["group"]: r["value"] for r in result.by_group} == {"a": 0.75, "b": 0.25}


def test_equal_opportunity_compares_true_positive_rates_only():
    groups = pd.Series(["a", "a", "b", "b", "b"])
    y = np.array([1, 1, 1, 1, 0])
    scores = np.array([0.9, 0.9, 0.9, 0.1, 0.9])  # TPR a = 1.0, b = 0.5; b's false positive does not count
    assert fairness(FairnessMetric.equal_opportunity, y, scores, groups).gap == pytest.approx(0.5)


def test_group_error_gap_for_regression_and_a_single_group_is_not_audited():
    groups = pd.Series(["a", "a", "b", "b"])
    result = fairness(FairnessMetric.group_error_gap, np.array([10.0, 10, 10, 10]), np.array([11.0, 9, 14, 6]), groups)
    assert result.gap == pytest.approx(3.0)
    assert result.audited
    lone = fairness(FairnessMetric.group_error_gap, np.array([1.0]), np.array([1.0]), pd.Series(["a"]))
    assert not lone.audited, "one group cannot be compared with anything: nothing was audited"
    assert np.isnan(lone.gap), "no gap is made up when nothing was compared"
    assert "fewer than two groups" in lone.note


# --------------------------------------------------------------------------------------------- behaviour
def test_invariance_holds_when_the_column_is_not_a_model_input(churn_project, churn_data, churn_model):
    test = Invariance(kind="invariance", name="g", column="gender", values=("female", "male"), tolerance=0.0)
    result = invariance(churn_project, churn_model, churn_data[1], test)
    assert result.passed
    assert "not a model input" in result.detail


def test_invariance_fails_for_a_model_that_uses_the_column(churn_project, biased_data):
    project = builders.with_sensitive_input(churn_project)
    model = fit_on(project, biased_data[0])
    test = Invariance(kind="invariance", name="g", column="gender", values=("female", "male"), tolerance=0.05)
    result = invariance(project, model, biased_data[1], test)
    assert not result.passed, result.detail
    assert result.value > 0.05, result.detail


def test_directional_expectation_passes_for_the_right_sign_and_fails_for_the_wrong_one(
    churn_project, churn_data, churn_model
):
    up = Directional(kind="directional", name="up", column="support_calls", delta=3, direction="increase")
    down = Directional(kind="directional", name="down", column="support_calls", delta=3, direction="decrease")
    assert directional(churn_project, churn_model, churn_data[1], up).passed
    wrong = directional(churn_project, churn_model, churn_data[1], down)
    assert not wrong.passed, wrong.detail
    assert wrong.value < 0.05, wrong.detail


def test_directional_fails_for_a_model_that_ignores_the_column(churn_project, churn_data):
    project = builders.dummy(churn_project)
    model = fit_on(project, churn_data[0])
    test = Directional(kind="directional", name="up", column="support_calls", delta=3, direction="increase")
    assert not directional(project, model, churn_data[1], test).passed


def test_minimum_functionality_on_a_slice_and_its_failure_modes(churn_project, churn_data, churn_model):
    holdout = churn_data[1]
    ok = MinimumFunctionality(
        kind="minimum_functionality", name="s", where="contract == 'two-year'", metric="accuracy", min=0.5, min_rows=5
    )
    result = minimum_functionality(churn_project, churn_model, holdout, _y(churn_project, holdout), ok)
    assert result.passed
    assert result.extra["rows"] > 0
    strict = ok.model_copy(update={"min": 1.01})
    result = minimum_functionality(churn_project, churn_model, holdout, _y(churn_project, holdout), strict)
    assert not result.passed, "an evaluated slice below its minimum fails"
    rare = strict.model_copy(update={"min_rows": result.extra["rows"] + 1})
    result = minimum_functionality(churn_project, churn_model, holdout, _y(churn_project, holdout), rare)
    assert result.evaluated is False
    assert result.status == "not evaluated", "a slice too small to judge is neither a pass nor a failure"
    assert "too few to judge" in result.detail
    empty = ok.model_copy(update={"where": "tenure_months > 1000"})
    result = minimum_functionality(churn_project, churn_model, holdout, _y(churn_project, holdout), empty)
    assert not result.passed
    assert "empty" in result.detail
    bad = ok.model_copy(update={"where": "no_such_column > 1"})
    with pytest.raises(EvaluationError, match=r"gate.behaviour\[3\].where"):
        minimum_functionality(churn_project, churn_model, holdout, _y(churn_project, holdout), bad, index=3)


def test_declared_churn_behaviour_passes_for_a_sound_model(churn_project, churn_data, churn_model):
    holdout = churn_data[1]
    results = run_behaviour(churn_project, churn_model, holdout, _y(churn_project, holdout))
    assert [r.name for r in results] == [b.name for b in churn_project.gate.behaviour]
    assert all(r.passed for r in results), [r.detail for r in results if not r.passed]


def _y(project, frame):
    from pipelines.features import encode_target

    return encode_target(project, frame[project.schema.target.name])
