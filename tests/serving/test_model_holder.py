"""The reload mechanism in-process, against real MLflow on SQLite: checks, swaps, keeping the old model."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest

from projects.registry import TAG_CONTRACT_HASH, TAG_LIBRARIES
from projects.settings import Settings
from serving.model_holder import (
    ModelHolder,
    ModelRejectedError,
    check_version_tags,
    library_mismatches,
    positive_column,
    running_libraries,
)
from tests.helpers.champions import churn_frame, fit, register
from tests.helpers.system import free_port

if TYPE_CHECKING:
    from tests.helpers.serving import Home

pytestmark = pytest.mark.integration


@pytest.fixture
def home(champion_home: Home, tmp_path: object) -> Home:
    """A private copy: these tests move the alias."""
    from pathlib import Path

    return champion_home.copy(Path(str(tmp_path)) / "home")


def test_library_rules() -> None:
    here = {"python": "3.11.7", "scikit-learn": "1.9.1", "numpy": "2.3.0", "pandas": "2.3.1"}
    assert library_mismatches({"python": "3.11.2", "scikit-learn": "1.9.0", "numpy": "2.1.0"}, here) == []
    assert library_mismatches({"sklearn": "1.8.2", "python": "3.12.1", "pandas": "1.5"}, here) == [
        "python 3.12.1 at training, 3.11.7 here",
        "scikit-learn 1.8.2 at training, 1.9.1 here",
    ]


def test_version_tags_are_checked(champion_home: Home) -> None:
    project = champion_home.ws.project
    good = {TAG_CONTRACT_HASH: project.contract_hash(), TAG_LIBRARIES: json.dumps(running_libraries())}
    check_version_tags(project, "7", good)
    with pytest.raises(ModelRejectedError, match="contract mismatch: version 7 was trained under contract abc"):
        check_version_tags(project, "7", {**good, TAG_CONTRACT_HASH: "abc"})
    with pytest.raises(ModelRejectedError, match=r"no mlops\.contract_hash tag"):
        check_version_tags(project, "7", {TAG_LIBRARIES: good[TAG_LIBRARIES]})
    with pytest.raises(ModelRejectedError, match=r"library mismatch for version 7: scikit-learn 0\.24\.2"):
        check_version_tags(project, "7", {**good, TAG_LIBRARIES: json.dumps({"scikit-learn": "0.24.2"})})
    with pytest.raises(ModelRejectedError, match="is not JSON"):
        check_version_tags(project, "7", {**good, TAG_LIBRARIES: "sklearn 1.9"})


def test_positive_class_column(champion_home: Home) -> None:
    from sklearn.dummy import DummyClassifier

    project = champion_home.ws.project
    model = DummyClassifier().fit(np.zeros((4, 1)), np.array([True, False, True, False]))
    assert positive_column(project, model) == 1  # classes_ [False, True]; the contract's positive is true
    strings = DummyClassifier().fit(np.zeros((2, 1)), np.array(["true", "false"]))
    assert list(strings.classes_) == ["false", "true"]
    assert positive_column(project, strings) == 1
    other = DummyClassifier().fit(np.zeros((3, 1)), np.array(["a", "b", "c"]))
    with pytest.raises(ModelRejectedError, match="do not include the positive class"):
        positive_column(project, other)


def test_swap_and_keep_the_old_model_when_a_new_one_is_refused(home: Home) -> None:
    """Given version 1 served, when a version trained under another contract is promoted, 1 keeps serving."""
    ws = home.ws
    holder = ModelHolder(ws.project, home.settings)
    assert holder.refresh()
    assert holder.current is not None
    assert holder.current.version == "1"
    assert holder.status()["reason"] == "serving version 1"

    frame = churn_frame(ws.project, rows=300, day=dt.date(2026, 3, 1))
    bad = register(ws.project, home.settings, fit(ws.project, frame), tags={TAG_CONTRACT_HASH: "0123456789abcdef"})
    assert holder.refresh() is False
    assert holder.current.version == "1", "the old model keeps serving"
    assert holder.ready, "the old model keeps serving"
    assert f"contract mismatch: version {bad} was trained under contract 0123456789abcdef" in str(holder.last_error)

    fresh = ModelHolder(ws.project, home.settings)
    fresh.refresh()
    assert not fresh.ready, fresh.reason
    assert fresh.reason.startswith(f"contract mismatch: version {bad}"), fresh.reason

    good = register(ws.project, home.settings, fit(ws.project, frame, c=0.1))
    assert holder.refresh() is True
    assert holder.current.version == good
    assert holder.last_error is None
    rows = frame[ws.project.schema.model_inputs].head(20)
    prediction, probability = holder.current.score(rows)
    expected = holder.current.model.predict_proba(rows)[:, 1]
    np.testing.assert_array_equal(probability, expected)
    np.testing.assert_array_equal(prediction, holder.current.model.predict(rows).astype(float))


@pytest.mark.filterwarnings("ignore:X has feature names")
def test_a_model_that_cannot_score_the_contract_is_refused(home: Home) -> None:
    from sklearn.linear_model import LogisticRegression

    ws = home.ws
    holder = ModelHolder(ws.project, home.settings)
    holder.refresh()
    alien = LogisticRegression().fit(np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([False, True]))
    version = register(ws.project, home.settings, alien)
    assert holder.refresh() is False
    assert holder.current.version == "1"
    assert f"version {version} cannot score a record of this contract" in str(holder.last_error)


def test_the_background_thread_picks_up_a_new_champion(home: Home) -> None:
    ws = home.ws
    holder = ModelHolder(ws.project, home.settings, poll_seconds=0.2).start()
    try:
        assert holder.wait_ready(60)
        assert holder.current.version == "1"
        frame = churn_frame(ws.project, rows=300, day=dt.date(2026, 3, 2))
        new = register(ws.project, home.settings, fit(ws.project, frame, c=0.5))
        deadline = time.monotonic() + 30
        while holder.current.version != new and time.monotonic() < deadline:
            time.sleep(0.05)
        assert holder.current.version == new
        assert holder.swaps == 2
    finally:
        holder.stop()


def test_tracking_server_down_gives_a_reason_quickly(home: Home) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = Settings(home=home.path, tracking_uri=dead, registry_uri=dead, data_root=None)
    holder = ModelHolder(home.ws.project, settings)
    started = time.monotonic()
    holder.refresh()
    assert time.monotonic() - started < 15, "no minutes of retries before a reason"
    assert not holder.ready, holder.reason
    assert holder.reason.startswith(f"tracking server unreachable at {dead}"), holder.reason
