"""What one predict call does, whatever HTTP framework carries it.

The BentoML service and the benchmark's bare FastAPI app both call ``Scorer.predict`` so the benchmark compares
the frameworks, not two implementations: validated records -> a typed frame -> the champion -> the inference
log (handed over, not written) -> the response model with ids echoed and the version that answered.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from projects.errors import PlatformError
from projects.inference_log import InferenceLogWriter
from projects.settings import Settings
from projects.workspace import Workspace
from serving.fetch import take
from serving.metrics import ServingMetrics, serving_metrics
from serving.model_holder import LoadedModel, ModelHolder
from serving.schema import attribute, model_frame, records_to_columns, response_model

ENV_GC_FREEZE = "MLOPS_SERVING_GC_FREEZE"  # "false": no gc.freeze() after loads (only to measure its effect)


class NotReadyError(PlatformError, RuntimeError):
    """No model loaded yet; the message is the readiness reason (a transport answers 503 with it)."""


class Scorer:
    """The champion, the inference log and the response model of one project, ready for requests."""

    def __init__(
        self, ws: Workspace, holder: ModelHolder, log: InferenceLogWriter, metrics: ServingMetrics | None = None
    ) -> None:
        self.ws, self.project, self.holder, self.log, self.metrics = ws, ws.project, holder, log, metrics
        self.response = response_model(ws.project)
        self._id_name = ws.project.schema.record_id
        self._id_attr = attribute(self._id_name)
        self._shown_version: str | None = None
        target = ws.project.schema.target
        self._classes: tuple[str, ...] = (target.classes or ()) if target.multiclass else ()

    @classmethod
    def open(cls, project: str, settings: Settings | None = None, metrics: bool = True) -> Scorer:
        """Open the workspace, start polling the champion and start the log writer."""
        ws = Workspace.open(project, settings)
        freeze = os.environ.get(ENV_GC_FREEZE, "true").strip().lower() not in {"0", "false", "no", "off"}
        holder = ModelHolder(ws.project, ws.settings, freeze_gc=freeze, prefetch=take()).start()
        log = InferenceLogWriter(ws.store, ws.project).start()
        return cls(ws, holder, log, serving_metrics() if metrics else None)

    def close(self) -> None:
        """Graceful shutdown: write the buffered inference log first, then wait for the poller to stop."""
        self.holder.request_stop()
        self.log.close()
        self.holder.stop()

    def predict(self, records: Sequence[BaseModel]) -> BaseModel:
        loaded = self.holder.current  # one read: this request uses this model and this version throughout
        if loaded is None:
            raise NotReadyError(self.holder.reason)
        columns = records_to_columns(self.project, records)
        prediction, probability = loaded.score(model_frame(self.project, columns))
        self.log.append(columns, prediction, probability, loaded.version)
        if self.metrics is not None:
            self._count(loaded, len(records))
        return self._respond(loaded, columns[self._id_name], prediction, probability)

    def _respond(self, loaded: LoadedModel, ids: list[str], prediction: Any, probability: Any) -> BaseModel:
        if self._classes:
            rows = [
                self._class_row(i, int(p), q) for i, p, q in zip(ids, prediction, probability.tolist(), strict=True)
            ]
            return self.response.model_validate(
                {"model": {"name": loaded.name, "version": loaded.version}, "predictions": rows}
            )
        probabilities = [None if math.isnan(p) else p for p in probability.tolist()]
        rows = [
            {self._id_name: i, "prediction": p, "probability": q}
            for i, p, q in zip(ids, prediction.tolist(), probabilities, strict=True)
        ]
        return self.response.model_validate(
            {"model": {"name": loaded.name, "version": loaded.version}, "predictions": rows}
        )

    def _class_row(self, record_id: str, index: int, proba: list[float]) -> dict[str, Any]:
        """A multiclass answer: the predicted class by name, its probability and every class's, by name."""
        return {
            self._id_name: record_id,
            "prediction": self._classes[index],
            "probability": proba[index],
            "probabilities": dict(zip(self._classes, proba, strict=True)),
        }

    def show_version(self) -> None:
        """Point the ``mlops_model_info`` gauge at the version served now (1) and away from the last one (0)."""
        loaded = self.holder.current
        if self.metrics is None or loaded is None or loaded.version == self._shown_version:
            return
        if self._shown_version is not None:
            self.metrics.model_info.labels(self.project.name, self._shown_version).set(0)
        self.metrics.model_info.labels(self.project.name, loaded.version).set(1)
        self._shown_version = loaded.version

    def _count(self, loaded: LoadedModel, rows: int) -> None:
        assert self.metrics is not None
        if loaded.version != self._shown_version:
            self.show_version()
        self.metrics.predictions.labels(self.project.name, loaded.version).inc(rows)
        self.metrics.requests.labels(self.project.name, loaded.version).inc()
