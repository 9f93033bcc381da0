"""Multiclass in the serving layer without a server: the generated response model and offline scoring.

The HTTP round trip is in tests/monitoring/test_multiclass_loop.py; here a real scikit-learn model fitted on
the tickets fixture is wrapped as the holder would wrap a champion.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from pipelines.datasets import coerce_types
from pipelines.features import build_pipeline, encode_target
from serving.model_holder import LoadedModel, positive_column
from serving.predict import score_frame
from serving.schema import response_model
from tests.helpers import multiclass as mc


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    project = mc.project()
    train = pd.concat(
        [coerce_types(project, mc.batch(mc.START + dt.timedelta(days=i))) for i in range(2)], ignore_index=True
    )
    model = build_pipeline(project).fit(train[project.schema.model_inputs], encode_target(project, train["team"]))
    return LoadedModel(
        project, "tickets", "3", None, None, project.contract_hash(), model, positive_column(project, model)
    )


def test_the_response_model_names_every_class() -> None:
    project = mc.project()
    schema = response_model(project).model_json_schema()
    prediction = next(v for k, v in schema["$defs"].items() if k.endswith("Prediction"))
    assert prediction["properties"]["prediction"]["enum"] == list(mc.CLASSES)
    assert prediction["properties"]["probabilities"]["propertyNames"]["enum"] == list(mc.CLASSES)
    row = {"ticket_id": "t1", "prediction": "legal", "probability": 0.5, "probabilities": {"billing": 1.0}}
    with pytest.raises(ValidationError, match="prediction"):
        response_model(project).model_validate({"model": {"name": "tickets", "version": "1"}, "predictions": [row]})


def test_score_returns_class_indices_and_the_aligned_matrix(loaded: LoadedModel) -> None:
    frame = coerce_types(loaded.project, mc.batch(mc.START + dt.timedelta(days=9), rows=40))
    prediction, probability = loaded.score(frame[loaded.project.schema.model_inputs])
    assert probability.shape == (40, len(mc.CLASSES))
    assert np.allclose(probability.sum(axis=1), 1.0)
    assert (prediction == probability.argmax(axis=1)).all()
    assert loaded.metadata()["classes"] == list(mc.CLASSES)
    assert loaded.metadata()["has_probabilities"] is True


def test_offline_scoring_writes_the_class_by_name_and_every_probability(loaded: LoadedModel) -> None:
    frame = coerce_types(loaded.project, mc.batch(mc.START + dt.timedelta(days=9), rows=40))
    scored = score_frame(loaded, frame, chunk_rows=15)  # three chunks
    per_class = [f"probability_{c}" for c in mc.CLASSES]
    assert list(scored.columns) == ["ticket_id", "prediction", "probability", *per_class, "model_version"]
    assert set(scored["prediction"]) <= set(mc.CLASSES)
    best = scored[per_class].to_numpy().argmax(axis=1)
    assert scored["prediction"].tolist() == [mc.CLASSES[i] for i in best]
    assert scored["probability"].to_numpy() == pytest.approx(scored[per_class].to_numpy().max(axis=1))
