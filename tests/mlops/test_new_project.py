"""`make new-project`: the template rendered for every option, the contract drafted from batches unlike churn, and
the loop run on what it made, touching nothing outside projects/<name>/.

Projects are rendered into the repository's own projects/ folder (that is where a user's go, and where their code
is importable as projects.<name>) under a name no one uses, and removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mlops import jobs
from pipelines.drafting import DRAFT_MARK, DraftError, unreviewed
from projects.contract import ContractError, load_project
from projects.settings import Settings
from tests.helpers.drafts import ROUTES, write_batches
from tests.helpers.serving import Home, Server
from tests.helpers.system import REPO

PROJECTS = REPO / "projects"


def git_changes() -> set[str]:
    done = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO, capture_output=True, text=True, check=True
    )
    return {line[3:] for line in done.stdout.splitlines() if line.strip()}


@pytest.fixture
def fresh_name() -> Iterator[str]:
    """A project name nobody uses; its folder (and only it) is gone afterwards, whatever the test did."""
    name = f"tmpl{uuid.uuid4().hex[:8]}"
    before = git_changes()
    yield name
    try:
        added = git_changes() - before
        outside = sorted(p for p in added if not p.startswith(f"projects/{name}/"))
        assert not outside, f"the new project changed files outside projects/{name}/: {outside}"
    finally:
        shutil.rmtree(PROJECTS / name, ignore_errors=True)


def rendered_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def run_own_tests(folder: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(folder / "tests"), "-q", "-p", "no:cacheprovider", "--no-cov"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_template_renders_a_project_whose_own_tests_pass(fresh_name: str, task: str, tmp_path: Path) -> None:
    folder, draft = jobs.new_project(fresh_name, task=task, description="a test of the template")
    assert draft is None
    assert folder == PROJECTS / fresh_name
    names = {p.relative_to(folder).as_posix() for p in rendered_files(folder)}
    assert names == {
        "__init__.py", "project.yaml", "deploy.yaml", "features.py", f"tests/test_{fresh_name}.py",
    }, names  # fmt: skip
    for path in rendered_files(folder):
        text = path.read_text(encoding="utf-8")
        assert "{{" not in text, f"{path}: an unrendered marker"
        assert "{%" not in text, f"{path}: an unrendered marker"
    project = load_project(fresh_name, PROJECTS)
    assert project.task.value == task
    assert unreviewed((folder / "project.yaml").read_text()), "the placeholder is replaced by a later draft"
    done = run_own_tests(folder)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed, 1 skipped" in done.stdout, "no sample batches yet: that check says why it skipped"


def test_answers_that_cannot_make_a_project_are_refused(fresh_name: str) -> None:
    jobs.new_project(fresh_name)  # a project of its own to clash with (the examples may have been dropped)
    for name, why in (("Fraud", "lowercase"), ("f", "2 to 44"), ("fraud-2", "lowercase"), (fresh_name, "exists")):
        with pytest.raises(ContractError, match=why):
            jobs.new_project(name)
    with pytest.raises(ContractError, match=r"taken by a module of the platform \(projects/contract.py\)"):
        jobs.new_project("contract")


def test_a_draft_from_batches_unlike_churn_passes_every_sample(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", projects_dir=tmp_path / "projects")
    batches = write_batches("fraud", tmp_path / "fraud", batches=4, rows=200)
    contract, draft = jobs.init_from_data("fraud", str(batches), target="is_fraud", settings=settings)
    schema = draft.project.schema
    assert schema.id is not None
    assert schema.id.name == "txn_id", "unique text: the id"
    assert schema.timestamp is not None
    assert schema.timestamp.name == "created_at"
    assert schema.target.type.value == "boolean", "yes/no: a binary target"
    assert schema.ignore == ("note",), "free text is dropped on arrival, not an unexpected column"
    shelf = schema.feature("shelf")
    assert shelf.type.value == "categorical", "four distinct integers: proposed as codes"
    assert shelf.values == ("1", "2", "3", "4")
    amount = schema.feature("amount")
    assert amount.min == 0, "never below zero: the widened range stays at zero"
    assert amount.max is not None
    assert amount.max > 300, "the observed maximum, widened"
    assert amount.max_null_fraction > 0, "missing amounts seen: allowed, with margin"
    text = contract.read_text()
    feature_lines = [line for line in text.splitlines() if line.strip().startswith("- {name:")]
    assert all("# guessed:" in line for line in feature_lines), "every guessed line says what it came from"
    assert DRAFT_MARK in text

    # a reviewed file is the user's: refused without --force, replaced with it
    contract.write_text(text.replace('description: ""', 'description: "card fraud"'))
    with pytest.raises(DraftError, match=r"edited since it was drafted.*--force"):
        jobs.init_from_data("fraud", str(batches), target="is_fraud", settings=settings)
    jobs.init_from_data("fraud", str(batches), target="is_fraud", force=True, settings=settings)


def test_a_draft_that_would_quarantine_a_sample_is_refused_naming_it(tmp_path: Path) -> None:
    """Times a year ahead in one sample: the drafted timestamp check would quarantine it, so nothing is written."""
    settings = Settings(home=tmp_path / "home", projects_dir=tmp_path / "projects")
    batches = write_batches("fraud", tmp_path / "fraud", batches=3, rows=100)
    ahead = batches / "2026-05-03_transactions.csv"
    ahead.write_text(ahead.read_text().replace("2026-05-03T", "2027-05-03T"))
    with pytest.raises(DraftError, match=r"would quarantine sample batch\(es\) of your own: 2026-05-03_transactions"):
        jobs.init_from_data("fraud", str(batches), target="is_fraud", settings=settings)
    assert not (tmp_path / "projects" / "fraud" / "project.yaml").exists(), "nothing written"


def test_a_target_with_missing_values_names_the_batch(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", projects_dir=tmp_path / "projects")
    batches = write_batches("harvest", tmp_path / "harvest", batches=3, rows=100)
    (batches / "2026-05-09_fields.csv").write_text("rain_mm,temp_c,soil_class,workers,yield_t\n1,2,3,4,\n")
    with pytest.raises(DraftError, match=r"target column 'yield_t': missing values in 2026-05-09_fields.csv"):
        jobs.init_from_data("harvest", str(batches), target="yield_t", settings=settings)


def test_without_a_target_the_draft_asks_for_one(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", projects_dir=tmp_path / "projects")
    batches = write_batches("harvest", tmp_path / "harvest", batches=2, rows=50)
    with pytest.raises(DraftError, match=r"name it with --target \(the samples have \["):
        jobs.init_from_data("harvest", str(batches), settings=settings)


def story(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_"))} | {"MLOPS_HOME": str(home)}
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200, check=False)


# The binary path a user follows (make new-project NAME=... DATA=... TARGET=..., then make run PROJECT=...) is
# run from the README's own block: tests/mlops/test_readme_new_project.py.


@pytest.mark.e2e
@pytest.mark.slow
def test_a_drafted_regression_project_without_id_or_timestamp_runs_the_loop(fresh_name: str, tmp_path: Path) -> None:
    batches = write_batches("harvest", tmp_path / "harvest", batches=7, rows=300)
    jobs.new_project(fresh_name, task="regression", data=str(batches), target="yield_t")
    project = load_project(fresh_name, PROJECTS)
    assert project.task.value == "regression"
    assert project.schema.id is None, "no unique column: rows are keyed by their values"
    assert project.schema.timestamp is None, "no time column: batch time from the file name"
    assert project.schema.feature("soil_class").type.value == "categorical", "three codes"
    home = tmp_path / ".mlops"
    result = story([sys.executable, "-m", "mlops", "run", "--project", fresh_name], home)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    summary = json.loads((home / "data" / fresh_name / "reports" / "run-summary.json").read_text())
    assert summary["served_version"] == summary["champion_after"] is not None
    assert summary["chapters"], summary
    contract = yaml.safe_load((PROJECTS / fresh_name / "project.yaml").read_text())
    assert contract["gate"]["metric"] == "rmse"


@pytest.mark.e2e
@pytest.mark.slow
def test_a_drafted_multiclass_project_runs_the_loop_and_serves_every_class(fresh_name: str, tmp_path: Path) -> None:
    """Parcels routed four ways, an integer id, a zone-less timestamp, Y/N flags, coded zones, no sensitive
    attribute: drafted as multiclass, then validate -> train -> promote -> serve -> monitor on the user's batches,
    and a request to the served champion answers every route's probability by name."""
    import httpx

    from pipelines.datasets import coerce_types
    from projects.inference_log import record_columns
    from projects.sources import read_frame

    batches = write_batches("parcels", tmp_path / "parcels", batches=7, rows=400)
    jobs.new_project(fresh_name, data=str(batches), target="route")
    project = load_project(fresh_name, PROJECTS)
    target = project.schema.target
    assert target.classes == ROUTES, "four routes: a multiclass target, its classes in order"
    assert target.multiclass
    contract = yaml.safe_load((PROJECTS / fresh_name / "project.yaml").read_text())
    assert "positive" not in contract["schema"]["target"], "no class is singled out as positive"
    assert contract["gate"]["metric"] == "f1", "a macro metric gates a multiclass model"
    assert project.schema.id is not None
    assert project.schema.id.name == "parcel_id", "a unique integer named like an id"
    assert project.schema.sensitive is None
    assert project.schema.feature("zone").type.value == "categorical", "five integer codes"

    home = tmp_path / ".mlops"
    result = story([sys.executable, "-m", "mlops", "run", "--project", fresh_name], home)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    summary = json.loads((home / "data" / fresh_name / "reports" / "run-summary.json").read_text())
    assert summary["served_version"] == summary["champion_after"] is not None, summary
    assert len(summary["validated_batches"]) == 7, "every batch of the user's own arrived, in its chapter"
    assert summary["drift_detected"] is True, "the newest batches' longer, heavier trips drifted: the monitor saw it"
    assert summary["reports"]["drift"], "a drift report"

    newest = sorted(batches.glob("*.csv"))[-1]
    frame = coerce_types(project, read_frame(newest.read_bytes(), newest.name)).head(5)
    sent = json.loads(frame[record_columns(project)].to_json(orient="records", date_format="iso"))
    with Server(Home(home), project=fresh_name).start() as server:
        response = httpx.post(f"{server.url}/predict", json={"records": sent}, timeout=30)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model"]["version"] == summary["champion_after"], answer["model"]
    for row in answer["predictions"]:
        probabilities = row["probabilities"]
        assert list(probabilities) == list(ROUTES), f"every route's probability, by name: {row}"
        assert sum(probabilities.values()) == pytest.approx(1.0)
        assert row["prediction"] == max(probabilities, key=probabilities.__getitem__), row
    assert [row["parcel_id"] for row in answer["predictions"]] == frame["parcel_id"].tolist()
