"""Platform settings: where state lives and which mode we run in.

Read from environment variables (prefix ``MLOPS_``) with embedded defaults, so ``make run`` works on a fresh
clone with no configuration and the very same code runs in docker compose or a Kubernetes Job once the
variables point elsewhere. ``.env.example`` documents every variable.
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from urllib.parse import urlparse

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
SUPPORTED_DATA_SCHEMES = ("file", "s3", "memory")

TELEMETRY_OFF = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
}


class Mode(StrEnum):
    local = "local"
    kubernetes = "kubernetes"


class Settings(BaseSettings):
    """Environment-driven platform settings (``MLOPS_*``)."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_", frozen=True, extra="ignore")

    home: Path = Field(default=REPO_ROOT / ".mlops", description="Local state folder (data, MLflow DB, locks).")
    data_root: str | None = Field(
        default=None,
        description="URL of the data root: file:///..., s3://bucket/prefix. Default file://$MLOPS_HOME/data.",
    )
    tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI. Default: SQLite under MLOPS_HOME (or MLFLOW_TRACKING_URI)."
    )
    registry_uri: str | None = Field(default=None, description="MLflow registry URI; defaults to the tracking URI.")
    artifact_root: str | None = Field(
        default=None, description="Where a local SQLite store keeps artifacts. Default file://$MLOPS_HOME/artifacts."
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible store for s3:// data roots (else AWS_ENDPOINT_URL)."
    )
    mode: Mode = Field(default=Mode.local, description="local (in-process) or kubernetes (Jobs).")
    namespace: str = Field(default="mlops", description="Kubernetes namespace used in kubernetes mode.")
    projects_dir: Path = Field(default=REPO_ROOT / "projects", description="Folder holding one folder per project.")
    telemetry: bool = Field(default=False, description="Opt in to MLflow/BentoML/GX usage telemetry.")

    @field_validator("home", "projects_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("data_root", mode="after")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = urlparse(value).scheme
        if scheme not in SUPPORTED_DATA_SCHEMES:
            raise ValueError(
                f"MLOPS_DATA_ROOT={value!r}: unsupported scheme {scheme or '(none)'!r}; "
                f"expected one of {', '.join(s + '://' for s in SUPPORTED_DATA_SCHEMES)}"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _tracking_uri_shape(self) -> Settings:
        uri = self.tracking_uri
        if uri and not (uri.startswith(("http://", "https://", "sqlite:///", "postgresql", "mysql", "databricks"))):
            raise ValueError(
                f"MLOPS_TRACKING_URI={uri!r}: expected http(s)://host:port, sqlite:///path or a database URL"
            )
        return self

    @cached_property
    def data_root_url(self) -> str:
        return self.data_root or f"file://{self.home / 'data'}"

    @cached_property
    def tracking_url(self) -> str:
        return self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.home / 'mlflow.db'}"

    @cached_property
    def artifact_url(self) -> str:
        return self.artifact_root or f"file://{self.home / 'artifacts'}"

    @cached_property
    def locks_dir(self) -> Path:
        return self.home / "locks"

    def storage_options(self) -> dict[str, object]:
        """fsspec options for the data root (the S3 endpoint of a self-hosted object store)."""
        endpoint = self.s3_endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        if self.data_root_url.startswith("s3://") and endpoint:
            return {"client_kwargs": {"endpoint_url": endpoint}}
        return {}


def load_settings() -> Settings:
    """Settings from the environment; call inside commands, never at import."""
    return Settings()


QUIET = {"MLFLOW_LOGGING_LEVEL": "WARNING"}  # MLflow's INFO lines (database table creation) tell a user nothing


def quiet_vendor_logs() -> None:
    """Libraries' INFO chatter off by default; an explicit setting wins. Warnings and errors still show."""
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)


def disable_telemetry(settings: Settings | None = None) -> None:
    """Turn vendor telemetry off unless the user opted in (MLOPS_TELEMETRY=true).

    Only fills variables the user has not set, so an explicit choice always wins.
    """
    if settings is not None and settings.telemetry:
        return
    if settings is None and os.environ.get("MLOPS_TELEMETRY", "").lower() in {"1", "true", "yes"}:
        return
    for name, value in TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)
