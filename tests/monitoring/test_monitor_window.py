"""Reading the window from the inference log: the right rows, sampled while reading, errors naming the part.

Parts are written with the serving side's own writer into a temporary data root (no MLflow needed).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from monitoring.monitor import sample_window
from projects.contract import Project, load_project
from projects.inference_log import InferenceLogError, InferenceLogWriter, record_columns
from projects.settings import REPO_ROOT, Settings
from projects.storage import DataRoot, ProjectStore
from tests.helpers.monitoring import generated

T0 = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def project() -> Project:
    churn = load_project("churn", REPO_ROOT / "projects")
    return churn.model_copy(update={"drift": churn.drift.model_copy(update={"sample_rows": 300})})


@pytest.fixture
def store(tmp_path: Path) -> ProjectStore:
    return DataRoot.from_url(f"file://{tmp_path}").project("churn")


def _log(store: ProjectStore, project: Project, frame: pd.DataFrame, version: str, at: dt.datetime) -> None:
    """One request per 100 rows, one minute apart from ``at``; the writer puts each day in its own part."""
    writer = InferenceLogWriter(store, project, flush_rows=10**9, flush_seconds=3600)
    for i, lo in enumerate(range(0, len(frame), 100)):
        part = frame.iloc[lo : lo + 100]
        inputs = {name: part[name].tolist() for name in record_columns(project)}
        scores = [0.25] * len(part)
        writer.append(inputs, scores, scores, version, served_at=at + dt.timedelta(minutes=i))
        if i % 3 == 2:
            writer.flush()  # several parts per day, as a running service writes them
    writer.flush()


def test_only_the_versions_rows_inside_the_bounds_count(store: ProjectStore, project: Project) -> None:
    frame = generated(project, "baseline", T0.date(), 1000)
    _log(store, project, frame, "2", T0)  # 10 requests, 12:00 .. 12:09
    _log(store, project, frame, "1", T0)  # another version's traffic
    bounds = (T0 + dt.timedelta(minutes=2), T0 + dt.timedelta(minutes=6, seconds=30))  # requests 2..6
    window = sample_window(store, project, "2", bounds)
    assert window.rows == 500, "five requests of 100 rows fall inside the bounds"
    assert len(window.sample) == 300
    assert window.sample["model_version"].eq("2").all()
    served = window.sample["served_at"]
    assert served.min() >= pd.Timestamp(bounds[0])
    assert served.max() <= pd.Timestamp(bounds[1])
    assert window.sample["customer_id"].is_unique


def test_sample_is_time_stratified_and_newest_rows_bound_the_window(store: ProjectStore, project: Project) -> None:
    frame = generated(project, "baseline", T0.date(), 1200)
    _log(store, project, frame, "2", T0)  # 12 requests of 100 rows
    bounds = (T0, T0 + dt.timedelta(hours=1))
    window = sample_window(store, project, "2", bounds, seed_for=lambda rows: 3)
    per_minute = window.sample["served_at"].value_counts().sort_index()
    assert (per_minute == 25).all(), f"300 of 1200 rows: exactly 25 per 100-row request, got {per_minute.tolist()}"
    newest = sample_window(store, project, "2", bounds, max_rows=400)
    assert newest.rows == 400
    assert newest.sample["served_at"].min() == pd.Timestamp(T0 + dt.timedelta(minutes=8)), "the newest 400 rows"


def test_labels_join_on_the_id_and_keep_the_newest_answer(store: ProjectStore, project: Project) -> None:
    frame = generated(project, "baseline", T0.date(), 300)
    _log(store, project, frame, "2", T0)
    _log(store, project, frame.iloc[:100], "2", T0 + dt.timedelta(hours=1))  # the same ids answered again
    labels = frame[["customer_id", "churned"]].iloc[:250]
    window = sample_window(store, project, "2", (T0, T0 + dt.timedelta(hours=2)), labels=labels)
    assert window.rows == 400
    assert len(window.labelled) == 250
    assert window.labelled["customer_id"].is_unique
    assert set(window.labelled.columns) >= {"customer_id", "prediction", "probability", "churned"}


def test_an_unreadable_part_is_named(store: ProjectStore, project: Project) -> None:
    frame = generated(project, "baseline", T0.date(), 200)
    _log(store, project, frame, "2", T0)
    store.write_bytes("inference", f"date={T0.date().isoformat()}", "zz-broken.parquet", data=b"not parquet")
    with pytest.raises(InferenceLogError, match=r"zz-broken\.parquet: unreadable inference log part"):
        sample_window(store, project, "2", (T0, T0 + dt.timedelta(hours=1)))


def test_an_empty_log_is_an_empty_window(store: ProjectStore, project: Project) -> None:
    window = sample_window(store, project, "2", (T0, T0 + dt.timedelta(hours=1)))
    assert window.rows == 0
    assert window.sample.empty
    assert window.labelled.empty


@pytest.mark.integration
def test_the_window_reads_the_same_on_file_and_s3(data_root_settings: Settings, project: Project) -> None:
    """The same code on file:// and on s3:// (moto's S3 server on 127.0.0.1)."""
    store = DataRoot.from_settings(data_root_settings).project("churn")
    frame = generated(project, "baseline", T0.date(), 600)
    _log(store, project, frame, "2", T0)
    labels = frame[["customer_id", "churned"]].iloc[:100]
    window = sample_window(store, project, "2", (T0, T0 + dt.timedelta(hours=1)), labels=labels)
    assert window.rows == 600
    assert len(window.sample) == 300
    assert len(window.labelled) == 100
