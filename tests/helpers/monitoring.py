"""Monitoring test helpers: generator batches typed as the store types them, traffic served by a real model.

Traffic is scored by the real model and written with the inference-log writer serving uses; labels arrive as
validated batches. ``tests/monitoring/conftest.py`` trains the module's champion with the real pipeline.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.drift import CHI2_TWO_SAMPLE
from pipelines.datasets import coerce_types
from pipelines.features import model_scores
from projects.contract import Project
from projects.inference_log import InferenceLogWriter, record_columns
from projects.storage import DataRoot
from projects.workspace import Workspace

FIRST_DAY = dt.date(2026, 1, 1)
TRAIN_BATCHES = 4  # 2 trained on, 2 held out (the churn contract's holdout_batches)
ROWS_PER_BATCH = 1000


def two_sample_project(project: Project) -> Project:
    """The contract with the two-sample categorical test pinned (what monitoring/README.md recommends)."""
    return project.model_copy(update={"drift": project.drift.model_copy(update={"cat_method": CHI2_TWO_SAMPLE})})


def generated(project: Project, scenario: str, day: dt.date, rows: int, seed: int = 42) -> pd.DataFrame:
    """A generator batch typed as the validated store types it."""
    from projects.churn.generator import ChurnGenerator  # the example: absent once a user drops it

    return coerce_types(project, ChurnGenerator(project, seed).batch(day, scenario, rows))


@dataclass(frozen=True)
class Trained:
    """The module's champion: its workspace (home, registry) and what a test needs to serve traffic."""

    ws: Workspace
    version: str
    promoted_at: dt.datetime
    model: Any

    def traffic_workspace(self, folder: Path, project: Project | None = None) -> Workspace:
        """Same registry, a fresh data root: each test gets its own inference log, labels and reports."""
        store = DataRoot.from_url(f"file://{folder}").project(self.ws.name)
        return Workspace(settings=self.ws.settings, project=project or two_sample_project(self.ws.project), store=store)


def serve(
    ws: Workspace,
    model: Any,
    version: str,
    frame: pd.DataFrame,
    start: dt.datetime,
    end: dt.datetime,
    chunks: int = 8,
) -> None:
    """Score ``frame`` with ``model`` and log it as served between start and end (in ``chunks`` requests)."""
    project = ws.project
    probability = model_scores(model, frame[project.schema.model_inputs], project.task)
    writer = InferenceLogWriter(ws.store, project, flush_rows=10**9, flush_seconds=3600)
    bounds = np.linspace(0, len(frame), chunks + 1).astype(int)
    for index, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        part = frame.iloc[lo:hi]
        inputs = {name: part[name].tolist() for name in record_columns(project)}
        served_at = start + (end - start) * (index + 1) / (chunks + 1)
        probs = probability[lo:hi]
        writer.append(inputs, (probs >= 0.5).astype(float), probs, version, served_at=served_at)
    writer.flush()


def label(ws: Workspace, frame: pd.DataFrame, day: dt.date, scenario: str) -> None:
    """The labels arriving later: the same rows, with their targets, as a validated batch."""
    ws.store.write_parquet("validated", f"{day.isoformat()}_{scenario}.parquet", frame=frame)
