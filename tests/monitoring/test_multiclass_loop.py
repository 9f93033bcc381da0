"""A multiclass project through the whole loop with the real libraries: validate -> train -> gate -> serve -> monitor.

The project (tests/helpers/multiclass.py: tickets routed to one of four teams) is a ``files`` project whose CSV
batches the test writes. Great Expectations validates them (one batch with an undeclared team is quarantined),
scikit-learn trains, MLflow records, the gate promotes on macro one-vs-rest AUC with fairness and behaviour,
the model card is drawn, BentoML serves one HTTP request on 127.0.0.1 (every class's probability by name), the
inference log keeps a column per class, and the monitor computes prediction drift and the gate's metric from
the labels that arrive later.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mlops.jobs import gate, validate
from monitoring.monitor import MonitorResult, monitor
from pipelines.datasets import coerce_types, list_validated
from pipelines.promotion import GateDecision
from pipelines.training import TrainResult, train
from projects.inference_log import PREDICTED_CLASS, class_columns, read_inference_log
from projects.settings import Settings
from projects.sources import ingest_files
from projects.storage import open_url
from projects.workspace import Workspace
from tests.helpers import multiclass as mc
from tests.helpers.serving import Home, Server, records

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BATCHES = 6  # 4 trained on, 1 held out of the window of 5, the oldest outside it
SERVED = mc.START + dt.timedelta(days=BATCHES)  # the day served, whose labels arrive afterwards


@dataclass
class Loop:
    ws: Workspace
    first_validation: Any
    trained: TrainResult
    decision: GateDecision
    response: dict[str, Any]
    served: Any  # the records sent, typed
    log: Any
    monitored: MonitorResult


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Loop:
    root = tmp_path_factory.mktemp("multiclass")
    source, projects_dir = root / "incoming", root / "projects"
    home = Home(root / "home")
    home.path.mkdir()
    mc.write_batches(source, mc.START, BATCHES)
    broken = mc.batch(mc.START + dt.timedelta(days=BATCHES + 5), rows=50)
    broken.loc[3, "team"] = "legal"  # not a declared class
    broken.to_csv(source / "broken_tickets.csv", index=False)
    mc.write_project(projects_dir, source)
    uri = f"sqlite:///{home.path / 'mlflow.db'}"
    settings = Settings(home=home.path, data_root=None, tracking_uri=uri, registry_uri=uri, projects_dir=projects_dir)
    ws = Workspace.open(mc.NAME, settings)

    ingest_files(ws.project, ws.store)
    first_validation = validate(ws)
    trained = train(ws)
    decision = gate(ws, trained.version)

    served = coerce_types(ws.project, mc.batch(SERVED))
    env = home.env(MLOPS_PROJECTS_DIR=str(projects_dir))
    with Server(home, project=mc.NAME, env=env).start() as server:
        answer = httpx.post(f"{server.url}/predict", json={"records": records(ws.project, served)}, timeout=60)
        assert answer.status_code == 200, answer.text
    log = read_inference_log(ws.store, project=ws.project)

    mc.batch(SERVED).to_csv(source / f"{SERVED.isoformat()}_tickets.csv", index=False)  # the labels arrive
    ingest_files(ws.project, ws.store)
    validate(ws)
    monitored = monitor(ws)
    return Loop(ws, first_validation, trained, decision, answer.json(), served, log, monitored)


def test_the_data_gate_stores_declared_classes_and_quarantines_an_undeclared_one(loop: Loop) -> None:
    quarantined = {r.batch: r for r in loop.first_validation.quarantined}
    assert list(quarantined) == ["broken_tickets.csv"], [r.batch for r in loop.first_validation.results]
    broken = quarantined["broken_tickets.csv"]
    reasons = " ".join(broken.reasons)
    assert "team" in reasons, reasons
    assert "'legal'" in reasons, reasons
    with open_url(broken.report_urls["json"], "rb") as handle:
        report = handle.read().decode()
    assert "schema.target.classes" in report, "the report names the project.yaml key the check comes from"
    assert len(loop.first_validation.validated) == BATCHES
    stored = loop.ws.store.read_parquet("validated", list_validated(loop.ws.store, loop.ws.project)[0])
    assert str(stored["team"].dtype) == "string", stored.dtypes
    assert set(stored["team"]) <= set(mc.CLASSES)


def test_training_records_the_multiclass_metrics(loop: Loop) -> None:
    metrics = loop.trained.holdout_metrics
    assert set(metrics) == {"roc_auc", "f1", "accuracy", "precision", "recall", "log_loss"}, metrics
    assert metrics["roc_auc"] > 0.75, metrics
    assert 0.25 < metrics["accuracy"] <= 1.0, "better than one class in four by chance"
    assert metrics["log_loss"] < math.log(len(mc.CLASSES)), "better than the uniform guess"


def test_the_gate_promotes_on_macro_auc_with_fairness_and_behaviour(loop: Loop) -> None:
    decision = loop.decision
    assert decision.promoted, decision.reason
    checks = {c.name: c for c in decision.checks}
    assert checks["floor"].passed
    assert "roc_auc" in checks["floor"].detail
    assert checks["fairness"].evaluated, checks["fairness"].detail
    assert checks["fairness"].passed, checks["fairness"].detail
    directional = checks["behaviour: more devices make hardware likelier"]
    assert directional.evaluated
    assert directional.passed
    assert "P(hardware)" in directional.detail
    assert checks["behaviour: phone tickets routed well"].evaluated, checks["behaviour: phone tickets routed well"]
    assert decision.numbers["challenger.roc_auc"] == pytest.approx(loop.trained.holdout_metrics["roc_auc"])


def test_the_model_card_shows_every_class(loop: Loop) -> None:
    assert loop.decision.model_card_url is not None
    html = loop.ws.store.read_text("reports", "model_cards", f"v{loop.decision.version}.html")
    assert "Per class (holdout)" in html
    assert "ROC curves (one vs rest)" in html
    for name in mc.CLASSES:
        assert f"<td>{name}</td>" in html, f"class {name} missing from the per-class table"
    assert "rate of predicting" in html, "the fairness table says which class its numbers are about"


def test_the_service_names_every_class_probability(loop: Loop) -> None:
    predictions = loop.response["predictions"]
    assert loop.response["model"]["version"] == loop.decision.version
    assert len(predictions) == len(loop.served)
    for row in predictions:
        probabilities = row["probabilities"]
        assert list(probabilities) == list(mc.CLASSES), row
        assert sum(probabilities.values()) == pytest.approx(1.0)
        assert row["prediction"] == max(probabilities, key=probabilities.__getitem__), row
        assert row["probability"] == pytest.approx(probabilities[row["prediction"]])
    assert [row["ticket_id"] for row in predictions] == loop.served["ticket_id"].tolist()


def test_the_inference_log_keeps_a_probability_per_class(loop: Loop) -> None:
    columns = class_columns(loop.ws.project)
    assert list(columns.values()) == [f"probability_{c}" for c in mc.CLASSES]
    log = loop.log
    assert len(log) == len(loop.served)
    assert set(log[PREDICTED_CLASS]) <= set(mc.CLASSES)
    by_id = {row["ticket_id"]: row for row in loop.response["predictions"]}
    first = log.iloc[0]
    answered = by_id[first["ticket_id"]]
    assert first[PREDICTED_CLASS] == answered["prediction"]
    for name, column in columns.items():
        assert first[column] == pytest.approx(answered["probabilities"][name]), column


def test_the_monitor_checks_prediction_drift_and_scores_the_labels(loop: Loop) -> None:
    result = loop.monitored
    assert result.window_rows == len(loop.served)
    monitored = {c.column: c for c in result.columns}
    assert PREDICTED_CLASS in monitored, sorted(monitored)
    assert monitored[PREDICTED_CLASS].kind == "categorical"
    performance = result.performance
    assert performance is not None
    assert performance.metric == "roc_auc"
    assert performance.labelled_rows == len(loop.served), performance
    assert performance.value is not None, performance
    assert performance.value > 0.7, performance
    assert performance.at_gate == pytest.approx(loop.decision.numbers["challenger.roc_auc"], abs=1e-5)
