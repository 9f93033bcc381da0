"""Real data as it arrives: batches without dates or timestamps are timed and ordered by time, re-deliveries are
caught (a copied file, re-sent ids, identical rows without ids), late data is flagged, and a batch can be retired
from training without being deleted. Real Great Expectations, real files, data made by the fixtures."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from pipelines.datasets import batch_records, list_validated
from pipelines.quarantine import QuarantineError, list_quarantine, replay, retire
from pipelines.training import split_batches
from pipelines.validate import validate_landing
from projects.contract import BATCH_TIME, ROW_KEY, Redelivered
from projects.settings import Settings
from projects.sources import ingest_files
from projects.workspace import Workspace
from tests.helpers.bare import bare_workspace, drop_batch, sales_csv
from tests.helpers.batches import NOW

DAY = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


def decided(ws: Workspace) -> dict[str, dict[str, object]]:
    """Every decision's JSON report by batch name (validated or quarantined)."""
    reports = {}
    for path in sorted(Path(ws.store.path("reports", "validation")).glob("*.json")):
        report = json.loads(path.read_text())
        reports[report["batch"]] = report
    for path in sorted(Path(ws.store.path("quarantine")).glob("*/report.json")):
        report = json.loads(path.read_text())
        reports[report["batch"]] = report
    return reports


# --------------------------------------------------------------------------------------------- time, not names
def test_undated_batches_are_timed_by_their_file_and_ordered_by_time_not_name(settings: Settings, drop: Path):
    ws = bare_workspace(settings, drop)
    for offset in range(4):
        day = (DAY + dt.timedelta(days=offset)).date()
        drop_batch(drop, f"{day}_sales.csv", sales_csv(ws.project, day))
    # an extract without a date in its name, older than every dated one: its file's time is all there is
    drop_batch(drop, "extract.csv", sales_csv(ws.project, dt.date(2026, 2, 20)), modified=DAY - dt.timedelta(days=9))
    ingest_files(ws.project, ws.store)
    run = validate_landing(ws, now=NOW)
    assert [r.status for r in run.results] == ["validated"] * 5, [r.reasons for r in run.results]

    order = list_validated(ws.store, ws.project)
    assert order[0] == "extract.parquet", f"the oldest by time comes first, whatever its name sorts as: {order}"
    assert order[1:] == [f"2026-03-0{d}_sales.parquet" for d in range(1, 5)]
    train, holdout = split_batches(ws.project, order)
    assert holdout == ["2026-03-03_sales.parquet", "2026-03-04_sales.parquet"], "the holdout is the newest by time"
    assert "extract.parquet" in train
    records = {r.batch: r for r in batch_records(ws.store, ws.project)}
    assert records["extract.csv"].time_source == "file modified"
    assert records["2026-03-01_sales.csv"].time_source == "file name"
    stored = ws.store.read_parquet("validated", "extract.parquet")
    assert stored[BATCH_TIME].nunique() == 1, "every row carries its batch's time"
    assert stored[BATCH_TIME].iloc[0] == pd.Timestamp(DAY - dt.timedelta(days=9))
    assert ROW_KEY in stored.columns, "no id declared: a row key keys the stored rows"
    note = " ".join(decided(ws)["extract.csv"]["notes"])
    assert "from its file modified" in note


def test_a_declared_name_pattern_times_the_batch(settings: Settings, drop: Path):
    ws = bare_workspace(settings, drop, batch_time={"pattern": r"sales_(\d{8})", "format": "%Y%m%d"})
    drop_batch(drop, "sales_20260305.csv", sales_csv(ws.project, dt.date(2026, 3, 5)))
    ingest_files(ws.project, ws.store)
    validate_landing(ws, now=NOW)
    record = batch_records(ws.store, ws.project)[0]
    assert record.time_source == "file name"
    assert record.time.startswith("2026-03-05T00:00:00")


def test_a_folder_sharing_one_modification_time_is_ordered_by_name_with_a_warning(settings: Settings, drop: Path):
    ws = bare_workspace(settings, drop)
    same = DAY + dt.timedelta(hours=5)
    for name in ("b.csv", "a.csv", "c.csv"):
        drop_batch(drop, name, sales_csv(ws.project, dt.date(2026, 3, ord(name[0]) - 96)), modified=same)
    ingest_files(ws.project, ws.store)
    validate_landing(ws, now=NOW)
    assert list_validated(ws.store, ws.project) == ["a.parquet", "b.parquet", "c.parquet"], "ties broken by name"
    notes = decided(ws)["c.csv"]["notes"]
    assert any("shares its modification time" in n and "a.csv" in n for n in notes), notes


# --------------------------------------------------------------------------------------------- re-deliveries
def test_a_copy_of_a_validated_batch_under_another_name_is_quarantined_by_content(churn: Workspace):
    from projects.sources import generate_batches

    generate_batches(churn.project, churn.store, "baseline", 1, start=dt.date(2026, 3, 1), rows=200)
    data = churn.store.read_bytes("landing", "2026-03-01_baseline.csv")
    churn.store.write_bytes("landing", "2026-03-02_resent.csv", data=data)
    run = validate_landing(churn, now=NOW)
    statuses = {r.batch: r.status for r in run.results}
    assert statuses == {"2026-03-01_baseline.csv": "validated", "2026-03-02_resent.csv": "quarantined"}
    reason = run.results[1].reasons[0]
    assert "identical to 2026-03-01_baseline.csv" in reason, reason


def _churn_batch(ws: Workspace, day: dt.date, rows: int = 200) -> pd.DataFrame:
    from projects.churn.generator import ChurnGenerator

    return ChurnGenerator(ws.project, seed=5).batch(day, "baseline", rows)


def _land(ws: Workspace, name: str, frame: pd.DataFrame) -> None:
    from projects.churn.generator import ChurnGenerator

    ws.store.write_bytes("landing", name, data=ChurnGenerator(ws.project, seed=5).to_csv(frame))


def test_re_sent_ids_are_stopped_naming_the_earlier_batch(churn: Workspace):
    first = _churn_batch(churn, dt.date(2026, 3, 1))
    second = _churn_batch(churn, dt.date(2026, 3, 2))
    second.loc[second.index[:50], "customer_id"] = first["customer_id"].iloc[:50].to_numpy()
    _land(churn, "2026-03-01_a.csv", first)
    _land(churn, "2026-03-02_b.csv", second)
    run = validate_landing(churn, now=NOW)
    assert [r.status for r in run.results] == ["validated", "quarantined"]
    reason = run.results[1].reasons[0]
    assert reason.startswith("re-delivered: 50 of 200 rows"), reason
    assert "2026-03-01_a.csv (50)" in reason, "the report names the earlier batch and the overlap"


def test_re_sent_ids_can_be_dropped_and_counted_instead(churn: Workspace):
    cleaning = churn.project.cleaning.model_copy(update={"redelivered": Redelivered.drop})
    ws = Workspace(churn.settings, churn.project.model_copy(update={"cleaning": cleaning}), churn.store)
    first = _churn_batch(ws, dt.date(2026, 3, 1))
    second = _churn_batch(ws, dt.date(2026, 3, 2))
    second.loc[second.index[:30], "customer_id"] = first["customer_id"].iloc[:30].to_numpy()
    _land(ws, "2026-03-01_a.csv", first)
    _land(ws, "2026-03-02_b.csv", second)
    run = validate_landing(ws, now=NOW)
    assert [r.status for r in run.results] == ["validated", "validated"]
    assert run.results[1].cleaning["redelivered_rows_dropped"] == 30
    stored = ws.store.read_parquet("validated", "2026-03-02_b.parquet")
    assert len(stored) == 170, "only the new rows are kept"
    assert not set(stored["customer_id"]) & set(first["customer_id"]), "no id is validated twice"


def test_without_an_id_identical_rows_in_a_later_batch_are_a_re_delivery(settings: Settings, drop: Path):
    ws = bare_workspace(settings, drop)
    first = sales_csv(ws.project, dt.date(2026, 3, 1))
    lines = first.decode().splitlines()
    resent = "\n".join([lines[0], *lines[1:21], *sales_csv(ws.project, dt.date(2026, 3, 2)).decode().splitlines()[1:]])
    drop_batch(drop, "2026-03-01_sales.csv", first)
    drop_batch(drop, "2026-03-02_sales.csv", resent.encode())
    ingest_files(ws.project, ws.store)
    run = validate_landing(ws, now=NOW)
    assert [r.status for r in run.results] == ["validated", "quarantined"]
    reason = run.results[1].reasons[0]
    assert reason.startswith("re-delivered: 20 of "), reason
    assert "row key" in reason, "without an id the row's values are its key"


# --------------------------------------------------------------------------------------------- late data
def test_data_older_than_the_champions_watermark_is_flagged_as_late(churn: Workspace):
    _land(churn, "2026-03-05_a.csv", _churn_batch(churn, dt.date(2026, 3, 5)))
    _land(churn, "2026-03-06_b.csv", _churn_batch(churn, dt.date(2026, 3, 6)))
    watermark = dt.datetime(2026, 3, 5, 12, tzinfo=dt.UTC)
    validate_landing(churn, now=NOW, late_after=watermark)
    records = {r.batch: r for r in batch_records(churn.store, churn.project)}
    assert records["2026-03-05_a.csv"].late, "its events start before the watermark"
    assert not records["2026-03-06_b.csv"].late
    notes = decided(churn)["2026-03-05_a.csv"]["notes"]
    assert any(n.startswith("late data:") and "never as the newest (holdout) batch" in n for n in notes), notes


# --------------------------------------------------------------------------------------------- retire
def test_retire_takes_a_batch_out_of_training_keeps_it_and_replay_brings_it_back(churn: Workspace):
    for day in (1, 2, 3):
        _land(churn, f"2026-03-0{day}_x.csv", _churn_batch(churn, dt.date(2026, 3, day)))
    validate_landing(churn, now=NOW)
    entry = retire(churn, "2026-03-02_x", reason="wrong extract")
    assert entry.status == "retired"
    assert "wrong extract" in entry.reasons[0]
    assert list_validated(churn.store, churn.project) == ["2026-03-01_x.parquet", "2026-03-03_x.parquet"]
    assert churn.store.exists("quarantine", "2026-03-02_x", "retired", "2026-03-02_x.parquet"), "kept, not deleted"
    assert churn.store.exists("landing", "2026-03-02_x.csv"), "landing is never touched"
    assert [e.stem for e in list_quarantine(churn.store)] == ["2026-03-02_x"], "the quarantine view shows it"
    again = validate_landing(churn, now=NOW)
    assert again.results == (), "a retired batch is decided: validation does not take it back in"
    with pytest.raises(QuarantineError, match="no validated batch 'nope' to retire"):
        retire(churn, "nope")
    back = replay(churn, ["2026-03-02_x"], now=NOW)
    assert [r.status for r in back] == ["validated"], "a replay brings a retired batch back through the gate"
    assert "2026-03-02_x.parquet" in list_validated(churn.store, churn.project)
