"""Benchmark of inference-log compaction: one served day as serving writes it, read before and after.

Two serving replicas flushing once a minute (``serving.log_flush_seconds: 60``; the default, 5 s, writes up
to 12x as many under steady traffic) write 2 x 1,440 parts a day. The day is read the way the monitor reads
it (``fetch_partition`` + ``read_part``: every part fetched and decoded) before and after
``compact_partition``; the compaction runs in a fresh process so its peak memory (ru_maxrss, imports
included) is its own. file:// data root, so the figures are the format's cost, not a network's: on S3 each
part is also one GET.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tests.helpers.system import REPO

DAY = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
PARTITION = "date=2026-03-01"
COMPACT = """
import json, resource, sys, time
from projects.settings import Settings
from projects.workspace import Workspace
from projects.inference_log import compact_partition
ws = Workspace.open("churn", Settings())
started = time.perf_counter()
result = compact_partition(ws.store, sys.argv[1])
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "bytes_before": result.bytes_before, "bytes_after": result.bytes_after, "rows": result.rows}))
"""


def write_day(home: str, replicas: int, flushes: int, rows_per_flush: int) -> None:
    from projects.contract import load_project
    from projects.inference_log import InferenceLogWriter, record_columns
    from projects.settings import REPO_ROOT, Settings
    from projects.workspace import Workspace
    from tests.helpers.champions import churn_frame

    ws = Workspace.open("churn", Settings(home=Path(home)))
    frame = churn_frame(load_project("churn", REPO_ROOT / "projects"), rows=replicas * flushes * rows_per_flush)
    columns = {name: frame[name].tolist() for name in record_columns(ws.project)}
    probability = np.random.default_rng(7).uniform(size=len(frame))
    writers = [InferenceLogWriter(ws.store, ws.project, flush_rows=10**9, host=f"pod-{r}") for r in range(replicas)]
    start = 0
    for minute in range(flushes):
        for replica, writer in enumerate(writers):
            at = DAY + dt.timedelta(minutes=minute, seconds=replica)
            rows = slice(start, start + rows_per_flush)
            start += rows_per_flush
            inputs = {name: values[rows] for name, values in columns.items()}
            writer.append(inputs, (probability[rows] >= 0.5).astype(float), probability[rows], "1", served_at=at)
            writer.flush()


def read_day(home: str) -> tuple[float, int, int]:
    """Seconds to fetch and decode the day as the monitor does, the rows read, and the part files."""
    from projects.inference_log import fetch_partition, read_part
    from projects.settings import Settings
    from projects.workspace import Workspace

    ws = Workspace.open("churn", Settings(home=Path(home)))
    started = time.perf_counter()
    parts = fetch_partition(ws.store, PARTITION)
    rows = sum(read_part(blob, url).num_rows for url, blob in parts)
    return time.perf_counter() - started, rows, len(parts)


def run(quick: bool = False) -> str:
    replicas, flushes, rows_per_flush = (2, 120, 50) if quick else (2, 1440, 50)
    with tempfile.TemporaryDirectory(prefix="bench-log-") as home:
        started = time.perf_counter()
        write_day(home, replicas, flushes, rows_per_flush)
        write_seconds = time.perf_counter() - started
        read_before, rows_before, parts_before = min((read_day(home) for _ in range(3)), key=lambda r: r[0])
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")} | {"MLOPS_HOME": home}
        done = subprocess.run(
            [sys.executable, "-c", COMPACT, PARTITION], cwd=REPO, env=env, check=True, capture_output=True, text=True
        )
        compaction = json.loads(done.stdout.strip().splitlines()[-1])
        read_after, rows_after, parts_after = min((read_day(home) for _ in range(3)), key=lambda r: r[0])
    if rows_after != rows_before:
        raise AssertionError(f"compaction changed the rows read: {rows_before} -> {rows_after}")
    lines = [
        "## Inference-log compaction (`mlops log compact`)",
        "",
        f"One served day: {replicas} replicas x {flushes} flushes x {rows_per_flush} rows = {rows_before:,} rows "
        f"in {parts_before:,} parts (written in {write_seconds:.0f} s). Read = fetch and decode every live part of "
        "the day, as the monitor does; best of 3.",
        "",
        "| | parts | size | read the day |",
        "|---|---:|---:|---:|",
        f"| as served | {parts_before:,} | {compaction['bytes_before'] / 1e6:.2f} MB | {read_before:.2f} s |",
        f"| compacted | {parts_after} | {compaction['bytes_after'] / 1e6:.2f} MB | {read_after:.3f} s |",
        "",
        f"Compaction: {compaction['seconds']:.1f} s, peak memory {compaction['rss_mb']:.0f} MB (the whole "
        f"process, imports included); {read_before / max(read_after, 1e-9):.0f}x faster to read afterwards, "
        "every row still read exactly once.",
    ]
    return "\n".join(lines) + "\n"
