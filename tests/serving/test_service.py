"""The BentoML service, served for real on 127.0.0.1 and called over HTTP."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import numpy as np
import pytest

from tests.helpers.champions import churn_frame
from tests.helpers.serving import Home, Server, records

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_predictions_equal_the_champion_in_process(served: Server, champion_home: Home) -> None:
    """Given 50 fresh records, the service's answers equal the registered model's own predict_proba."""
    import mlflow.sklearn

    ws = champion_home.ws
    frame = churn_frame(ws.project, rows=50, day=dt.date(2026, 6, 1))
    response = httpx.post(f"{served.url}/predict", json={"records": records(ws.project, frame)}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    id_name = ws.project.schema.id.name
    assert body["model"] == {"name": "churn", "version": "1"}
    assert [p[id_name] for p in body["predictions"]] == frame[id_name].tolist(), "ids echoed in request order"

    mlflow.set_tracking_uri(champion_home.settings.tracking_url)
    model = mlflow.sklearn.load_model("models:/churn/1")
    expected = model.predict_proba(frame[ws.project.schema.model_inputs])[:, 1]
    served_proba = np.array([p["probability"] for p in body["predictions"]])
    np.testing.assert_allclose(served_proba, expected, rtol=0, atol=1e-12)
    served_label = np.array([p["prediction"] for p in body["predictions"]])
    np.testing.assert_array_equal(served_label, (expected > 0.5).astype(float))


def test_metadata_readiness_and_metrics_name_the_version(served: Server, champion_home: Home) -> None:
    project = champion_home.ws.project
    meta = httpx.get(f"{served.url}/metadata").json()
    assert meta["project"] == "churn"
    assert meta["model_version"] == "1"
    assert meta["ready"] is True
    assert meta["contract_hash"] == project.contract_hash()
    assert meta["run_id"]
    assert meta["trained_at"]
    ready = httpx.get(f"{served.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["reason"] == "serving version 1"
    frame = churn_frame(project, rows=3, day=dt.date(2026, 6, 2))
    assert httpx.post(f"{served.url}/predict", json={"records": records(project, frame)}).status_code == 200
    metrics = httpx.get(f"{served.url}/metrics").text
    assert 'mlops_predictions_total{model_version="1",project="churn"}' in metrics, metrics[-2000:]
    assert 'mlops_model_info{model_version="1"' in metrics


def test_openapi_documents_the_contract(served: Server) -> None:
    spec = httpx.get(f"{served.url}/docs.json").json()
    assert {"/predict", "/metadata", "/readyz"} <= set(spec["paths"]), sorted(spec["paths"])
    record = spec["components"]["schemas"]["ChurnRecord"]
    assert record["properties"]["contract"]["enum"] == ["month-to-month", "one-year", "two-year"]
    assert record["properties"]["tenure_months"]["maximum"] == 72
    assert record["additionalProperties"] is False
    assert "customer_id" in record["required"]


def test_invalid_records_get_a_400_naming_index_and_field(served: Server, champion_home: Home) -> None:
    project = champion_home.ws.project
    good = records(project, churn_frame(project, rows=3, day=dt.date(2026, 6, 3)))
    good[0].pop("contract")
    good[2]["tenure_months"] = 99.0
    good[2]["surname"] = "Smith"
    good[1]["senior_citizen"] = "yes"
    response = httpx.post(f"{served.url}/predict", json={"records": good})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    for field in ("records[0].contract", "records[2].tenure_months", "records[2].surname", "records[1].senior_citizen"):
        assert field in error, f"{field} not named in {error!r}"
    assert {d["index"] for d in response.json()["detail"]} == {0, 1, 2}


def test_batch_and_body_limits_come_from_the_contract(served: Server, champion_home: Home) -> None:
    project = champion_home.ws.project
    one = records(project, churn_frame(project, rows=1, day=dt.date(2026, 6, 4)))[0]
    too_many = {"records": [one] * (project.serving.max_batch_size + 1)}
    response = httpx.post(f"{served.url}/predict", json=too_many)
    assert response.status_code == 400
    assert "records: List should have at most 1000 items" in response.json()["error"]
    huge = json.dumps({"records": [one], "pad": "x" * project.serving.max_body_bytes}).encode()
    response = httpx.post(f"{served.url}/predict", content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "serving.max_body_bytes" in response.json()["error"]

    def chunks():  # no Content-Length: the guard counts what it reads
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]

    response = httpx.post(f"{served.url}/predict", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    empty = httpx.post(f"{served.url}/predict", json={"records": []})
    assert empty.status_code == 400
    assert "records" in empty.json()["error"]
    assert httpx.post(f"{served.url}/predict", json={"records": [one]}).status_code == 200, "still answers"
