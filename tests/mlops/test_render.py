"""What the terminal says must be right: wording that follows the metric's direction, exact shares, what the
trigger did, and what the gate did not evaluate."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from mlops.render import performance_line, print_decision, print_trigger
from monitoring.monitor import Performance
from monitoring.trigger import RETRAIN, TriggerDecision
from pipelines.promotion import Check, GateDecision, summarise


def _performance(metric: str, value: float, at_gate: float, floor: float, higher: bool) -> Performance:
    drop = at_gate - value if higher else value - at_gate
    below = value < floor if higher else value > floor
    return Performance(metric, value, 500, 900, at_gate, floor, drop, below, "", higher)


def test_a_worse_rmse_reads_as_worse_and_failing_the_floor() -> None:
    line = performance_line(_performance("rmse", 320.15, 56.81, 70, higher=False))
    assert "worse than at the gate (56.8100: rose by 263.3400)" in line
    assert "fails the floor" in line
    assert "rmse must be <= 70" in line
    assert "below the floor" not in line, "an rmse above its floor is not 'below' anything"


def test_a_better_rmse_reads_as_better_and_meeting_the_floor() -> None:
    line = performance_line(_performance("rmse", 40.0, 56.81, 70, higher=False))
    assert "better than at the gate (56.8100: fell by 16.8100)" in line
    assert "meets the floor (rmse <= 70)" in line


@pytest.mark.parametrize(("value", "words"), [(0.65, "worse"), (0.85, "better")])
def test_an_auc_follows_its_own_direction(value: float, words: str) -> None:
    line = performance_line(_performance("roc_auc", value, 0.78, 0.7, higher=True))
    assert f"{words} than at the gate" in line
    assert ("fails the floor" in line) is (value < 0.7)


def _text(render: object, *args: object) -> str:
    buffer = io.StringIO()
    render(*args, Console(file=buffer, width=200, color_system=None))  # type: ignore[operator]
    return buffer.getvalue()


def test_monitor_prints_the_retraining_the_trigger_ran() -> None:
    outcome = {"version": "2", "decision": "rejected", "reason": "rejected: floor: rmse 80 > floor 60"}
    decision = TriggerDecision(RETRAIN, "drift detected and 3000 labelled rows newer", outcome=outcome)
    text = _text(print_trigger, decision)
    assert "retrained: version 2 rejected: rejected: floor: rmse 80 > floor 60" in text


def test_not_audited_fairness_and_an_unevaluated_test_are_never_counted_as_passes() -> None:
    checks = [
        Check("floor", True, "rmse 34 <= floor 60"),
        Check("fairness", True, "fairness not audited: no sensitive attribute declared", evaluated=False),
        Check("behaviour: price", True, "score fell for 98% of rows"),
        Check("behaviour: small stores", True, "not evaluated: only 12 rows", evaluated=False),
    ]
    passed, reason = summarise(checks)
    assert passed, "nothing failed"
    assert "fairness not audited" in reason
    assert "1/1 behaviour test(s) passed, 1 not evaluated" in reason, reason
    decision = GateDecision("demand", "2", "promoted", reason, checks=checks, champion_after="2")
    text = _text(print_decision, decision)
    assert "n/a  fairness: fairness not audited" in text
    assert "pass fairness" not in text
