"""Promotion under load: 2 workers, 8 concurrent clients, the champion alias moves mid-run.

One bounded run (module fixture) feeds four checks: no request fails; every worker switches within the poll
interval (plus the load); responses after the switch carry the new version; and once the service has shut
down gracefully, the inference log holds exactly the rows that were answered.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from projects.inference_log import MODEL_VERSION, SERVED_AT, log_frame, read_inference_log, read_part
from tests.helpers.champions import churn_frame, promote
from tests.helpers.serving import Home, Server, records, train_version

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CLIENTS = 8
RUN_SECONDS = 9.0
PROMOTE_AT = 3.0
LOAD_ALLOWANCE_S = 3.0  # download + checks + warm-up of the new version on 2 busy cores


@dataclass
class Run:
    promoted_at: dt.datetime
    poll_seconds: float
    responses: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    log: pd.DataFrame | None = None
    parts: list[str] = field(default_factory=list)


def _client(url: str, bodies: list[dict[str, Any]], stop: threading.Event, run: Run, lock: threading.Lock) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        i = 0
        while not stop.is_set():
            body = bodies[i % len(bodies)]
            i += 1
            try:
                response = client.post("/predict", json=body)
            except httpx.HTTPError as exc:
                with lock:
                    run.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            received = dt.datetime.now(dt.UTC)
            with lock:
                if response.status_code != 200:
                    run.failures.append(f"{response.status_code}: {response.text[:300]}")
                else:
                    version = response.json()["model"]["version"]
                    run.responses.append({"at": received, "version": version, "rows": len(body["records"])})


def _wait_for_workers(server: Server, count: int, version: str, timeout: float = 120) -> None:
    line = f"now serving churn version {version}"
    deadline = time.monotonic() + timeout
    while server.log().count(line) < count:
        assert time.monotonic() < deadline, f"{count} workers never served version {version}:\n{server.log()[-3000:]}"
        time.sleep(0.25)


@pytest.fixture(scope="module")
def run(champion_home: Home, tmp_path_factory: pytest.TempPathFactory) -> Run:
    home = champion_home.copy(tmp_path_factory.mktemp("promotion") / "home")
    new_version = train_version(home, dt.date(2026, 2, 1), "concept_drift", alias=False)
    assert new_version == "2"
    ws = home.ws
    frame = churn_frame(ws.project, rows=40, day=dt.date(2026, 6, 7))
    rows = records(ws.project, frame)
    bodies = [{"records": rows[i : i + size]} for i, size in ((0, 1), (1, 3), (4, 10), (14, 1), (15, 25))]
    server = Server(home, workers=2).start()
    stop, lock = threading.Event(), threading.Lock()
    result = Run(promoted_at=dt.datetime.now(dt.UTC), poll_seconds=ws.project.serving.poll_seconds)
    try:
        _wait_for_workers(server, 2, "1")
        threads = [
            threading.Thread(target=_client, args=(server.url, bodies, stop, result, lock)) for _ in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        time.sleep(PROMOTE_AT)
        result.promoted_at = dt.datetime.now(dt.UTC)
        promote(ws.project, home.settings, new_version)
        time.sleep(RUN_SECONDS - PROMOTE_AT)
        stop.set()
        for thread in threads:
            thread.join(60)
    finally:
        stop.set()
        server.stop()
    result.log = read_inference_log(ws.store)
    result.parts = [p for p in ws.store.fs.find(ws.store.path("inference")) if p.endswith(".parquet")]
    return result


def test_no_request_fails_during_promotion(run: Run) -> None:
    print(f"{len(run.responses)} requests answered by 2 workers for {CLIENTS} clients in {RUN_SECONDS}s")
    assert not run.failures, f"{len(run.failures)} failed requests, e.g. {run.failures[:3]}"
    assert len(run.responses) > 50, f"only {len(run.responses)} requests answered: the load was not real"


def test_every_worker_switches_within_the_poll_interval(run: Run) -> None:
    """Per worker (pid, from its part files): the first row served by version 2, and never version 1 after it."""
    assert run.log is not None
    by_pid: dict[str, list[pd.DataFrame]] = {}
    for path in run.parts:
        pid = path.rsplit("/", 1)[1].rsplit("-", 2)[1]
        by_pid.setdefault(pid, []).append(log_frame(read_part(Path(path).read_bytes(), path)))
    assert len(by_pid) == 2, f"expected 2 workers writing the log, found pids {sorted(by_pid)}"
    bound = run.poll_seconds + LOAD_ALLOWANCE_S
    for pid, frames in by_pid.items():
        rows = pd.concat(frames).sort_values(SERVED_AT)
        new = rows[rows[MODEL_VERSION] == "2"]
        assert len(new), f"worker {pid} never served version 2"
        first_new = new[SERVED_AT].min()
        lag = (first_new - pd.Timestamp(run.promoted_at)).total_seconds()
        print(f"worker {pid}: first version-2 row {lag:.2f}s after the promotion ({len(rows)} rows)")
        assert lag <= bound, f"worker {pid} switched {lag:.2f}s after the promotion (bound {bound}s)"
        stale = rows[(rows[SERVED_AT] > first_new) & (rows[MODEL_VERSION] == "1")]
        assert stale.empty, f"worker {pid} served version 1 again after switching ({len(stale)} rows)"


def test_responses_after_the_switch_carry_the_new_version(run: Run) -> None:
    deadline = run.promoted_at + dt.timedelta(seconds=run.poll_seconds + LOAD_ALLOWANCE_S)
    late = [r for r in run.responses if r["at"] > deadline]
    assert late, "the run ended before the switch deadline"
    assert {r["version"] for r in late} == {"2"}, f"versions after {deadline}: {sorted({r['version'] for r in late})}"
    early = [r for r in run.responses if r["at"] < run.promoted_at]
    assert early
    assert {r["version"] for r in early} == {"1"}


def test_inference_log_rows_equal_rows_served_after_shutdown(run: Run) -> None:
    assert run.log is not None
    served = sum(r["rows"] for r in run.responses)
    assert len(run.log) == served, f"log has {len(run.log)} rows; the clients got answers for {served}"
    answered = pd.Series([r["version"] for r in run.responses for _ in range(r["rows"])]).value_counts().to_dict()
    logged = run.log[MODEL_VERSION].value_counts().to_dict()
    assert logged == answered, f"rows per version: log {logged}, responses {answered}"
