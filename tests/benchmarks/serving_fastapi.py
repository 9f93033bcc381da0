"""The benchmark's baseline: a bare FastAPI + uvicorn app doing the same work as the BentoML service.

Same pydantic request model generated from the contract, same ``Scorer`` (typed frame, champion, inference
log hand-over, Prometheus counters), same ``model_dump_json`` serialisation of the same response model, same
hot reload. Only the HTTP framework differs. Run with
``uvicorn --factory tests.benchmarks.serving_fastapi:create_app`` and ``MLOPS_PROJECT`` set.

(No ``from __future__ import annotations`` here: FastAPI reads the generated request model from the signature.)
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


def create_app() -> Any:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, Response

    from projects.contract import load_project
    from projects.settings import load_settings
    from serving.schema import request_model
    from serving.scoring import NotReadyError, Scorer

    name = os.environ["MLOPS_PROJECT"]
    request = request_model(load_project(name, load_settings().projects_dir))
    state: dict[str, Scorer] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["scorer"] = Scorer.open(name)
        yield
        state["scorer"].close()

    app = FastAPI(lifespan=lifespan)

    async def predict(body: request) -> Response:  # type: ignore[valid-type]
        try:
            answer = state["scorer"].predict(body.records)  # type: ignore[attr-defined]
        except NotReadyError as exc:
            return JSONResponse({"error": f"not ready: {exc}"}, status_code=503)
        return Response(answer.model_dump_json(), media_type="application/json")

    async def ready() -> Response:
        status = state["scorer"].holder.status()
        return JSONResponse(status, status_code=200 if status["ready"] else 503)

    app.post("/predict")(predict)
    app.get("/readyz")(ready)
    return app
