"""The model and pipelines suites' fitted models: the churn contract, its tiny batches, models fitted once.

``tests/model/conftest.py`` and ``tests/pipelines/conftest.py`` register the fixtures; ``fit_on`` is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pipelines.features import build_pipeline, encode_target
from projects.contract import Project, load_project
from projects.settings import REPO_ROOT
from tests.helpers import builders

if TYPE_CHECKING:
    import pandas as pd


def fit_on(project: Project, train: pd.DataFrame) -> Any:
    """The platform's own pipeline for ``project``, fitted on ``train``."""
    model = build_pipeline(project)
    return model.fit(train[project.schema.model_inputs], encode_target(project, train[project.schema.target.name]))


@pytest.fixture(scope="session")
def churn_project() -> Project:
    return load_project("churn", REPO_ROOT / "projects")


@pytest.fixture(scope="session")
def churn_data(churn_project: Project) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, holdout): six older baseline batches and the two newest, 300 rows each."""
    batches = builders.churn_batches(churn_project)
    return builders.concat(batches[:-2]), builders.concat(batches[-2:])


@pytest.fixture(scope="session")
def biased_data(churn_project: Project) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same batches with extra churn among women: a model that sees gender gains accuracy and unfairness."""
    batches = builders.gender_biased(builders.churn_batches(churn_project))
    return builders.concat(batches[:-2]), builders.concat(batches[-2:])


@pytest.fixture(scope="session")
def churn_model(churn_project: Project, churn_data: tuple[pd.DataFrame, pd.DataFrame]) -> Any:
    return fit_on(churn_project, churn_data[0])
