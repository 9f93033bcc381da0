"""Model as data: the one reload mechanism every serving worker runs.

The image holds code and libraries; the model comes from the registry. Each worker resolves
``models:/<project>@champion``, loads that version in a background thread, checks it (the contract hash it was
trained under, the library versions it was pickled with, a warm-up prediction on an example record built from
the contract) and only then swaps it in with one reference assignment, which is atomic in CPython: a request
reads ``holder.current`` once and uses that model and its version to the end. The alias is polled every
``serving.poll_seconds``; a new version goes through the same steps, and if anything fails the old model keeps
serving and the failure is reported (``status()``) and retried later.

A worker is not ready until a model is loaded, and ``reason`` says why in words an operator can act on:
no champion yet, the tracking server is unreachable, the contract or the libraries do not match.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cloudpickle  # noqa: F401 - what a champion's pickle is read with (import_for_unpickling)

import pipelines.features  # the feature code a model's pickle may refer to (import_for_unpickling)
from projects import servable
from projects.clock import utc_now
from projects.contract import Project, Task
from projects.redaction import redact
from projects.registry import (
    TAG_CONTRACT_HASH,
    TAG_EXAMPLE,
    TAG_LIBRARIES,
    TAG_TRAINED_AT,
    champion_version,
    model_name,
    model_uri,
)
from projects.servable import PINNED_LIBRARIES, library_mismatches, positive_column, running_libraries
from projects.settings import Settings
from serving.fetch import Fetched, Prefetch, load_sklearn_dir
from serving.lookup import no_champion_reason, registry_client, short_error, unreachable_reason
from serving.schema import model_frame, record_model, records_to_columns
from serving.startup import resume_collector

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient

__all__ = [
    "PINNED_LIBRARIES",
    "LoadedModel",
    "ModelHolder",
    "ModelRejectedError",
    "check_version_tags",
    "library_mismatches",
    "positive_column",
    "running_libraries",
]

log = logging.getLogger("mlops.serving")

RETRY_FAILED_AFTER_POLLS = 10
FETCH_TIMEOUT_S = 300.0  # the first champion's download by serving.fetch; then the holder polls as usual
COLLECTOR_PAUSE_MAX_S = 10.0  # a fetch slower than this: the garbage collector goes back on while it waits


ModelRejectedError = servable.UnservableError  # a version this worker refuses; the message is the readiness reason


@dataclass(frozen=True)
class LoadedModel:
    """A champion version checked and ready to score; immutable so a swap cannot tear it."""

    project: Project
    name: str
    version: str
    run_id: str | None
    trained_at: str | None
    contract_hash: str
    model: Any
    positive_index: int | None  # column of predict_proba holding the positive class; None: no probabilities
    example: dict[str, Any] | None = None  # the docs' example record, if training recorded medians and modes
    loaded_at: dt.datetime = field(default_factory=utc_now)

    def score(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(prediction, probability) as float64 arrays: 1.0/0.0 and P(positive), or value and NaN.

        Multiclass: the predicted class's index in ``schema.target.classes`` and the (rows, classes) probability
        matrix in that order (a class the model never saw has probability 0).
        """
        import numpy as np

        target = self.project.schema.target
        if target.multiclass:
            proba = pipelines.features.class_probabilities(self.model, frame, len(target.classes or ()))
            return proba.argmax(axis=1).astype("float64"), proba
        if self.positive_index is not None:
            proba = self.model.predict_proba(frame)
            prediction = (proba.argmax(axis=1) == self.positive_index).astype("float64")
            return prediction, proba[:, self.positive_index].astype("float64")
        raw = np.asarray(self.model.predict(frame))
        if self.project.task is Task.classification:
            positive = self.project.schema.target.positive
            prediction = np.asarray([servable.same_label(v, positive) for v in raw], dtype="float64")
        else:
            prediction = raw.astype("float64")
        return prediction, np.full(len(raw), np.nan)

    def metadata(self) -> dict[str, Any]:
        return {
            "project": self.project.name,
            "model_name": self.name,
            "model_version": self.version,
            "run_id": self.run_id,
            "trained_at": self.trained_at,
            "contract_hash": self.contract_hash,
            "loaded_at": self.loaded_at.isoformat(),
            "has_probabilities": self.positive_index is not None or self.project.schema.target.multiclass,
            **(
                {"classes": list(self.project.schema.target.classes or ())}
                if self.project.schema.target.multiclass
                else {}
            ),
        }


def check_version_tags(project: Project, version: str, tags: dict[str, str]) -> None:
    """Refuse a version trained under another contract or pickled with incompatible libraries."""
    servable.check_recorded(project, version, tags, TAG_CONTRACT_HASH, TAG_LIBRARIES)


# --------------------------------------------------------------------------------------------- the holder
class ModelHolder:
    """Holds the champion a worker serves and keeps it current (see the module docstring)."""

    def __init__(
        self,
        project: Project,
        settings: Settings,
        poll_seconds: float | None = None,
        freeze_gc: bool = False,
        prefetch: Prefetch | None = None,
    ) -> None:
        self.project = project
        self.prefetch = prefetch  # the first load's files, fetched by a second process (serving.fetch)
        self.settings = settings
        self.poll_seconds = poll_seconds or project.serving.poll_seconds
        self.freeze_gc = freeze_gc
        self._settle_later = False
        self.name = model_name(project.name)
        self.uri = model_uri(project.name)
        self.current: LoadedModel | None = None  # read once per request; replaced, never mutated
        self.reason = f"starting: resolving {self.uri}"
        self.last_error: str | None = None
        self.last_check: dt.datetime | None = None
        self.swaps = 0
        self._failed: dict[str, float] = {}  # version -> monotonic time of its last failed attempt
        self._client: MlflowClient | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready_event = threading.Event()

    @property
    def ready(self) -> bool:
        return self.current is not None

    def status(self) -> dict[str, Any]:
        current = self.current
        return {
            "ready": current is not None,
            "reason": self.reason,
            "model_version": current.version if current else None,
            "last_error": self.last_error,
            "last_check": self.last_check.isoformat() if self.last_check else None,
            "poll_seconds": self.poll_seconds,
        }

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> ModelHolder:
        """Poll in a daemon thread: the first resolution happens at once, off the caller's thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="model-holder", daemon=True)
            self._thread.start()
        return self

    def request_stop(self) -> None:
        """Ask the poller to stop (a wait for the fetch or the next poll ends at once); ``stop`` also joins it."""
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_ready(self, timeout: float) -> bool:
        return self._ready_event.wait(timeout)

    def _run(self) -> None:
        if self.prefetch is not None:
            prefetch, self.prefetch = self.prefetch, None
            self._guarded(lambda: self._load_prefetched(prefetch))
            resume_collector()
            if self.current is not None:
                self._stop.wait(self.poll_seconds)  # just loaded: the next poll imports MLflow, off the start
        first = True
        while not self._stop.is_set():
            self._guarded(self.refresh)
            if first:
                first = False
                resume_collector()
                if self._settle_later:  # the full collection the first load left for later
                    self._settle_later = False
                    settle_garbage()
            self._stop.wait(self.poll_seconds)

    def _guarded(self, attempt: Callable[[], bool]) -> None:
        try:
            attempt()
        except Exception as exc:  # never let the poller die; the next poll retries
            log.exception("model holder: unexpected error while polling %s", self.uri)
            self.last_error = redact(short_error(exc))

    # -- one poll --------------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Resolve the alias; load, check and swap in a new champion. True if a new version was swapped in."""
        self.last_check = utc_now()
        try:
            version = champion_version(self._registry(), self.project.name)
        except Exception as exc:
            return self._report(unreachable_reason(self._tracking_uri(), exc))
        if version is None:
            return self._report(no_champion_reason(self.uri, self._tracking_uri()))
        current = self.current
        if current is not None and current.version == version:
            self.last_error = None
            return False
        if time.monotonic() - self._failed.get(version, -1e9) < RETRY_FAILED_AFTER_POLLS * self.poll_seconds:
            return False  # failed recently: keep serving what we have, retry later
        return self._load_and_swap(version)

    def _load_prefetched(self, prefetch: Prefetch) -> bool:
        """The first load, from the files ``python -m serving.fetch`` downloaded (see serving/fetch.py)."""
        self.last_check = utc_now()
        try:
            import_for_unpickling()  # while the fetch downloads: the libraries any champion's pickle needs
            fetched = self._await(prefetch)
            if fetched.error or fetched.version is None:
                return self._report(fetched.error or "the champion fetch found no version")
            # A full collection now would delay readiness by ~0.15 s: freeze now, collect at the first poll.
            swapped = self._load_and_swap(fetched.version, lambda: self.load_fetched(fetched), settle=False)
            if not swapped:  # refused or unreadable files: the first poll tries MLflow's own loader at once
                self._failed.pop(fetched.version, None)
            return swapped
        finally:
            prefetch.cleanup()

    def _await(self, prefetch: Prefetch) -> Fetched:
        """Wait for the fetch, but never past ``stop()`` or ``FETCH_TIMEOUT_S``; a slow one turns the GC back on."""
        started = time.monotonic()
        while (fetched := prefetch.poll()) is None:
            waited = time.monotonic() - started
            if waited > COLLECTOR_PAUSE_MAX_S:
                resume_collector()
            if waited > FETCH_TIMEOUT_S:
                return Fetched(error=f"the champion fetch took more than {FETCH_TIMEOUT_S:.0f}s and was stopped")
            if self._stop.wait(0.02):
                return Fetched(error="stopped before the champion fetch finished")
        return fetched

    def _load_and_swap(self, version: str, load: Callable[[], LoadedModel] | None = None, settle: bool = True) -> bool:
        started = time.perf_counter()
        try:
            loaded = load() if load is not None else self.load(version)
        except ModelRejectedError as exc:
            self._failed[version] = time.monotonic()
            return self._report(str(exc))
        except Exception as exc:
            self._failed[version] = time.monotonic()
            return self._report(f"version {version} of {self.name} failed to load: {short_error(exc)}")
        previous = self.current
        self.current = loaded  # the atomic swap
        self.swaps += 1
        self.reason, self.last_error = f"serving version {version}", None
        self._failed.pop(version, None)
        was = f"version {previous.version}" if previous else "nothing"
        del previous
        if self.freeze_gc and settle:
            settle_garbage()
        elif self.freeze_gc:
            gc.freeze()
            self._settle_later = True
        self._ready_event.set()
        log.info(
            "model holder: now serving %s version %s (was %s; loaded in %.2fs)",
            self.name,
            version,
            was,
            time.perf_counter() - started,
        )
        return True

    def _report(self, reason: str) -> bool:
        """Record why a poll did not (re)load; log it once per change so logs stay readable.

        Every reason is redacted here, the one place they all pass: /readyz, /metadata and the log never show a
        password from a tracking URI or a token from an error message.
        """
        reason = redact(reason)
        if self.current is None:
            if reason != self.reason:
                log.warning("model holder: not ready: %s", reason)
            self.reason = reason
        elif reason != self.last_error:
            log.warning("model holder: keeping version %s: %s", self.current.version, reason)
        self.last_error = reason
        return False

    # -- loading ---------------------------------------------------------------------------------------
    def _tracking_uri(self) -> str:
        return self.settings.tracking_url

    def _registry(self) -> MlflowClient:
        if self._client is None:
            self._client = registry_client(self.settings)
        return self._client

    def load(self, version: str) -> LoadedModel:
        """Download, check and warm up one version; raises ModelRejectedError with a reason a person reads."""
        import mlflow.sklearn

        record = self._registry().get_model_version(self.name, version)
        tags = dict(record.tags or {})
        check_version_tags(self.project, version, tags)
        workdir = tempfile.mkdtemp(prefix=f"mlops-{self.name}-{version}-")
        try:
            model = mlflow.sklearn.load_model(f"models:/{self.name}/{version}", dst_path=workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return self._checked(version, record.run_id, tags, model)

    def load_fetched(self, fetched: Fetched) -> LoadedModel:
        """A version ``serving.fetch`` downloaded: the same checks as ``load``, without importing MLflow."""
        version = str(fetched.version)
        check_version_tags(self.project, version, fetched.tags)
        try:
            model = load_sklearn_dir(Path(str(fetched.path)))
        except ValueError as exc:
            raise ModelRejectedError(f"version {version} cannot be loaded: {exc}") from exc
        return self._checked(version, fetched.run_id, fetched.tags, model)

    def _checked(self, version: str, run_id: str | None, tags: dict[str, str], model: Any) -> LoadedModel:
        loaded = LoadedModel(
            project=self.project,
            name=self.name,
            version=str(version),
            run_id=run_id,
            trained_at=tags.get(TAG_TRAINED_AT),
            contract_hash=tags[TAG_CONTRACT_HASH],
            model=model,
            positive_index=positive_column(self.project, model),
            example=servable.example_record(self.project, tags[TAG_EXAMPLE]) if TAG_EXAMPLE in tags else None,
        )
        warm_up(loaded)
        return loaded


def import_for_unpickling() -> None:
    """Import what unpickling any champion needs (scikit-learn's base, pandas): ~1 s of CPU.

    cloudpickle and the feature code come with this module's own imports.
    """
    import pandas  # noqa: F401
    import sklearn.compose
    import sklearn.pipeline  # noqa: F401


def settle_garbage() -> None:
    """Free what the last load left (the old model included), then freeze what remains.

    MLflow, pandas and a model leave ~10^6 long-lived objects; unfrozen, every full collection walks them
    while a request waits (the 100-200 ms p99 tail of a default BentoML service). Frozen objects are never
    scanned again (they are still freed by reference counting). The one full pass here costs a pause once
    per model swap, instead of one every few thousand requests.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def warm_up(loaded: LoadedModel) -> None:
    """Score the contract's example record the way a request is scored (projects.servable.warm_up decides)."""
    record = record_model(loaded.project).model_validate(servable.contract_example(loaded.project))
    frame = model_frame(loaded.project, records_to_columns(loaded.project, [record]))
    servable.warm_up(loaded.version, lambda: loaded.score(frame)[0])
