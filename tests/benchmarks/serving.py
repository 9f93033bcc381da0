"""Serving benchmark: the same champion served three ways, in one run, on this machine.

1. the BentoML service (``mlops serve``, 1 worker);
2. a bare FastAPI + uvicorn app doing the same work (``tests/benchmarks/serving_fastapi.py``, 1 worker);
3. in-process ``LoadedModel.score`` on a ready typed frame (no HTTP, no validation, no logging).

The client is wrk with one thread and 8 connections, pinned with taskset to CPU 1; both servers are pinned to
CPU 0, so the client never takes the server's core (2 cores here, shared with whatever else runs). Rounds
alternate BentoML and FastAPI and the table shows the median round. Two champions: a "light" pipeline
(vectorised one-hot + logistic regression, ~0.1 ms per call) that shows what the frameworks cost, and the
platform's own trained pipeline (``pipelines.training.train``), which is what users serve.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.helpers.system import REPO

SERVER_CPU, CLIENT_CPU = "0", "1"
CONNECTIONS = 8
LUA = """
local f = io.open(os.getenv("BODY_FILE"), "r"); local body = f:read("*a"); f:close()
wrk.method = "POST"; wrk.body = body; wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d\\n", summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"""


# --------------------------------------------------------------------------------------------- the light model
def encode(frame: Any, numeric: list[str], boolean: list[str], categories: dict[str, list[str]]) -> Any:
    """Contract frame -> float matrix with plain numpy (no per-column pandas machinery): ~0.1 ms per call."""
    parts = [frame[c].to_numpy(dtype="float64", na_value=np.nan) for c in numeric]
    parts += [frame[c].to_numpy(dtype="float64", na_value=0.0) for c in boolean]
    matrix = np.column_stack(parts)
    matrix = np.where(np.isnan(matrix), 0.0, matrix)
    onehot = [
        frame[c].to_numpy(dtype=object)[:, None] == np.array(v, dtype=object)[None, :] for c, v in categories.items()
    ]
    return np.hstack([matrix, *[o.astype("float64") for o in onehot]])


def light_pipeline(project: Any) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from projects.contract import FeatureType

    features = project.schema.features
    kwargs = {
        "numeric": [f.name for f in features if f.type is FeatureType.numeric],
        "boolean": [f.name for f in features if f.type is FeatureType.boolean],
        "categories": {f.name: list(f.values or ()) for f in features if f.type is FeatureType.categorical},
    }
    return Pipeline(
        [("encode", FunctionTransformer(encode, kw_args=kwargs)), ("scale", StandardScaler()),
         ("model", LogisticRegression(max_iter=500))]
    )  # fmt: skip


def register_light(ws: Any, frame: Any) -> str:
    """Fit and register the light pipeline (cloudpickled by value: the server needs no import of this file)."""
    import cloudpickle
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    from projects.registry import TAG_CONTRACT_HASH, TAG_LIBRARIES, TAG_TRAINED_AT, model_name
    from serving.model_holder import running_libraries

    project, settings = ws.project, ws.settings
    pipe = light_pipeline(project).fit(
        frame[project.schema.model_inputs], frame[project.schema.target.name].astype(bool)
    )
    mlflow.set_tracking_uri(settings.tracking_url)
    mlflow.set_registry_uri(settings.tracking_url)
    mlflow.set_experiment(model_name(project.name))
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        with mlflow.start_run(run_name="bench-light"):
            info = mlflow.sklearn.log_model(
                pipe, name="model", registered_model_name=model_name(project.name), pip_requirements=[],
                serialization_format="cloudpickle",
            )  # fmt: skip
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    version = str(info.registered_model_version)
    client = MlflowClient(settings.tracking_url, settings.tracking_url)
    tags = {
        TAG_CONTRACT_HASH: project.contract_hash(),
        TAG_LIBRARIES: json.dumps(running_libraries()),
        TAG_TRAINED_AT: dt.datetime.now(dt.UTC).isoformat(),
    }
    for key, value in tags.items():
        client.set_model_version_tag(model_name(project.name), version, key, value)
    return version


# --------------------------------------------------------------------------------------------- setup
def make_registry(home: Path, quick: bool) -> tuple[Any, dict[str, str]]:
    """A fresh home: validated batches, the platform's trained champion, the light one. Returns (ws, versions)."""
    from pipelines.training import train
    from projects.settings import Settings
    from projects.workspace import Workspace
    from tests.helpers.champions import churn_frame

    uri = f"sqlite:///{home / 'mlflow.db'}"
    ws = Workspace.open("churn", Settings(home=home, tracking_uri=uri, registry_uri=uri, data_root=None))
    for offset in range(ws.project.training.window_batches):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=offset)
        frame = churn_frame(ws.project, 300 if quick else 1000, day)
        ws.store.write_parquet("validated", f"{day.isoformat()}_baseline.parquet", frame=frame)
    platform = train(ws).version
    light = register_light(ws, churn_frame(ws.project, 2000, dt.date(2026, 1, 1)))
    return ws, {"light": light, "platform": platform}


def bodies(ws: Any, folder: Path) -> dict[int, Path]:
    from projects.inference_log import record_columns
    from tests.helpers.champions import churn_frame

    frame = churn_frame(ws.project, 100, dt.date(2026, 5, 1)).fillna({"data_usage_gb": 100.0})
    rows = frame[record_columns(ws.project)].astype(object).to_dict(orient="records")
    rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in rows]
    out = {}
    for size in (1, 100):
        out[size] = folder / f"body-{size}.json"
        out[size].write_text(json.dumps({"records": rows[:size]}))
    return out


@dataclass
class Served:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


def _pinned(cpu: str) -> list[str]:
    return ["taskset", "-c", cpu] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def start(name: str, args: list[str], env: dict[str, str], port: int, folder: Path) -> Served:
    log = folder / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*_pinned(SERVER_CPU), *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    return Served(name, f"http://127.0.0.1:{port}", proc, log)


def wait_version(server: Served, version: str, timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {server.log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError, ValueError):
            if httpx.get(f"{server.url}/readyz", timeout=2).json().get("model_version") == version:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{server.name} never served version {version}: {server.log.read_text()[-2000:]}")


def stop(server: Served) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)


# BentoML variants measured side by side to show what each change does to the tail (light champion, 1 row)
VARIANTS = {
    "gc.freeze off": {"MLOPS_SERVING_GC_FREEZE": "false"},
    "tracing on": {"MLOPS_SERVING_TRACING": "true"},
    "BentoML defaults (access log, tracing, no freeze)": {
        "MLOPS_SERVING_GC_FREEZE": "false",
        "MLOPS_SERVING_TRACING": "true",
        "MLOPS_SERVING_ACCESS_LOG": "true",
    },
}


def _bento(name: str, env: dict[str, str], folder: Path) -> Served:
    from tests.helpers.system import free_port

    port = free_port()
    args = [sys.executable, "-m", "mlops", "serve", "--project", "churn", "--port", str(port), "--workers", "1"]
    return start(name, args, env, port, folder)


@contextlib.contextmanager
def servers(env: dict[str, str], folder: Path, variants: bool) -> Iterator[list[Served]]:
    """The service, the FastAPI baseline and (optionally) the BentoML variants; all stopped gracefully."""
    from tests.helpers.system import free_port

    port = free_port()
    uvicorn = [sys.executable, "-m", "uvicorn", "--factory", "tests.benchmarks.serving_fastapi:create_app",
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-access-log",
               "--log-level", "warning"]  # fmt: skip
    started = [
        _bento("bentoml", env, folder),
        start("fastapi", uvicorn, {**env, "MLOPS_PROJECT": "churn"}, port, folder),
    ]
    if variants:
        started += [_bento(name, {**env, **extra}, folder) for name, extra in VARIANTS.items()]
    try:
        yield started
    finally:
        for server in started:
            stop(server)


# --------------------------------------------------------------------------------------------- measuring
def wrk(url: str, body: Path, seconds: float, folder: Path) -> dict[str, float]:
    script = folder / "post.lua"
    script.write_text(LUA)
    command = [*_pinned(CLIENT_CPU), "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{round(seconds)}s", "--timeout", "10s",
               "-s", str(script), f"{url}/predict"]  # fmt: skip
    out = subprocess.run(
        command, env={**os.environ, "BODY_FILE": str(body)}, capture_output=True, text=True, check=True
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT"))
    requests, duration, non2xx, socket, p50, p99, worst = (int(v) for v in line.split()[1:])
    return {"rps": requests / (duration / 1e6), "errors": non2xx + socket, "p50": p50 / 1000, "p99": p99 / 1000,
            "max": worst / 1000}  # fmt: skip


def in_process(ws: Any, version: str, body: Path, seconds: float) -> dict[str, float]:
    """Bare model calls on a ready typed frame, pinned to the servers' core."""
    from serving.model_holder import ModelHolder
    from serving.schema import model_frame, records_to_columns, request_model

    holder = ModelHolder(ws.project, ws.settings)
    loaded = holder.load(version)
    parsed = request_model(ws.project).model_validate_json(body.read_text())
    frame = model_frame(ws.project, records_to_columns(ws.project, parsed.records))  # type: ignore[attr-defined]
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(SERVER_CPU)})
    try:
        loaded.score(frame)
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            loaded.score(frame)
            calls += 1
        elapsed = time.perf_counter() - started
    finally:
        os.sched_setaffinity(0, before)
    return {
        "rps": calls / elapsed,
        "errors": 0,
        "p50": elapsed / calls * 1000,
        "p99": float("nan"),
        "max": float("nan"),
    }


def median_round(rounds: list[dict[str, float]]) -> dict[str, float]:
    ordered = sorted(rounds, key=lambda r: r["rps"])
    middle = dict(ordered[len(ordered) // 2])
    middle["errors"] = sum(r["errors"] for r in rounds)
    middle["rps_min"], middle["rps_max"] = ordered[0]["rps"], ordered[-1]["rps"]
    middle["p99_median"] = statistics.median(r["p99"] for r in rounds)
    return middle


def measure(
    ws: Any, started: list[Served], version: str, files: dict[int, Path], quick: bool, folder: Path
) -> dict[str, Any]:
    seconds, rounds = (3.0, 1) if quick else (10.0, 3)
    for server in started:
        wait_version(server, version)
    results: dict[str, Any] = {}
    for size, body in files.items():
        for server in started:
            wrk(server.url, body, 2.0, folder)  # warm-up: connections, caches, the first GC passes
        per_server: dict[str, list[dict[str, float]]] = {s.name: [] for s in started}
        for _ in range(rounds):
            for server in started:
                per_server[server.name].append(wrk(server.url, body, seconds, folder))
        for name, runs in per_server.items():
            results[f"{name}/{size}"] = median_round(runs)
        results[f"in-process/{size}"] = in_process(ws, version, body, seconds / 2)
    return results


def compare(started: list[Served], version: str, body: Path, folder: Path, rounds: int = 3) -> dict[str, Any]:
    """1-row requests against every BentoML variant and FastAPI, alternating, median round each."""
    for server in started:
        wait_version(server, version)
        wrk(server.url, body, 2.0, folder)
    runs: dict[str, list[dict[str, float]]] = {s.name: [] for s in started}
    for _ in range(rounds):
        for server in started:
            runs[server.name].append(wrk(server.url, body, 8.0, folder))
    return {name: median_round(r) for name, r in runs.items()}


# --------------------------------------------------------------------------------------------- the report
def _row(way: str, size: int, r: dict[str, float]) -> str:
    spread = f" ({r['rps_min']:,.0f}-{r['rps_max']:,.0f})" if "rps_min" in r else ""
    p99 = "-" if np.isnan(r["p99"]) else f"{r['p99']:.1f}"
    return (f"| {way} | {size} | {r['rps']:,.0f}{spread} | {r['rps'] * size:,.0f} | {r['p50']:.2f} | {p99} | "
            f"{int(r['errors'])} |")  # fmt: skip


def section(champion: str, results: dict[str, Any]) -> str:
    lines = [f"### Champion: {champion}", "",
             "| served by | rows/request | requests/s (min-max) | rows/s | p50 ms | p99 ms | errors |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for size in (1, 100):
        for way in ("bentoml", "fastapi", "in-process"):
            lines.append(_row(way, size, results[f"{way}/{size}"]))
    b1, f1 = results["bentoml/1"], results["fastapi/1"]
    b100, local = results["bentoml/100"], results["in-process/100"]
    rps_ratio, p99_ratio = b1["rps"] / f1["rps"], b1["p99"] / f1["p99"]
    rows_ratio = b100["rps"] * 100 / (local["rps"] * 100)
    ok = "met" if rps_ratio >= 0.8 and p99_ratio <= 1.5 and b1["errors"] == 0 else "NOT met"
    f100 = results["fastapi/100"]
    lines += [
        "",
        f"- 1-row, 8 clients: BentoML/FastAPI requests/s = **{rps_ratio:.2f}x** (goal >= 0.8), p99 = "
        f"**{p99_ratio:.2f}x** (goal <= 1.5), errors {int(b1['errors'])}: {ok}.",
        f"- 100-row requests: BentoML rows/s / in-process rows/s = **{rows_ratio:.2f}x** (goal >= 0.5): "
        f"{'met' if rows_ratio >= 0.5 else 'NOT met'}; BentoML/FastAPI = {b100['rps'] / f100['rps']:.2f}x.",
    ]
    return "\n".join(lines)


def tail_section(results: dict[str, Any]) -> str:
    lines = ["### Where the tail came from (light champion, 1-row requests, 8 clients)", "",
             "| server | requests/s | p50 ms | p99 ms (median of rounds) | max ms | errors |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for name, r in results.items():
        label = "bentoml (this service)" if name == "bentoml" else name
        cells = f"{r['rps']:,.0f} | {r['p50']:.2f} | {r['p99_median']:.1f} | {r['max']:.0f} | {int(r['errors'])}"
        lines.append(f"| {label} | {cells} |")
    return "\n".join(lines)


def run(quick: bool = False) -> str:
    if not shutil.which("wrk"):
        return "## Serving\n\nSkipped: wrk is not installed (`apt-get install -y wrk`).\n"
    folder = Path(tempfile.mkdtemp(prefix="mlops-bench-serving-"))
    try:
        home = folder / "home"
        home.mkdir()
        ws, versions = make_registry(home, quick)
        files = bodies(ws, folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_") and not k.startswith("MLFLOW_")}
        env.update(MLOPS_HOME=str(home), MLOPS_TRACKING_URI=ws.settings.tracking_url)
        from tests.helpers.champions import promote

        sections, load = [], os.getloadavg()[0]
        with servers(env, folder, variants=not quick) as started:
            main, extra = started[:2], started[2:]
            for champion in ("light", "platform"):
                promote(ws.project, ws.settings, versions[champion])
                sections.append(section(champion, measure(ws, main, versions[champion], files, quick, folder)))
                if champion == "light" and extra:
                    sections.append(tail_section(compare(started, versions["light"], files[1], folder)))
        return "\n\n".join([header(quick, load), *sections, notes()]) + "\n"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def header(quick: bool, load: float) -> str:
    seconds, rounds = (3, 1) if quick else (10, 3)
    return (
        "## Serving: BentoML vs bare FastAPI vs in-process\n\n"
        f"Client: wrk, 1 thread, {CONNECTIONS} connections, pinned to CPU {CLIENT_CPU} (taskset); servers: 1 worker "
        f"each, pinned to CPU {SERVER_CPU}; {rounds} round(s) of {seconds} s per cell after a 2 s warm-up, median "
        f"round shown (min-max requests/s in brackets). Load average at start: {load:.2f} (other jobs share "
        "these 2 cores). In-process: `LoadedModel.score` on a ready typed frame, same core."
    )


def notes() -> str:
    return (
        "What the BentoML service does differently from BentoML's defaults (see serving/README.md): access "
        "log off; an async `@bentoml.api` (the model call is CPU-bound and short, a thread hop only adds latency); "
        "no adaptive batching (it answered 503 under load); the inference log handed to a background writer; "
        "`gc.freeze()` after each model load so full collections do not rescan MLflow's and the model's objects."
    )
