"""Fixtures of the model suite: the churn contract, tiny validated-typed batches and models fitted once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from projects.contract import Project, load_project
from projects.settings import REPO_ROOT
from tests.helpers import builders

if TYPE_CHECKING:
    import pandas as pd


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


def fit_on(project: Project, train: pd.DataFrame) -> Any:
    from pipelines.features import build_pipeline, encode_target

    model = build_pipeline(project)
    return model.fit(train[project.schema.model_inputs], encode_target(project, train[project.schema.target.name]))


@pytest.fixture(scope="session")
def churn_model(churn_project: Project, churn_data: tuple[pd.DataFrame, pd.DataFrame]) -> Any:
    return fit_on(churn_project, churn_data[0])
