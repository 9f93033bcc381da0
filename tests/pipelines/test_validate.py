"""`validate_landing`: every landing batch ends validated or quarantined, with its reports, on file:// and s3://."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from pipelines.datasets import list_validated, read_validated
from pipelines.validate import validate_landing
from projects.contract import ContractError
from projects.settings import Settings
from projects.sources import generate_batches
from projects.workspace import Workspace
from tests.helpers.batches import NOW
from tests.helpers.system import REPO

UNREADABLE = {
    "2026-03-10_garbage.csv": (bytes(range(256)) * 8, "not UTF-8"),
    "2026-03-11_semicolons.csv": (b"customer_id;event_time;tenure_months\nC1;2026-03-11T00:00:00;3\n", "delimiter"),
    "2026-03-12_export.xlsx": (b"PK\x03\x04 not a table", "unknown format"),
    "2026-03-13_empty.csv": (b"", "empty"),
    "2026-03-14_nul.csv": (b"customer_id\x00\x00\x01\n", "NUL"),
    "2026-03-15_broken.parquet": (b"PAR1 this is not parquet", "Parquet"),
    "2026-03-16_other.csv": (b"a,b,c\n1,2,3\n", "no column of the contract"),
}


def land(ws: Workspace) -> None:
    generate_batches(ws.project, ws.store, "baseline", 2, start=dt.date(2026, 3, 1), rows=150)
    generate_batches(ws.project, ws.store, "breakage", 1, start=dt.date(2026, 3, 3), rows=150)


def test_landing_ends_validated_or_quarantined_and_rerun_is_idempotent(data_root_settings: Settings) -> None:
    ws = Workspace.open("churn", data_root_settings)
    land(ws)
    run = validate_landing(ws, now=NOW)
    status = {r.batch: r.status for r in run.results}
    assert status == {
        "2026-03-01_baseline.csv": "validated",
        "2026-03-02_baseline.csv": "validated",
        "2026-03-03_breakage.csv": "quarantined",
    }
    assert run.totals == {"landing": 3, "validated": 2, "quarantined": 1}
    assert ws.store.list("landing") == sorted(status), "landing files are never deleted"
    assert list_validated(ws.store, ws.project) == ["2026-03-01_baseline.parquet", "2026-03-02_baseline.parquet"]
    assert len(read_validated(ws.store, list_validated(ws.store, ws.project))) == 300
    again = validate_landing(ws, now=NOW)
    assert again.results == ()
    assert len(again.already_decided) == 3
    assert again.totals == run.totals


def test_validated_batches_keep_a_record_of_cleaning(churn: Workspace) -> None:
    land(churn)
    result = validate_landing(churn, now=NOW).validated[0]
    record = json.loads(churn.store.read_text("reports", "validation", "2026-03-01_baseline.json"))
    assert record["status"] == "validated"
    assert record["failed"] == 0
    assert record["evaluated"] > 50
    assert set(record["cleaning"]) >= {"strip_whitespace", "drop_exact_duplicates", "units:data_usage_gb"}
    assert record["outputs"]["validated batch"] == result.data_url
    assert result.report_urls["html"].endswith("reports/validation/2026-03-01_baseline.html")
    assert churn.store.exists("reports", "validation", "2026-03-01_baseline.html")


def test_quarantine_keeps_the_original_and_both_reports(churn: Workspace) -> None:
    land(churn)
    bad = validate_landing(churn, now=NOW).quarantined[0]
    key = "2026-03-03_breakage"
    assert churn.store.read_bytes("quarantine", key, bad.batch) == churn.store.read_bytes("landing", bad.batch)
    report = json.loads(churn.store.read_text("quarantine", key, "report.json"))
    assert report["status"] == "quarantined"
    assert report["reasons"] == list(bad.reasons)
    assert len(report["history"]) == 1
    assert report["history"][0]["run"] == "validate"
    assert churn.store.exists("quarantine", key, "report.html")
    assert bad.report_urls == report["report_urls"]


def test_unreadable_files_are_quarantined_with_a_reason(churn: Workspace) -> None:
    for name, (data, _) in UNREADABLE.items():
        churn.store.write_bytes("landing", name, data=data)
    run = validate_landing(churn, now=NOW)
    assert {r.batch for r in run.quarantined} == set(UNREADABLE), "never a crash, never validated"
    for result in run.results:
        expected = UNREADABLE[result.batch][1]
        assert len(result.reasons) == 1, result.reasons
        assert expected in result.reasons[0], result.reasons
        assert result.reasons[0].startswith("unreadable: ")
    assert run.totals == {"landing": 7, "validated": 0, "quarantined": 7}


def test_a_crash_before_the_marker_is_redone(churn: Workspace) -> None:
    """A batch whose decision marker was never written is decided again on the next run."""
    land(churn)
    validate_landing(churn, now=NOW)
    churn.store.remove("validated", "2026-03-02_baseline.parquet")  # as if the run died before the Parquet
    churn.store.remove("quarantine", "2026-03-03_breakage", "report.json")  # ... or before report.json
    run = validate_landing(churn, now=NOW)
    assert [r.batch for r in run.results] == ["2026-03-02_baseline.csv", "2026-03-03_breakage.csv"]
    assert run.totals == {"landing": 3, "validated": 2, "quarantined": 1}


def test_same_stem_in_two_formats_is_reported_not_overwritten(churn: Workspace) -> None:
    land(churn)
    churn.store.write_bytes("landing", "2026-03-01_baseline.parquet", data=b"whatever")
    run = validate_landing(churn, now=NOW)
    assert run.conflicts == ("2026-03-01_baseline.parquet",)
    assert len(run.results) == 3


def test_a_bad_extra_expectation_fails_before_any_batch(mlops_home: Path, tmp_path: Path) -> None:
    projects = tmp_path / "projects"
    shutil.copytree(REPO / "projects" / "churn", projects / "churn")
    yaml_path = projects / "churn" / "project.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("ExpectColumnMeanToBeBetween", "ExpectColumnMeanToBeGood"))
    ws = Workspace.open("churn", Settings(projects_dir=projects))
    land(ws)
    with pytest.raises(ContractError, match=r"expectations\[0\].*ExpectColumnMeanToBeGood"):
        validate_landing(ws, now=NOW)
    assert not ws.store.list("validated")
    assert not ws.store.list_dirs("quarantine")
