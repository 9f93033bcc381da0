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


# --------------------------------------------------------------------------------------------- real data shapes
@pytest.fixture(scope="module")
def demand() -> Project:
    return load_project("demand", REPO_ROOT / "projects")


def _demand_record(**changes: Any) -> dict[str, Any]:
    record = {
        "price": 9.5,
        "competitor_price": 10.0,
        "promo": False,
        "shelf_level": "2",
        "temperature": 18.0,
        "store_size": "medium",
        "region": "north",
    }
    return {**record, **changes}


@pytest.mark.parametrize("sent", [1, 1.0, "1", "1.0"])
def test_a_coded_category_takes_its_number_in_any_form_and_the_model_gets_the_declared_value(
    demand: Project, sent: Any
) -> None:
    body = request_model(demand).model_validate_json(json.dumps({"records": [_demand_record(shelf_level=sent)]}))
    columns = records_to_columns(demand, body.records)  # type: ignore[attr-defined]
    assert columns["shelf_level"] == ["1"], f"{sent!r} is the declared value '1'"
    assert model_frame(demand, columns)["shelf_level"].tolist() == ["1"], "the model sees what training saw"


@pytest.mark.parametrize("sent", [7, "7", "one", True])
def test_a_coded_category_outside_the_declared_set_is_named(demand: Project, sent: Any) -> None:
    errors = _errors(demand, {"records": [_demand_record(), _demand_record(shelf_level=sent)]})
    assert [e["loc"] for e in errors] == [("records", 1, "shelf_level")], errors
    message, _ = describe_errors(errors)
    assert "records[1].shelf_level" in message


def test_without_a_declared_id_every_record_gets_a_request_id_and_a_sent_one_is_kept(demand: Project) -> None:
    body = {"records": [_demand_record(), _demand_record(request_id="order-7"), _demand_record()]}
    parsed = request_model(demand).model_validate_json(json.dumps(body))
    ids = records_to_columns(demand, parsed.records)["request_id"]  # type: ignore[attr-defined]
    assert ids[1] == "order-7", "the client's own id is echoed and logged"
    assert len(set(ids)) == 3, "each record without one gets its own"
    assert all(len(i) == 32 for i in (ids[0], ids[2])), "a new id per record"
    response = response_model(demand)
    assert "request_id" in response.model_json_schema()["$defs"]["DemandPrediction"]["properties"]


def test_the_gate_and_the_service_agree_on_coded_values(demand: Project) -> None:
    """coerce_types (the data gate, offline predict) maps codes exactly as the request model does."""
    frame = pd.DataFrame({"shelf_level": ["1", "1.0", " 2 ", "4.00", "9", None]})
    assert coerce_types(demand, frame)["shelf_level"].tolist() == ["1", "1", "2", "4", "9", pd.NA]


def test_a_whole_number_field_refuses_a_vanishing_fraction(project: Project) -> None:
    """pydantic's multiple_of tolerates 3e-185 (the fuzzer found it); an integer feature does not."""
    record = {**example_record(project), "tenure_months": 3.02e-185}
    errors = _errors(project, {"records": [record]})
    assert [field_path(e["loc"]) for e in errors] == ["records[0].tenure_months"], errors
    assert "whole number" in errors[0]["msg"]
    accepted = request_model(project).model_validate_json(json.dumps({"records": [{**record, "tenure_months": 3.0}]}))
    assert accepted.records[0].tenure_months == 3.0  # type: ignore[attr-defined]
