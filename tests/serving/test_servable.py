"""The pure parts serving shares with promotion and training: redaction, the example record, recorded checks."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from projects.contract import Project, load_project
from projects.redaction import RedactingFilter, redact
from projects.registry import TAG_CONTRACT_HASH, TAG_LIBRARIES
from projects.servable import (
    UnservableError,
    check_recorded,
    contract_example,
    example_record,
    example_values,
    running_libraries,
)
from projects.settings import REPO_ROOT


@pytest.fixture(scope="module")
def project() -> Project:
    return load_project("churn", REPO_ROOT / "projects")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("at http://user:pa55@mlflow:5000/x", "at http://user:***@mlflow:5000/x"),
        ("postgresql+psycopg2://mlops:s3cret@db:5432/mlflow", "postgresql+psycopg2://mlops:***@db:5432/mlflow"),
        ("https://ghp_token@host/repo", "https://***@host/repo"),
        ("s3://b/k?X-Amz-Signature=abc123&X-Amz-Date=1", "s3://b/k?X-Amz-Signature=***&X-Amz-Date=1"),
        ("db?user=a&password=hunter2", "db?user=a&password=***"),
        ("sqlite:////home/me/.mlops/mlflow.db", "sqlite:////home/me/.mlops/mlflow.db"),
        ("http://127.0.0.1:5000/api/2.0", "http://127.0.0.1:5000/api/2.0"),
    ],
)
def test_redact_hides_passwords_and_tokens_and_keeps_the_rest(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_the_log_filter_redacts_arguments_and_tracebacks() -> None:
    try:
        raise ConnectionError("cannot reach http://u:topsecret@h:1")
    except ConnectionError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "at %s", ("http://u:topsecret@h:1",), None)
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "at http://u:***@h:1"
    assert "topsecret" not in str(record.exc_text)
    assert "http://u:***@h:1" in str(record.exc_text)


def test_example_values_are_medians_and_modes_rounded(project: Project) -> None:
    frame = pd.DataFrame(
        {
            "tenure_months": [1.0, 5.0, 70.0, None],
            "monthly_charges": [20.123456, 80.987654, 99.5, 50.0],
            "data_usage_gb": [None, None, None, None],
            "support_calls": [0.0, 1.0, 2.0, 3.0],
            "contract": ["one-year", "month-to-month", "month-to-month", None],
            "internet_service": ["dsl", "dsl", "fiber", "fiber"],
            "payment_method": ["card", "card", "card", "bank-transfer"],
            "region": ["north", "south", "south", "south"],
            "senior_citizen": pd.array([True, False, False, None], dtype="boolean"),
            "has_partner": pd.array([True, True, False, True], dtype="boolean"),
            "paperless_billing": pd.array([False, False, True, False], dtype="boolean"),
            "gender": ["female", "male", "male", "male"],
        }
    )
    values = example_values(project, frame)
    assert values["tenure_months"] == 5.0, "median of the known values, a whole number as declared"
    assert values["monthly_charges"] == 65.49, "4 significant digits: a statistic, not a copied value"
    assert "data_usage_gb" not in values, "no values, no statistic (the contract example fills it in)"
    assert values["support_calls"] == 2.0
    assert values["contract"] == "month-to-month"
    assert values["senior_citizen"] is False
    assert values["has_partner"] is True
    assert values["gender"] == "male"
    record = example_record(project, json.dumps(values))
    assert record["data_usage_gb"] == contract_example(project)["data_usage_gb"]
    assert record["customer_id"] == "example-1"


def test_an_example_the_contract_would_refuse_falls_back(project: Project) -> None:
    midpoints = contract_example(project)
    assert example_record(project, None) == midpoints
    assert example_record(project, "not json") == midpoints
    odd = example_record(project, json.dumps({"tenure_months": 999, "contract": "lifetime", "region": "south"}))
    assert odd["tenure_months"] == midpoints["tenure_months"], "out of range: ignored"
    assert odd["contract"] == midpoints["contract"], "not an allowed value: ignored"
    assert odd["region"] == "south"


def test_recorded_checks_name_the_tag_and_the_mismatch(project: Project) -> None:
    good = {TAG_CONTRACT_HASH: project.contract_hash(), TAG_LIBRARIES: json.dumps(running_libraries())}
    check_recorded(project, "3", good, TAG_CONTRACT_HASH, TAG_LIBRARIES)
    with pytest.raises(UnservableError, match=r"version 3 has no mlops\.libraries tag"):
        check_recorded(project, "3", {TAG_CONTRACT_HASH: good[TAG_CONTRACT_HASH]}, TAG_CONTRACT_HASH, TAG_LIBRARIES)
    with pytest.raises(UnservableError, match="is not a JSON object"):
        check_recorded(project, "3", {**good, TAG_LIBRARIES: "[1]"}, TAG_CONTRACT_HASH, TAG_LIBRARIES)
