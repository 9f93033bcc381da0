"""Where MLflow lives, decided once from the platform settings, and checked before any work is done.

- Tracking URI: MLOPS_TRACKING_URI, else MLFLOW_TRACKING_URI, else SQLite under MLOPS_HOME (no server needed).
- Registry URI: MLOPS_REGISTRY_URI, else MLFLOW_REGISTRY_URI, else the tracking URI.
- Artifacts: an experiment created on a database store (SQLite locally) gets
  ``<MLOPS_ARTIFACT_ROOT or file://MLOPS_HOME/artifacts>/<experiment>``; against a tracking server the server
  decides (``--artifacts-destination``), unless MLOPS_ARTIFACT_ROOT says otherwise.

MLflow's HTTP client retries an unreachable server for minutes before it gives up. ``check_reachable`` asks
once with a short timeout, so ``mlops train`` fails in seconds with a message that names the URI (its
credentials redacted: projects/redaction.py), and before anything has been trained, logged or aliased.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from projects.errors import PlatformError
from projects.redaction import redact
from projects.settings import Settings, disable_telemetry

if TYPE_CHECKING:
    from mlflow import MlflowClient

DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}
REACH_TIMEOUT_S = 3.0


class TrackingError(PlatformError, RuntimeError):
    """MLflow cannot be used (unreachable server, unusable URI); the message names the URI and what to do."""


@dataclass(frozen=True)
class Tracking:
    """Resolved MLflow locations for one process."""

    tracking_uri: str
    registry_uri: str
    artifact_root: str | None  # base for experiments this platform creates; None: the server decides

    def artifact_location(self, experiment: str) -> str | None:
        return f"{self.artifact_root.rstrip('/')}/{experiment}" if self.artifact_root else None


def resolve(settings: Settings) -> Tracking:
    """The tracking, registry and artifact locations the settings imply (pure: no MLflow call)."""
    tracking_uri = settings.tracking_url
    registry_uri = settings.registry_uri or os.environ.get("MLFLOW_REGISTRY_URI") or tracking_uri
    scheme = _scheme(tracking_uri)
    if settings.artifact_root:
        artifact_root: str | None = settings.artifact_root
    elif scheme in DATABASE_SCHEMES:
        artifact_root = settings.artifact_url
    else:
        artifact_root = None
    return Tracking(tracking_uri=tracking_uri, registry_uri=registry_uri, artifact_root=artifact_root)


def _scheme(uri: str) -> str:
    return urlparse(uri).scheme.split("+")[0]


def check_reachable(uri: str, timeout: float = REACH_TIMEOUT_S) -> None:
    """Fail fast, with the URI in the message, when the tracking or registry store cannot be reached."""
    scheme = _scheme(uri)
    if scheme in {"http", "https"}:
        _check_http(uri, timeout)
    elif scheme == "sqlite":
        _check_sqlite(uri)
    elif scheme in DEFAULT_PORTS:
        parsed = urlparse(uri)
        _check_tcp(uri, parsed.hostname or "127.0.0.1", parsed.port or DEFAULT_PORTS[scheme], timeout)
    elif scheme not in {"databricks", "file", ""}:
        raise TrackingError(f"MLflow tracking URI {redact(uri)!r}: unsupported scheme {scheme!r}")


def _check_http(uri: str, timeout: float) -> None:
    import httpx

    health = uri.rstrip("/") + "/health"
    try:
        response = httpx.get(health, timeout=timeout)
    except httpx.HTTPError as exc:  # the exception's text may quote the URL: the whole message is redacted
        raise TrackingError(
            redact(
                f"MLflow tracking server {uri} is unreachable ({type(exc).__name__}: {exc}). Start it, or point "
                "MLOPS_TRACKING_URI at a running server (unset it to use the local SQLite store)."
            )
        ) from None
    if response.status_code >= 400:
        raise TrackingError(
            f"MLflow tracking server {redact(uri)} answered {response.status_code} on /health; is it an MLflow "
            "server and is this host allowed (--allowed-hosts)?"
        )


def _check_sqlite(uri: str) -> None:
    path = uri.removeprefix("sqlite:///")
    if not path or path == ":memory:" or uri.startswith("sqlite://:memory:"):
        return
    folder = Path(path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrackingError(f"MLflow store {redact(uri)}: cannot create its folder {folder}: {exc}") from None
    if not os.access(folder, os.W_OK):
        raise TrackingError(f"MLflow store {redact(uri)}: folder {folder} is not writable")


def _check_tcp(uri: str, host: str, port: int, timeout: float) -> None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise TrackingError(redact(f"MLflow database {uri} is unreachable at {host}:{port}: {exc}")) from None


def configure(settings: Settings, check: bool = True) -> MlflowClient:
    """Point this process's MLflow at the settings' stores and return a client; checks reachability first."""
    disable_telemetry(settings)
    where = resolve(settings)
    if check:
        check_reachable(where.tracking_uri)
        if where.registry_uri != where.tracking_uri:
            check_reachable(where.registry_uri)
    from mlflow import MlflowClient

    _quiet_known_notices()
    point_mlflow_at(where)
    return MlflowClient(tracking_uri=where.tracking_uri, registry_uri=where.registry_uri)


def _quiet_known_notices() -> None:
    """Two notices MLflow prints on every log_model that say nothing a user can act on here.

    - "Detected uv project": we pin the model's requirements ourselves (pipelines.training.pip_requirements).
    - "pickle or cloudpickle ... skops": the model is cloudpickled on purpose, its casting step by value so it
      loads without this repository; models come only from our own registry (see pipelines/README.md).
    """
    logging.getLogger("mlflow.utils.uv_utils").setLevel(logging.WARNING)
    logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)


def point_mlflow_at(where: Tracking) -> None:
    """Set MLflow's process-wide URIs without its side effect on the environment.

    ``mlflow.set_tracking_uri`` also exports MLFLOW_TRACKING_URI (and the registry twin); left there, the next
    Settings resolved in this process (another MLOPS_HOME, a test, a benchmark) would silently inherit it.
    """
    import mlflow

    saved = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(where.tracking_uri)
    mlflow.set_registry_uri(where.registry_uri)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def ensure_experiment(client: MlflowClient, settings: Settings, name: str) -> str:
    """The experiment's id, creating it (with our artifact location) if needed; safe when two jobs race."""
    from mlflow.exceptions import MlflowException

    existing = client.get_experiment_by_name(name)
    if existing is not None:
        if existing.lifecycle_stage == "deleted":
            client.restore_experiment(existing.experiment_id)
        return str(existing.experiment_id)
    try:
        return str(client.create_experiment(name, artifact_location=resolve(settings).artifact_location(name)))
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        again = client.get_experiment_by_name(name)
        if again is None:
            raise
        return str(again.experiment_id)
