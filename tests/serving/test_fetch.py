"""The first champion fetched by a second process (serving/fetch.py), against real MLflow on SQLite."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pytest

from serving.fetch import MANIFEST, Fetched, Prefetch, fetch, hand_over, load_sklearn_dir, take
from serving.model_holder import ModelHolder
from serving.startup import pause_collector_for_startup
from tests.helpers.champions import churn_frame
from tests.helpers.serving import Server
from tests.helpers.system import REPO, free_port

if TYPE_CHECKING:
    from tests.helpers.serving import Home

pytestmark = pytest.mark.integration


def test_fetched_files_load_without_mlflow_as_mlflow_loads_them(champion_home: Home, tmp_path: Path) -> None:
    """Given the champion, when fetched and loaded from its files, then it predicts exactly as MLflow's loader."""
    import mlflow.sklearn

    from serving.lookup import registry_client

    project = champion_home.ws.project
    fetched = fetch(project, champion_home.settings, tmp_path)
    assert fetched.error is None, fetched
    assert fetched.version == "1", fetched
    assert fetched.run_id, fetched
    assert fetched.tags["mlops.contract_hash"] == project.contract_hash()
    ours = load_sklearn_dir(Path(str(fetched.path)))
    registry_client(champion_home.settings)
    (tmp_path / "mlflow").mkdir()
    theirs = mlflow.sklearn.load_model(f"models:/{project.name}/1", dst_path=str(tmp_path / "mlflow"))
    rows = churn_frame(project, rows=50)[project.schema.model_inputs]
    np.testing.assert_array_equal(ours.predict_proba(rows), theirs.predict_proba(rows))


def test_unloadable_directories_are_refused_with_the_file_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=rf"{tmp_path}/MLmodel: not an MLflow model description"):
        load_sklearn_dir(tmp_path)
    (tmp_path / "MLmodel").write_text("flavors:\n  python_function: {loader_module: x}\n")
    with pytest.raises(ValueError, match=r"no sklearn flavor with a pickled_model \(flavors: \['python_function'\]\)"):
        load_sklearn_dir(tmp_path)
    (tmp_path / "MLmodel").write_text("flavors:\n  sklearn: {pickled_model: m.skops, serialization_format: skops}\n")
    with pytest.raises(ValueError, match="serialization_format 'skops' is neither cloudpickle nor pickle"):
        load_sklearn_dir(tmp_path)


def test_the_fetch_process_reports_why_there_is_nothing_to_load(champion_home: Home, tmp_path: Path) -> None:
    """Given an unreachable registry, the fetch exits 3 and its manifest says why, naming the tracking URL."""
    dead = f"http://127.0.0.1:{free_port()}"
    env = champion_home.env(MLOPS_TRACKING_URI=dead, MLOPS_REGISTRY_URI=dead)
    done = subprocess.run(
        [sys.executable, "-m", "serving.fetch", "--project", "churn", "--into", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    fetched = Fetched.read(tmp_path)
    assert fetched.version is None
    assert str(fetched.error).startswith(f"tracking server unreachable at {dead}")
    assert fetched.error in done.stderr
    assert json.loads((tmp_path / MANIFEST).read_text())["error"] == fetched.error


def test_the_holder_starts_from_the_prefetch_and_turns_the_collector_back_on(
    champion_home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a fetch started first (as serving.server does), the holder serves its version and cleans up."""
    for key, value in champion_home.env().items():
        monkeypatch.setenv(key, value)
    into = tmp_path / "models"
    hand_over(Prefetch.start("churn", into))
    prefetch = take()
    assert prefetch is not None, "only the first holder gets the fetch"
    assert take() is None, "only the first holder gets the fetch"
    pause_collector_for_startup()
    try:
        holder = ModelHolder(champion_home.ws.project, champion_home.settings, freeze_gc=True, prefetch=prefetch)
        holder.start()
        assert holder.wait_ready(120), holder.status()
        assert holder.current is not None
        assert holder.current.version == "1"
        assert holder.reason == "serving version 1"
        deadline = time.monotonic() + 10  # both happen right after the swap that made it ready
        while (any(into.iterdir()) or not gc.isenabled()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not any(into.iterdir()), "the fetch's directory is removed once the model is loaded"
        assert gc.isenabled(), "the collector is back on after the first load"
        holder.stop()
    finally:
        gc.enable()
        gc.unfreeze()


def test_a_failed_prefetch_falls_back_to_polling(champion_home: Home, tmp_path: Path) -> None:
    """Given a fetch that found nothing, the holder reports its reason and then resolves the champion itself."""
    (tmp_path / "models").mkdir()
    failed = Prefetch(subprocess.Popen([sys.executable, "-c", "pass"]), tmp_path / "models")
    Fetched(error="no champion: nothing promoted yet").write(tmp_path / "models")
    holder = ModelHolder(champion_home.ws.project, champion_home.settings, poll_seconds=0.2, prefetch=failed)
    holder.start()
    try:
        assert holder.wait_ready(120)
        assert holder.current is not None
        assert holder.current.version == "1"
    finally:
        holder.stop()


def test_stopping_during_the_fetch_ends_the_wait_and_the_fetch(champion_home: Home, tmp_path: Path) -> None:
    """Given a fetch that hangs, stop() returns at once, the fetch process is killed and its directory removed."""
    (tmp_path / "fetch-hung").mkdir()
    hung = Prefetch(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]), tmp_path / "fetch-hung")
    holder = ModelHolder(champion_home.ws.project, champion_home.settings, prefetch=hung).start()
    time.sleep(0.5)
    started = time.monotonic()
    holder.stop(timeout=10)
    assert time.monotonic() - started < 3, "the wait for the fetch must end with stop()"
    assert hung.process.poll() is not None
    assert not hung.into.exists()
    assert holder.current is None
    assert holder.reason == "stopped before the champion fetch finished"


def test_stale_fetch_directories_are_swept_and_each_start_gets_its_own(tmp_path: Path) -> None:
    import os

    stale, recent = tmp_path / "fetch-old", tmp_path / "fetch-running"
    stale.mkdir()
    recent.mkdir()
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    first = Prefetch.start("no-such-project", tmp_path)
    second = Prefetch.start("no-such-project", tmp_path)
    try:
        assert not stale.exists(), "only directories older than an hour are swept"
        assert recent.exists(), "only directories older than an hour are swept"
        assert first.into != second.into
        assert first.into.parent == tmp_path
    finally:
        first.cleanup()
        second.cleanup()
    assert not first.into.exists()
    assert not second.into.exists()


def test_the_single_process_server_uses_the_prefetch(champion_home: Home) -> None:
    """``mlops serve`` with one worker runs serving.server: the fetch ran, and SIGTERM ends it cleanly."""
    with Server(champion_home).start() as server:
        metadata = httpx.get(server.url + "/metadata", timeout=10).json()
        assert metadata["model_version"] == "1"
        assert metadata["ready"] is True
        assert "serving.fetch: version 1 fetched in" in server.log(), server.log()[-2000:]
        assert server.stop() == 0, server.log()[-2000:]
