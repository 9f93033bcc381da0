"""Quarantine list/show/replay: a fixed batch is released with its history kept; an unfixed one stays."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from pipelines.quarantine import QuarantineError, list_quarantine, read_report, replay
from pipelines.validate import validate_landing
from projects.settings import Settings
from projects.sources import generate_batches, read_frame
from projects.workspace import Workspace
from tests.helpers.batches import NOW
from tests.helpers.system import REPO

KEY = "2026-03-03_breakage"
NAME = f"{KEY}.csv"


def quarantined(ws: Workspace) -> None:
    generate_batches(ws.project, ws.store, "baseline", 1, start=dt.date(2026, 3, 2), rows=150)
    generate_batches(ws.project, ws.store, "breakage", 1, start=dt.date(2026, 3, 3), rows=150)
    assert [r.batch for r in validate_landing(ws, now=NOW).quarantined] == [NAME]


def fix_breakage(ws: Workspace) -> None:
    """What a person does: fill the missing tenures and correct the decimal-point slips in the quarantined copy."""
    frame = read_frame(ws.store.read_bytes("quarantine", KEY, NAME), NAME)
    frame["tenure_months"] = frame["tenure_months"].fillna("12")
    charges = frame["monthly_charges"].astype(float)
    frame["monthly_charges"] = charges.where(charges <= 500, charges / 1000).astype(str)
    ws.store.write_bytes("quarantine", KEY, NAME, data=frame.to_csv(index=False).encode())


def test_replay_of_a_fixed_batch_validates_it_and_keeps_the_history(churn: Workspace) -> None:
    quarantined(churn)
    landing_before = churn.store.read_bytes("landing", NAME)
    fix_breakage(churn)
    [result] = replay(churn, [KEY], now=NOW)
    assert result.status == "validated", result.reasons
    assert result.run == "replay", result.reasons
    assert churn.store.exists("validated", f"{KEY}.parquet")
    assert churn.store.read_bytes("landing", NAME) == landing_before, "landing is never changed"
    report = read_report(churn.store, KEY)
    assert report["status"] == "released"
    assert [(h["run"], h["status"]) for h in report["history"]] == [("validate", "quarantined"), ("replay", "released")]
    first = json.loads(churn.store.fs.cat_file(report["history"][0]["json"].removeprefix("file://")))
    assert first["status"] == "quarantined", "the original failing report is kept as it was"
    assert first["reasons"], "the original failing report is kept as it was"
    assert list_quarantine(churn.store) == [], "released batches leave the quarantine list"
    assert [e.status for e in list_quarantine(churn.store, include_released=True)] == ["released"]
    assert validate_landing(churn, now=NOW).totals == {"landing": 2, "validated": 2, "quarantined": 0}


def test_replay_of_an_unfixed_batch_stays_quarantined(churn: Workspace) -> None:
    quarantined(churn)
    [result] = replay(churn, now=NOW)  # no name: every quarantined batch
    assert result.status == "quarantined"
    assert any("tenure_months" in r for r in result.reasons)
    assert not churn.store.exists("validated", f"{KEY}.parquet")
    [entry] = list_quarantine(churn.store)
    assert entry.replays == 1
    assert entry.status == "quarantined"
    history = read_report(churn.store, KEY)["history"]
    assert [h["run"] for h in history] == ["validate", "replay"]
    assert all(churn.store.fs.exists(h["json"].removeprefix("file://")) for h in history)


def test_a_contract_change_can_release_a_batch(mlops_home: Path, tmp_path: Path) -> None:
    """Replay uses the current contract: allowing the nulls and clipping the outliers releases the batch."""
    projects = tmp_path / "projects"
    shutil.copytree(REPO / "projects" / "churn", projects / "churn")
    ws = Workspace.open("churn", Settings(projects_dir=projects))
    quarantined(ws)
    yaml_path = projects / "churn" / "project.yaml"
    text = yaml_path.read_text()
    text = text.replace("max: 72, integer: true,", "max: 72, integer: true, max_null_fraction: 0.5,")
    text = text.replace("min: 0, max: 500,", "min: 0, max: 500, outliers: clip,")
    text = text.replace("min_value: 10, max_value: 300", "min_value: 10, max_value: 3000")
    yaml_path.write_text(text)
    [result] = replay(Workspace.open("churn", Settings(projects_dir=projects)), [NAME], now=NOW)
    assert result.status == "validated", result.reasons
    assert result.cleaning["outliers_clip:monthly_charges"] > 0


def test_unknown_batch_names_the_known_ones(churn: Workspace) -> None:
    quarantined(churn)
    with pytest.raises(QuarantineError, match=f"no quarantined batch 'nope'; known: {KEY}"):
        replay(churn, ["nope"], now=NOW)
