"""Fixtures for the monitoring suite: a real champion trained once per module (helpers: tests/helpers/monitoring.py).

The champion is trained, registered and promoted by the real pipeline (MLflow on SQLite under a temporary home).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

import pytest

from mlops.jobs import train_and_gate
from projects import registry, tracking
from projects.settings import Settings
from projects.workspace import Workspace
from tests.helpers.monitoring import FIRST_DAY, ROWS_PER_BATCH, TRAIN_BATCHES, Trained, generated


@pytest.fixture(scope="module")
def monitoring_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A module-wide MLOPS_HOME (the champion is expensive enough to share), other MLOPS_* cleared."""
    mlflow_vars = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")  # mlflow.set_tracking_uri exports the first
    saved = {name: os.environ.get(name) for name in mlflow_vars}
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("MLOPS_") or name in mlflow_vars:
                patch.delenv(name, raising=False)
        patch.setenv("MLOPS_HOME", str(tmp_path_factory.mktemp("monitoring-home")))
        yield Settings()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def trained(monitoring_settings: Settings) -> Trained:
    """Validated baseline batches -> pipelines.training.train -> the gate promotes version 1 to champion."""
    import mlflow.sklearn

    ws = Workspace.open("churn", monitoring_settings)
    for offset in range(TRAIN_BATCHES):
        day = FIRST_DAY + dt.timedelta(days=offset)
        frame = generated(ws.project, "baseline", day, ROWS_PER_BATCH)
        ws.store.write_parquet("validated", f"{day.isoformat()}_baseline.parquet", frame=frame)
    result = train_and_gate(ws)
    assert result.decision.decision == "promoted", result.decision
    client = tracking.configure(ws.settings)
    mv = client.get_model_version(registry.model_name(ws.name), result.version)
    promoted_at = dt.datetime.fromisoformat(mv.tags[registry.TAG_PROMOTED_AT]).astimezone(dt.UTC)
    model = mlflow.sklearn.load_model(registry.model_uri(ws.name))
    return Trained(ws=ws, version=result.version, promoted_at=promoted_at, model=model)
