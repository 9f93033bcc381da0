"""A fresh MLOPS_HOME with a real MLflow registry on SQLite and tiny validated batches, for the registry tests.

Every test gets a fresh home holding a copy of an MLflow database migrated once per session (migrating a new
SQLite store costs seconds). ``tests/pipelines/conftest.py`` and ``tests/projects/conftest.py`` register the
fixtures; the plain functions are imported.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient

from projects import registry, tracking
from projects.contract import Project, load_project
from projects.settings import REPO_ROOT, Settings
from projects.workspace import Workspace
from tests.helpers import builders


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store, created and migrated once."""
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(scope="session")
def baseline(churn_project_session: Project) -> builders.Batches:
    return builders.churn_batches(churn_project_session)


@pytest.fixture(scope="session")
def churn_project_session() -> Project:
    return load_project("churn", REPO_ROOT / "projects")


def with_registry(settings: Settings, migrated_db: Path) -> Settings:
    """Give the fresh home its SQLite registry: a copy of the pre-migrated empty store."""
    settings.home.mkdir(parents=True, exist_ok=True)
    shutil.copy(migrated_db, settings.home / "mlflow.db")
    return settings


@pytest.fixture
def ws(settings: Settings, migrated_db: Path, baseline: builders.Batches) -> Workspace:
    """The churn workspace in a fresh home: SQLite registry (pre-migrated copy) and 8 validated batches."""
    workspace = Workspace.open("churn", with_registry(settings, migrated_db))
    builders.write_validated(workspace.store, baseline)
    return workspace


def variant(ws: Workspace, project: Project) -> Workspace:
    """The same home and data under a modified contract (a different estimator, gate or schema)."""
    return Workspace(settings=ws.settings, project=project, store=ws.store)


def client_for(ws: Workspace) -> MlflowClient:
    return tracking.configure(ws.settings)


def tags_of(ws: Workspace, version: str) -> dict[str, str]:
    return dict(client_for(ws).get_model_version(registry.model_name(ws.name), version).tags)


def home_env(ws: Workspace) -> dict[str, str]:
    """The environment of a subprocess that must use this home's registry and nothing of the developer's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_TRACKING", "MLFLOW_REGISTRY"))}
    return env | {"MLOPS_HOME": str(ws.settings.home)}
