"""One serving process: the project's BentoML service under uvicorn, its first champion fetched in parallel.

``python -m serving.server --project churn --host 0.0.0.0 --port 3000`` is the serving image's command, and what
``mlops serve`` runs with one worker (``--workers N`` > 1 runs ``bentoml serve``, which supervises N workers).

Why not ``bentoml serve`` in a container: it starts a supervisor process that imports the service only to
start a worker process that imports it all again, and that worker then imports MLflow and downloads the
champion before it imports scikit-learn to unpickle it, one step after the other. A container runs one
process and lets Docker or Kubernetes restart and scale it, so this runs what a BentoML worker runs (the
service's ASGI app, ``Service.to_asgi()``, under uvicorn) as that one process, and:

1. starts ``python -m serving.fetch`` first, which imports MLflow and downloads the champion on another core
   while this process imports BentoML, the service and scikit-learn (serving/fetch.py);
2. keeps the cyclic garbage collector off until the first model is in (``pause_collector_for_startup``).

Everything after the start is the service as a ``bentoml serve`` worker runs it: routes, middleware, metrics,
readiness, hot reload of the champion, the inference log flushed on SIGTERM. Logs are plain ``logging`` lines,
credentials redacted. uvicorn runs with the service's limits: request heads within
``serving.header_timeout_seconds`` (serving/protocol.py) and idle connections closed after
``serving.keep_alive_seconds``. docs/benchmarks.md ("Images") has the cold-start figures.
"""

from __future__ import annotations

import argparse
import atexit
import math
import os
import shutil
import signal
from pathlib import Path

from serving.startup import pause_collector_for_startup

# Every other import is staged inside main(): the SIGTERM handler and the paused collector come first, then the
# champion fetch is started, and only then are the libraries imported, while the fetch downloads on the other
# core (pyproject.toml exempts this file from the module-level import rule for that reason).


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m serving.server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", default=os.environ.get("MLOPS_PROJECT"), help="default: $MLOPS_PROJECT")
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument("--port", type=int, default=3000, help="default: 3000")
    args = parser.parse_args(argv)
    if not args.project:  # neither given: the only project the image or checkout holds (else churn, or an error)
        from projects.contract import ContractError, default_project
        from projects.settings import load_settings

        try:
            args.project = default_project(load_settings().projects_dir)
        except ContractError as exc:
            parser.error(f"say which project to serve (--project NAME or MLOPS_PROJECT=NAME): {exc}")
    return args


def _stopped(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    # First: as PID 1 in a container a SIGTERM with no handler is ignored, so `docker stop` would wait out its
    # grace period. Before uvicorn runs, this exits at once (atexit stops the fetch); uvicorn then takes SIGTERM
    # over, shuts down gracefully (the inference log is flushed) and re-raises it, and this turns that into
    # exit status 0, as under `bentoml serve`, rather than "killed by signal 15".
    signal.signal(signal.SIGTERM, _stopped)
    pause_collector_for_startup()
    args = parse(argv)
    os.environ["MLOPS_PROJECT"] = args.project

    from projects.settings import disable_telemetry, load_settings
    from serving.fetch import Prefetch, hand_over
    from serving.metrics import use_instance_dir

    settings = load_settings()
    disable_telemetry(settings)
    prefetch = Prefetch.start(args.project, Path(settings.home) / "models" / args.project)
    atexit.register(prefetch.cleanup)  # never leave the fetch or its files behind a server that stopped early
    hand_over(prefetch)
    # This process is the instance: a Prometheus directory of its own (never BentoML's shared one, which every
    # start empties), set before prometheus_client is first imported, removed when it stops (serving/metrics.py).
    metrics_dir = use_instance_dir(Path(settings.home) / "metrics", args.project, os.getpid())
    atexit.register(shutil.rmtree, metrics_dir, ignore_errors=True)

    import logging

    import uvicorn
    from bentoml._internal.context import server_context  # labels logs, as a BentoML worker sets it
    from bentoml._internal.utils.uri import join_paths

    from projects.contract import load_project
    from projects.redaction import redact_handlers
    from serving.protocol import bounded_protocol
    from serving.service import service_from_env

    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(levelname)s] [%(name)s] %(message)s", force=True)
    redact_handlers()  # no log line shows a credential, whichever library writes it
    limits = load_project(args.project, settings.projects_dir).serving
    service = service_from_env()
    # What BentoML's worker sets (_bentoml_impl/worker/service.py): the labels of its logs.
    server_context.service_type, server_context.service_name = "entry_service", service.name
    server_context.service_routes = [join_paths(service.path_prefix, api.route) for api in service.apis.values()]
    server_context.bento_name, server_context.bento_version = service.name, "not available"
    uvicorn.run(
        service.to_asgi(is_main=True),
        host=args.host,
        port=args.port,
        http=bounded_protocol(limits.header_timeout_seconds),  # request heads within a time limit (protocol.py)
        timeout_keep_alive=math.ceil(limits.keep_alive_seconds),
        log_config=None,
        access_log=False,  # BentoML's own access log (MLOPS_SERVING_ACCESS_LOG) would be a second line
        server_header=False,
        timeout_graceful_shutdown=30,
    )


# Imported by the fetch, the holder's polls, the inference log writer and a data root on S3; not at start-up.
LATER_MODULES = (
    "mlflow.sklearn",
    "mlflow.artifacts",
    *(f"mlflow.store.artifact.{kind}_artifact_repo" for kind in ("http", "local", "s3", "models", "runs")),
    "mlflow.store.artifact.mlflow_artifacts_repo",
    "serving.fetch",
    "projects.inference_log",
    "fastparquet.writer",
    "s3fs",
)


def import_everything() -> None:
    """Import what a serving process and its fetch import, without serving or touching the network.

    The serving image compiles exactly these modules to bytecode at build time (infra/scripts/compile_imported.py);
    a module first imported later (rare) is compiled in memory when it is.
    """
    import importlib

    import uvicorn
    from sklearn.utils.discovery import all_estimators

    from serving.model_holder import import_for_unpickling
    from serving.protocol import bounded_protocol
    from serving.service import service_from_env

    if not os.environ.get("MLOPS_PROJECT"):  # the image build imports the service for one of the projects it holds
        from projects.contract import default_project
        from projects.settings import load_settings

        os.environ["MLOPS_PROJECT"] = default_project(load_settings().projects_dir)
    uvicorn.Config(service_from_env().to_asgi(is_main=True), http=bounded_protocol(10.0), log_config=None).load()
    import_for_unpickling()
    all_estimators()  # every estimator module: any champion unpickles from bytecode
    for name in LATER_MODULES:
        importlib.import_module(name)


if __name__ == "__main__":
    main()
