"""The gate's decisions from scorecards of real models on the same out-of-time holdout (no registry here)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.evaluation import FairnessResult
from pipelines.promotion import Scorecard, gate_checks, gate_numbers, scorecard, summarise
from projects.contract import FairnessMetric
from tests.helpers import builders
from tests.helpers.models import fit_on


def _failed(checks):
    return [c.name for c in checks if not c.passed]


def test_first_model_is_judged_by_the_floor_alone(churn_project, churn_data, churn_model):
    card = scorecard(churn_project, churn_model, churn_data[1], "1")
    passed, reason = summarise(gate_checks(churn_project.gate, card, None))
    assert passed, reason
    strict = builders.with_gate(churn_project, floor=0.99)
    checks = gate_checks(strict.gate, card, None)
    assert _failed(checks) == ["floor"]
    assert "floor 0.99" in summarise(checks)[1]


def test_worse_challenger_fails_on_improvement(churn_project, churn_data, churn_model):
    champion = scorecard(churn_project, churn_model, churn_data[1], "1")
    worse_project = builders.dummy(churn_project)
    worse = scorecard(worse_project, fit_on(worse_project, churn_data[0]), churn_data[1], "2")
    checks = gate_checks(worse_project.gate, worse, champion)
    assert "improvement" in _failed(checks)
    assert "floor" in _failed(checks)
    passed, reason = summarise(checks)
    assert not passed
    assert "champion v1" in reason


def test_unfair_challenger_is_rejected_even_when_more_accurate(churn_project, biased_data):
    train, holdout = biased_data
    fair_project = builders.with_gate(churn_project, floor=0.6)
    unfair_project = builders.with_sensitive_input(fair_project)
    champion = scorecard(fair_project, fit_on(fair_project, train), holdout, "1")
    challenger = scorecard(unfair_project, fit_on(unfair_project, train), holdout, "2")
    assert challenger.metrics["roc_auc"] > champion.metrics["roc_auc"] + 0.01, "the unfair model must be more accurate"
    checks = gate_checks(unfair_project.gate, challenger, champion)
    assert _failed(checks) == ["fairness"], [c.detail for c in checks]
    passed, reason = summarise(checks)
    assert not passed
    assert "demographic_parity_difference" in reason


def test_invariance_breaker_is_rejected_for_that_reason_alone(churn_project, churn_data, churn_model):
    champion = scorecard(churn_project, churn_model, churn_data[1], "1")
    project = builders.with_region_invariance(churn_project)
    challenger = scorecard(project, fit_on(project, churn_data[0]), churn_data[1], "2")
    checks = gate_checks(project.gate, challenger, champion)
    assert _failed(checks) == ["behaviour: region does not change the score"], [c.detail for c in checks]


def _card(version: str, value: float, gap: float = 0.0) -> Scorecard:
    fair = FairnessResult(FairnessMetric.group_error_gap, gap, [])
    return Scorecard(version, {"rmse": value}, fair, [], np.zeros(1), np.zeros(1))


def test_lower_is_better_metrics_compare_the_other_way():
    project = builders.regression_project()  # rmse, floor 40, max_gap 10
    gate = builders.with_gate(project, min_improvement=1.0).gate
    assert _failed(gate_checks(gate, _card("2", 10.0), _card("1", 12.0))) == []
    assert _failed(gate_checks(gate, _card("2", 11.5), _card("1", 12.0))) == ["improvement"], "needs 1.0 better"
    assert _failed(gate_checks(gate, _card("2", 45.0), None)) == ["floor"]
    assert _failed(gate_checks(gate, _card("2", 10.0, gap=11.0), None)) == ["fairness"]


def test_nan_primary_metric_never_passes_the_floor():
    project = builders.regression_project()
    assert _failed(gate_checks(project.gate, _card("2", math.nan), None)) == ["floor"]


def test_gate_numbers_hold_every_number_used(churn_project, churn_data, churn_model):
    card = scorecard(churn_project, churn_model, churn_data[1], "1")
    numbers = gate_numbers(churn_project.gate, card, card, rows=600)
    for key in ("challenger.roc_auc", "champion.roc_auc", "champion.version", "floor", "fairness_gap", "holdout_rows"):
        assert key in numbers, key
    assert numbers["behaviour.1.passed"] == 1.0
    assert numbers["challenger.roc_auc"] == pytest.approx(card.metrics["roc_auc"])
