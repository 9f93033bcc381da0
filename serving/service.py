"""The BentoML service that serves one project's champion: ``python -m serving.server`` (one process, as in the
serving image) or ``bentoml serve serving.service:svc`` (several workers).

The project comes from ``MLOPS_PROJECT`` (``mlops serve --project P`` sets it) and the worker count from
``MLOPS_SERVING_WORKERS``. BentoML needs a module-level service object whose request model is known when the
class is defined, and that model is generated from the project's contract, so ``svc`` is built on first
attribute access (PEP 562): importing this module does nothing; reading ``serving.service.svc`` loads one
project.yaml and generates the models (milliseconds, no MLflow, no network).

Routes: ``POST /predict`` (the batch endpoint, a ``@bentoml.api``), ``GET /metadata`` (which model answers),
``GET /ready`` (readiness with the reason, 503 until a model is loaded), BentoML's ``/readyz`` (same decision,
for probes), ``/livez``, ``/metrics`` (Prometheus, with the model version as a label) and ``/docs.json``
(OpenAPI). Serving imports neither Great Expectations nor Evidently: the serving image does not have them.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import JSONResponse

from projects.contract import load_project
from projects.settings import disable_telemetry, load_settings
from serving.guard import ContractGuard, RequiredBodyInDocs
from serving.schema import request_model, response_model
from serving.scoring import NotReadyError, Scorer

ENV_PROJECT = "MLOPS_PROJECT"
ENV_WORKERS = "MLOPS_SERVING_WORKERS"
ENV_ACCESS_LOG = "MLOPS_SERVING_ACCESS_LOG"  # true: BentoML's per-request access log line
ENV_TRACING = "MLOPS_SERVING_TRACING"  # true: OpenTelemetry spans (configure an exporter in BENTOML_CONFIG)
PREDICT_ROUTE = "/predict"
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


def _info_app(project_name: str) -> Any:
    """GET /metadata and GET /ready: plain reads, documented in the service's OpenAPI with the rest."""
    import bentoml
    from fastapi import FastAPI

    app = FastAPI(title=f"{project_name} model information")

    @app.get("/metadata", response_model=Metadata, summary="The champion this worker serves")
    def metadata() -> Any:
        return JSONResponse(bentoml.get_current_service().metadata())

    @app.get(
        "/ready",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "No model loaded yet; 'reason' says why"}},
        summary="200 once a model is loaded; 503 with the reason until then",
    )
    def ready() -> Any:
        status = bentoml.get_current_service().scorer.holder.status()
        return JSONResponse(status, status_code=200 if status["ready"] else 503)

    return app


class _QuietClientErrors(logging.Filter):
    """BentoML logs a traceback at ERROR for every invalid request; a client's mistake is not a server error."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, ValidationError)


def configure_logging() -> None:
    """Our INFO lines (model swaps, readiness changes) reach BentoML's handlers; 400s stop filling logs."""
    logging.getLogger("mlops").setLevel(logging.INFO)
    logging.getLogger("bentoml._internal.server.http_app").addFilter(_QuietClientErrors())


def flag(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def _service_config(workers: int) -> dict[str, Any]:
    """Tuned for a CPU-bound model on few cores (see serving/README.md, "Benchmark notes")."""
    config: dict[str, Any] = {
        "workers": workers,
        "traffic": {"timeout": 60},
        "logging": {"access": {"enabled": flag(ENV_ACCESS_LOG, default=False)}},
        "metrics": {"enabled": True},
    }
    if not flag(ENV_TRACING, default=False):
        # Without an exporter every span is thrown away, yet creating 4 per request cost ~0.3 ms.
        config["tracing"] = {"excluded_urls": [".*"]}
    return config


def build_service(project_name: str, workers: int = 1) -> Any:
    """The service class for one project: request and response models generated from its contract."""
    disable_telemetry()
    import bentoml

    project = load_project(project_name, load_settings().projects_dir)
    request, response = request_model(project), response_model(project)

    @bentoml.asgi_app(_info_app(project.name), path="/")
    @bentoml.service(name=f"{project.name}-service", description=project.description, **_service_config(workers))
    class ProjectService:
        """Scores records with the project's champion; hot-swaps the champion when the alias moves."""

        def __init__(self) -> None:
            configure_logging()
            self.scorer = Scorer.open(project.name)

        @bentoml.api(route=PREDICT_ROUTE, input_spec=request, output_spec=response)
        async def predict(self, records: list[Any]) -> Any:
            """Score a batch of records; the response echoes each id and names the model version that answered.

            Invalid records get a 400 naming the record index and field; a body over serving.max_body_bytes
            gets a 413; 503 (with the reason) until a champion is loaded.
            """
            try:
                return self.scorer.predict(records)
            except NotReadyError as exc:
                return JSONResponse({"error": f"not ready: {exc}"}, status_code=503)

        def metadata(self) -> dict[str, Any]:
            holder = self.scorer.holder
            current = holder.current
            info = current.metadata() if current else {"project": project.name, "model_version": None}
            return {
                **info,
                "ready": current is not None,
                "reason": holder.reason,
                "last_error": holder.last_error,
                "service_contract_hash": project.contract_hash(),
                "worker_pid": os.getpid(),
            }

        def __is_ready__(self) -> bool:
            self.scorer.show_version()  # probes are regular: the version gauge follows swaps without traffic
            return self.scorer.holder.ready

        @bentoml.on_shutdown
        def shutdown(self) -> None:
            self.scorer.close()

    service: Any = ProjectService  # a bentoml Service now, not the class mypy sees
    service.add_asgi_middleware(ContractGuard, max_body_bytes=project.serving.max_body_bytes, paths=(PREDICT_ROUTE,))
    service.add_asgi_middleware(RequiredBodyInDocs, paths=(PREDICT_ROUTE,))
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
