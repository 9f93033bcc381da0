"""Training, the gate, rollback and races against real MLflow on SQLite in a temporary MLOPS_HOME.

Every test gets a fresh home holding a copy of an MLflow database migrated once per session (migrating a new
SQLite store costs seconds), and writes the tiny validated batches it needs. Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlops.jobs import gate, train_and_gate
from pipelines.promotion import (
    ABORTED,
    PROMOTED,
    REJECTED,
    PromotionError,
    list_versions,
    move_champion,
    rollback,
)
from pipelines.training import TrainingError, train
from projects import registry, tracking
from projects.registry import alias_version
from projects.settings import REPO_ROOT, Settings
from projects.workspace import Workspace
from tests.conftest import free_port
from tests.helpers import builders

pytestmark = [pytest.mark.integration]
MLOPS = str(Path(sys.executable).with_name("mlops"))


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store, created and migrated once."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(scope="session")
def baseline(churn_project_session) -> builders.Batches:
    return builders.churn_batches(churn_project_session)


@pytest.fixture(scope="session")
def churn_project_session():
    from projects.contract import load_project
    from projects.settings import REPO_ROOT

    return load_project("churn", REPO_ROOT / "projects")


def with_registry(settings: Settings, migrated_db: Path) -> Settings:
    """Give the fresh home its SQLite registry: a copy of the pre-migrated empty store."""
    settings.home.mkdir(parents=True, exist_ok=True)
    shutil.copy(migrated_db, settings.home / "mlflow.db")
    return settings


@pytest.fixture
def ws(settings: Settings, migrated_db: Path, baseline: builders.Batches) -> Workspace:
    """The churn workspace in a fresh home: SQLite registry (pre-migrated copy) and 8 validated batches."""
    workspace = Workspace.open("churn", with_registry(settings, migrated_db))
    builders.write_validated(workspace.store, baseline)
    return workspace


def variant(ws: Workspace, project) -> Workspace:
    """The same home and data under a modified contract (a different estimator, gate or schema)."""
    return Workspace(settings=ws.settings, project=project, store=ws.store)


def client_for(ws: Workspace):
    return tracking.configure(ws.settings)


def tags_of(ws: Workspace, version: str) -> dict[str, str]:
    return dict(client_for(ws).get_model_version(registry.model_name(ws.name), version).tags)


# --------------------------------------------------------------------------------------------- training
def test_train_logs_everything_and_the_first_model_above_the_floor_becomes_champion(ws: Workspace):
    result = train_and_gate(ws)
    client = client_for(ws)
    # The gate promoted it and wrote its numbers and reason on the version
    assert result.decision is not None and result.decision.decision == PROMOTED, result.decision
    assert alias_version(client, "churn", registry.CHAMPION) == result.version == "1"
    tags = tags_of(ws, "1")
    assert tags[registry.TAG_CONTRACT_HASH] == ws.project.contract_hash()
    assert json.loads(tags[registry.TAG_LIBRARIES])["scikit-learn"]
    assert pd.Timestamp(tags[registry.TAG_WATERMARK]) < pd.Timestamp("2026-01-07T00:00:00Z"), "holdout never trained"
    assert tags[registry.TAG_DECISION] == PROMOTED and tags[registry.TAG_REASON].startswith("promoted")
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
    assert contexts["training"].digest and "validated" in contexts["training"].source
    columns = {c["name"]: c for c in json.loads(contexts["training"].schema)["mlflow_colspec"]}
    assert columns["event_time"]["type"] == "datetime" and columns["data_usage_gb"]["required"] is False


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
    assert list(inputs) == schema.model_inputs and inputs["data_usage_gb"].required is False
    local = Path(mlflow.artifacts.download_artifacts(f"models:/churn/{result.version}"))
    assert (local / "input_example.json").exists()
    requirements = (local / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements and "mlflow==" in requirements
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
    env = _env(ws) | {"MLFLOW_TRACKING_URI": ws.settings.tracking_url}
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


def test_first_model_below_the_floor_is_registered_but_not_champion(ws: Workspace):
    strict = variant(ws, builders.with_gate(ws.project, floor=0.99))
    result = train_and_gate(strict)
    assert result.decision.decision == REJECTED
    assert alias_version(client_for(ws), "churn", registry.CHAMPION) is None, "no champion below the floor"
    tags = tags_of(ws, result.version)
    assert tags[registry.TAG_DECISION] == REJECTED and "floor 0.99" in tags[registry.TAG_REASON]


def test_too_little_validated_data_is_a_clear_error(settings: Settings, migrated_db: Path, baseline):
    workspace = Workspace.open("churn", with_registry(settings, migrated_db))
    builders.write_validated(workspace.store, baseline[:2])
    with pytest.raises(TrainingError, match=r"2 validated batch\(es\); training needs at least 3"):
        train_and_gate(workspace)


# --------------------------------------------------------------------------------------------- the gate
def test_worse_challenger_is_never_promoted(ws: Workspace):
    train_and_gate(ws)
    worse = train_and_gate(variant(ws, builders.dummy(ws.project)))
    assert worse.decision.decision == REJECTED
    assert "improvement" in worse.decision.reason and "champion v1" in worse.decision.reason
    assert alias_version(client_for(ws), "churn", registry.CHAMPION) == "1"
    assert alias_version(client_for(ws), "churn", registry.PREVIOUS) is None
    assert tags_of(ws, "2")[registry.TAG_DECISION] == REJECTED, "a failing challenger stays registered with its reason"


def test_unfair_challenger_is_rejected_even_when_more_accurate(ws: Workspace, baseline):
    builders.write_validated(ws.store, builders.gender_biased(baseline))  # overwrite: churn depends on gender
    fair = variant(ws, builders.with_gate(ws.project, floor=0.6))
    assert train_and_gate(fair).decision.decision == PROMOTED
    unfair = train_and_gate(variant(ws, builders.with_sensitive_input(fair.project)))
    numbers = unfair.decision.numbers
    assert numbers["challenger.roc_auc"] > numbers["champion.roc_auc"], "the unfair model is the more accurate one"
    assert unfair.decision.decision == REJECTED
    assert [c.name for c in unfair.decision.checks if not c.passed] == ["fairness"]
    assert "demographic_parity_difference" in tags_of(ws, "2")[registry.TAG_REASON]
    assert alias_version(client_for(ws), "churn", registry.CHAMPION) == "1"


def test_invariance_breaker_is_rejected_for_that_reason_alone(ws: Workspace):
    train_and_gate(ws)
    breaker = train_and_gate(variant(ws, builders.with_region_invariance(ws.project)))
    failed = [c.name for c in breaker.decision.checks if not c.passed]
    assert failed == ["behaviour: region does not change the score"], breaker.decision.reason
    assert alias_version(client_for(ws), "churn", registry.CHAMPION) == "1"


# --------------------------------------------------------------------------------------------- rollback
def test_rollback_restores_the_previous_champion_and_never_repromotes(ws: Workspace):
    for _ in range(3):
        assert (
            train_and_gate(ws).decision.decision == PROMOTED
        )  # same data, same model: equal metric passes min_improvement 0
    client = client_for(ws)
    assert (alias_version(client, "churn", registry.CHAMPION), alias_version(client, "churn", registry.PREVIOUS)) == (
        "3",
        "2",
    )
    result = rollback(ws)
    assert (result.rolled_back, result.restored, result.previous_now) == ("3", "2", "1")
    assert alias_version(client, "churn", registry.CHAMPION) == "2"
    assert alias_version(client, "churn", registry.PREVIOUS) == "1", "previous walks back along the replaced chain"
    tags = tags_of(ws, "3")
    assert tags[registry.TAG_ROLLED_BACK] == "true" and tags[registry.TAG_DECISION] == "rolled_back"
    assert json.loads(client.get_registered_model("churn").tags[registry.TAG_LAST_ROLLBACK])["restored"] == "2"
    # The rolled-back version is refused by the gate, whatever its numbers
    again = gate(ws, "3")
    assert again.decision == REJECTED and "never promoted again" in again.reason
    assert alias_version(client, "churn", registry.CHAMPION) == "2"
    # Rolling back twice walks to v1; a third time there is nothing left
    rollback(ws)
    assert alias_version(client, "churn", registry.CHAMPION) == "1"
    with pytest.raises(PromotionError, match="no previous champion"):
        rollback(ws)


def test_promotion_aborts_when_the_champion_moved_after_the_gate_read_it(ws: Workspace):
    for _ in range(2):
        train_and_gate(ws)
    train(ws)
    client = client_for(ws)
    assert alias_version(client, "churn", registry.CHAMPION) == "2"
    # The gate compared v3 with v1, but v2 became champion meanwhile (another machine): it must not move
    outcome, reason = move_champion(client, "churn", "3", expected="1")
    assert outcome == ABORTED and "changed from v1 to v2" in reason
    assert alias_version(client, "churn", registry.CHAMPION) == "2"
    assert alias_version(client, "churn", registry.PREVIOUS) == "1"
    # Two gates of the same version: the second must not make it its own previous
    outcome, reason = move_champion(client, "churn", "2", expected="1")
    assert outcome == ABORTED and "v2 became the champion" in reason
    assert alias_version(client, "churn", registry.PREVIOUS) == "1"


def _env(ws: Workspace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_TRACKING", "MLFLOW_REGISTRY"))}
    return env | {"MLOPS_HOME": str(ws.settings.home)}


@pytest.mark.slow
def test_two_racing_promotions_from_two_processes_leave_one_champion_and_a_correct_previous(ws: Workspace):
    train_and_gate(ws)
    for _ in range(2):
        train(ws)
    # When two processes gate v2 and v3 at the same moment
    procs = [
        subprocess.Popen(
            [MLOPS, "promote", "--project", "churn", "--version", v],
            env=_env(ws),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for v in ("2", "3")
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    # Then they were serialised: one champion, and previous is the other one, which replaced v1
    client = client_for(ws)
    champion = alias_version(client, "churn", registry.CHAMPION)
    previous = alias_version(client, "churn", registry.PREVIOUS)
    assert {champion, previous} == {"2", "3"}, outputs
    assert tags_of(ws, champion)[registry.TAG_REPLACED] == previous
    assert tags_of(ws, previous)[registry.TAG_REPLACED] == "1"
    assert all(tags_of(ws, v)[registry.TAG_DECISION] == PROMOTED for v in ("2", "3"))


def test_unreachable_tracking_server_fails_fast_with_a_clear_message_and_no_alias_change(ws: Workspace):
    train_and_gate(ws)
    registry_uri = ws.settings.tracking_url
    dead = f"http://127.0.0.1:{free_port()}"
    env = _env(ws) | {"MLOPS_TRACKING_URI": dead, "MLOPS_REGISTRY_URI": registry_uri}
    command = [MLOPS, "train", "--project", "churn"]
    done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"MLflow tracking server {dead} is unreachable" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    client = client_for(ws)
    assert alias_version(client, "churn", registry.CHAMPION) == "1"
    assert [str(v.version) for v in client.search_model_versions("name = 'churn'")] == ["1"], "nothing was registered"


# --------------------------------------------------------------------------------------------- regression, CLI
def test_regression_project_trains_gates_and_gets_a_residual_model_card(
    settings: Settings, migrated_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    builders.write_regression_project(tmp_path / "projects")
    monkeypatch.setenv("MLOPS_PROJECTS_DIR", str(tmp_path / "projects"))
    energy = Workspace.open(builders.REGRESSION_NAME, with_registry(Settings(), migrated_db))
    builders.write_validated(energy.store, builders.regression_batches(energy.project))
    result = train_and_gate(energy)
    assert result.decision.decision == PROMOTED, result.decision.reason
    assert "group_error_gap" in result.decision.reason
    assert result.training.holdout_metrics["rmse"] < 25
    card = energy.store.read_text("reports", "model_cards", "v1.html")
    assert "Residuals" in card and "Predicted vs actual" in card and "old-town" in card


def test_registry_commands_list_roll_back_and_refuse_a_rolled_back_version(ws: Workspace):
    from typer.testing import CliRunner

    from mlops.cli import app

    train_and_gate(ws)
    train_and_gate(ws)  # equal metric: promoted, v1 becomes previous
    train_and_gate(variant(ws, builders.dummy(ws.project)))
    rows = list_versions(ws)
    assert [(r["version"], r["aliases"], r["decision"]) for r in rows] == [
        ("3", [], REJECTED),
        ("2", [registry.CHAMPION], PROMOTED),
        ("1", [registry.PREVIOUS], PROMOTED),
    ]
    runner, env = CliRunner(), {"MLOPS_HOME": str(ws.settings.home)}
    listed = runner.invoke(app, ["models", "--project", "churn"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "champion" in listed.output and "rejected" in listed.output and "roc_auc" in listed.output
    rolled = runner.invoke(app, ["rollback", "--project", "churn"], env=env)
    assert rolled.exit_code == 0, rolled.output
    assert "champion: v1" in rolled.output and "previous: none" in rolled.output
    refused = runner.invoke(app, ["promote", "--project", "churn", "--version", "2"], env=env)
    assert refused.exit_code == 0 and "rejected" in refused.output and "never promoted again" in refused.output
    assert alias_version(client_for(ws), "churn", registry.CHAMPION) == "1"
    nothing = runner.invoke(app, ["rollback", "--project", "churn"], env=env)
    assert nothing.exit_code == 2 and "no previous champion" in nothing.output


# --------------------------------------------------------------------------------------------- locations
def test_tracking_locations_follow_the_settings(mlops_home: Path, monkeypatch: pytest.MonkeyPatch):
    local = tracking.resolve(Settings())
    assert local.tracking_uri == local.registry_uri == f"sqlite:///{mlops_home / 'mlflow.db'}"
    assert local.artifact_location("churn") == f"file://{mlops_home / 'artifacts'}/churn"
    monkeypatch.setenv("MLOPS_TRACKING_URI", "http://127.0.0.1:5000")
    served = tracking.resolve(Settings())
    assert served.registry_uri == "http://127.0.0.1:5000"
    assert served.artifact_location("churn") is None, "a tracking server decides where artifacts go"


def test_configure_leaves_no_mlflow_uri_in_the_environment(settings: Settings, migrated_db: Path):
    tracking.configure(with_registry(settings, migrated_db))
    assert "MLFLOW_TRACKING_URI" not in os.environ and "MLFLOW_REGISTRY_URI" not in os.environ


def test_unreachable_database_is_named_without_its_password():
    port = free_port()
    with pytest.raises(tracking.TrackingError) as caught:
        tracking.check_reachable(f"postgresql+psycopg2://mlflow:s3cret@127.0.0.1:{port}/mlflow", timeout=1)
    assert f"127.0.0.1:{port}" in str(caught.value) and "s3cret" not in str(caught.value)
