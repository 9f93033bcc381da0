"""A project with no id, no timestamp and no sensitive attribute runs the whole loop through the jobs with the
real libraries: validate -> train -> gate -> serve -> monitor, and what was not checked is said plainly."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from mlops import jobs
from projects import registry, tracking
from projects.contract import REQUEST_ID
from projects.inference_log import read_inference_log
from projects.settings import Settings
from projects.sources import ingest_files
from tests.helpers.bare import bare_workspace, drop_batch, sales_csv
from tests.helpers.serving import Home, Server

pytestmark = [pytest.mark.integration, pytest.mark.slow]
START = dt.date(2026, 3, 1)


def test_a_bare_files_project_runs_validate_train_promote_serve_monitor(tmp_path: Path) -> None:
    home, drop, projects = tmp_path / "home", tmp_path / "drop", tmp_path / "projects"
    drop.mkdir()
    server_home = Home(home)
    settings = Settings(home=home, data_root=None, tracking_uri=server_home.settings.tracking_url)
    ws = bare_workspace(settings, drop, projects_dir=projects)
    for offset in range(5):
        day = START + dt.timedelta(days=offset)
        drop_batch(drop, f"{day}_sales.csv", sales_csv(ws.project, day, rows=400))
    ingest_files(ws.project, ws.store)

    run = jobs.validate(ws)
    assert [r.status for r in run.results] == ["validated"] * 5, [r.reasons for r in run.results]
    gated = jobs.train_and_gate(ws)
    decision = gated.decision
    assert decision.decision == "promoted", decision.reason
    assert "fairness not audited: no sensitive attribute declared" in decision.reason
    client = tracking.configure(ws.settings)
    tags = client.get_model_version("bare", "1").tags
    assert tags[registry.TAG_FAIRNESS].startswith("not audited"), "the version says fairness was not audited"
    card = ws.store.read_text("reports", "model_cards", "v1.html")
    assert "Fairness: not audited" in card, "the model card shows it, in grey"
    assert 'class="na"' in card

    env = server_home.env(MLOPS_PROJECTS_DIR=str(projects))
    later = pd.read_csv(io.BytesIO(sales_csv(ws.project, START + dt.timedelta(days=5), rows=300)))
    with Server(server_home, env=env, project="bare").start() as server:
        rows = later.drop(columns=["units_sold"])
        records = json.loads(rows.to_json(orient="records"))
        records[0][REQUEST_ID] = "till-0001"
        answer = httpx.post(f"{server.url}/predict", json={"records": records}, timeout=30)
        assert answer.status_code == 200, answer.text
        served = answer.json()["predictions"]
        assert served[0][REQUEST_ID] == "till-0001", "a request id the client sent is echoed"
        assert len({p[REQUEST_ID] for p in served}) == 300, "every record gets a request id of its own"
    log = read_inference_log(ws.store, project=ws.project)
    assert log[REQUEST_ID].tolist() == [p[REQUEST_ID] for p in served], "and it is logged with the inference"

    # the day's sales come in later with their labels and the request ids the service returned
    labels = later.assign(**{REQUEST_ID: [p[REQUEST_ID] for p in served]})
    day = START + dt.timedelta(days=6)
    drop_batch(drop, f"{day}_labels.csv", labels.to_csv(index=False).encode())
    ingest_files(ws.project, ws.store)
    assert [r.status for r in jobs.validate(ws).results] == ["validated"]
    time.sleep(0.1)
    result, trigger = jobs.monitor_and_trigger(ws)
    assert result.window_rows == 300
    performance = result.performance
    assert performance is not None
    assert performance.labelled_rows == 300, "labels joined to what was served by the request id"
    assert performance.value is not None
    assert performance.higher_is_better is False, "rmse: lower is better"
    assert trigger.action in {"no_drift", "waiting_for_labels", "retrain", "cooldown"}
