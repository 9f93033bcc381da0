"""The jobs: steps of the libraries chained into the units people and schedulers run.

    train_and_gate:       pipelines.training.train -> gate
    gate:                 pipelines.promotion.promote_if_better -> pipelines.model_card.publish_model_card
    retrain:              pipelines.validate.validate_landing -> train_and_gate
    monitor_and_trigger:  monitoring.monitor.monitor -> monitoring.trigger.act_on_drift(retrain=retrain)

This is the only place that chains steps of different libraries: ``pipelines``, ``serving`` and ``monitoring``
never call each other's orchestration. Where a library must start composed work (the local retrain trigger),
the job hands it in as a callable. The CLI commands, the ``make run`` story and the Kubernetes Jobs all call
these functions, so a retraining is the same code on a laptop and in a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitoring.monitor import MonitorResult, WindowSpec, monitor
from monitoring.trigger import TriggerDecision, act_on_drift, record_in_summary
from pipelines.model_card import publish_model_card
from pipelines.promotion import GateDecision, promote_if_better
from pipelines.training import TrainResult, train
from pipelines.validate import validate_landing
from projects import tracking
from projects.workspace import Workspace


@dataclass(frozen=True)
class GatedTraining:
    """A challenger trained and registered, and what the gate decided about it."""

    training: TrainResult
    decision: GateDecision

    @property
    def version(self) -> str:
        return self.training.version


def gate(ws: Workspace, version: str | None = None) -> GateDecision:
    """The gate for ``version`` (default: the newest), then its model card (unless the gate refused to score)."""
    decision, evidence = promote_if_better(ws, version)
    if evidence is not None:
        decision.model_card_url = publish_model_card(ws, tracking.configure(ws.settings), decision, evidence)
    return decision


def train_and_gate(ws: Workspace) -> GatedTraining:
    """Train a challenger on the validated window, then gate it against the champion on the same holdout."""
    trained = train(ws)
    return GatedTraining(training=trained, decision=gate(ws, trained.version))


def retrain(ws: Workspace) -> dict[str, Any]:
    """The same path as a first training: new landing batches through the data gate, then train and gate.

    Returns what the trigger records as its outcome (plain values: it goes into MLflow tags and JSON).
    """
    validation = validate_landing(ws)
    gated = train_and_gate(ws)
    decision = gated.decision
    return {
        "validated_batches": [b.batch for b in validation.results if b.status == "validated"],
        "quarantined_batches": [b.batch for b in validation.results if b.status == "quarantined"],
        "version": gated.version,
        "decision": decision.decision,
        "reason": decision.reason,
        "champion_after": decision.champion_after,
    }


def monitor_and_trigger(ws: Workspace, window: WindowSpec | str | None = None) -> tuple[MonitorResult, TriggerDecision]:
    """What `mlops monitor` and the story run: the drift check, then the trigger acting on its decision."""
    result = monitor(ws, window)
    decision = act_on_drift(ws, result.drift_detected, retrain=retrain)
    record_in_summary(ws, result.summary_url, decision)
    return result, decision
