"""One loop run with the real libraries, for the tests of what a person sees (the overview, the pages, the cards):
a batch quarantined -> v1 -> shifted traffic and labels -> monitor -> trigger -> retrain -> v2 (seeded: v2 wins).
"""

from __future__ import annotations

import datetime as dt

import pytest

from mlops import jobs
from pipelines.promotion import load_version
from projects import registry
from projects.clock import utc_now
from projects.sources import land_next
from projects.workspace import Workspace
from tests.helpers import builders
from tests.helpers.monitoring import serve
from tests.helpers.registry import tags_of


@pytest.fixture
def looped(ws: Workspace) -> Workspace:
    """v1 trained on the baseline, a broken batch quarantined, shifted traffic and labels, drift, retraining."""
    land_next(ws.project, ws.store, scenario="breakage", batches=1)
    assert [r.status for r in jobs.validate(ws).results] == ["quarantined"]
    first = jobs.train_and_gate(ws).decision
    assert first.promoted, first.reason
    promoted_at = dt.datetime.fromisoformat(tags_of(ws, "1")[registry.TAG_PROMOTED_AT])
    shifted = builders.churn_batches(ws.project, batches=12, rows=600, scenario="market_shift")[-4:]  # 9-12 January
    builders.write_validated(ws.store, shifted)  # their labels arrived
    traffic = builders.concat(builders.churn_batches(ws.project, batches=2, rows=600, scenario="market_shift"))
    serve(ws, load_version("churn", "1"), "1", traffic, promoted_at + dt.timedelta(seconds=1), utc_now())
    result, decision = jobs.monitor_and_trigger(ws)
    assert result.drift_detected is True, result.to_json()
    assert decision.action == "retrain", decision.reason
    return ws
