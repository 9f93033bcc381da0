"""The trigger against a real registry: drift -> (at most one) retrain -> gate, with state in MLflow tags.

Every test starts from a fresh MLOPS_HOME with a champion trained by the real pipeline on baseline batches
(MLflow on SQLite, scikit-learn); retraining runs the real validate -> train -> gate -> promote path.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlops.jobs import retrain
from monitoring.trigger import BUSY, COOLDOWN, NO_DRIFT, RETRAIN, WAITING, act_on_drift
from pipelines.datasets import coerce_types
from projects import registry
from projects.settings import Settings
from projects.workspace import Workspace
from tests.helpers.system import REPO

FIRST_DAY = dt.date(2026, 1, 1)
ROWS = 600

pytestmark = pytest.mark.integration


def land_validated(ws: Workspace, scenario: str, first: dt.date, batches: int) -> None:
    """Validated batches in the store's format (the data gate itself is tested in tests/data)."""
    from projects.churn.generator import ChurnGenerator

    generator = ChurnGenerator(ws.project, seed=42)
    for offset in range(batches):
        day = first + dt.timedelta(days=offset)
        frame = coerce_types(ws.project, generator.batch(day, scenario, ROWS))
        ws.store.write_parquet("validated", f"{day.isoformat()}_{scenario}.parquet", frame=frame)


def versions(ws: Workspace) -> list[str]:
    from projects import tracking

    client = tracking.configure(ws.settings)
    return sorted(str(mv.version) for mv in client.search_model_versions(f"name='{registry.model_name(ws.name)}'"))


def champion(ws: Workspace) -> str | None:
    from projects import tracking

    return registry.champion_version(tracking.configure(ws.settings), ws.name)


def last_trigger(ws: Workspace) -> dict[str, object]:
    from projects import tracking

    model = tracking.configure(ws.settings).get_registered_model(registry.model_name(ws.name))
    return dict(json.loads(model.tags[registry.TAG_LAST_TRIGGER]))


@pytest.fixture
def ws(settings: Settings) -> Workspace:
    """A champion (version 1) trained on 4 baseline batches: 2 trained on, the newest 2 held out."""
    from mlops.jobs import train_and_gate

    workspace = Workspace.open("churn", settings)
    land_validated(workspace, "baseline", FIRST_DAY, 4)
    result = train_and_gate(workspace)
    assert result.decision.promoted, result.decision
    return workspace


def test_no_drift_no_retrain_and_the_decision_is_recorded(ws: Workspace) -> None:
    decision = act_on_drift(ws, drift_detected=False, retrain=retrain)
    assert decision.action == NO_DRIFT
    assert not decision.triggered
    assert versions(ws) == ["1"]
    assert last_trigger(ws)["action"] == NO_DRIFT, "the decision is kept on the registered model"


def test_drift_without_new_labels_waits(ws: Workspace) -> None:
    """The holdout batches are newer than the rows trained on, but the champion was judged on them: not new."""
    decision = act_on_drift(ws, drift_detected=True, retrain=retrain)
    assert decision.action == WAITING, decision.reason
    assert "no new labels: waiting" in decision.reason
    assert versions(ws) == ["1"]
    assert last_trigger(ws)["action"] == WAITING


def test_drift_with_new_labels_retrains_once_then_cools_down(ws: Workspace) -> None:
    land_validated(ws, "market_shift", FIRST_DAY + dt.timedelta(days=4), 4)
    first = act_on_drift(ws, drift_detected=True, retrain=retrain)
    assert first.action == RETRAIN, first
    assert first.outcome["version"] == "2", first
    assert first.outcome["decision"] == "promoted", f"the retrained model should win after the shift: {first.outcome}"
    assert champion(ws) == "2"

    second = act_on_drift(ws, drift_detected=True, retrain=retrain)
    assert second.action == COOLDOWN, second.reason
    assert versions(ws) == ["1", "2"], "a second monitor inside the cooldown must not retrain"


def test_two_concurrent_monitors_retrain_exactly_once(ws: Workspace, mlops_home: Path) -> None:
    land_validated(ws, "market_shift", FIRST_DAY + dt.timedelta(days=4), 4)
    code = (
        "import json; from projects.workspace import Workspace; from monitoring.trigger import act_on_drift; "
        "from mlops.jobs import retrain; "
        "print(json.dumps(act_on_drift(Workspace.open('churn'), drift_detected=True, retrain=retrain).action))"
    )
    env = {"MLOPS_HOME": str(mlops_home), "PATH": "/usr/bin:/bin"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-3000:]
    actions = sorted(json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs)
    assert actions.count(RETRAIN) == 1, actions
    assert set(actions) - {RETRAIN} <= {BUSY, COOLDOWN}, actions
    assert versions(ws) == ["1", "2"], "exactly one retrained version"


def test_retrained_model_failing_the_gate_leaves_the_champion(ws: Workspace) -> None:
    land_validated(ws, "market_shift", FIRST_DAY + dt.timedelta(days=4), 4)
    strict = ws.project.model_copy(update={"gate": ws.project.gate.model_copy(update={"floor": 0.99})})
    decision = act_on_drift(
        Workspace(settings=ws.settings, project=strict, store=ws.store), drift_detected=True, retrain=retrain
    )
    assert decision.action == RETRAIN, decision.outcome
    assert decision.outcome["decision"] == "rejected", decision.outcome
    assert "floor" in str(decision.outcome["reason"])
    assert champion(ws) == "1", "a rejected challenger never takes the alias"
