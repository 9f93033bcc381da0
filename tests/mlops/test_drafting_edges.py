"""What a draft does with data that is small, repetitive or numerically coded, and the template's own answers:
every case a real user's first batches can be (found in review; each fails without its fix)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops import jobs
from pipelines.drafting import DraftError, _id_like, draft_contract, read_samples, unreviewed
from projects.settings import Settings
from projects.sources import held_back, natural_key
from tests.helpers.drafts import write_batches
from tests.mlops.test_new_project import PROJECTS, fresh_name  # noqa: F401 - the fixture: a fresh name, removed after


def settings_in(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", projects_dir=tmp_path / "projects")


def write_frames(folder: Path, frames: list[pd.DataFrame], stem: str = "batch") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames, start=1):
        frame.to_csv(folder / f"{stem}_{i}.csv", index=False)
    return folder


def test_min_rows_lets_the_first_model_train_on_what_make_run_gives_it(tmp_path: Path) -> None:
    """5 batches of 150 rows: make run holds 2 back and the holdout is 2, so the first model trains on one batch."""
    batches = write_batches("harvest", tmp_path / "harvest", batches=5, rows=150)
    draft = draft_contract("harvest", str(batches), target="yield_t", samples=read_samples(str(batches)))
    training = draft.project.training
    first = 5 - held_back(5, training.holdout_batches) - training.holdout_batches
    assert first == 1
    assert training.min_rows <= 150 * first, f"min_rows {training.min_rows}: the first champion could never train"


def coded_frame(rng: np.random.Generator, rows: int, spread: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "zone": rng.integers(1, 4, rows),
            "fragile": rng.choice(["Y", "N"], rows),
            "weight": rng.integers(1, spread, rows),
            "late": rng.integers(0, 2, rows),
        }
    )


def test_recurring_rows_without_an_id_are_kept_as_data_not_refused_as_redeliveries(tmp_path: Path) -> None:
    """No id, few distinct values: some identical rows recur from batch to batch. The gate keys such rows by their
    values, so the draft is checked in arrival order, as the gate sees them, and says `redelivered: drop`."""
    rng = np.random.default_rng(0)
    folder = write_frames(tmp_path / "coded", [coded_frame(rng, 80, 60) for _ in range(4)])
    draft = draft_contract("coded", str(folder), target="late", samples=read_samples(str(folder)))
    assert draft.project.schema.id is None
    assert draft.project.cleaning.redelivered.value == "drop"
    assert "redelivered: drop   # guessed" in draft.text


def test_batches_made_only_of_rows_seen_before_ask_for_an_id(tmp_path: Path) -> None:
    """Every row of the later batches already arrived: without an id they are re-deliveries, whatever is declared."""
    rng = np.random.default_rng(0)
    folder = write_frames(tmp_path / "coded", [coded_frame(rng, 80, 2) for _ in range(3)])
    with pytest.raises(DraftError, match=r"batch_2.csv: re-delivered: .*declare an id column"):
        draft_contract("coded", str(folder), target="late", samples=read_samples(str(folder)))


@pytest.mark.parametrize(
    ("values", "task", "expected"),
    [
        (np.round(np.linspace(1.5, 9.5, 15), 1), None, "regression"),  # 15 distinct prices: numbers, not classes
        (np.arange(16), None, "regression"),  # a count 0..15: more integers than codes
        (np.array([1, 2, 3, 10]), None, "classification"),  # four integer codes
        (np.array([1, 2, 3, 10]), "regression", "regression"),  # TASK= decides
    ],
)
def test_a_numeric_target_is_a_regression_unless_a_few_integer_codes(
    tmp_path: Path, values: np.ndarray, task: str | None, expected: str
) -> None:
    rng = np.random.default_rng(1)
    frames = [pd.DataFrame({"x": rng.normal(size=60), "y": rng.choice(values, 60)}) for _ in range(3)]
    folder = write_frames(tmp_path / "numbers", frames)
    draft = draft_contract("numbers", str(folder), target="y", samples=read_samples(str(folder)), task=task)
    assert draft.project.task.value == expected
    if expected == "classification":
        assert draft.project.schema.target.classes == ("1", "2", "3", "10"), "classes in numeric order"


def test_task_regression_on_a_text_target_names_the_column(tmp_path: Path) -> None:
    frames = [pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": ["a", "b", "c"]}) for _ in range(2)]
    folder = write_frames(tmp_path / "text", frames)
    with pytest.raises(DraftError, match=r"column 'label': task regression needs a numeric target"):
        draft_contract("text", str(folder), target="label", samples=read_samples(str(folder)), task="regression")


def test_one_sample_batch_is_not_enough_and_says_how_many_are(tmp_path: Path) -> None:
    batches = write_batches("harvest", tmp_path / "harvest", batches=1, rows=50)
    with pytest.raises(DraftError, match=r"1 sample batch; at least 2 are needed .* 5 or more for `make run`"):
        draft_contract("harvest", str(batches), target="yield_t", samples=read_samples(str(batches)))


def test_an_unknown_url_protocol_is_named(tmp_path: Path) -> None:
    with pytest.raises(DraftError, match=r"nosuch://bucket/batches: "):
        read_samples("nosuch://bucket/batches")


def test_id_means_a_word_not_a_substring() -> None:
    for name in ("txn_id", "id", "parcelId", "customer_key"):
        assert _id_like(name), name
    assert not any(_id_like(n) for n in ("paid_cents", "width", "valid", "bid", "idle_minutes"))


def test_batches_are_taken_in_natural_order() -> None:
    names = ["batch_10.csv", "batch_2.csv", "batch_1.csv"]
    assert sorted(names, key=natural_key) == ["batch_1.csv", "batch_2.csv", "batch_10.csv"]


def test_a_refused_draft_leaves_no_half_made_project(fresh_name: str, tmp_path: Path) -> None:  # noqa: F811
    batches = write_batches("harvest", tmp_path / "harvest", batches=2, rows=50)
    with pytest.raises(DraftError, match="which column is the target"):
        jobs.new_project(fresh_name, data=str(batches))
    assert not (PROJECTS / fresh_name).exists(), "nothing rendered when the draft is refused"
    jobs.new_project(fresh_name, data=str(batches), target="yield_t")  # and the name is still free
    assert (PROJECTS / fresh_name / "project.yaml").is_file()


def test_the_placeholder_is_replaceable_until_edited(fresh_name: str) -> None:  # noqa: F811
    folder, draft = jobs.new_project(fresh_name)
    assert draft is None
    contract = folder / "project.yaml"
    assert unreviewed(contract.read_text()), "the untouched placeholder may be replaced by a draft"
    contract.write_text(contract.read_text().replace("name: ", "# my own features below\nname: ", 1))
    assert not unreviewed(contract.read_text()), "an edited placeholder is the user's: --force to replace it"
