"""A categorical target in the contract: multiclass, categorical binary, and every mistake named by its key.

Also the boolean target's hash (an existing project's champions must keep serving) and how the inference log
names one probability column per class.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines.datasets import coerce_types
from pipelines.features import encode_target
from projects.contract import ContractError, load_project, parse_project
from projects.inference_log import (
    OUTPUT_COLUMNS,
    PREDICTED_CLASS,
    PREDICTION,
    PROBABILITY,
    _Chunk,
    chunks_to_frame,
    class_columns,
    log_columns,
)
from tests.helpers import multiclass as mc
from tests.helpers.system import REPO

CHURN_HASH = "fb07b8d965f714c6"  # `mlops project show churn` before categorical targets existed


def tickets(**target: Any) -> dict[str, Any]:
    data = mc.contract()
    data["schema"]["target"] = {"name": "team", "type": "categorical", **target}
    return data


def test_a_boolean_target_keeps_its_hash() -> None:
    churn = load_project("churn", REPO / "projects")
    assert churn.contract_hash() == CHURN_HASH, "classes/positive defaults must stay out of the hash"
    assert not churn.schema.target.multiclass


def test_three_or_more_classes_are_multiclass_without_a_positive_class() -> None:
    target = parse_project(tickets(classes=list(mc.CLASSES))).schema.target
    assert target.multiclass
    assert target.positive is None
    assert target.class_names == mc.CLASSES


def test_a_categorical_binary_target_scores_its_positive_class() -> None:
    data = tickets(classes=["other", "billing"], positive="billing")
    data["gate"]["behaviour"] = [b for b in data["gate"]["behaviour"] if b["kind"] != "directional"]
    project = parse_project(data)
    assert not project.schema.target.multiclass
    frame = coerce_types(project, pd.DataFrame({"team": ["billing", "other", " billing "]}))
    assert encode_target(project, frame["team"]).tolist() == [1, 0, 1]
    assert project.schema.target.class_names == ("other", "billing")


@pytest.mark.parametrize(
    ("target", "gate", "message"),
    [
        ({"classes": list(mc.CLASSES), "positive": "billing"}, {}, "is multiclass and has no positive class"),
        ({"classes": ["other", "billing"], "positive": "legal"}, None, "positive 'legal' is not one of classes"),
        ({"classes": ["other", "billing"]}, None, r"two classes \['other', 'billing'\] need 'positive'"),
        ({"classes": ["billing", "billing", "x"]}, {}, r"classes must be unique; repeated: \['billing'\]"),
        ({}, {}, "a categorical target needs 'classes'"),
        ({"classes": list(mc.CLASSES)}, {"metric": "average_precision"}, "gate.metric: 'average_precision' is not"),
    ],
)
def test_mistakes_name_the_key(target: dict[str, Any], gate: dict[str, Any] | None, message: str) -> None:
    data = tickets(**target)
    if gate is None:
        data["gate"]["behaviour"] = [b for b in data["gate"]["behaviour"] if b["kind"] != "directional"]
    else:
        data["gate"].update(gate)
    with pytest.raises(ContractError, match=message):
        parse_project(data)


def test_yaml_yes_no_classes_are_refused_with_the_fix() -> None:
    data = tickets()
    data["schema"]["target"] = yaml.safe_load("{name: team, type: categorical, classes: [no, yes], positive: yes}")
    with pytest.raises(ContractError, match=r'schema.target.classes: .*quote the class names \("no", "yes"\)'):
        parse_project(data)


def test_classes_on_a_regression_are_refused() -> None:
    churn = yaml.safe_load((REPO / "projects" / "demand" / "project.yaml").read_text())
    bad = copy.deepcopy(churn)
    bad["schema"]["target"]["classes"] = ["a", "b", "c"]
    with pytest.raises(ContractError, match="'classes' are only for a categorical target"):
        parse_project(bad)
    bad["schema"]["target"]["type"] = "categorical"
    with pytest.raises(ContractError, match=r"schema\.target\.classes: a regression target has no classes"):
        parse_project(bad)


def test_a_multiclass_directional_test_needs_the_class_that_moves() -> None:
    data = mc.contract()
    del data["gate"]["behaviour"][1]["target_class"]
    with pytest.raises(ContractError, match=r"gate.behaviour\[1\].target_class: the multiclass target 'team'"):
        parse_project(data)
    data["gate"]["behaviour"][1]["target_class"] = "legal"
    with pytest.raises(ContractError, match=r"gate.behaviour\[1\].target_class: 'legal' is not one of classes"):
        parse_project(data)


def test_a_binary_directional_test_refuses_a_target_class() -> None:
    churn = yaml.safe_load((REPO / "projects" / "churn" / "project.yaml").read_text())
    churn["gate"]["behaviour"][1]["target_class"] = "true"
    with pytest.raises(ContractError, match=r"gate.behaviour\[1\].target_class: only for a multiclass target"):
        parse_project(churn)


# --------------------------------------------------------------------------------------------- the log format
def test_the_log_names_one_probability_column_per_class() -> None:
    project = mc.project()
    assert class_columns(project) == {c: f"probability_{c}" for c in mc.CLASSES}
    columns = log_columns(project)
    assert columns[-9:] == [
        PREDICTION,
        PREDICTED_CLASS,
        PROBABILITY,
        *(f"probability_{c}" for c in mc.CLASSES),
        "model_version",
        "served_at",
    ]


def test_class_names_that_are_not_safe_columns_fall_back_to_positions() -> None:
    project = parse_project(tickets(classes=["Heavy Rain", "heavy-rain", "sun"]) | {"gate": _gate_without_class()})
    assert list(class_columns(project).values()) == ["probability_0", "probability_1", "probability_2"]
    project = parse_project(tickets(classes=["Heavy Rain", "Sun!", "fog"]) | {"gate": _gate_without_class()})
    assert list(class_columns(project).values()) == ["probability_heavy_rain", "probability_sun", "probability_fog"]


def _gate_without_class() -> dict[str, Any]:
    gate = mc.contract()["gate"]
    gate["behaviour"] = [b for b in gate["behaviour"] if b["kind"] != "directional"]
    return gate


def test_a_binary_log_keeps_its_format() -> None:
    churn = load_project("churn", REPO / "projects")
    assert class_columns(churn) == {}
    assert log_columns(churn)[-4:] == list(OUTPUT_COLUMNS)


def test_the_writer_derives_the_class_columns_from_the_matrix() -> None:
    import datetime as dt

    project = mc.project()
    proba = np.array([[0.1, 0.2, 0.6, 0.1], [0.5, 0.2, 0.2, 0.1]])
    inputs = {"ticket_id": ["a", "b"], "words": [10.0, 20.0], "devices": [1.0, 2.0], "channel": ["email", "chat"]}
    inputs |= {"business": [True, False], "language": ["en", "fr"]}
    chunk = _Chunk(inputs, np.array([2.0, 0.0]), proba, "1", dt.datetime(2026, 3, 1, tzinfo=dt.UTC), 2)
    frame = chunks_to_frame(project, [chunk])
    assert frame[PREDICTED_CLASS].tolist() == ["hardware", "billing"]
    assert frame[PROBABILITY].tolist() == pytest.approx([0.6, 0.5])
    assert frame["probability_network"].tolist() == pytest.approx([0.2, 0.2])
    assert list(frame.columns) == log_columns(project)
