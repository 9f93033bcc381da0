"""Champions for the serving tests and benchmark: a small real sklearn Pipeline registered in real MLflow.

Until ``pipelines.training.train`` exists this is how a champion comes to be in these tests: generator data
-> ``read_frame`` -> ``coerce_types`` -> a Pipeline over ``schema.model_inputs`` -> ``mlflow.sklearn.log_model``
with the contract-hash and library tags -> alias ``champion``. Nothing is mocked.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from projects.contract import FeatureType, Project
from projects.registry import CHAMPION, TAG_CONTRACT_HASH, TAG_LIBRARIES, TAG_TRAINED_AT, model_name

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from projects.settings import Settings


def churn_frame(
    project: Project, rows: int = 1500, day: dt.date = dt.date(2026, 1, 1), scenario: str = "baseline"
) -> pd.DataFrame:
    """A generator batch through the landing path: CSV bytes -> read_frame -> coerce_types."""
    from pipelines.datasets import coerce_types
    from projects.sources import load_generator, read_frame

    generator = load_generator(project)
    raw = generator.batch(day, scenario, rows)
    return coerce_types(project, read_frame(generator.to_csv(raw), "batch.csv"))


def build_pipeline(project: Project, c: float = 1.0) -> Pipeline:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = project.schema.features
    numeric = [f.name for f in features if f.type is FeatureType.numeric]
    categorical = [f.name for f in features if f.type is FeatureType.categorical]
    boolean = [f.name for f in features if f.type is FeatureType.boolean]
    numeric_steps = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    pre = ColumnTransformer(
        [
            ("num", numeric_steps, numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
            ("bool", SimpleImputer(strategy="most_frequent"), boolean),
        ]
    )
    return Pipeline([("pre", pre), ("clf", LogisticRegression(C=c, max_iter=500))])


def fit(project: Project, frame: pd.DataFrame, c: float = 1.0) -> Pipeline:
    schema = project.schema
    pipe = build_pipeline(project, c)
    pipe.fit(frame[schema.model_inputs], frame[schema.target.name].astype(bool))
    return pipe


def libraries_tag() -> str:
    from serving.model_holder import running_libraries

    return json.dumps(running_libraries())


def register(
    project: Project,
    settings: Settings,
    model: Any,
    promote: bool = True,
    tags: dict[str, str] | None = None,
) -> str:
    """Log ``model`` as a new version of the project's registered model; alias it champion if ``promote``."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.tracking_url)
    mlflow.set_registry_uri(settings.registry_uri or settings.tracking_url)
    name = model_name(project.name)
    if mlflow.get_experiment_by_name(name) is None:
        mlflow.create_experiment(name, artifact_location=f"{settings.artifact_url}/{name}")
    mlflow.set_experiment(name)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=name, pip_requirements=[], skops_trusted_types=["numpy.dtype"]
        )
    version = str(info.registered_model_version)
    client = MlflowClient(settings.tracking_url, settings.registry_uri or settings.tracking_url)
    defaults = {
        TAG_CONTRACT_HASH: project.contract_hash(),
        TAG_LIBRARIES: libraries_tag(),
        TAG_TRAINED_AT: dt.datetime.now(dt.UTC).isoformat(),
    }
    for key, value in {**defaults, **(tags or {})}.items():
        client.set_model_version_tag(name, version, key, value)
    if promote:
        client.set_registered_model_alias(name, CHAMPION, version)
    return version


def promote(project: Project, settings: Settings, version: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(settings.tracking_url, settings.registry_uri or settings.tracking_url)
    client.set_registered_model_alias(model_name(project.name), CHAMPION, version)
