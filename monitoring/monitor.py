"""``mlops monitor``: the champion's traffic since its promotion against its training reference.

The thin I/O layer around ``monitoring.drift``: it resolves ``models:/<project>@champion`` in the registry, reads
the inference log that version served since it was promoted (so traffic from before a retrain never re-triggers
one), fetches the reference sample the training run logged, lets ``monitoring.drift`` decide, joins delayed
labels from the validated store to score the champion with the gate's metric, and publishes the result: the
Evidently HTML report and a JSON summary under ``<data root>/<project>/reports/drift/``, both logged with the
drift metrics to the MLflow experiment ``monitoring``.

The result is a frozen ``MonitorResult``; ``drift_detected`` is None when the window is too small to decide.
The retrain trigger is built on it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
import re
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitoring.drift import ColumnDrift, DriftOutcome, assess_drift, stratified_positions
from monitoring.drift_page import evidently_name, render_page
from pipelines.datasets import list_validated
from pipelines.evaluation import metric
from pipelines.features import encode_target
from projects import registry, tracking
from projects.clock import as_utc, file_stamp, utc_now
from projects.contract import Project, Task
from projects.errors import PlatformError
from projects.inference_log import (
    MODEL_VERSION,
    PREDICTION,
    PROBABILITY,
    SERVED_AT,
    class_columns,
    empty_log,
    fetch_partition,
    list_partitions,
    log_frame,
    read_part,
)
from projects.storage import ProjectStore
from projects.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from mlflow import MlflowClient

EXPERIMENT = "monitoring"
REPORTS_FOLDER = "drift"
RUN_TAG_PROJECT = "mlops.project"
RUN_TAG_CHAMPION = "mlops.champion_version"
RUN_TAG_STATUS = "mlops.monitor.status"
STATUS_DRIFT = "drift"
STATUS_NO_DRIFT = "no_drift"
STATUS_INSUFFICIENT = "insufficient_data"
_DURATION = re.compile(r"^(\d+)([smhd])$")
_ROWS = re.compile(r"^(\d+)\s*(rows?|r)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class MonitorError(PlatformError, RuntimeError):
    """Monitoring cannot run (no champion, no reference, unreadable log); the message says what to do next."""


# --------------------------------------------------------------------------------------------- the window
@dataclass(frozen=True)
class WindowSpec:
    """Optional bounds on the window, which always starts no earlier than the champion's promotion."""

    last: dt.timedelta | None = None
    max_rows: int | None = None

    @classmethod
    def parse(cls, text: str | None) -> WindowSpec:
        """``24h``, ``7d``, ``30m``, ``3600s``, ``50000rows``, both (``24h,50000rows``), or ``all``/empty."""
        last, max_rows = None, None
        for raw in (text or "").split(","):
            part = raw.strip().lower()
            if part in {"", "all"}:
                continue
            if duration := _DURATION.match(part):
                last = dt.timedelta(**{_UNITS[duration.group(2)]: int(duration.group(1))})
            elif rows := _ROWS.match(part):
                max_rows = int(rows.group(1))
            else:
                raise ValueError(
                    f"window {text!r}: cannot read {raw.strip()!r}; expected a duration such as 24h, 7d, 30m, "
                    "a row count such as 50000rows, both separated by a comma, or 'all'"
                )
        if (last is not None and last.total_seconds() <= 0) or max_rows == 0:
            raise ValueError(f"window {text!r}: a bound must be positive")
        return cls(last=last, max_rows=max_rows)

    def describe(self) -> str:
        parts = ["since promotion"]
        if self.last is not None:
            parts.append(f"last {self.last}")
        if self.max_rows is not None:
            parts.append(f"newest {self.max_rows} rows")
        return ", ".join(parts)


@dataclass(frozen=True)
class Champion:
    """The version monitoring judges, read from the registry (never guessed)."""

    version: str
    run_id: str
    promoted_at: dt.datetime
    gate_value: float | None  # its primary metric on the gate's holdout when it was promoted
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------- the result
@dataclass(frozen=True)
class Performance:
    """The champion scored on served rows whose labels have arrived, with the gate's own metric."""

    metric: str
    value: float | None
    labelled_rows: int
    served_rows: int
    at_gate: float | None
    floor: float
    drop: float | None  # positive = worse than at the gate, whichever direction the metric runs
    below_floor: bool | None  # True: fails the floor (below it for an AUC, above it for an rmse)
    note: str = ""
    higher_is_better: bool = True


@dataclass(frozen=True)
class MonitorResult:
    """Everything one monitoring run decided and measured; ``to_json`` is the JSON summary."""

    project: str
    status: str
    drift_detected: bool | None
    champion_version: str
    promoted_at: dt.datetime
    window: str
    window_start: dt.datetime
    window_end: dt.datetime
    window_rows: int
    sample_rows: int
    reference_rows: int
    min_rows: int
    num_method: str
    cat_method: str
    correction: str
    threshold: float
    drift_share: float
    columns: tuple[ColumnDrift, ...]
    drifted_count: int
    share_drifted: float | None
    performance: Performance | None
    report_url: str | None  # the drift page (monitoring/drift_page.py), Evidently's report embedded
    summary_url: str
    mlflow_run_id: str
    evaluated_at: dt.datetime
    warnings: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict, compare=False)
    evidently_url: str | None = None  # Evidently's own report, beside the page

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)


def _jsonable(value: Any) -> Any:
    """Datetimes as ISO strings, NaN as null, tuples as lists: strict JSON any tool reads."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------------------------- registry reads
def _parse_time(text: str, what: str) -> dt.datetime:
    try:
        return as_utc(dt.datetime.fromisoformat(text))
    except ValueError:
        raise MonitorError(f"{what}: {text!r} is not an ISO-8601 time", value=text) from None


def resolve_champion(client: MlflowClient, project: Project) -> Champion:
    """The champion version, its training run, when it was promoted and its gate-time metric."""
    version = registry.champion_version(client, project.name)
    if version is None:
        raise MonitorError(
            f"project {project.name!r} has no champion in the registry ({registry.model_uri(project.name)}); "
            "train and promote a model first (`mlops train`)"
        )
    mv = client.get_model_version(registry.model_name(project.name), version)
    notes: list[str] = []
    promoted = mv.tags.get(registry.TAG_PROMOTED_AT)
    if promoted:
        promoted_at = _parse_time(promoted, f"version {version} tag {registry.TAG_PROMOTED_AT}")
    else:
        promoted_at = dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=dt.UTC)
        notes.append(f"version {version} has no {registry.TAG_PROMOTED_AT} tag; the window starts at its creation")
    gate_tag = mv.tags.get(f"{registry.TAG_GATE_PREFIX}challenger.{project.gate.metric}")
    try:
        gate_value = float(gate_tag) if gate_tag is not None else None
    except ValueError:
        gate_value = None
    if not mv.run_id:
        raise MonitorError(
            f"champion version {version} of {project.name!r} has no training run to take a reference from"
        )
    return Champion(
        version=str(version), run_id=mv.run_id, promoted_at=promoted_at, gate_value=gate_value, notes=tuple(notes)
    )


def load_reference(client: MlflowClient, champion: Champion) -> pd.DataFrame:
    """The training sample the champion's run logged as ``registry.ARTIFACT_REFERENCE``."""
    import pandas as pd
    from mlflow.exceptions import MlflowException

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one small file; keep job logs clean
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(champion.run_id, registry.ARTIFACT_REFERENCE, tmp)
        except (MlflowException, OSError) as exc:
            raise MonitorError(
                f"champion version {champion.version}: run {champion.run_id} has no readable reference artifact "
                f"{registry.ARTIFACT_REFERENCE!r} ({exc}); retrain to log one"
            ) from None
        return pd.read_parquet(Path(path))


# --------------------------------------------------------------------------------------------- the window
def window_start(champion: Champion, spec: WindowSpec, now: dt.datetime) -> dt.datetime:
    """Never before the promotion: traffic the previous champion served must not re-trigger a retrain."""
    if spec.last is None:
        return champion.promoted_at
    return max(champion.promoted_at, now - spec.last)


@dataclass(frozen=True)
class WindowData:
    """The champion's window as monitoring uses it: its size, a fixed-size sample, the rows whose labels arrived.

    Only the sampled and the labelled rows ever become pandas; see ``sample_window``.
    """

    rows: int
    sample: pd.DataFrame  # time-stratified, at most drift.sample_rows rows, every log column
    labelled: pd.DataFrame  # id, prediction, probability and target of window rows whose labels arrived


@dataclass(frozen=True)
class _LogIndex:
    """The compressed parts, and one small row per window row: (part, row) plus what ordering and labels need."""

    blobs: list[bytes]
    urls: list[str]
    rows: pa.Table | None  # _part, _row, served_at, id, prediction, probability; None: no row in the window


def _in_window(table: pa.Table, version: str, start: dt.datetime, end: dt.datetime) -> pa.ChunkedArray:
    import pyarrow as pa
    import pyarrow.compute as pc

    stamp = table.schema.field(SERVED_AT).type
    served = table[SERVED_AT]
    in_time = pc.and_(pc.greater_equal(served, pa.scalar(start, stamp)), pc.less_equal(served, pa.scalar(end, stamp)))
    return pc.fill_null(pc.and_(pc.equal(table[MODEL_VERSION], version), in_time), False)


def index_window(
    store: ProjectStore, project: Project, version: str, start: dt.datetime, end: dt.datetime
) -> _LogIndex:
    """Fetch the parts that can hold the window (compressed) and index the rows ``version`` served in it."""
    import numpy as np
    import pyarrow as pa

    small = [
        SERVED_AT,
        MODEL_VERSION,
        project.schema.record_id,
        PREDICTION,
        PROBABILITY,
        *_class_probabilities(project),
    ]
    blobs: list[bytes] = []
    urls: list[str] = []
    tables: list[Any] = []
    for day, partition in list_partitions(store, start):
        if day > end.date():
            continue
        for url, blob in fetch_partition(store, partition):
            table = read_part(blob, url, small)
            keep = np.flatnonzero(_in_window(table, version, start, end).to_numpy(zero_copy_only=False))
            if len(keep):
                part = table.take(keep).drop_columns([MODEL_VERSION])
                part = part.append_column("_part", pa.array(np.full(len(keep), len(blobs), dtype=np.int32)))
                tables.append(part.append_column("_row", pa.array(keep.astype(np.int32))))
                blobs.append(blob)
                urls.append(url)
    rows = pa.concat_tables(tables, promote_options="default") if tables else None
    return _LogIndex(blobs=blobs, urls=urls, rows=rows)


def _take_rows(index: _LogIndex, picks: pa.Array) -> pd.DataFrame:
    """Decode each part holding picked rows once and keep only those rows (every column)."""
    import numpy as np
    import pyarrow as pa

    if index.rows is None:
        raise ValueError("no row of the window to take")
    chosen = index.rows.select(["_part", "_row"]).take(picks)
    parts = chosen["_part"].to_numpy()
    rows = chosen["_row"].to_numpy()
    pieces = []
    for part in np.unique(parts):
        table = read_part(index.blobs[part], index.urls[part])
        pieces.append(table.take(pa.array(rows[parts == part])))
    return log_frame(pa.concat_tables(pieces, promote_options="default"))


def sample_window(
    store: ProjectStore,
    project: Project,
    version: str,
    bounds: tuple[dt.datetime, dt.datetime],
    *,
    max_rows: int | None = None,
    seed_for: Callable[[int], int] = lambda rows: rows,
    labels: pd.DataFrame | None = None,
) -> WindowData:
    """Rows ``version`` served within ``bounds`` (the newest ``max_rows`` if bounded), sampled while reading.

    Parts are fetched once, compressed; a first pass decodes only time, version, id and outputs to find the
    window's rows and their time order; the time-stratified sample is then decoded in full from the parts that
    hold it. Peak memory stays below the window's own size. ``seed_for(rows)`` seeds the sample once the size is
    known; ``labels`` (id, target) are joined to what was served.
    """
    import pyarrow.compute as pc

    index = index_window(store, project, version, *bounds)
    if index.rows is None:
        return WindowData(rows=0, sample=empty_log(project), labelled=_no_labels(project))
    order = pc.sort_indices(index.rows[SERVED_AT])  # time order: the strata are equal-count slices of it
    if max_rows is not None and len(order) > max_rows:
        order = order[len(order) - max_rows :]
    rows = len(order)
    sample = _take_rows(index, order.take(stratified_positions(rows, project.drift.sample_rows, seed_for(rows))))
    labelled = labelled_rows(project, index.rows, order, labels) if labels is not None else _no_labels(project)
    return WindowData(rows=rows, sample=sample, labelled=labelled)


def read_window(
    ws: Workspace, champion: Champion, start: dt.datetime, end: dt.datetime, spec: WindowSpec
) -> WindowData:
    """The champion's window of the project's inference log, with the labels that arrived for it."""
    return sample_window(
        ws.store,
        ws.project,
        champion.version,
        (start, end),
        max_rows=spec.max_rows,
        seed_for=lambda rows: window_seed(ws.name, champion, start, rows),
        labels=read_labels(ws),
    )


def window_seed(project: str, champion: Champion, start: dt.datetime, rows: int) -> int:
    """The same window always gets the same sample, so a rerun reproduces its decision."""
    return zlib.crc32(f"{project}|{champion.version}|{start.isoformat()}|{rows}".encode())


# --------------------------------------------------------------------------------------------- delayed labels
def _no_labels(project: Project) -> pd.DataFrame:
    import pandas as pd

    schema = project.schema
    columns = {schema.record_id: "string", PREDICTION: "float64", PROBABILITY: "float64"}
    columns |= dict.fromkeys(_class_probabilities(project), "float64")
    columns[schema.target.name] = "object"
    return pd.DataFrame({name: pd.Series(dtype=kind) for name, kind in columns.items()})


def read_labels(ws: Workspace) -> pd.DataFrame:
    """(record id, target) of every labelled row in the validated store; the newest batch wins if an id repeats.

    The record id is the declared id; without one, the ``request_id`` the service gave each record, in label
    batches that carry it back (batches without it cannot be joined to what was served).
    """
    import pandas as pd
    import pyarrow.parquet as pq

    schema = ws.project.schema
    key, target = schema.record_id, schema.target.name
    frames = []
    for name in list_validated(ws.store, ws.project):
        data = io.BytesIO(ws.store.read_bytes("validated", name))
        if key not in pq.read_schema(data).names:
            continue
        batch = pd.read_parquet(data, columns=[key, target])
        frames.append(batch[batch[target].notna() & batch[key].notna()])
    if not frames:
        return pd.DataFrame({key: pd.Series(dtype="string"), target: pd.Series(dtype=object)})
    labels = pd.concat(frames, ignore_index=True)
    labels[key] = labels[key].astype("string")
    return labels.drop_duplicates(key, keep="last")


def labelled_rows(project: Project, table: pa.Table, order: pa.Array, labels: pd.DataFrame) -> pd.DataFrame:
    """What the champion served (newest answer per id) joined on the id with the labels that have arrived."""
    import pyarrow as pa
    import pyarrow.compute as pc

    id_name = project.schema.record_id
    if not len(labels):
        return _no_labels(project)
    served = table.select([id_name, PREDICTION, PROBABILITY, *_class_probabilities(project)]).take(order)
    known = pa.array(labels[id_name].astype(str).tolist()).cast(served.schema.field(id_name).type)
    frame = served.filter(pc.is_in(served[id_name], value_set=known)).to_pandas()
    frame[id_name] = frame[id_name].astype("string")
    return frame.drop_duplicates(id_name, keep="last").merge(labels, on=id_name, how="inner")


def _class_probabilities(project: Project) -> list[str]:
    """The multiclass log's per-class probability columns (none for a binary or regression project)."""
    return list(class_columns(project).values())


def served_scores(project: Project, joined: pd.DataFrame) -> Any:
    """What the service answered, as the gate scores it: P(positive), the per-class matrix, or the value."""
    per_class = _class_probabilities(project)
    if per_class:
        return joined[per_class].to_numpy(dtype="float64")
    scores = joined[PROBABILITY] if project.task is Task.classification else joined[PREDICTION]
    if project.task is Task.classification and scores.isna().all():
        scores = joined[PREDICTION]
    return scores.to_numpy()


def _performance(
    project: Project, champion: Champion, served: int, labelled: int, value: float | None, *, note: str = ""
) -> Performance:
    gate = project.gate
    drop, below = None, None
    if value is not None:
        below = value < gate.floor if gate.higher_is_better else value > gate.floor
        if champion.gate_value is not None:
            drop = champion.gate_value - value if gate.higher_is_better else value - champion.gate_value
    return Performance(
        metric=gate.metric,
        value=value,
        labelled_rows=labelled,
        served_rows=served,
        at_gate=champion.gate_value,
        floor=gate.floor,
        drop=drop,
        below_floor=below,
        note=note,
        higher_is_better=gate.higher_is_better,
    )


def champion_performance(project: Project, window: WindowData, champion: Champion) -> Performance:
    """The gate's metric on served rows whose labels arrived (concept drift shows up here, not in the features)."""

    joined, found = window.labelled, len(window.labelled)
    if found < project.drift.min_rows:
        note = f"{found} served rows have labels so far; at least drift.min_rows = {project.drift.min_rows} needed"
        return _performance(project, champion, window.rows, found, None, note=note)
    y_true = encode_target(project, joined[project.schema.target.name])
    value = metric(project.gate.metric, project.task, y_true, served_scores(project, joined))
    note = "" if math.isfinite(value) else f"{project.gate.metric} is undefined on these labels (one class only?)"
    return _performance(project, champion, window.rows, found, value if math.isfinite(value) else None, note=note)


# --------------------------------------------------------------------------------------------- publishing
def _metrics(result: MonitorResult) -> dict[str, float]:
    values: dict[str, float | None] = {
        "window.rows": result.window_rows,
        "sample.rows": result.sample_rows,
        "reference.rows": result.reference_rows,
        "drift.count": result.drifted_count,
        "drift.share": result.share_drifted,
        "drift.dataset": None if result.drift_detected is None else float(result.drift_detected),
    }
    for column in result.columns:
        values[f"drift.score.{column.column}"] = column.score
        values[f"drift.flag.{column.column}"] = float(column.drifted)
    if result.performance is not None:
        perf = result.performance
        values[f"performance.{perf.metric}"] = perf.value
        values["performance.labelled_rows"] = perf.labelled_rows
        values["performance.drop"] = perf.drop
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}


def publish(ws: Workspace, client: MlflowClient, result: MonitorResult, outcome: DriftOutcome | None) -> None:
    """Write the HTML report and JSON summary under the data root, and log both with the metrics to MLflow."""
    from mlflow.entities import Metric, Param

    stamp = file_stamp(result.evaluated_at)
    summary = result.to_json()
    ws.store.write_text("reports", REPORTS_FOLDER, f"{stamp}.json", text=summary)
    run_id = result.mlflow_run_id
    now_ms = int(time.time() * 1000)
    params = {
        "project": result.project,
        "champion_version": result.champion_version,
        "window": result.window,
        "window_start": result.window_start.isoformat(),
        "window_end": result.window_end.isoformat(),
        "num_method": result.num_method,
        "cat_method": result.cat_method,
        "correction": result.correction,
        "threshold": result.threshold,
        "drift_share": result.drift_share,
        "min_rows": result.min_rows,
    }
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, now_ms, 0) for k, v in _metrics(result).items()],
        params=[Param(k, str(v)) for k, v in params.items()],
    )
    client.log_text(run_id, summary, f"{REPORTS_FOLDER}/{stamp}.json")
    if outcome is not None:
        evidently = outcome.html()
        ws.store.write_text("reports", REPORTS_FOLDER, evidently_name(stamp), text=evidently)
        client.log_text(run_id, evidently, f"{REPORTS_FOLDER}/{evidently_name(stamp)}")
        page = render_page(result.to_dict(), evidently_name(stamp))
        ws.store.write_text("reports", REPORTS_FOLDER, f"{stamp}.html", text=page)
        client.log_text(run_id, page, f"{REPORTS_FOLDER}/{stamp}.html")


# --------------------------------------------------------------------------------------------- monitor
@dataclass(frozen=True)
class _Run:
    """What one monitoring run works on, passed between its steps."""

    ws: Workspace
    client: MlflowClient
    champion: Champion
    spec: WindowSpec
    start: dt.datetime
    end: dt.datetime
    run_id: str
    timings: dict[str, float]


def monitor(ws: Workspace, window: WindowSpec | str | None = None, now: dt.datetime | None = None) -> MonitorResult:
    """One monitoring run for the project's champion; see the module docstring."""

    spec = window if isinstance(window, WindowSpec) else WindowSpec.parse(window)
    now = as_utc(now or utc_now())
    client = tracking.configure(ws.settings)
    champion = resolve_champion(client, ws.project)
    start = window_start(champion, spec, now)
    started = time.perf_counter()
    window_data = read_window(ws, champion, start, now, spec)
    timings = {"read_window_s": time.perf_counter() - started}
    experiment_id = tracking.ensure_experiment(client, ws.settings, EXPERIMENT)
    tags = {RUN_TAG_PROJECT: ws.name, RUN_TAG_CHAMPION: champion.version}
    run_id = client.create_run(experiment_id, run_name=f"monitor-{ws.name}-{file_stamp(now)}", tags=tags).info.run_id
    try:
        context = _Run(ws, client, champion, spec, start, now, run_id, timings)
        result, outcome = _evaluate(context, window_data)
        client.set_tag(run_id, RUN_TAG_STATUS, result.status)
        publish(ws, client, result, outcome)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id)
    return result


def _evaluate(run: _Run, window: WindowData) -> tuple[MonitorResult, DriftOutcome | None]:
    """Drift (when the window is big enough) and delayed-label performance, assembled into the result."""

    project = run.ws.project
    outcome, reference_rows = None, 0
    if window.rows >= project.drift.min_rows:
        started = time.perf_counter()
        reference = load_reference(run.client, run.champion)
        reference_rows = len(reference)
        outcome = assess_drift(reference, window.sample, project, order_by=SERVED_AT, window_rows=window.rows)
        run.timings["drift_s"] = time.perf_counter() - started
    started = time.perf_counter()
    performance = champion_performance(project, window, run.champion)
    run.timings["performance_s"] = time.perf_counter() - started
    return _result(run, window.rows, outcome, reference_rows, performance), outcome


def _notes(run: _Run, rows: int, outcome: DriftOutcome | None) -> tuple[str, ...]:
    notes = list(run.champion.notes)
    if outcome is None:
        notes.append(
            f"insufficient data: {rows} rows served by version {run.champion.version} in the window, "
            f"fewer than drift.min_rows = {run.ws.project.drift.min_rows}; no drift decision"
        )
    else:
        notes.extend(outcome.warnings)
    return tuple(notes)


def _result(
    run: _Run, rows: int, outcome: DriftOutcome | None, reference_rows: int, performance: Performance
) -> MonitorResult:
    ws, drift, stamp = run.ws, run.ws.project.drift, file_stamp(run.end)
    status = STATUS_INSUFFICIENT if outcome is None else STATUS_DRIFT if outcome.dataset_drift else STATUS_NO_DRIFT
    return MonitorResult(
        project=ws.name,
        status=status,
        drift_detected=None if outcome is None else outcome.dataset_drift,
        champion_version=run.champion.version,
        promoted_at=run.champion.promoted_at,
        window=run.spec.describe(),
        window_start=run.start,
        window_end=run.end,
        window_rows=rows,
        sample_rows=0 if outcome is None else outcome.sample_rows,
        reference_rows=reference_rows,
        min_rows=drift.min_rows,
        num_method=drift.num_method,
        cat_method=drift.cat_method,
        correction=drift.correction.value,
        threshold=drift.threshold,
        drift_share=drift.drift_share,
        columns=() if outcome is None else outcome.columns,
        drifted_count=0 if outcome is None else outcome.drifted_count,
        share_drifted=None if outcome is None else outcome.share_drifted,
        performance=performance,
        report_url=None if outcome is None else ws.store.url("reports", REPORTS_FOLDER, f"{stamp}.html"),
        evidently_url=None if outcome is None else ws.store.url("reports", REPORTS_FOLDER, evidently_name(stamp)),
        summary_url=ws.store.url("reports", REPORTS_FOLDER, f"{stamp}.json"),
        mlflow_run_id=run.run_id,
        evaluated_at=run.end,
        warnings=_notes(run, rows, outcome),
        timings={k: round(v, 3) for k, v in run.timings.items()},
    )
