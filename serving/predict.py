"""``mlops predict``: score a CSV or Parquet file with the champion, offline, the way the service would.

The same contract checks as the service (columns, types, ranges, allowed values, nullability), the same model
resolution and checks (``models:/<project>@champion``, contract hash, library versions) and the same scoring
(``LoadedModel.score``), without a server. Input and output are any fsspec URL or local path; the format
follows the suffix (.csv or .parquet). The output holds the id, ``prediction``, ``probability`` and
``model_version``, in input order; for a multiclass target ``prediction`` is the class by name, ``probability``
its probability, and every class's probability follows in a column named as in the inference log
(``projects.inference_log.class_columns``). Offline scores are not written to the inference log: monitoring's window is
traffic the service answered.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipelines.datasets import CoercionError, coerce_types
from projects.contract import FeatureType, Project
from projects.errors import PlatformError
from projects.inference_log import class_columns
from projects.sources import read_frame
from projects.storage import open_url
from projects.workspace import Workspace
from serving.model_holder import LoadedModel, ModelHolder

ROW = "row"  # the output's key when the contract declares no id: the row's position in the input file

if TYPE_CHECKING:
    import pandas as pd

FORMATS = (".csv", ".parquet")
CHUNK_ROWS = 50_000
MAX_EXAMPLES = 5


class PredictError(PlatformError, ValueError):
    """Input that cannot be scored, or no usable champion; the message names the file, column and rows."""


@dataclass(frozen=True)
class PredictSummary:
    rows: int
    model_version: str
    output: str
    seconds: float


def _suffix(location: str, role: str) -> str:
    for suffix in FORMATS:
        if location.lower().endswith(suffix):
            return suffix
    raise PredictError(f"{role} {location}: unknown format; expected a name ending in {' or '.join(FORMATS)}")


def read_input(location: str, storage_options: dict[str, Any] | None = None) -> pd.DataFrame:

    suffix = _suffix(location, "--input")
    try:
        with open_url(location, "rb", **(storage_options or {})) as handle:
            data = handle.read()
    except FileNotFoundError:
        raise PredictError(f"--input {location}: file not found") from None
    try:
        return read_frame(data, f"input{suffix}")
    except Exception as exc:
        raise PredictError(f"--input {location}: cannot be read as {suffix[1:]}: {exc}") from None


def _rows(mask: pd.Series) -> str:
    positions = [int(i) for i in mask.to_numpy().nonzero()[0][:MAX_EXAMPLES]]
    more = f" and {int(mask.sum()) - len(positions)} more" if int(mask.sum()) > len(positions) else ""
    return f"row(s) {positions}{more}"


def check_input(project: Project, frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """The service's contract checks, vectorised: an error names the file, the column and example rows."""

    schema = project.schema
    ids = [schema.id.name] if schema.id is not None else []
    required = [*ids, *schema.model_inputs]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise PredictError(
            f"{source}: missing column(s) {missing}; a file to score needs {required}", where=source, column=missing[0]
        )
    try:
        typed = coerce_types(project, frame)
    except CoercionError as exc:
        raise PredictError(f"{source}: {exc}", where=source, column=exc.column) from None
    problems = [p for f in schema.features if (p := _feature_problem(f, typed[f.name]))]
    for name in ids:
        if typed[name].isna().any():
            problems.append(f"column {name!r}: missing id at {_rows(typed[name].isna())}")
    if problems:
        raise PredictError(f"{source}: " + "; ".join(problems), where=source)
    return typed


def _feature_problem(feature: Any, values: pd.Series) -> str | None:
    name = feature.name
    if not feature.nullable and values.isna().any():
        return f"column {name!r}: missing values (not nullable in the contract) at {_rows(values.isna())}"
    if feature.type is FeatureType.numeric:
        outside = values.isna() & False  # NaN compares False below: missing is not out of range
        if feature.min is not None:
            outside |= values < feature.min
        if feature.max is not None:
            outside |= values > feature.max
        if outside.any():
            return f"column {name!r}: values outside [{feature.min}, {feature.max}] at {_rows(outside)}"
    if feature.type is FeatureType.categorical:
        unknown = values.notna() & ~values.isin(list(feature.values or ()))
        if unknown.any():
            seen = sorted(set(values[unknown].astype(str).head(MAX_EXAMPLES)))
            return f"column {name!r}: values {seen} not in {list(feature.values or ())} at {_rows(unknown)}"
    return None


def score_frame(loaded: LoadedModel, frame: pd.DataFrame, chunk_rows: int = CHUNK_ROWS) -> pd.DataFrame:
    """id (or, without one, the row's position in the file), prediction, probability, model_version for every row,
    scored in chunks to bound memory."""
    import numpy as np
    import pandas as pd

    schema = loaded.project.schema
    predictions, probabilities = [], []
    for start in range(0, len(frame), chunk_rows):
        prediction, probability = loaded.score(frame.iloc[start : start + chunk_rows][schema.model_inputs])
        predictions.append(prediction)
        probabilities.append(probability)
    empty = np.array([], dtype="float64")
    key = schema.id.name if schema.id is not None else ROW
    keys = frame[key].to_numpy() if schema.id is not None else np.arange(len(frame))
    per_class = class_columns(loaded.project)
    if per_class:  # multiclass: the class by name, its probability, then each class's (as the inference log names them)
        proba = np.concatenate(probabilities) if probabilities else np.empty((0, len(per_class)))
        index = np.concatenate(predictions).astype(int) if predictions else np.array([], dtype=int)
        classes = list(per_class)
        outputs = {
            "prediction": pd.array([classes[i] for i in index], dtype="string"),
            "probability": proba[np.arange(len(index)), index],
            **{column: proba[:, k] for k, column in enumerate(per_class.values())},
        }
    else:
        outputs = {
            "prediction": np.concatenate(predictions) if predictions else empty,
            "probability": np.concatenate(probabilities) if probabilities else empty,
        }
    return pd.DataFrame(
        {key: keys, **outputs, "model_version": pd.array([loaded.version] * len(frame), dtype="string")}
    )


def write_output(frame: pd.DataFrame, location: str, storage_options: dict[str, Any] | None = None) -> None:

    suffix = _suffix(location, "--output")
    buffer = io.BytesIO()
    if suffix == ".csv":
        frame.to_csv(buffer, index=False)
    else:
        frame.to_parquet(buffer, index=False)
    with open_url(location, "wb", **(storage_options or {})) as handle:
        handle.write(buffer.getvalue())


def champion(ws: Workspace) -> LoadedModel:
    """Resolve, check and load the champion now (no background thread: a command waits for it)."""

    holder = ModelHolder(ws.project, ws.settings)
    holder.refresh()
    if holder.current is None:
        raise PredictError(f"no model to score with: {holder.reason}")
    return holder.current


def _options(ws: Workspace, location: str) -> dict[str, Any]:
    """The self-hosted object store's endpoint for s3:// files (as for the data root)."""

    endpoint = ws.settings.s3_endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    return {"client_kwargs": {"endpoint_url": endpoint}} if location.startswith("s3://") and endpoint else {}


def predict_file(ws: Workspace, input_location: str, output_location: str) -> PredictSummary:
    started = time.perf_counter()
    _suffix(output_location, "--output")  # fail before any work on a bad output name
    frame = check_input(ws.project, read_input(input_location, _options(ws, input_location)), input_location)
    loaded = champion(ws)
    scored = score_frame(loaded, frame)
    write_output(scored, output_location, _options(ws, output_location))
    return PredictSummary(
        rows=len(scored), model_version=loaded.version, output=output_location, seconds=time.perf_counter() - started
    )
