"""How a serving process reaches the registry, and the words for why it has nothing to serve.

Shared by the model holder (every poll) and the first-champion fetch (``serving.fetch``), so a readiness reason
reads the same whichever of the two found the problem.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from projects.redaction import redact
from projects.settings import Settings
from projects.tracking import point_mlflow_at, resolve

if TYPE_CHECKING:
    from mlflow import MlflowClient


def short_error(exc: BaseException) -> str:
    """The exception's type and first line, credentials redacted (a driver's message may quote its URL)."""
    text = str(exc).strip().splitlines()
    return redact(f"{type(exc).__name__}: {text[0][:300] if text else ''}")


def unreachable_reason(tracking_url: str, exc: BaseException) -> str:
    return f"tracking server unreachable at {redact(tracking_url)}: {short_error(exc)}"


def no_champion_reason(uri: str, tracking_url: str) -> str:
    where = redact(tracking_url)
    return f"no champion: {uri} is not set in the registry at {where} (train a model and promote it first)"


def registry_client(settings: Settings) -> MlflowClient:
    """An MLflow client for the settings' registry that fails fast: a readiness reason beats minutes of retries."""
    from mlflow import MlflowClient

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    where = resolve(settings)
    point_mlflow_at(where)  # the process-wide URIs mlflow.artifacts and mlflow.sklearn use, nothing exported
    return MlflowClient(tracking_uri=where.tracking_uri, registry_uri=where.registry_uri)
