"""The project contract: the example parses, and every kind of mistake names the file, the key and the expectation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from projects.contract import (
    BATCH_TIME,
    REQUEST_ID,
    ROW_KEY,
    ContractError,
    FeatureType,
    json_schema,
    load_project,
    load_project_file,
    parse_project,
)
from tests.helpers import multiclass
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


def test_contract_hash_covers_what_the_model_depends_on_and_nothing_else(churn_dict: dict[str, Any]) -> None:
    a = parse_project(churn_dict).contract_hash()
    b = parse_project(yaml.safe_load(CHURN.read_text())).contract_hash()
    assert a == b, "the same contract must hash the same"
    settings = copy.deepcopy(churn_dict)
    settings["gate"]["floor"] = 0.71
    settings["drift"]["threshold"] = 0.01
    settings["serving"]["poll_seconds"] = 30
    settings["description"] = "reworded"
    assert parse_project(settings).contract_hash() == a, "gate, drift, serving and words need no retraining"
    model = copy.deepcopy(churn_dict)
    model["model"]["params"]["C"] = 0.5
    assert parse_project(model).contract_hash() != a, "a model parameter changes what is trained"
    schema = copy.deepcopy(churn_dict)
    schema["schema"]["features"][0]["max"] = 80
    assert parse_project(schema).contract_hash() != a, "a schema change changes what the model takes"


def test_a_setting_left_at_its_default_does_not_change_the_hash(churn_dict: dict[str, Any]) -> None:
    """An upgrade that adds a setting with a default must keep every champion's hash (and so its service)."""
    written = copy.deepcopy(churn_dict)
    written["cleaning"]["redelivered"] = "reject"  # the default, written out as a newer release's file would
    written["training"]["min_rows"] = churn_dict["training"]["min_rows"]
    assert parse_project(written).contract_hash() == parse_project(churn_dict).contract_hash()


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
    write(tmp_path / "projects", multiclass.contract(), name=multiclass.NAME)
    with pytest.raises(ContractError, match=f"project 'ghost' not found; known projects: {multiclass.NAME}$"):
        load_project("ghost", tmp_path / "projects")


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


# --------------------------------------------------------------------------------------------- optional roles
def test_a_contract_without_id_timestamp_or_sensitive_attribute_is_valid(churn_dict: dict[str, Any]) -> None:
    for role in ("id", "timestamp", "sensitive"):
        del churn_dict["schema"][role]
    del churn_dict["gate"]["fairness"]
    churn_dict["gate"]["behaviour"] = [b for b in churn_dict["gate"]["behaviour"] if b.get("column") != "gender"]
    churn_dict["cleaning"]["lowercase"] = [c for c in churn_dict["cleaning"]["lowercase"] if c != "gender"]
    schema = parse_project(churn_dict).schema
    assert schema.key_column == ROW_KEY, "no id: a derived row key keys the validated store"
    assert schema.time_column == BATCH_TIME, "no timestamp: the batch's time times each row"
    assert schema.record_id == REQUEST_ID, "no id: the service names each record with a request id"
    assert schema.sensitive_name is None
    assert schema.columns == [*schema.feature_names, "churned"], "a landing batch carries only declared columns"
    assert schema.optional_columns == [REQUEST_ID], "labels may come back with the request id"


def test_fairness_without_a_sensitive_attribute_is_a_contract_error(tmp_path: Path, churn_dict: dict[str, Any]):
    del churn_dict["schema"]["sensitive"]
    churn_dict["cleaning"]["lowercase"] = [c for c in churn_dict["cleaning"]["lowercase"] if c != "gender"]
    churn_dict["gate"]["behaviour"] = [b for b in churn_dict["gate"]["behaviour"] if b.get("column") != "gender"]
    with pytest.raises(ContractError, match=r"gate.fairness: there is no schema.sensitive to audit") as caught:
        load_project_file(write(tmp_path, churn_dict))
    assert caught.value.where == str(tmp_path / "churn" / "project.yaml"), "the error carries the file"


def test_platform_column_names_are_reserved(churn_dict: dict[str, Any]) -> None:
    churn_dict["schema"]["features"][0]["name"] = ROW_KEY
    with pytest.raises(ContractError, match=r"reserved for the platform's own columns"):
        parse_project(churn_dict)


def test_categories_coded_as_numbers_mean_one_declared_value(churn_dict: dict[str, Any]) -> None:
    churn_dict["schema"]["features"].append({"name": "plan", "type": "categorical", "values": [1, 2.5, "3"]})
    feature = parse_project(churn_dict).schema.feature("plan")
    assert feature.values == ("1", "2.5", "3"), "numbers are kept as the text a person wrote"
    assert feature.coded
    for raw in (1, 1.0, "1", " 1.0 ", "1.00"):
        assert feature.declared_value(raw) == "1", raw
    assert feature.declared_value("2.50") == "2.5"
    assert feature.declared_value("x") == "x", "what is not a number stays, and fails the allowed set"
    assert feature.declared_value(True) is True, "a boolean is not a code"
    contract = parse_project(churn_dict).schema.feature("contract")
    assert not contract.coded, "words are not codes"


def test_a_multiple_testing_correction_needs_p_value_tests(churn_dict: dict[str, Any]) -> None:
    churn_dict["drift"]["correction"] = "bh"
    assert parse_project(churn_dict).drift.correction.value == "bh"
    churn_dict["drift"]["num_method"] = "wasserstein"
    with pytest.raises(ContractError, match=r"corrects p-values, but \['wasserstein'\] return distances"):
        parse_project(churn_dict)


def test_the_demand_example_declares_no_id_no_sensitive_attribute_and_a_coded_category() -> None:
    project = load_project("demand", REPO / "projects")
    assert project.schema.id is None
    assert project.schema.sensitive is None
    assert project.gate.fairness is None
    assert project.schema.feature("shelf_level").coded
