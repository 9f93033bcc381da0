"""The inference log format, writer and reader, on file:// and s3:// (moto on 127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from pipelines.datasets import coerce_types
from projects.inference_log import (
    MODEL_VERSION,
    OUTPUT_COLUMNS,
    PREDICTION,
    PROBABILITY,
    SERVED_AT,
    WRITER_ENGINE,
    InferenceLogError,
    InferenceLogWriter,
    chunks_to_frame,
    log_columns,
    log_frame,
    part_name,
    read_inference_log,
    read_part,
    record_columns,
)
from projects.workspace import Workspace
from tests.helpers.champions import churn_frame

if TYPE_CHECKING:
    from projects.settings import Settings

DAY1 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
DAY2 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    from projects.contract import load_project
    from projects.settings import REPO_ROOT

    return churn_frame(load_project("churn", REPO_ROOT / "projects"), rows=60)


def _append(writer: InferenceLogWriter, frame: pd.DataFrame, version: str, served_at: dt.datetime) -> None:
    inputs = {name: frame[name].tolist() for name in record_columns(writer.project)}
    probability = np.linspace(0, 1, len(frame))
    writer.append(inputs, (probability >= 0.5).astype(float), probability, version, served_at=served_at)


@pytest.mark.parametrize("engine", ["pyarrow", WRITER_ENGINE])
def test_a_part_reads_the_same_whichever_engine_wrote_it(
    data_root_settings: Settings, rows: pd.DataFrame, engine: str
) -> None:
    """Given one log frame written by pyarrow and by fastparquet (serving's writer), when read, then both equal it.

    The engines write different pandas metadata (fastparquet's makes pyarrow return object columns); the reader
    rebuilds the dtypes from the Arrow types, so monitoring sees the same frame either way.
    """
    import io

    ws = Workspace.open("churn", data_root_settings)
    writer = InferenceLogWriter(ws.store, ws.project, flush_rows=10_000, flush_seconds=3600)
    _append(writer, rows.iloc[:5].assign(has_partner=[True, None, False, True, None]), "4", DAY1)
    frame = chunks_to_frame(ws.project, list(writer._chunks))
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, engine=engine)
    back = log_frame(read_part(buffer.getvalue(), f"memory://{engine}.parquet"))
    pd.testing.assert_frame_equal(back, frame)
    assert back["has_partner"].isna().tolist() == [False, True, False, False, True]


def test_round_trip_keeps_the_format(data_root_settings: Settings, rows: pd.DataFrame) -> None:
    """Given rows written by the writer, when read back, then columns, order and dtypes are the contract's."""
    ws = Workspace.open("churn", data_root_settings)
    writer = InferenceLogWriter(ws.store, ws.project, flush_rows=10_000, flush_seconds=3600)
    _append(writer, rows.iloc[:30], "1", DAY1)
    _append(writer, rows.iloc[30:], "2", DAY1 + dt.timedelta(minutes=1))
    urls = writer.flush()
    assert len(urls) == 1, urls
    assert "/inference/date=2026-03-01/" in urls[0], urls

    log = read_inference_log(ws.store)
    assert list(log.columns) == log_columns(ws.project)
    expected = coerce_types(ws.project, rows[record_columns(ws.project)]).dtypes
    for name in record_columns(ws.project):
        assert log[name].dtype == expected[name], f"{name}: {log[name].dtype} != coerce_types {expected[name]}"
    assert log[PREDICTION].dtype == "float64"
    assert log[PROBABILITY].dtype == "float64"
    assert log[MODEL_VERSION].dtype == "string"
    assert str(log[SERVED_AT].dtype) == "datetime64[ns, UTC]"
    assert log[ws.project.schema.id.name].tolist() == rows[ws.project.schema.id.name].tolist()
    pd.testing.assert_series_equal(
        log["data_usage_gb"], rows["data_usage_gb"].reset_index(drop=True), check_names=False
    )  # NaN (a nullable feature) survives


def test_reader_filters_and_prunes_partitions(data_root_settings: Settings, rows: pd.DataFrame) -> None:
    """since prunes whole date partitions (an unreadable old part is never opened); max_rows keeps the newest."""
    ws = Workspace.open("churn", data_root_settings)
    writer = InferenceLogWriter(ws.store, ws.project, flush_rows=10_000, flush_seconds=3600)
    _append(writer, rows.iloc[:20], "1", DAY1)
    _append(writer, rows.iloc[20:40], "1", DAY2)
    _append(writer, rows.iloc[40:], "2", DAY2 + dt.timedelta(hours=1))
    assert len(writer.flush()) == 2, "one part per day"
    ws.store.write_bytes("inference", "date=2026-03-01", "zz-corrupt.parquet", data=b"not parquet")

    with pytest.raises(InferenceLogError, match=r"date=2026-03-01/zz-corrupt\.parquet"):
        read_inference_log(ws.store)
    recent = read_inference_log(ws.store, since=dt.datetime(2026, 3, 2))  # naive = UTC
    assert len(recent) == 40
    assert recent[SERVED_AT].min() >= pd.Timestamp(DAY2)
    assert len(read_inference_log(ws.store, since=DAY2, model_version="2")) == 20
    newest = read_inference_log(ws.store, since=DAY2, max_rows=25)
    assert len(newest) == 25, "the newest rows are kept"
    assert (newest[MODEL_VERSION] == "2").sum() == 20, "the newest rows are kept"
    assert newest[SERVED_AT].is_monotonic_increasing
    empty = read_inference_log(ws.store, since=dt.datetime(2030, 1, 1), project=ws.project)
    assert empty.empty
    assert list(empty.columns) == log_columns(ws.project)


def test_writer_flushes_by_rows_and_by_time(churn: Workspace, rows: pd.DataFrame) -> None:
    """A full buffer is written at once; a trickle is written after flush_seconds; nothing waits for shutdown."""
    writer = InferenceLogWriter(churn.store, churn.project, flush_rows=10, flush_seconds=0.5).start()
    try:
        _append(writer, rows.iloc[:12], "1", DAY1)  # over flush_rows: the thread is woken
        deadline = time.monotonic() + 5
        while writer.written_rows < 12 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert writer.written_rows == 12, "a full buffer is flushed without waiting for the timer"
        _append(writer, rows.iloc[12:13], "1", DAY1)
        time.sleep(1.2)
        assert writer.written_rows == 13, "a single row is flushed after flush_seconds"
    finally:
        writer.close()
    assert len(read_inference_log(churn.store)) == 13


def test_failed_write_keeps_rows_for_the_next_flush(churn: Workspace, rows: pd.DataFrame) -> None:
    """Store unusable -> flush raises, rows stay buffered; store back -> the next flush writes them all."""
    writer = InferenceLogWriter(churn.store, churn.project, flush_rows=10_000, flush_seconds=3600, max_buffer_rows=25)
    blocker = churn.store.path("inference")
    churn.store.fs.makedirs(blocker.rsplit("/", 1)[0], exist_ok=True)
    churn.store.fs.pipe_file(blocker, b"a file where the folder should be")
    _append(writer, rows.iloc[:20], "1", DAY1)
    with pytest.raises(Exception):  # noqa: B017 - whatever the filesystem raises
        writer.flush()
    assert writer.pending_rows == 20
    assert writer.written_rows == 0
    _append(writer, rows.iloc[20:30], "1", DAY1)
    with pytest.raises(Exception):  # noqa: B017
        writer.flush()
    assert writer.dropped_rows == 20, "over max_buffer_rows the oldest are dropped"
    assert writer.pending_rows == 10, "over max_buffer_rows the oldest are dropped"
    churn.store.fs.rm(blocker)
    writer.flush()
    assert len(read_inference_log(churn.store)) == 10


def test_part_names_do_not_collide_across_restarts() -> None:
    """Same host, same pid (pid 1 in a container), a restarted process: its parts sort after, never overwrite."""
    first = InferenceLogWriter.__new__(InferenceLogWriter)
    first._seq = int(time.time() * 1000) * 1_000_000 + 5  # a process that wrote 5 parts
    time.sleep(0.002)
    second_seq = int(time.time() * 1000) * 1_000_000 + 1
    assert part_name("pod-a", 1, second_seq) > part_name("pod-a", 1, first._seq)
    assert part_name("pod a/../x", 1, 1).startswith("pod-a-..-x-1-"), "host names are made path-safe"


HARD_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from projects.inference_log import InferenceLogWriter, record_columns
    from projects.workspace import Workspace
    from tests.helpers.champions import churn_frame

    ws = Workspace.open("churn")
    frame = churn_frame(ws.project, rows=1)
    inputs = {n: frame[n].tolist() for n in record_columns(ws.project)}
    writer = InferenceLogWriter(ws.store, ws.project, flush_rows=50, flush_seconds=3600).start()
    flushed, tail = int(sys.argv[1]), int(sys.argv[2])
    for _ in range(flushed):
        writer.append(inputs, np.array([1.0]), np.array([0.9]), "1")
    deadline = time.monotonic() + 20
    while writer.written_rows < flushed and time.monotonic() < deadline:
        time.sleep(0.01)
    for _ in range(tail):  # fewer than flush_rows: they wait in memory for the timer (an hour)
        writer.append(inputs, np.array([1.0]), np.array([0.9]), "1")
    print("appended", flush=True)
    time.sleep(60)
    """
)


def test_hard_kill_loses_at_most_the_unflushed_buffer(churn: Workspace) -> None:
    """SIGKILL with 49 rows buffered (flush_rows=50): those are lost, everything flushed before survives."""
    env = {**os.environ, "MLOPS_HOME": str(churn.settings.home)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HARD_KILL_SCRIPT, "1000", "49"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "appended"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    saved = len(read_inference_log(churn.store))
    assert saved == 1000, f"{saved} rows survived; expected the 1,000 flushed rows and the 49 buffered ones lost"


def test_output_columns_are_the_agreed_ones() -> None:
    assert OUTPUT_COLUMNS == ("prediction", "probability", "model_version", "served_at")
