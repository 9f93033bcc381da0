"""An upgrade that adds settings keeps today's champions served: the contract hash covers only what a trained
model depends on. A real champion, a real service; the contract it runs under is changed the way a release and
an operator change it."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.champions import churn_frame
from tests.helpers.serving import Home, Server, projects_with, records

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_new_settings_and_changed_thresholds_keep_the_champion_served(champion_home: Home, tmp_path: Path) -> None:
    change = {
        "cleaning": {"redelivered": "reject"},  # a setting this release added, written out at its default
        "drift": {"correction": "bh", "threshold": 0.01},  # monitoring knobs
        "gate": {"floor": 0.72, "min_improvement": 0.01},  # the next gate's knobs
        "serving": {"poll_seconds": 3, "max_batch_size": 500},
    }
    env = champion_home.env(MLOPS_PROJECTS_DIR=str(projects_with(tmp_path, change)))
    with Server(champion_home, env=env).start() as server:
        ready = httpx.get(f"{server.url}/readyz").json()
        assert ready["reason"] == "serving version 1", "the champion trained before these settings still serves"
        frame = churn_frame(champion_home.ws.project, 3)
        answer = httpx.post(f"{server.url}/predict", json={"records": records(champion_home.ws.project, frame)})
        assert answer.status_code == 200, answer.text


def test_a_change_the_model_depends_on_refuses_the_champion_with_the_reason(champion_home: Home, tmp_path: Path):
    env = champion_home.env(MLOPS_PROJECTS_DIR=str(projects_with(tmp_path, {"model": {"params": {"C": 0.3}}})))
    with Server(champion_home, env=env).start(ready=False) as server:
        server.wait_for("/livez")
        reason = ""
        for _ in range(240):
            reason = httpx.get(f"{server.url}/readyz").json()["reason"]
            if "contract mismatch" in reason:
                break
            time.sleep(0.25)
        assert "contract mismatch: version 1 was trained under contract" in reason, reason
