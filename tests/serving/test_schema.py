"""The request/response models generated from the contract, and the typed frame the model sees."""

from __future__ import annotations

import copy
import json
from typing import Any

import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from pipelines.datasets import coerce_types
from projects.contract import Project, load_project, parse_project
from projects.settings import REPO_ROOT
from serving.guard import describe_errors, field_path
from serving.schema import (
    attribute,
    example_record,
    model_frame,
    record_model,
    records_to_columns,
    request_model,
    response_model,
)
from tests.helpers.champions import churn_frame
from tests.helpers.serving import records


@pytest.fixture(scope="module")
def project() -> Project:
    return load_project("churn", REPO_ROOT / "projects")


def _errors(project: Project, body: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        request_model(project).model_validate_json(json.dumps(body))
    return caught.value.errors(include_context=False, include_input=False)


@pytest.mark.parametrize(
    ("field", "value", "error_type"),
    [
        ("tenure_months", 73, "less_than_equal"),
        ("tenure_months", 2.5, "multiple_of"),  # integer: true
        ("monthly_charges", "80.5", "float_type"),  # strict: a string is not a number
        ("senior_citizen", 1, "bool_type"),  # strict: 1 is not true
        ("contract", "weekly", "literal_error"),
        ("monthly_charges", None, "float_type"),  # not nullable
        ("customer_id", "", "string_too_short"),
        ("gender", "unknown", "literal_error"),
    ],
)
def test_a_bad_value_is_named_by_index_and_field(project: Project, field: str, value: Any, error_type: str) -> None:
    good = example_record(project)
    body = {"records": [good, {**good, field: value}]}
    errors = _errors(project, body)
    assert [(e["loc"], e["type"]) for e in errors] == [(("records", 1, field), error_type)], errors
    message, detail = describe_errors(errors)
    assert message.startswith(f"records[1].{field}: ")
    assert detail[0]["index"] == 1


def test_missing_unknown_and_optional_fields(project: Project) -> None:
    good = example_record(project)
    partial = {k: v for k, v in good.items() if k not in {"contract", "data_usage_gb", "gender"}}
    errors = _errors(project, {"records": [{**partial, "surname": "x"}]})
    assert {(e["loc"][-1], e["type"]) for e in errors} == {("contract", "missing"), ("surname", "extra_forbidden")}
    accepted = request_model(project).model_validate({"records": [{**partial, "contract": "one-year"}]})
    record = accepted.records[0]  # type: ignore[attr-defined]
    assert record.data_usage_gb is None, "nullable feature and audit-only attribute"
    assert record.gender is None, "nullable feature and audit-only attribute"


def test_batch_limits(project: Project) -> None:
    good = example_record(project)
    assert _errors(project, {"records": []})[0]["type"] == "too_short"
    too_many = {"records": [good] * (project.serving.max_batch_size + 1)}
    assert [e["loc"] for e in _errors(project, too_many)] == [("records",)]
    assert [e["type"] for e in _errors(project, [good])] == ["model_type"], "the body must be an object"


def test_field_paths_read_like_the_request() -> None:
    assert field_path(("records", 3, "tenure_months")) == "records[3].tenure_months"
    assert field_path(()) == "body"
    assert field_path(["records"]) == "records"


def test_model_frame_has_the_types_coerce_types_gives(project: Project) -> None:
    """The frame built from validated records equals the validated store's typing of the same rows."""
    frame = churn_frame(project, rows=40)
    frame.loc[3, "data_usage_gb"] = float("nan")  # a null in a nullable feature, for sure
    body = request_model(project).model_validate_json(json.dumps({"records": records(project, frame)}))
    built = model_frame(project, records_to_columns(project, body.records))  # type: ignore[attr-defined]
    expected = coerce_types(project, frame)[project.schema.model_inputs].reset_index(drop=True)
    pd.testing.assert_frame_equal(built, expected, check_exact=True)


def test_fields_that_would_shadow_pydantic_attributes_are_aliased(project: Project) -> None:
    """A feature named like a BaseModel attribute ("copy", "model_x") still works under its own name."""
    data = yaml.safe_load((REPO_ROOT / "projects" / "churn" / "project.yaml").read_text())
    data = copy.deepcopy(data)
    features = data["schema"]["features"]
    features[0]["name"], features[1]["name"] = "copy", "model_score"
    data["gate"]["behaviour"] = [b for b in data["gate"]["behaviour"] if b.get("column") != "tenure_months"]
    data["expectations"] = []
    odd = parse_project(data)
    record = example_record(odd)
    parsed = record_model(odd).model_validate_json(json.dumps(record))
    assert attribute("copy") == "field_copy"
    assert parsed.field_copy == record["copy"]
    columns = records_to_columns(odd, [parsed])
    assert columns["copy"] == [record["copy"]]
    assert columns["model_score"] == [record["model_score"]]
    answer = response_model(odd).model_validate(
        {
            "model": {"name": "x", "version": "1"},
            "predictions": [{"customer_id": "a", "prediction": 1.0, "probability": None}],
        }
    )
    assert json.loads(answer.model_dump_json())["predictions"][0] == {
        "customer_id": "a",
        "prediction": 1.0,
        "probability": None,
    }
