"""Training: the validated window -> a scikit-learn Pipeline -> an MLflow run -> a registered challenger.

The holdout is out of time: the newest ``training.holdout_batches`` validated batches are never trained on, and
the gate scores challenger and champion on them. Everything a later reader needs is logged with the run:
params, holdout metrics, the train and holdout datasets (mlflow.data lineage: source URL and digest), the
signature (derived from the contract, not guessed from a sample), an input example, the contract hash, library
versions, a reference sample for drift monitoring and the training watermark. Pip requirements are pinned
explicitly: letting MLflow infer them re-imports the model in a subprocess and costs ~8 s per model.
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cloudpickle

import pipelines.features
from pipelines.datasets import list_validated, read_validated
from pipelines.evaluation import all_metrics
from pipelines.features import build_pipeline, encode_target, project_scores
from projects import registry, tracking
from projects.clock import utc_now
from projects.contract import REQUEST_ID, FeatureType, Project
from projects.errors import PlatformError
from projects.inference_log import PREDICTED_CLASS
from projects.servable import example_values
from projects.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.models import ModelSignature
    from mlflow.models.model import ModelInfo
    from mlflow.types import ColSpec, TensorSpec
    from sklearn.pipeline import Pipeline

PINNED_PACKAGES = ("mlflow", "scikit-learn", "numpy", "pandas", "scipy", "cloudpickle")
INPUT_EXAMPLE_ROWS = 5
MAX_EXAMPLE_TAG_CHARS = 5000  # a run tag holds 8,000; a wider contract's example falls back to the contract's


class TrainingError(PlatformError, RuntimeError):
    """Training cannot start (too little data, missing columns); the message says what is missing and where."""


# --------------------------------------------------------------------------------------------- the window
@dataclass(frozen=True)
class Window:
    """Validated rows split out of time: train on the older batches, hold out the newest."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    train_batches: list[str]
    holdout_batches: list[str]


def split_batches(project: Project, names: list[str]) -> tuple[list[str], list[str]]:
    """(train, holdout) from the newest ``window_batches`` of ``names`` (oldest first, by time): the holdout is
    the newest batches."""
    training = project.training
    window = names[-training.window_batches :]
    if len(window) <= training.holdout_batches:
        raise TrainingError(
            f"project {project.name!r}: {len(window)} validated batch(es); training needs at least "
            f"{training.holdout_batches + 1} (training.holdout_batches={training.holdout_batches} newest are held "
            "out). Land and validate more batches first."
        )
    return window[: -training.holdout_batches], window[-training.holdout_batches :]


def _check_columns(project: Project, frame: pd.DataFrame, where: str) -> None:
    schema = project.schema
    needed = [*schema.stored_columns, *schema.model_inputs]
    missing = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if missing:
        raise TrainingError(
            f"{where}: missing column(s) {missing} required by the contract of {project.name!r}",
            where=where,
            column=missing[0],
        )


def load_window(ws: Workspace) -> Window:
    """Read the validated window the project declares; errors name the store URL and what is short."""
    names = list_validated(ws.store, ws.project)
    train_names, holdout_names = split_batches(ws.project, names)
    train = read_validated(ws.store, train_names)
    holdout = read_validated(ws.store, holdout_names)
    where = ws.store.url("validated")
    _check_columns(ws.project, train, where)
    _check_columns(ws.project, holdout, where)
    if len(train) < ws.project.training.min_rows:
        raise TrainingError(
            f"{where}: {len(train)} training row(s) in {len(train_names)} batch(es); "
            f"training.min_rows is {ws.project.training.min_rows}"
        )
    if holdout.empty:
        raise TrainingError(f"{where}: the holdout batches {holdout_names} hold no rows", where=where)
    return Window(train=train, holdout=holdout, train_batches=train_names, holdout_batches=holdout_names)


def load_holdout(ws: Workspace) -> tuple[pd.DataFrame, list[str]]:
    """The gate's holdout: the newest validated batches (the same ones training held out)."""
    _, holdout_names = split_batches(ws.project, list_validated(ws.store, ws.project))
    holdout = read_validated(ws.store, holdout_names)
    _check_columns(ws.project, holdout, ws.store.url("validated"))
    return holdout, holdout_names


def watermark(project: Project, frame: pd.DataFrame) -> str:
    """The newest event time trained on (ISO, UTC): retraining needs labelled data past it."""
    return str(frame[project.schema.time_column].max().isoformat())


def reference_sample(project: Project, frame: pd.DataFrame, seed: int = 0, model: Any = None) -> pd.DataFrame:
    """At most ``training.reference_rows`` training rows: monitoring's drift reference.

    For a multiclass target with ``model`` given, each row also carries the class the model predicts for it
    (``predicted_class``, as the inference log names it), so monitoring compares the distribution of predicted
    classes in served traffic with the model's own on its training data (prediction drift).
    """
    import pandas as pd

    schema = project.schema
    columns = dict.fromkeys([*schema.stored_columns, *schema.model_inputs])
    rows = min(project.training.reference_rows, len(frame))
    sample = frame[list(columns)].sample(n=rows, random_state=seed).sort_values(schema.time_column)
    if model is not None and schema.target.multiclass and len(sample):
        classes = list(schema.target.classes or ())
        predicted = project_scores(project, model, sample[schema.model_inputs]).argmax(axis=1)
        sample[PREDICTED_CLASS] = pd.array([classes[i] for i in predicted], dtype="string")
    return sample


# --------------------------------------------------------------------------------------------- fitting
@dataclass(frozen=True)
class FitResult:
    model: Pipeline
    fit_seconds: float
    holdout_metrics: dict[str, float]


def fit(project: Project, window: Window) -> FitResult:
    """Build the pipeline from the contract, fit it on the training rows, score it on the holdout."""
    model = build_pipeline(project)
    inputs = project.schema.model_inputs
    target = project.schema.target.name
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            model.fit(window.train[inputs], encode_target(project, window.train[target]))
        fit_seconds = time.perf_counter() - started
        scores = project_scores(project, model, window.holdout[inputs])
    except (ValueError, TypeError) as exc:
        if str(exc).startswith("model.feature_code"):  # the project's feature code, named: not a platform bug
            raise TrainingError(f"projects/{project.name}/project.yaml: {exc}", key="model.feature_code") from None
        raise
    metrics = all_metrics(project.task, encode_target(project, window.holdout[target]), scores)
    return FitResult(model=model, fit_seconds=fit_seconds, holdout_metrics=metrics)


# --------------------------------------------------------------------------------------------- logging
def library_versions() -> dict[str, str]:
    """Versions the model was trained with; serving checks them before it swaps a model in."""
    return {"python": platform.python_version(), **{p: installed_version(p) for p in PINNED_PACKAGES}}


def pip_requirements() -> list[str]:
    return [f"{p}=={installed_version(p)}" for p in PINNED_PACKAGES]


KINDS = {FeatureType.numeric: "double", FeatureType.categorical: "string", FeatureType.boolean: "boolean"}


def column_specs(project: Project, columns: list[str]) -> list[ColSpec | TensorSpec]:
    """MLflow column specs from the contract (nullable features optional), never inferred by scanning rows."""
    from mlflow.types import ColSpec

    schema = project.schema
    roles = {schema.key_column: ("string", True), schema.time_column: ("datetime", True), REQUEST_ID: ("string", False)}
    if schema.sensitive is not None:
        roles[schema.sensitive.name] = ("string", True)
    roles[schema.target.name] = (KINDS.get(schema.target.type, "double"), True)
    roles |= {f.name: (KINDS[f.type], not f.nullable) for f in schema.features}
    return [ColSpec(roles.get(c, ("string", False))[0], c, required=roles.get(c, ("", False))[1]) for c in columns]


def contract_signature(project: Project, model: Pipeline, example: pd.DataFrame) -> ModelSignature:
    """Inputs from the contract; outputs inferred from a prediction."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import Schema

    outputs = infer_signature(example, model.predict(example)).outputs
    return ModelSignature(inputs=Schema(column_specs(project, project.schema.model_inputs)), outputs=outputs)


def _params(project: Project, window: Window) -> dict[str, Any]:
    spec = project.model
    return {
        "task": project.task.value,
        "estimator": spec.estimator,
        **{f"model.params.{k}": v for k, v in sorted(spec.params.items())},
        "numeric_impute": spec.numeric_impute,
        "scale": spec.scale,
        "categorical_impute": spec.categorical_impute,
        "window_batches": project.training.window_batches,
        "holdout_batches": project.training.holdout_batches,
        "train_batches_used": len(window.train_batches),
        "train_first_batch": window.train_batches[0],
        "train_last_batch": window.train_batches[-1],
        "holdout_batch_names": ",".join(window.holdout_batches),
        "train_rows": len(window.train),
        "holdout_rows": len(window.holdout),
        "contract_hash": project.contract_hash(),
    }


def _log_datasets(ws: Workspace, window: Window) -> None:
    """mlflow.data lineage: what was trained on and what was held out, with source URL and digest."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.types import Schema

    source = ws.store.url("validated")
    target = ws.project.schema.target.name
    for frame, context in ((window.train, "training"), (window.holdout, "holdout")):
        rows = frame.drop(columns=["_batch"], errors="ignore")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)  # "source can be interpreted in multiple ways"
            dataset = from_pandas(rows, source=source, name=f"{ws.name}-{context}", targets=target)
        # ``schema`` is a cached property that otherwise scans every row (~2 s per 50k rows): seed it from the contract
        dataset.__dict__["schema"] = Schema(column_specs(ws.project, list(rows.columns)))
        mlflow.log_input(dataset, context=context)


def _log_reference(project: Project, frame: pd.DataFrame, model: Pipeline) -> None:
    import mlflow

    folder, filename = registry.ARTIFACT_REFERENCE.rsplit("/", 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        reference_sample(project, frame, model=model).to_parquet(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=folder)


def _log_model(project: Project, model: Pipeline, window: Window) -> ModelInfo:
    """log_model with the pipeline's own code pickled by value, so loading needs no import of this repository.

    cloudpickle, not MLflow's default skops: skops stores our cast function by reference, so every consumer
    (serving, monitoring, a notebook) would need this repository importable and the type allow-listed. Loading
    any MLflow sklearn model runs code either way (MLflow gates both behind MLFLOW_ALLOW_PICKLE_DESERIALIZATION).
    """
    import mlflow.sklearn

    inputs = window.train[project.schema.model_inputs]
    complete = inputs.dropna()
    example = (complete if len(complete) >= INPUT_EXAMPLE_ROWS else inputs).head(INPUT_EXAMPLE_ROWS)
    sklearn_logger = logging.getLogger("mlflow.sklearn")
    level = sklearn_logger.level
    sklearn_logger.setLevel(logging.ERROR)  # its pickle warning: a deliberate choice here (see the docstring)
    try:
        with pickled_by_value(project):
            return mlflow.sklearn.log_model(
                model,
                name=registry.ARTIFACT_MODEL,
                signature=contract_signature(project, model, example),
                input_example=example,
                pip_requirements=pip_requirements(),
                serialization_format="cloudpickle",
            )
    finally:
        sklearn_logger.setLevel(level)


@contextlib.contextmanager
def pickled_by_value(project: Project) -> Iterator[None]:
    """While inside, cloudpickle stores the pipeline's own code by value: the casting step and, when the project
    has ``model.feature_code``, that function's module, so a champion keeps the feature code it was trained with
    and loads where neither this repository nor the project is importable."""
    modules = [pipelines.features]
    code = project.model.feature_code
    if code is not None:  # imported by build_pipeline; a project's whole package, so its helpers travel too
        package = f"projects.{project.name}"
        own = code.startswith(f"{package}.") and package in sys.modules
        modules.append(sys.modules[package] if own else sys.modules[code.rpartition(".")[0]])
    for module in modules:
        cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        for module in modules:
            cloudpickle.unregister_pickle_by_value(module)


def register_version(
    client: MlflowClient, project: Project, model_info: ModelInfo, run_id: str, tags: dict[str, str]
) -> str:
    """Create the registered model if needed (two jobs may race) and a new version carrying its tags."""
    from mlflow.exceptions import MlflowException

    name = registry.model_name(project.name)
    try:
        client.create_registered_model(name, description=project.description or None)
    except MlflowException as exc:
        if exc.error_code not in {"RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"}:
            raise
    created = client.create_model_version(
        name, source=model_info.model_uri, run_id=run_id, tags=tags, model_id=model_info.model_id
    )
    return str(created.version)


# --------------------------------------------------------------------------------------------- train
@dataclass
class TrainResult:
    project: str
    version: str
    run_id: str
    holdout_metrics: dict[str, float]
    fit_seconds: float
    tracking_seconds: float
    watermark: str
    train_batches: list[str]
    holdout_batches: list[str]


def version_tags(project: Project, window: Window) -> dict[str, str]:
    tags = {
        registry.TAG_CONTRACT_HASH: project.contract_hash(),
        registry.TAG_LIBRARIES: json.dumps(library_versions(), sort_keys=True),
        registry.TAG_WATERMARK: watermark(project, window.train),
        registry.TAG_WINDOW_END: watermark(project, window.holdout),
        registry.TAG_TRAINED_AT: utc_now().isoformat(timespec="seconds"),
    }
    # The service's docs show an example record: per-column medians and modes of what was trained on, never a row.
    example = json.dumps(example_values(project, window.train), separators=(",", ":"))
    if len(example) <= MAX_EXAMPLE_TAG_CHARS:
        tags[registry.TAG_EXAMPLE] = example
    return tags


def train(ws: Workspace) -> TrainResult:
    """Train a challenger on the validated window, log and register it (the gate is a separate step)."""
    client = tracking.configure(ws.settings)  # fails fast, before any work, when MLflow is unreachable
    import mlflow

    window = load_window(ws)
    fitted = fit(ws.project, window)
    started = time.perf_counter()
    experiment_id = tracking.ensure_experiment(client, ws.settings, ws.name)
    tags = version_tags(ws.project, window)
    run_name = f"train-{utc_now():%Y%m%dT%H%M%S}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.set_tags({**tags, "mlops.project": ws.name})
        mlflow.log_params(_params(ws.project, window))
        mlflow.log_metrics({f"holdout_{k}": v for k, v in fitted.holdout_metrics.items()})
        mlflow.log_metric("fit_seconds", fitted.fit_seconds)
        _log_datasets(ws, window)
        _log_reference(ws.project, window.train, fitted.model)
        model_info = _log_model(ws.project, fitted.model, window)
    version = register_version(client, ws.project, model_info, run.info.run_id, tags)
    return TrainResult(
        project=ws.name,
        version=version,
        run_id=run.info.run_id,
        holdout_metrics=fitted.holdout_metrics,
        fit_seconds=fitted.fit_seconds,
        tracking_seconds=time.perf_counter() - started,
        watermark=tags[registry.TAG_WATERMARK],
        train_batches=window.train_batches,
        holdout_batches=window.holdout_batches,
    )
