"""The project contract: the example parses, and every kind of mistake names the file, the key and the expectation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from projects.contract import ContractError, FeatureType, json_schema, load_project, load_project_file, parse_project
from tests.helpers.system import REPO

CHURN = REPO / "projects" / "churn" / "project.yaml"


@pytest.fixture
def churn_dict() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CHURN.read_text())
    return data


def write(tmp_path: Path, data: Any, name: str = "churn") -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "project.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_example_contract_parses_with_roles_and_types() -> None:
    project = load_project("churn", REPO / "projects")
    schema = project.schema
    assert schema.id.name == "customer_id"
    assert schema.target.name == "churned"
    assert schema.sensitive.model_input is False, "gender is audit-only in the example"
    assert "gender" not in schema.model_inputs
    assert {f.type for f in schema.features} == set(FeatureType)
    assert schema.columns[:2] == ["customer_id", "event_time"]


def test_contract_hash_is_stable_and_changes_with_content(churn_dict: dict[str, Any]) -> None:
    a = parse_project(churn_dict).contract_hash()
    b = parse_project(yaml.safe_load(CHURN.read_text())).contract_hash()
    churn_dict["gate"]["floor"] = 0.71
    c = parse_project(churn_dict).contract_hash()
    assert a == b, "the same contract must hash the same"
    assert a != c, "a changed threshold must change the hash"


def test_unknown_key_is_named_with_file_and_path(tmp_path: Path, churn_dict: dict[str, Any]) -> None:
    churn_dict["gate"]["flor"] = 0.7
    path = write(tmp_path, churn_dict)
    with pytest.raises(ContractError) as info:
        load_project_file(path)
    message = str(info.value)
    assert str(path) in message
    assert "gate.flor" in message
    assert "unknown key" in message


def test_wrong_type_names_key_and_value(tmp_path: Path, churn_dict: dict[str, Any]) -> None:
    churn_dict["schema"]["features"][0]["min"] = "zero"
    path = write(tmp_path, churn_dict)
    with pytest.raises(ContractError, match=r"schema\.features\[0\]\.min.*'zero'"):
        load_project_file(path)


def test_missing_required_key(tmp_path: Path, churn_dict: dict[str, Any]) -> None:
    del churn_dict["gate"]["floor"]
    with pytest.raises(ContractError, match=r"gate\.floor: required key is missing"):
        load_project_file(write(tmp_path, churn_dict))


def test_missing_file_and_unknown_project(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="project file not found"):
        load_project_file(tmp_path / "nope.yaml")
    with pytest.raises(ContractError, match="project 'ghost' not found; known projects: churn"):
        load_project("ghost", REPO / "projects")


def test_invalid_yaml_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="not valid YAML"):
        load_project_file(write(tmp_path, "name: [unclosed"))
    with pytest.raises(ContractError, match="expected a mapping"):
        load_project_file(write(tmp_path, "- a\n- b\n"))


def test_folder_name_must_match(tmp_path: Path, churn_dict: dict[str, Any]) -> None:
    write(tmp_path, churn_dict, name="other")
    with pytest.raises(ContractError, match="does not match its folder 'other'"):
        load_project("other", tmp_path)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["schema"]["features"].append({"name": "plan", "type": "categorical"}), "needs 'values'"),
        (lambda d: d["schema"]["features"].append({"name": "flag", "type": "boolean", "min": 0}), "only for numeric"),
        (lambda d: d["schema"]["features"].append({"name": "churned", "type": "boolean"}), "repeated: \\['churned'\\]"),
        (lambda d: d["cleaning"]["lowercase"].append("colour"), "unknown column 'colour'"),
        (lambda d: d["training"].update(holdout_batches=20), "holdout_batches must be smaller"),
        (lambda d: d["source"].update(kind="ftp"), "source"),
        (
            lambda d: d["gate"]["behaviour"].append(
                {"kind": "invariance", "name": "x", "column": "nope", "values": [1]}
            ),
            "unknown column 'nope'",
        ),
        (lambda d: d["schema"]["features"][0].update(min=10, max=1), "greater than max"),
    ],
)
def test_semantic_errors_are_explained(tmp_path: Path, churn_dict: dict[str, Any], mutate: Any, expected: str) -> None:
    mutate(churn_dict)
    with pytest.raises(ContractError, match=expected):
        load_project_file(write(tmp_path, churn_dict))


def test_json_schema_describes_the_contract() -> None:
    schema = json_schema()
    assert {"name", "task", "source", "schema", "model", "gate"} <= set(schema["required"])
    assert schema["additionalProperties"] is False


def test_contract_is_frozen() -> None:
    project = load_project("churn", REPO / "projects")
    with pytest.raises(Exception, match="frozen"):
        project.gate.floor = 0.1  # type: ignore[misc]
