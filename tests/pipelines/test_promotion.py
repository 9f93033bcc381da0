"""The gate, rollback and races against real MLflow on SQLite in a temporary MLOPS_HOME.

Every test gets a fresh home with a registry and the tiny validated batches it needs (tests/helpers/registry.py).
Nothing is mocked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
from pipelines.training import train
from projects import registry
from projects.registry import alias_version
from projects.settings import Settings
from projects.workspace import Workspace
from tests.helpers import builders
from tests.helpers.registry import client_for, home_env, tags_of, variant, with_registry
from tests.helpers.system import free_port

pytestmark = [pytest.mark.integration]
MLOPS = str(Path(sys.executable).with_name("mlops"))


def test_first_model_below_the_floor_is_registered_but_not_champion(ws: Workspace):
    strict = variant(ws, builders.with_gate(ws.project, floor=0.99))
    result = train_and_gate(strict)
    assert result.decision.decision == REJECTED
    assert alias_version(client_for(ws), "churn", registry.CHAMPION) is None, "no champion below the floor"
    tags = tags_of(ws, result.version)
    assert tags[registry.TAG_DECISION] == REJECTED
    assert "floor 0.99" in tags[registry.TAG_REASON]


# --------------------------------------------------------------------------------------------- the gate
def test_worse_challenger_is_never_promoted(ws: Workspace):
    train_and_gate(ws)
    worse = train_and_gate(variant(ws, builders.dummy(ws.project)))
    assert worse.decision.decision == REJECTED
    assert "improvement" in worse.decision.reason
    assert "champion v1" in worse.decision.reason
    assert alias_version(client_for(ws), "churn", registry.CHAMPION) == "1"
    assert alias_version(client_for(ws), "churn", registry.PREVIOUS) is None
    assert tags_of(ws, "2")[registry.TAG_DECISION] == REJECTED, "a failing challenger stays registered with its reason"


def test_mlflow_shows_what_the_gate_saw_on_the_version_and_the_run(ws: Workspace):
    """The version's description tables both models on the same holdout; the run logs them as metrics (so
    Compare shows the gate's comparison, not each run on its own holdout); a few legible tags, one JSON tag."""
    train_and_gate(ws)
    worse = train_and_gate(variant(ws, builders.dummy(ws.project))).decision
    client = client_for(ws)
    mv = client.get_model_version("churn", "2")
    metric = ws.project.gate.metric
    challenger, champion = worse.numbers[f"challenger.{metric}"], worse.numbers[f"champion.{metric}"]
    assert mv.description.startswith("**rejected**: the champion is now v1."), mv.description
    assert f"| **{metric}** (the gate's) | {challenger:.4f} | {champion:.4f} |" in mv.description, mv.description
    assert "| v2 (this version) | v1 (champion) |" in mv.description
    assert "- fail: improvement:" in mv.description, "every check with its result"
    assert "reports/model_cards/v2.html" in mv.description, "a link to the card"

    run = client.get_run(mv.run_id)
    assert run.data.metrics[f"gate.challenger.{metric}"] == pytest.approx(challenger)
    assert run.data.metrics[f"gate.champion.{metric}"] == pytest.approx(champion), "the champion, same holdout"
    assert run.data.tags[registry.TAG_DECISION] == REJECTED, "the run says what became of it"

    gate_tags = [k for k in mv.tags if k.startswith(registry.TAG_GATE_PREFIX)]
    assert len(gate_tags) <= 5, f"a legible list, not every number: {gate_tags}"
    recorded = json.loads(mv.tags[registry.TAG_GATE])
    assert recorded["numbers"][f"champion.{metric}"] == pytest.approx(champion)
    assert {c["name"] for c in recorded["checks"]} >= {"floor", "improvement", "fairness"}
    assert "(same holdout)" in next(c["detail"] for c in recorded["checks"] if c["name"] == "improvement")


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
    assert tags[registry.TAG_ROLLED_BACK] == "true"
    assert tags[registry.TAG_DECISION] == "rolled_back"
    assert json.loads(client.get_registered_model("churn").tags[registry.TAG_LAST_ROLLBACK])["restored"] == "2"
    # The rolled-back version is refused by the gate, whatever its numbers
    again = gate(ws, "3")
    assert again.decision == REJECTED
    assert "never promoted again" in again.reason
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
    assert outcome == ABORTED
    assert "changed from v1 to v2" in reason
    assert alias_version(client, "churn", registry.CHAMPION) == "2"
    assert alias_version(client, "churn", registry.PREVIOUS) == "1"
    # Two gates of the same version: the second must not make it its own previous
    outcome, reason = move_champion(client, "churn", "2", expected="1")
    assert outcome == ABORTED
    assert "v2 became the champion" in reason
    assert alias_version(client, "churn", registry.PREVIOUS) == "1"


@pytest.mark.slow
def test_two_racing_promotions_from_two_processes_leave_one_champion_and_a_correct_previous(ws: Workspace):
    train_and_gate(ws)
    for _ in range(2):
        train(ws)
    # When two processes gate v2 and v3 at the same moment
    procs = [
        subprocess.Popen(
            [MLOPS, "promote", "--project", "churn", "--version", v],
            env=home_env(ws),
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
    env = home_env(ws) | {"MLOPS_TRACKING_URI": dead, "MLOPS_REGISTRY_URI": registry_uri}
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
    assert "Residuals" in card
    assert "Predicted vs actual" in card
    assert "old-town" in card


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
    assert "champion" in listed.output
    assert "rejected" in listed.output
    assert "roc_auc" in listed.output
    rolled = runner.invoke(app, ["rollback", "--project", "churn"], env=env)
    assert rolled.exit_code == 0, rolled.output
    assert "champion: v1" in rolled.output
    assert "previous: none" in rolled.output
    refused = runner.invoke(app, ["promote", "--project", "churn", "--version", "2"], env=env)
    assert refused.exit_code == 0
    assert "rejected" in refused.output
    assert "never promoted again" in refused.output
    assert alias_version(client_for(ws), "churn", registry.CHAMPION) == "1"
    nothing = runner.invoke(app, ["rollback", "--project", "churn"], env=env)
    assert nothing.exit_code == 2
    assert "no previous champion" in nothing.output
