"""Prometheus metrics a client cannot inflate, in a directory that belongs to this service instance alone.

Bounded cardinality. BentoML labels its HTTP series with the raw request path, so 2,000 requests to random
404 paths grew a scrape from 41 KB to 11.9 MB. This service turns BentoML's HTTP metrics off and counts
requests itself (``RouteMetrics``) under the route template from a fixed set, every unknown path under the one
label ``unmatched``, and status codes from the standard list (anything else is ``other``). The series:

- ``mlops_http_requests_total{route, code}`` and ``mlops_http_request_duration_seconds{route}``,
- ``mlops_predict_in_progress`` (the predict calls the concurrency limit counts),
- ``mlops_model_info{project, model_version}``, ``mlops_predictions_total`` and ``mlops_predict_requests_total``
  (by model version: the version stays a label; a project has few).

One directory per instance. Prometheus' multi-process mode keeps every process's values in files of one
directory, and ``/metrics`` adds up every file it finds there. BentoML's default directory is shared by every
service on the host (``$BENTOML_HOME/prometheus_multiproc_dir``) and emptied by each start, so a second service
wiped the first one's counters and then showed them as its own. Here an instance is the process that owns the
listening socket: ``python -m serving.server`` itself, or the ``bentoml serve`` supervisor whose workers share
it (each worker finds it as its parent). Its directory is ``MLOPS_HOME/metrics/<project>-<pid>-<start time>``:
made by the first of its processes, shared by its workers, named so that no other process (even one that later
gets the same pid) maps to it, removed at a clean exit and swept by a later start once its owner is gone.
"""

from __future__ import annotations

import http
import os
import shutil
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

ENV_DIR = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"
OTHER_CODE = "other"
_CODES = frozenset(str(int(s)) for s in http.HTTPStatus)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


# --------------------------------------------------------------------------------------------- the directory
def process_started(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, from /proc), or None if no such process is running."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:  # no /proc: psutil (a BentoML dependency) knows
        import psutil  # noqa: PLC0415 - only where /proc is missing

        try:
            return str(int(psutil.Process(pid).create_time() * 100))
        except psutil.Error:
            return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name


def instance_dir(parent: Path, project: str, owner: int) -> Path:
    """The metrics directory of the instance whose listening process is ``owner``."""
    return parent / f"{project}-{owner}-{process_started(owner) or 'gone'}"


def sweep_stale(parent: Path) -> list[Path]:
    """Remove the directories of instances whose owning process has ended (crashed, killed, or restarted)."""
    removed = []
    for path in parent.glob("*-*-*") if parent.is_dir() else ():
        _, pid, started = path.name.rsplit("-", 2)
        if not pid.isdigit() or process_started(int(pid)) != started:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def use_instance_dir(parent: Path, project: str, owner: int) -> Path:
    """Point this process's Prometheus client at its instance's directory (before any series is created)."""
    path = instance_dir(parent, project, owner)
    parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(parent)
    path.mkdir(exist_ok=True)
    os.environ[ENV_DIR] = str(path)
    return path


def mark_process_dead() -> None:
    """At a worker's exit: its 'live' gauges (model info, in progress) stop counting; its counters stay."""
    if os.environ.get(ENV_DIR):
        from prometheus_client import multiprocess  # noqa: PLC0415 - see ServingMetrics.create

        multiprocess.mark_process_dead(os.getpid())


def render() -> tuple[bytes, str]:
    """The scrape: every process of this instance added up (or this process alone outside multi-process mode)."""
    import prometheus_client as prom  # noqa: PLC0415 - see ServingMetrics.create
    from prometheus_client import multiprocess  # noqa: PLC0415

    if not os.environ.get(ENV_DIR):
        return prom.generate_latest(prom.REGISTRY), prom.CONTENT_TYPE_LATEST
    registry = prom.CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return prom.generate_latest(registry), prom.CONTENT_TYPE_LATEST


# --------------------------------------------------------------------------------------------- the series
@dataclass
class ServingMetrics:
    """The service's series (multiprocess-safe); labels come only from fixed sets and the model version."""

    model_info: Gauge
    predictions: Counter
    requests: Counter
    http_requests: Counter
    http_duration: Histogram
    predict_in_progress: Gauge

    @classmethod
    def create(cls) -> ServingMetrics:
        # Not at module level: prometheus_client decides on multi-process mode when it is imported, and the
        # server sets the directory only after it has imported this module (serving/server.py).
        import prometheus_client as prom  # noqa: PLC0415

        return cls(
            model_info=prom.Gauge(
                "mlops_model_info",
                "1 for the model version a worker serves, 0 for versions it served before",
                ["project", "model_version"],
                multiprocess_mode="liveall",
            ),
            predictions=prom.Counter(
                "mlops_predictions", "Records scored, by model version", ["project", "model_version"]
            ),
            requests=prom.Counter(
                "mlops_predict_requests", "Predict calls answered, by model version", ["project", "model_version"]
            ),
            http_requests=prom.Counter(
                "mlops_http_requests", "HTTP requests by route template (unknown paths: 'unmatched')", ["route", "code"]
            ),
            http_duration=prom.Histogram(
                "mlops_http_request_duration_seconds",
                "Time to answer, by route template",
                ["route"],
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            ),
            predict_in_progress=prom.Gauge(
                "mlops_predict_in_progress",
                "Predict calls being read or scored (serving.max_concurrency per process)",
                multiprocess_mode="livesum",
            ),
        )


_METRICS: ServingMetrics | None = None
_METRICS_LOCK = threading.Lock()


def serving_metrics() -> ServingMetrics:
    """One set per process (prometheus_client refuses duplicate registrations)."""
    global _METRICS  # noqa: PLW0603 - a per-process registry is what Prometheus expects
    with _METRICS_LOCK:
        if _METRICS is None:
            _METRICS = ServingMetrics.create()
        return _METRICS


class RouteMetrics:
    """ASGI middleware: counts every HTTP request under its route template, from a fixed set.

    ``routes``: exact paths the service answers; ``prefixes``: path prefixes of static files (one label each).
    Anything else, a 404 included, is counted as ``unmatched``: the label set cannot grow with traffic.
    """

    def __init__(self, app: ASGIApp, routes: tuple[str, ...], prefixes: tuple[str, ...] = ()) -> None:
        self.app, self.routes, self.prefixes = app, frozenset(routes), prefixes
        self.metrics: ServingMetrics | None = None

    def route(self, path: str) -> str:
        if path in self.routes:
            return path
        for prefix in self.prefixes:
            if path.startswith(prefix):
                return prefix + "*"
        return UNMATCHED

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.metrics is None:
            self.metrics = serving_metrics()
        route, started, status = self.route(scope["path"]), time.perf_counter(), [500]

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            code = str(status[0])
            self.metrics.http_requests.labels(route, code if code in _CODES else OTHER_CODE).inc()
            self.metrics.http_duration.labels(route).observe(time.perf_counter() - started)
