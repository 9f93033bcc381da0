"""The BentoML service that serves one project's champion: ``python -m serving.server`` (one process, as in the
serving image) or ``bentoml serve serving.service:svc`` (several workers).

The project comes from ``MLOPS_PROJECT`` (``mlops serve --project P`` sets it) and the worker count from
``MLOPS_SERVING_WORKERS``. BentoML needs a module-level service object whose request model is known when the
class is defined, and that model is generated from the contract, so ``svc`` is built on first attribute access
(PEP 562): importing this module does nothing; reading ``serving.service.svc`` loads one project.yaml and
generates the models (milliseconds, no MLflow, no network).

Routes: ``POST /predict`` (the batch endpoint, a ``@bentoml.api``, behind serving/guard.py), ``GET /readyz``
(readiness with the reason: 200 once a model is loaded, else 503; the one readiness name), ``/livez``,
``GET /metadata`` (which model answers), ``/metrics`` (Prometheus, bounded labels, see serving/metrics.py), ``/``
and ``/docs`` (the docs page) and ``/docs.json`` (OpenAPI; serving/docs.py).
Serving imports neither Great Expectations nor Evidently: the serving image does not have them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import JSONResponse, Response

from projects.contract import Project, load_project
from projects.redaction import redact_handlers
from projects.settings import disable_telemetry, load_settings
from serving.docs import ASSETS, INIT_SCRIPT, PAGE_HEADERS, OpenAPIDocument, assets_dir, page
from serving.guard import ContractGuard, Limits, json_response
from serving.metrics import RouteMetrics, mark_process_dead, render, serving_metrics, use_instance_dir
from serving.protocol import install_in_bentoml_worker
from serving.schema import request_model, response_model
from serving.scoring import NotReadyError, Scorer

ENV_PROJECT = "MLOPS_PROJECT"
ENV_WORKERS = "MLOPS_SERVING_WORKERS"
ENV_ACCESS_LOG = "MLOPS_SERVING_ACCESS_LOG"  # true: BentoML's per-request access log line
ENV_TRACING = "MLOPS_SERVING_TRACING"  # true: OpenTelemetry spans (configure an exporter in BENTOML_CONFIG)
PREDICT_ROUTE = "/predict"
READINESS_ROUTE = "/readyz"  # the one readiness name (the old /ready went when its last callers moved)
ROUTES = (PREDICT_ROUTE, READINESS_ROUTE, "/livez", "/healthz", "/metadata", "/metrics", "/", "/docs", "/docs.json")
STATIC_PREFIXES = ("/docs/assets/", "/static_content/")
log = logging.getLogger("mlops.serving")


class Readiness(BaseModel):
    """Whether this worker has a model, and why not if it has none."""

    ready: bool
    reason: str = Field(description="e.g. 'serving version 3', 'no champion: ...', 'tracking server unreachable ...'")
    model_version: str | None
    last_error: str | None = Field(description="Why the newest champion is not served, if it is not")
    last_check: str | None
    poll_seconds: float


class Metadata(BaseModel):
    """Which model answers: project, version, run, trained-at and the contract hash it was trained under."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())
    project: str
    model_version: str | None
    model_name: str | None = None
    run_id: str | None = None
    trained_at: str | None = None
    contract_hash: str | None = None
    service_contract_hash: str
    ready: bool
    reason: str


class Live:
    """What the routes and middleware read: the worker's scorer once the service instance exists."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.scorer: Scorer | None = None
        self.service: Any = None  # the bentoml Service (its OpenAPI document)

    def status(self) -> dict[str, Any]:
        if self.scorer is None:
            return {"ready": False, "reason": "starting", "model_version": None, "last_error": None,
                    "last_check": None, "poll_seconds": self.project.serving.poll_seconds}  # fmt: skip
        self.scorer.show_version()  # probes are regular: the version gauge follows swaps without traffic
        return self.scorer.holder.status()

    def served(self) -> tuple[str | None, dict[str, Any] | None]:
        current = self.scorer.holder.current if self.scorer is not None else None
        return (current.version, current.example) if current is not None else (None, None)


def _info_app(live: Live) -> Any:
    """GET /metadata, /metrics and the docs: plain reads, mounted at / (BentoML documents /metadata with the rest)."""
    from fastapi import FastAPI
    from fastapi.responses import FileResponse, HTMLResponse

    project = live.project
    app = FastAPI(title=f"{project.name} model information", docs_url=None, redoc_url=None, openapi_url=None)

    def spec() -> dict[str, Any]:  # late: the bentoml Service exists only once this app is mounted on it
        return dict(live.service.openapi_spec.asdict())

    document = OpenAPIDocument(project, spec, Readiness.model_json_schema())
    folder = assets_dir()

    @app.get("/metadata", response_model=Metadata, summary="The champion this worker serves")
    def metadata() -> Any:
        scorer = live.scorer
        holder = scorer.holder if scorer is not None else None
        current = holder.current if holder is not None else None
        info = current.metadata() if current else {"project": project.name, "model_version": None}
        return JSONResponse({
            **info,
            "ready": current is not None,
            "reason": holder.reason if holder is not None else "starting",
            "last_error": holder.last_error if holder is not None else None,
            "service_contract_hash": project.contract_hash(),
            "worker_pid": os.getpid(),
        })  # fmt: skip

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Any:
        body, media_type = render()
        return Response(body, media_type=media_type)

    @app.get("/", include_in_schema=False)
    @app.get("/docs", include_in_schema=False)
    def docs_page() -> Any:
        return HTMLResponse(page(project, live.served()[0]), headers=PAGE_HEADERS)

    @app.get("/docs/assets/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Any:
        if name == "init.js":
            return Response(INIT_SCRIPT, media_type="text/javascript; charset=utf-8", headers=PAGE_HEADERS)
        if name not in ASSETS:
            return JSONResponse({"error": f"no docs asset {name!r}"}, status_code=404)
        cache = {"cache-control": "public, max-age=86400"}
        return FileResponse(folder / name, media_type=ASSETS[name], headers={**PAGE_HEADERS, **cache})

    @app.get("/docs.json", include_in_schema=False)
    def openapi() -> Any:
        return JSONResponse(document.render(*live.served()))

    return app


class Probes:
    """ASGI middleware answering GET /readyz itself, before BentoML's router: its own /readyz says only "not
    ready". Never behind the predict limit, no thread hop: a probe is answered while predicts wait."""

    def __init__(self, app: Any, live: Live) -> None:
        self.app, self.live = app, live

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != READINESS_ROUTE or scope["method"] not in {"GET", "HEAD"}:
            await self.app(scope, receive, send)
            return
        status = self.live.status()
        await json_response(send, 200 if status["ready"] else 503, status)


class _QuietClientErrors(logging.Filter):
    """BentoML logs a traceback at ERROR for every invalid request; a client's mistake is not a server error."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, ValidationError)


def configure_logging() -> None:
    """Our INFO lines (model swaps, readiness changes) reach BentoML's handlers; 400s stop filling logs; every
    handler redacts credentials (projects/redaction.py), whichever library wrote the line."""
    logging.getLogger("mlops").setLevel(logging.INFO)
    logging.getLogger("bentoml._internal.server.http_app").addFilter(_QuietClientErrors())
    logging.captureWarnings(True)  # warnings go through the (redacting) handlers too
    redact_handlers()
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and logger.handlers:
            redact_handlers(logger)


def flag(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def _service_config(workers: int) -> dict[str, Any]:
    """Tuned for a CPU-bound model on few cores (see serving/README.md, "Benchmark notes").

    BentoML's HTTP metrics are off: they label requests with the raw path (serving/metrics.py counts them
    under route templates and serves /metrics).
    """
    config: dict[str, Any] = {
        "workers": workers,
        "traffic": {"timeout": 60},
        "logging": {"access": {"enabled": flag(ENV_ACCESS_LOG, default=False)}},
        "metrics": {"enabled": False},
    }
    if not flag(ENV_TRACING, default=False):
        # Without an exporter every span is thrown away, yet creating 4 per request cost ~0.3 ms.
        config["tracing"] = {"excluded_urls": [".*"]}
    return config


def _in_bentoml_worker(project: Project, home: Path) -> None:
    """Under ``bentoml serve``: this worker shares its supervisor's metrics directory, and slow headers are bounded.

    The supervisor is this worker's parent; serving.server does the same for itself before it imports this.
    """
    from bentoml._internal.context import server_context

    if server_context.worker_index is None:  # the supervisor loading the service, or serving.server
        return
    use_instance_dir(home / "metrics", project.name, os.getppid())
    install_in_bentoml_worker(project.serving.header_timeout_seconds, project.serving.keep_alive_seconds)


def build_service(project_name: str, workers: int = 1) -> Any:
    """The service class for one project: request and response models generated from its contract."""
    disable_telemetry()
    import bentoml

    settings = load_settings()
    project = load_project(project_name, settings.projects_dir)
    _in_bentoml_worker(project, Path(settings.home))
    request, response = request_model(project), response_model(project)
    live = Live(project)

    @bentoml.asgi_app(_info_app(live), path="/")
    @bentoml.service(name=f"{project.name}-service", description=project.description, **_service_config(workers))
    class ProjectService:
        """Scores records with the project's champion; hot-swaps the champion when the alias moves."""

        def __init__(self) -> None:
            configure_logging()
            self.scorer = Scorer.open(project.name)
            live.scorer = self.scorer

        @bentoml.api(route=PREDICT_ROUTE, input_spec=request, output_spec=response)
        async def predict(self, records: list[Any]) -> Any:
            """Score a batch of records; the response echoes each id and names the model version that answered.

            JSON only (415 otherwise). Invalid records get a 400 naming the record index and field; no body 411;
            a body over serving.max_body_bytes 413; a body slower than serving.body_timeout_seconds 408; 503
            (with the reason) until a champion is loaded, and with Retry-After while serving.max_concurrency
            calls are in progress.
            """
            try:
                return self.scorer.predict(records)
            except NotReadyError as exc:
                return JSONResponse({"error": f"not ready: {exc}"}, status_code=503)

        def __is_ready__(self) -> bool:
            return bool(live.status()["ready"])

        @bentoml.on_shutdown
        def shutdown(self) -> None:
            self.scorer.close()
            mark_process_dead()

    service: Any = ProjectService  # a bentoml Service now, not the class mypy sees
    live.service = service
    serving = project.serving
    limits = Limits(serving.max_body_bytes, serving.max_concurrency, serving.body_timeout_seconds)
    # Outermost first: every request counted, probes answered before anything waits, then the predict guard.
    service.add_asgi_middleware(RouteMetrics, routes=ROUTES, prefixes=STATIC_PREFIXES)
    service.add_asgi_middleware(Probes, live=live)
    gauge = serving_metrics().predict_in_progress
    service.add_asgi_middleware(ContractGuard, limits=limits, paths=(PREDICT_ROUTE,), on_load=gauge.set)
    return service


def service_from_env() -> Any:
    name = os.environ.get(ENV_PROJECT)
    if not name:
        raise RuntimeError(f"{ENV_PROJECT} is not set: say which project to serve, e.g. {ENV_PROJECT}=churn")
    return build_service(name, workers=int(os.environ.get(ENV_WORKERS, "1")))


def __getattr__(name: str) -> Any:
    """``serving.service.svc`` is built on first access from the environment (see the module docstring)."""
    if name == "svc":
        service = service_from_env()
        globals()["svc"] = service
        return service
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
