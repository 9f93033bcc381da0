"""Training against real MLflow on SQLite: what a run logs, what the registry holds, too little data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlops.jobs import train_and_gate
from pipelines.promotion import PROMOTED
from pipelines.training import TrainingError
from projects import registry
from projects.registry import alias_version
from projects.settings import REPO_ROOT, Settings
from projects.workspace import Workspace
from tests.helpers import builders
from tests.helpers.registry import client_for, home_env, tags_of, with_registry

pytestmark = [pytest.mark.integration]


def test_train_logs_everything_and_the_first_model_above_the_floor_becomes_champion(ws: Workspace):
    result = train_and_gate(ws)
    client = client_for(ws)
    # The gate promoted it and wrote its numbers and reason on the version
    assert result.decision is not None, result.decision
    assert result.decision.decision == PROMOTED, result.decision
    assert alias_version(client, "churn", registry.CHAMPION) == result.version == "1"
    tags = tags_of(ws, "1")
    assert tags[registry.TAG_CONTRACT_HASH] == ws.project.contract_hash()
    assert json.loads(tags[registry.TAG_LIBRARIES])["scikit-learn"]
    assert pd.Timestamp(tags[registry.TAG_WATERMARK]) < pd.Timestamp("2026-01-07T00:00:00Z"), "holdout never trained"
    assert tags[registry.TAG_DECISION] == PROMOTED
    assert tags[registry.TAG_REASON].startswith("promoted")
    assert float(tags[f"{registry.TAG_GATE_PREFIX}challenger.roc_auc"]) >= ws.project.gate.floor
    assert (
        tags[f"{registry.TAG_GATE_PREFIX}holdout_batches"] == "2026-01-07_baseline.parquet,2026-01-08_baseline.parquet"
    )
    assert registry.TAG_PROMOTED_AT in tags
    # The run carries params, metrics and the train/holdout datasets with source and digest
    run = client.get_run(result.training.run_id)
    training = ws.project.training
    trained_batches = min(training.window_batches, builders.BATCHES) - training.holdout_batches
    assert run.data.params["train_rows"] == str(trained_batches * builders.ROWS)
    assert run.data.params["holdout_rows"] == str(training.holdout_batches * builders.ROWS)
    assert "holdout_roc_auc" in run.data.metrics
    contexts = {d.tags[0].value: d.dataset for d in run.inputs.dataset_inputs}
    assert set(contexts) == {"training", "holdout"}
    assert contexts["training"].digest
    assert "validated" in contexts["training"].source
    columns = {c["name"]: c for c in json.loads(contexts["training"].schema)["mlflow_colspec"]}
    assert columns["event_time"]["type"] == "datetime"
    assert columns["data_usage_gb"]["required"] is False


def test_logged_artifacts_serve_monitoring_and_serving(ws: Workspace):
    import mlflow
    import mlflow.sklearn

    result = train_and_gate(ws)
    client = client_for(ws)
    # Reference sample: training rows only, with the columns monitoring needs
    folder = Path(client.download_artifacts(result.training.run_id, "reference"))
    reference = pd.read_parquet(folder / "reference.parquet")
    schema = ws.project.schema
    assert set(reference.columns) == {schema.id.name, schema.timestamp.name, *schema.model_inputs, "gender", "churned"}
    assert 0 < len(reference) <= ws.project.training.reference_rows
    assert reference["event_time"].max() < pd.Timestamp("2026-01-07", tz="UTC")
    # The champion loads as the sklearn flavor and scores validated-typed rows with NA
    model = mlflow.sklearn.load_model(registry.model_uri("churn"))
    rows = reference.head(5)[schema.model_inputs].copy()
    rows.loc[rows.index[0], "senior_citizen"] = pd.NA
    assert model.predict_proba(rows).shape == (5, 2)
    # Signature from the contract (nullable data usage optional), input example, pinned requirements
    info = mlflow.models.get_model_info(f"models:/churn/{result.version}")
    inputs = {c.name: c for c in info.signature.inputs.inputs}
    assert list(inputs) == schema.model_inputs
    assert inputs["data_usage_gb"].required is False
    local = Path(mlflow.artifacts.download_artifacts(f"models:/churn/{result.version}"))
    assert (local / "input_example.json").exists()
    requirements = (local / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements
    assert "mlflow==" in requirements
    # The model card: in the reports area of the data root and as an artifact of the run
    card = ws.store.read_text("reports", "model_cards", "v1.html")
    for needle in ("Confusion matrix", "ROC curve", "Permutation importance", "female", "Behavioural tests"):
        assert needle in card, needle
    logged = Path(client.download_artifacts(result.training.run_id, registry.ARTIFACT_MODEL_CARD))
    assert logged.read_text() == card


def test_the_logged_model_loads_without_this_repository_on_the_path(ws: Workspace, tmp_path: Path):
    """The pipeline's own cast step is pickled by value: serving needs scikit-learn, not our packages."""
    train_and_gate(ws)
    sample = tmp_path / "rows.parquet"
    builders.concat(builders.churn_batches(ws.project, batches=1))[ws.project.schema.model_inputs].head(7).to_parquet(
        sample
    )
    code = (
        "import sys; sys.path = [p for p in sys.path if p not in ('', sys.argv[1])]\n"
        "import mlflow.sklearn, pandas as pd\n"
        "model = mlflow.sklearn.load_model('models:/churn@champion')\n"
        "assert not any(m.split('.')[0] in ('pipelines', 'projects') for m in sys.modules), 'repo code imported'\n"
        "print(model.predict_proba(pd.read_parquet(sys.argv[2])).shape)\n"
    )
    env = home_env(ws) | {"MLFLOW_TRACKING_URI": ws.settings.tracking_url}
    done = subprocess.run(
        [sys.executable, "-c", code, str(REPO_ROOT), str(sample)],
        check=False,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("(7, 2)"), done.stdout


def test_too_little_validated_data_is_a_clear_error(settings: Settings, migrated_db: Path, baseline):
    workspace = Workspace.open("churn", with_registry(settings, migrated_db))
    builders.write_validated(workspace.store, baseline[:2])
    with pytest.raises(TrainingError, match=r"2 validated batch\(es\); training needs at least 3"):
        train_and_gate(workspace)
