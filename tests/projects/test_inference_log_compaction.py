"""Compacting the inference log: each closed day's parts merged, on file:// and s3:// (moto on 127.0.0.1).

The promise under test is the reader's: every row served is read exactly once before, during (a run stopped
half-way, a reader racing a removal) and after a compaction, with the same values and dtypes.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.jobs import compact_log
from projects.inference_log import (
    AREA,
    COMPACTED_PREFIX,
    PART_SUFFIX,
    SERVED_AT,
    InferenceLogError,
    InferenceLogWriter,
    closed_days,
    compact_partition,
    fetch_partition,
    list_parts,
    read_inference_log,
    record_columns,
)
from projects.workspace import Workspace
from tests.helpers.champions import churn_frame

if TYPE_CHECKING:
    from projects.settings import Settings
    from projects.storage import ProjectStore

DAYS = [dt.datetime(2026, 3, d, 0, 5, tzinfo=dt.UTC) for d in (1, 2, 3)]
NOW = dt.datetime(2026, 3, 3, 18, 0, tzinfo=dt.UTC)  # 1 and 2 March are closed, 3 March is not


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    from projects.contract import load_project
    from projects.settings import REPO_ROOT

    return churn_frame(load_project("churn", REPO_ROOT / "projects"), rows=240)


def serve(ws: Workspace, rows: pd.DataFrame, *, parts_per_day: int = 6, hosts: int = 2) -> None:
    """Write the log as serving replicas do: several hosts, one small part per flush, three days."""
    chunk = len(rows) // (len(DAYS) * parts_per_day * hosts)
    writers = [InferenceLogWriter(ws.store, ws.project, flush_rows=10**6, host=f"pod-{h}") for h in range(hosts)]
    start = 0
    for day in DAYS:
        for flush in range(parts_per_day):
            for host, writer in enumerate(writers):
                piece = rows.iloc[start : start + chunk]
                start += chunk
                at = day + dt.timedelta(hours=flush * 3, minutes=host)
                inputs = {name: piece[name].tolist() for name in record_columns(ws.project)}
                probability = np.linspace(0.05, 0.95, len(piece))
                writer.append(inputs, (probability >= 0.5).astype(float), probability, str(1 + host), served_at=at)
                writer.flush()


def everything(store: ProjectStore) -> pd.DataFrame:
    """The whole log, in a stable order, to compare before and after."""
    log = read_inference_log(store)
    return log.sort_values([SERVED_AT, "customer_id"], kind="stable", ignore_index=True)


def part_count(store: ProjectStore, day: int) -> int:
    return len(list_parts(store, f"date=2026-03-{day:02d}"))


def test_closed_days_are_merged_into_one_part_and_every_row_reads_the_same(
    data_root_settings: Settings, rows: pd.DataFrame
) -> None:
    ws = Workspace.open("churn", data_root_settings)
    serve(ws, rows)
    before = everything(ws.store)
    assert part_count(ws.store, 1) == 12

    results = compact_log(ws, now=NOW)

    assert [r.day.day for r in results] == [1, 2], "3 March has not ended: its parts are left alone"
    assert [(r.parts_before, r.parts_after, r.removed) for r in results] == [(12, 1, 12), (12, 1, 12)]
    assert sum(r.rows for r in results) == 2 * len(before) // 3
    assert part_count(ws.store, 1) == 1
    assert list_parts(ws.store, "date=2026-03-01")[0].startswith(COMPACTED_PREFIX)
    assert part_count(ws.store, 3) == 12, "an open day is never compacted"
    pd.testing.assert_frame_equal(everything(ws.store), before)  # values and dtypes, every row once
    again = compact_log(ws, now=NOW)
    assert [r.merged or r.removed for r in again] == [False, False], "a second run has nothing to do"


def test_a_run_stopped_after_writing_is_read_correctly_and_finished_by_the_next(
    churn: Workspace, rows: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve(churn, rows)
    before = everything(churn.store)
    fs = type(churn.store.fs)

    def crash(self: object, *args: object, **kwargs: object) -> None:
        raise OSError("the compaction pod was killed before it removed anything")

    with monkeypatch.context() as patch:
        patch.setattr(fs, "rm", crash)
        with pytest.raises(OSError, match="killed"):
            compact_partition(churn.store, "date=2026-03-01")
    assert part_count(churn.store, 1) == 13, "the compacted part and the 12 it replaces"
    pd.testing.assert_frame_equal(everything(churn.store), before)  # replaced parts are skipped: no row twice

    finished = compact_partition(churn.store, "date=2026-03-01")
    assert (finished.parts_before, finished.parts_after, finished.removed) == (1, 1, 12)
    pd.testing.assert_frame_equal(everything(churn.store), before)


def test_a_late_part_is_merged_with_the_compacted_one(churn: Workspace, rows: pd.DataFrame) -> None:
    """Rows retried after a store outage land in their own day after it was compacted: the next run merges them."""
    serve(churn, rows.iloc[:180])
    compact_partition(churn.store, "date=2026-03-01")
    late = InferenceLogWriter(churn.store, churn.project, flush_rows=10**6, host="pod-late")
    piece = rows.iloc[180:]
    inputs = {name: piece[name].tolist() for name in record_columns(churn.project)}
    late.append(inputs, np.zeros(len(piece)), np.full(len(piece), 0.2), "1", served_at=DAYS[0] + dt.timedelta(hours=23))
    late.flush()
    before = everything(churn.store)
    assert part_count(churn.store, 1) == 2

    merged = compact_partition(churn.store, "date=2026-03-01")

    assert (merged.parts_before, merged.parts_after) == (2, 1)
    pd.testing.assert_frame_equal(everything(churn.store), before)


def test_a_reader_that_listed_parts_a_compaction_then_removed_lists_again(
    churn: Workspace, rows: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve(churn, rows)
    expected = sum(
        len(pd.read_parquet(io.BytesIO(blob))) for _, blob in fetch_partition(churn.store, "date=2026-03-01")
    )
    listed = []
    original = type(churn.store).list

    def list_then_compact(self: ProjectStore, *args: object, **kwargs: object) -> list[str]:
        names = original(self, *args, **kwargs)
        if not listed:
            listed.append(names)  # this reader's first listing; a compaction runs before it reads
            monkeypatch.setattr(type(churn.store), "list", original)
            compact_partition(churn.store, "date=2026-03-01")
        return names

    monkeypatch.setattr(type(churn.store), "list", list_then_compact)
    parts = fetch_partition(churn.store, "date=2026-03-01")

    assert len(listed[0]) == 12, "the first listing saw the small parts"
    assert len(parts) == 1, "the reader listed again and read the compacted part"
    assert sum(len(pd.read_parquet(io.BytesIO(blob))) for _, blob in parts) == expected


def test_parts_of_different_layouts_are_kept_apart(churn: Workspace, rows: pd.DataFrame) -> None:
    """A contract change between parts (a column fewer): one compacted part per layout, no row or column lost."""
    serve(churn, rows, parts_per_day=2, hosts=1)
    old = read_inference_log(churn.store).drop(columns=["monthly_charges"]).iloc[:7]
    buffer = io.BytesIO()
    old.to_parquet(buffer, index=False, engine="pyarrow")
    churn.store.write_bytes(AREA, "date=2026-03-01", f"old-1-{0:019d}{PART_SUFFIX}", data=buffer.getvalue())
    churn.store.write_bytes(AREA, "date=2026-03-01", f"old-1-{1:019d}{PART_SUFFIX}", data=buffer.getvalue())
    before = everything(churn.store)

    result = compact_partition(churn.store, "date=2026-03-01")

    assert (result.parts_before, result.parts_after) == (4, 2)
    pd.testing.assert_frame_equal(everything(churn.store), before)
    assert before["monthly_charges"].isna().sum() == 14, "the old parts' rows read without the column, as before"


def test_an_unreadable_part_stops_the_day_naming_it_and_removes_nothing(churn: Workspace, rows: pd.DataFrame) -> None:
    serve(churn, rows, parts_per_day=2, hosts=1)
    churn.store.write_bytes(AREA, "date=2026-03-01", "zz-corrupt.parquet", data=b"not parquet")

    with pytest.raises(InferenceLogError, match=r"date=2026-03-01/zz-corrupt\.parquet: unreadable"):
        compact_partition(churn.store, "date=2026-03-01")
    assert part_count(churn.store, 1) == 3


def test_closed_days_wait_an_hour_after_midnight(churn: Workspace, rows: pd.DataFrame) -> None:
    serve(churn, rows, parts_per_day=1, hosts=1)
    just_after = dt.datetime(2026, 3, 3, 0, 30, tzinfo=dt.UTC)
    assert closed_days(churn.store, just_after) == ["date=2026-03-01"], "2 March ended 30 minutes ago"
    assert closed_days(churn.store, just_after + dt.timedelta(hours=1)) == ["date=2026-03-01", "date=2026-03-02"]


def test_mlops_log_compact_reports_what_it_merged(churn: Workspace, rows: pd.DataFrame) -> None:
    serve(churn, rows, parts_per_day=3, hosts=2)  # all three days are long closed by now
    runner = CliRunner()

    first = runner.invoke(app, ["log", "compact", "--project", "churn"])
    assert first.exit_code == 0, first.output
    assert "2026-03-01" in first.output
    assert "6 -> 1" in first.output
    assert all(part_count(churn.store, d) == 1 for d in (1, 2, 3))

    second = runner.invoke(app, ["log", "compact", "--project", "churn"])
    assert second.exit_code == 0, second.output
    assert "nothing to compact (3 closed day(s)" in second.output
