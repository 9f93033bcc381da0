"""The inference log: the ONE place its format is defined. Serving writes it, monitoring reads it.

Every scored record becomes one row of an immutable Parquet part file under the data root::

    <root>/<project>/inference/date=YYYY-MM-DD/<host>-<pid>-<seq>.parquet

Columns, in this order (the types the validated store keeps):

- the contract's id column, by its name (string),
- every model input column and the sensitive column, by their names (float64 for numeric, pandas "boolean"
  for boolean, string for categorical and the sensitive attribute),
- ``prediction`` (float64: 1.0/0.0 for the positive class in binary classification, the index of the predicted
  class in ``schema.target.classes`` for a multiclass target, the value in regression),
- multiclass only: ``predicted_class`` (string: the predicted class by name),
- ``probability`` (float64: probability of the positive class in binary classification, of the predicted class
  for multiclass; NaN for regression or a model without one),
- multiclass only: one ``probability_<class>`` column per declared class, in the declared order (float64; see
  ``class_columns`` for how a class name becomes a column name),
- ``model_version`` (string) and ``served_at`` (datetime64[ns, UTC]).

A binary or regression project's log has exactly the four output columns above, as it always had.

In Arrow terms: string, double, bool and timestamp[ns, tz=UTC]. Parts are written with fastparquet and read
with pyarrow: serving then needs no pyarrow (~150 MB of its image), and readers rebuild the pandas dtypes from
the Arrow types (``log_frame``), not from the writer's pandas metadata, which differs between the two engines.

Object stores cannot append, so nothing appends: rows are buffered in memory off the request path and a
background thread writes a new part file every ``serving.log_flush_rows`` rows or ``serving.log_flush_seconds``
seconds, whichever comes first, and once more on graceful shutdown (``close``). On ``file://`` a part is written
to a hidden temporary name and renamed, so a reader never sees half a file; on ``s3://`` a PUT is atomic.

``seq`` starts at the process start time in milliseconds times 10^6 and counts up, so a restarted process
that gets the same host name and pid (pid 1 in a container) never overwrites an earlier part.

Compaction (``compact_partition``, ``mlops log compact``) merges a closed day's many small parts into one
part per column layout, named ``compacted-<digest>.parquet``, whose Parquet metadata lists the parts it replaces
(``mlops.replaces``). Readers skip every part a compacted part replaces, so no row is ever read twice or lost:
the compacted part is written (atomically) before anything is removed, the replaced parts are removed only after
the written row count was read back, and a run stopped in between is finished by the next one. A reader that
listed a part which a compaction then removed lists the folder again.

Loss bound on a hard kill (SIGKILL, OOM kill, power loss): only rows still in memory are lost, i.e. at most
the rows served since the last completed flush: fewer than ``log_flush_rows`` rows plus what arrived during the
flush in progress, and never more than ``log_flush_seconds`` seconds of traffic, while the store is reachable.
If the store is unreachable, rows stay buffered and are retried on the next flush; beyond
``max_buffer_rows`` (default 100 x ``log_flush_rows``) the oldest rows are dropped and counted
(``dropped_rows``), so memory stays bounded. A graceful shutdown (SIGTERM, Ctrl-C) loses nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import math
import os
import posixpath
import re
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from projects.clock import as_utc, utc_now
from projects.contract import FeatureType, Project
from projects.errors import PlatformError
from projects.storage import ProjectStore

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger("mlops.inference_log")

AREA: Final = "inference"
PREDICTION = "prediction"
PROBABILITY = "probability"
MODEL_VERSION = "model_version"
SERVED_AT = "served_at"
OUTPUT_COLUMNS = (PREDICTION, PROBABILITY, MODEL_VERSION, SERVED_AT)
PREDICTED_CLASS = "predicted_class"  # multiclass only
PROBABILITY_PREFIX = "probability_"  # multiclass only: one column per class
_CLASS_SAFE = re.compile(r"[^0-9a-z]+")
PARTITION_PREFIX = "date="
PART_SUFFIX = ".parquet"
COMPACTED_PREFIX = "compacted-"
REPLACES_KEY: Final = b"mlops.replaces"  # Parquet key-value metadata of a compacted part: the names it replaces
WRITER_ENGINE: Final = "fastparquet"  # see the module docstring: keeps pyarrow out of the serving image
_HOST_SAFE = re.compile(r"[^A-Za-z0-9._]+")


class InferenceLogError(PlatformError, RuntimeError):
    """A part file of the inference log that cannot be read; the message names its URL."""


# --------------------------------------------------------------------------------------------- the format
def record_columns(project: Project) -> list[str]:
    """The request-side columns of a log row: id, every model input, the sensitive attribute (once)."""
    schema = project.schema
    names = [schema.record_id, *schema.model_inputs]
    if schema.sensitive_name is not None and schema.sensitive_name not in names:
        names.append(schema.sensitive_name)
    return names


def class_columns(project: Project) -> dict[str, str]:
    """Multiclass: each declared class -> its probability column; empty for a binary or regression project.

    ``probability_`` + the class in lower case with every run of other characters than a-z and 0-9 replaced by
    ``_`` (``"Heavy Rain"`` -> ``probability_heavy_rain``). If two classes would get one name, one would be
    empty, or a name is taken by a contract column, every class is named by its position instead
    (``probability_0``, ``probability_1``, ...): a name never depends on which classes a batch held.
    """
    target = project.schema.target
    if not target.multiclass:
        return {}
    classes = list(target.classes or ())
    slugs = [_CLASS_SAFE.sub("_", c.lower()).strip("_") for c in classes]
    names = [f"{PROBABILITY_PREFIX}{slug}" for slug in slugs]
    taken = {*record_columns(project), *OUTPUT_COLUMNS, PREDICTED_CLASS}
    if not all(slugs) or len(set(names)) < len(names) or taken & set(names):
        names = [f"{PROBABILITY_PREFIX}{i}" for i in range(len(classes))]
    return dict(zip(classes, names, strict=True))


def output_columns(project: Project) -> list[str]:
    """What the service adds to a record, in file order (``OUTPUT_COLUMNS`` unless the target is multiclass)."""
    per_class = list(class_columns(project).values())
    if not per_class:
        return list(OUTPUT_COLUMNS)
    return [PREDICTION, PREDICTED_CLASS, PROBABILITY, *per_class, MODEL_VERSION, SERVED_AT]


def log_columns(project: Project) -> list[str]:
    """Every column of a log row, in file order."""
    return [*record_columns(project), *output_columns(project)]


_MEMO: dict[tuple[int, str], tuple[Project, Any]] = {}


def per_project(project: Project, key: str, build: Callable[[Project], Any]) -> Any:
    """``build(project)`` once per contract object: the request path must not re-derive the schema each time."""
    slot = (id(project), key)
    hit = _MEMO.get(slot)
    if hit is None or hit[0] is not project:  # the project is kept alive here, so its id cannot be reused
        hit = (project, build(project))
        _MEMO[slot] = hit
    return hit[1]


def column_kinds(project: Project) -> dict[str, str]:
    return per_project(project, "kinds", lambda p: {n: column_kind(p, n) for n in record_columns(p)})


def column_kind(project: Project, name: str) -> str:
    """'float64', 'boolean' or 'string': the dtype ``coerce_types`` gives this contract column."""
    schema = project.schema
    if name in schema.feature_names:
        kind = schema.feature(name).type
        return {FeatureType.numeric: "float64", FeatureType.boolean: "boolean"}.get(kind, "string")
    return "string"  # the record id, the sensitive attribute


def _is_missing(value: Any) -> bool:
    import pandas as pd

    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def typed_column(kind: str, values: Sequence[Any]) -> Any:
    """One column of Python values -> float64 / pandas "boolean" / pandas "string", missing as NaN / NA.

    Built with the array constructors directly: ``pd.array(values, dtype=...)`` costs ~35 us per column, which
    on a 1-row request was more than the rest of the frame.
    """
    import numpy as np
    import pandas as pd

    if kind == "float64":
        return np.asarray(values, dtype="float64")  # None -> NaN
    if kind == "boolean":
        mask = np.fromiter((_is_missing(v) for v in values), dtype=bool, count=len(values))
        data = np.fromiter((False if m else bool(v) for v, m in zip(values, mask, strict=True)), bool, len(values))
        return pd.arrays.BooleanArray(data, mask)
    return pd.arrays.StringArray._from_sequence(values, dtype=pd.StringDtype())  # NA-likes -> NA, as astype does


def typed_frame(project: Project, columns: Mapping[str, Sequence[Any]], names: Sequence[str]) -> pd.DataFrame:
    """Python values (None for missing), column by column -> a DataFrame typed as ``coerce_types`` types it.

    Serving builds the model's input with this, so the model sees exactly the types it was trained on.
    """
    import pandas as pd

    kinds = column_kinds(project)
    data = {name: typed_column(kinds.get(name) or column_kind(project, name), columns[name]) for name in names}
    return pd.DataFrame(data, copy=False)


def empty_log(project: Project | None = None) -> pd.DataFrame:
    """A log frame with no rows and the right dtypes (the whole schema when the project is known)."""
    import pandas as pd

    names = record_columns(project) if project is not None else []
    frame = typed_frame(project, {n: [] for n in names}, names) if project is not None else pd.DataFrame()
    frame[PREDICTION] = pd.Series(dtype="float64")
    per_class = class_columns(project) if project is not None else {}
    if per_class:
        frame[PREDICTED_CLASS] = pd.Series(dtype="string")
    frame[PROBABILITY] = pd.Series(dtype="float64")
    for column in per_class.values():
        frame[column] = pd.Series(dtype="float64")
    frame[MODEL_VERSION] = pd.Series(dtype="string")
    frame[SERVED_AT] = pd.Series(dtype="datetime64[ns, UTC]")
    return frame


def partition_name(day: dt.date) -> str:
    return f"{PARTITION_PREFIX}{day.isoformat()}"


def partition_day(name: str) -> dt.date | None:
    if not name.startswith(PARTITION_PREFIX):
        return None
    try:
        return dt.date.fromisoformat(name[len(PARTITION_PREFIX) :])
    except ValueError:
        return None


def part_name(host: str, pid: int, seq: int) -> str:
    return f"{_HOST_SAFE.sub('-', host) or 'host'}-{pid}-{seq:019d}{PART_SUFFIX}"


# --------------------------------------------------------------------------------------------- writer
@dataclass(frozen=True)
class _Chunk:
    """One scored request as the request path hands it over: no copying, no pandas."""

    inputs: Mapping[str, Sequence[Any]]
    prediction: np.ndarray
    probability: np.ndarray  # (rows,), or (rows, classes) for a multiclass target
    model_version: str
    served_at: dt.datetime
    rows: int


class InferenceLogWriter:
    """Buffers scored rows in memory and writes immutable part files from a background thread.

    ``append`` is what the request path calls: it only appends a reference under a lock, so a slow object
    store never slows a response. See the module docstring for when parts are written and the loss bound.
    """

    def __init__(
        self,
        store: ProjectStore,
        project: Project,
        *,
        flush_rows: int | None = None,
        flush_seconds: float | None = None,
        max_buffer_rows: int | None = None,
        host: str | None = None,
    ) -> None:
        self.store, self.project = store, project
        self.flush_rows = flush_rows or project.serving.log_flush_rows
        self.flush_seconds = flush_seconds or project.serving.log_flush_seconds
        self.max_buffer_rows = max_buffer_rows or 100 * self.flush_rows
        self.host = host or socket.gethostname()
        self._seq = int(time.time() * 1000) * 1_000_000
        self._chunks: deque[_Chunk] = deque()
        self._pending = 0
        self._lock = threading.Lock()  # guards the buffer
        self._flush_lock = threading.Lock()  # one flush at a time
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written_rows = 0
        self.dropped_rows = 0
        self.parts: list[str] = []

    # -- the request path ------------------------------------------------------------------------------
    def append(
        self,
        inputs: Mapping[str, Sequence[Any]],
        prediction: np.ndarray,
        probability: np.ndarray,
        model_version: str,
        *,
        served_at: dt.datetime | None = None,
    ) -> None:
        """Hand one scored request over (``inputs``: the record columns as Python lists).

        ``prediction`` and ``probability`` are what ``LoadedModel.score`` returns: for a multiclass target the
        predicted class indices and the (rows, classes) probability matrix, from which the log's multiclass
        columns are derived in the writer thread.
        """
        rows = len(prediction)
        served_at = utc_now() if served_at is None else as_utc(served_at)  # naive means UTC, as for ``since``
        chunk = _Chunk(inputs, prediction, probability, model_version, served_at, rows)
        with self._lock:
            self._chunks.append(chunk)
            self._pending += rows
            full = self._pending >= self.flush_rows
        if full:
            self._wake.set()

    @property
    def pending_rows(self) -> int:
        return self._pending

    # -- the background thread -------------------------------------------------------------------------
    def start(self) -> InferenceLogWriter:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.flush()
            except Exception:  # never let the thread die: the next flush retries
                log.exception("inference log: flush failed; rows stay buffered and are retried")

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread and write what is left (graceful shutdown loses nothing)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.flush()

    def __enter__(self) -> InferenceLogWriter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------------------
    def flush(self) -> list[str]:
        """Write everything buffered as one part per day; on failure put the rows back. Returns the URLs."""
        with self._flush_lock:
            with self._lock:
                chunks = list(self._chunks)
                self._chunks.clear()
                self._pending = 0
            urls: list[str] = []
            groups = list(_by_day(chunks).values())
            for i, group in enumerate(groups):
                try:
                    urls.append(self._write_day(group))
                except Exception:
                    self._requeue([c for g in groups[i:] for c in g])  # parts already written stay written
                    raise
            return urls

    def _write_day(self, chunks: list[_Chunk]) -> str:
        day = chunks[0].served_at.astimezone(dt.UTC).date()
        frame = chunks_to_frame(self.project, chunks)
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False, engine=WRITER_ENGINE)
        self._seq += 1
        url = write_part(
            self.store, partition_name(day), part_name(self.host, os.getpid(), self._seq), buffer.getvalue()
        )
        self.written_rows += len(frame)
        self.parts.append(url)
        return url

    def _requeue(self, chunks: list[_Chunk]) -> None:
        with self._lock:
            self._chunks.extendleft(reversed(chunks))
            self._pending += sum(c.rows for c in chunks)
            while self._pending > self.max_buffer_rows and self._chunks:
                dropped = self._chunks.popleft()
                self._pending -= dropped.rows
                self.dropped_rows += dropped.rows
        if self.dropped_rows:
            log.error("inference log: store unreachable, %d rows dropped so far", self.dropped_rows)


def _by_day(chunks: list[_Chunk]) -> dict[dt.date, list[_Chunk]]:
    days: dict[dt.date, list[_Chunk]] = {}
    for chunk in chunks:
        days.setdefault(chunk.served_at.astimezone(dt.UTC).date(), []).append(chunk)
    return days


def chunks_to_frame(project: Project, chunks: Sequence[_Chunk]) -> pd.DataFrame:
    """Concatenate handed-over requests into one typed log frame (in the writer thread, not per request)."""
    import numpy as np
    import pandas as pd

    names = record_columns(project)
    columns = {name: [v for c in chunks for v in c.inputs[name]] for name in names}
    frame = typed_frame(project, columns, names)
    frame[PREDICTION] = np.concatenate([np.asarray(c.prediction, dtype="float64") for c in chunks])
    per_class = class_columns(project)
    if per_class:
        _class_outputs(project, frame, np.concatenate([np.asarray(c.probability, dtype="float64") for c in chunks]))
    else:
        frame[PROBABILITY] = np.concatenate([np.asarray(c.probability, dtype="float64") for c in chunks])
    rows = [c.rows for c in chunks]
    versions = np.repeat(np.array([c.model_version for c in chunks], dtype=object), rows)
    frame[MODEL_VERSION] = typed_column("string", versions.tolist())
    # one stamp per request, repeated: pd.to_datetime on a list of datetimes costs ~1 us per row
    micros = np.array([round(c.served_at.timestamp() * 1e6) for c in chunks], dtype="int64")
    stamps = np.repeat(micros * 1000, rows).view("datetime64[ns]")
    frame[SERVED_AT] = pd.DatetimeIndex(stamps).tz_localize("UTC")
    return frame


def _class_outputs(project: Project, frame: pd.DataFrame, proba: np.ndarray) -> None:
    """Multiclass columns from the (rows, classes) matrix: predicted class by name, its probability, every class."""
    import numpy as np

    classes = list(class_columns(project))
    proba = proba.reshape(len(frame), len(classes))
    index = frame[PREDICTION].to_numpy().astype(int)
    frame[PREDICTED_CLASS] = typed_column("string", [classes[i] for i in index])
    frame[PROBABILITY] = proba[np.arange(len(frame)), index] if len(frame) else np.array([], dtype="float64")
    for k, column in enumerate(class_columns(project).values()):
        frame[column] = proba[:, k]


def write_part(store: ProjectStore, partition: str, name: str, data: bytes) -> str:
    """Write one part so that no reader ever sees it half-written; returns its URL."""
    protocol = store.fs.protocol if isinstance(store.fs.protocol, str) else store.fs.protocol[0]
    if protocol not in {"file", "local"}:
        return store.write_bytes(AREA, partition, name, data=data)  # an object PUT is atomic
    final = store.path(AREA, partition, name)
    temporary = store.path(AREA, partition, f".{name}.tmp")
    store.fs.makedirs(posixpath.dirname(final), exist_ok=True)
    store.fs.pipe_file(temporary, data)
    store.fs.mv(temporary, final)
    return store.url(AREA, partition, name)


# --------------------------------------------------------------------------------------------- reader
def list_partitions(store: ProjectStore, since: dt.datetime | None = None) -> list[tuple[dt.date, str]]:
    """(day, partition folder) pairs, oldest first, pruned to days that can hold rows at or after ``since``."""
    first = as_utc(since).date() if since is not None else None
    days = [(day, name) for name in store.list_dirs(AREA) if (day := partition_day(name)) is not None]
    return sorted(d for d in days if first is None or d[0] >= first)


def list_parts(store: ProjectStore, partition: str) -> list[str]:
    """Names of the complete parts in one ``date=`` folder, in name order (hidden names are still being written)."""
    return [n for n in store.list(AREA, partition, suffixes=(PART_SUFFIX,)) if not n.startswith(".")]


def replaced_by(blob: bytes, url: str) -> frozenset[str]:
    """The part names a compacted part replaces (its ``mlops.replaces`` metadata); empty for any other part."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(pa.BufferReader(blob)).metadata or {}
        names = json.loads(metadata[REPLACES_KEY]) if REPLACES_KEY in metadata else []
    except Exception as exc:
        raise InferenceLogError(f"{url}: unreadable inference log part: {exc}") from exc
    return frozenset(str(n) for n in names)


def fetch_partition(store: ProjectStore, partition: str, attempts: int = 5) -> list[tuple[str, bytes]]:
    """(URL, compressed bytes) of every live part in one ``date=`` folder, in name order.

    Live: complete (not hidden) and not replaced by a compacted part of the same folder. One ``cat`` call for
    the whole folder: object stores then serve the parts concurrently. A part that vanished between the listing
    and the read was removed by a compaction that had already written its replacement: the folder is listed
    again.
    """
    for _ in range(attempts):
        names = list_parts(store, partition)
        paths = [store.path(AREA, partition, n) for n in names]
        try:
            blobs = store.fs.cat(paths) if paths else {}
        except FileNotFoundError:
            continue
        urls = [store.url(AREA, partition, n) for n in names]
        fetched = [(n, url, blobs[path]) for n, url, path in zip(names, urls, paths, strict=True)]
        replaced: set[str] = set()
        for name, url, blob in fetched:
            if name.startswith(COMPACTED_PREFIX):
                replaced |= replaced_by(blob, url)
        return [(url, blob) for name, url, blob in fetched if name not in replaced]
    raise InferenceLogError(
        f"{store.url(AREA, partition)}: parts kept disappearing while the folder was read ({attempts} listings);"
        " is more than one compaction running?"
    )


def read_part(blob: bytes, url: str, columns: list[str] | None = None) -> pa.Table:
    """One part file as an Arrow table (``columns`` only, if given); the error names the part's URL."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(pa.BufferReader(blob), columns=columns)
    except Exception as exc:
        raise InferenceLogError(f"{url}: unreadable inference log part: {exc}") from exc


def log_frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table of log rows -> the log's pandas dtypes (string, boolean, float64, datetime64[ns, UTC]).

    Decided by the Arrow types alone, so a part reads the same whichever engine wrote it.
    """
    import pandas as pd
    import pyarrow as pa

    mapping = {pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype(), pa.bool_(): pd.BooleanDtype()}
    frame = table.to_pandas(types_mapper=mapping.get, ignore_metadata=True)
    if SERVED_AT in frame.columns:
        frame[SERVED_AT] = frame[SERVED_AT].astype("datetime64[ns, UTC]")
    return frame


def read_inference_log(
    store: ProjectStore,
    since: dt.datetime | None = None,
    model_version: str | None = None,
    max_rows: int | None = None,
    *,
    project: Project | None = None,
) -> pd.DataFrame:
    """Rows served at or after ``since`` (naive = UTC) by ``model_version``, oldest first.

    Only ``date=`` partitions that can hold such rows are listed and read. With ``max_rows`` the newest rows
    are kept, and older partitions are not read once enough rows were found. ``project`` only shapes the
    empty result (all columns) when nothing matches.
    """
    import pandas as pd

    frames: list[pd.DataFrame] = []
    found = 0
    for _, partition in reversed(list_partitions(store, since)):
        for url, blob in fetch_partition(store, partition):
            frame = log_frame(read_part(blob, url))
            keep = frame
            if since is not None:
                keep = keep[keep[SERVED_AT] >= pd.Timestamp(as_utc(since))]
            if model_version is not None:
                keep = keep[keep[MODEL_VERSION] == str(model_version)]
            if len(keep):
                frames.append(keep)
                found += len(keep)
        if max_rows is not None and found >= max_rows:
            break
    if not frames:
        return empty_log(project)
    out = pd.concat(frames, ignore_index=True).sort_values(SERVED_AT, kind="stable", ignore_index=True)
    return out.tail(max_rows).reset_index(drop=True) if max_rows is not None else out


# --------------------------------------------------------------------------------------------- compaction
@dataclass(frozen=True)
class Compaction:
    """What compacting one ``date=`` folder did."""

    day: dt.date
    url: str
    parts_before: int
    parts_after: int
    rows: int
    bytes_before: int
    bytes_after: int
    removed: int  # part files removed (those just merged, and any an interrupted run had left behind)

    @property
    def merged(self) -> bool:
        return self.parts_after < self.parts_before


def closed_days(store: ProjectStore, now: dt.datetime | None = None, grace: dt.timedelta | None = None) -> list[str]:
    """The ``date=`` folders of days that ended at least ``grace`` (default one hour) before ``now``, oldest first.

    Serving flushes a day's last rows within ``serving.log_flush_seconds`` of midnight; a part that arrives
    later still (rows retried after the store was unreachable) is merged by the next compaction.
    """
    grace = dt.timedelta(hours=1) if grace is None else grace
    last_closed = (as_utc(now or utc_now()) - grace).date() - dt.timedelta(days=1)
    return [name for day, name in list_partitions(store) if day <= last_closed]


def _layout(schema: pa.Schema) -> tuple[tuple[str, str], ...]:
    """A part's columns and types, string and large_string alike: parts of one layout merge into one part."""
    import pyarrow as pa

    return tuple((f.name, str(pa.string() if f.type == pa.large_string() else f.type)) for f in schema)


def _footer(store: ProjectStore, partition: str, name: str) -> tuple[pa.Schema, int]:
    """A part's Arrow schema (with its key-value metadata) and row count, from the footer alone."""
    import pyarrow.parquet as pq

    url = store.url(AREA, partition, name)
    try:
        with store.fs.open(store.path(AREA, partition, name), "rb") as handle:
            parquet = pq.ParquetFile(handle)
            return parquet.schema_arrow, parquet.metadata.num_rows
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise InferenceLogError(f"{url}: unreadable inference log part: {exc}") from exc


def _replaces(schema: pa.Schema) -> frozenset[str]:
    metadata = schema.metadata or {}
    return frozenset(json.loads(metadata[REPLACES_KEY])) if REPLACES_KEY in metadata else frozenset()


def compact_partition(
    store: ProjectStore, partition: str, *, scratch: Path | None = None, row_group_rows: int = 131_072
) -> Compaction:
    """Merge one ``date=`` folder's live parts into one compacted part per column layout. Loses nothing.

    Footers first (schema, rows, what a compacted part replaces); then, per layout with more than one part,
    each part is fetched and decoded one at a time and streamed into a local file under ``scratch`` (the
    temporary directory by default) in row groups of up to ``row_group_rows``, so memory stays near one part
    plus one row group whatever the size of the day. The compacted part is uploaded atomically, its row count is
    read back, and only then are the parts it replaces removed. Parts an interrupted run had already replaced
    are removed too.
    """
    day = partition_day(partition)
    if day is None:
        raise InferenceLogError(f"{store.url(AREA, partition)}: not a date=YYYY-MM-DD folder of the inference log")
    names = list_parts(store, partition)
    footers = {n: _footer(store, partition, n) for n in names}
    sizes = {n: int(store.fs.size(store.path(AREA, partition, n))) for n in names}
    replaced = set().union(*(_replaces(footers[n][0]) for n in names if n.startswith(COMPACTED_PREFIX)))
    live = [n for n in names if n not in replaced]
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for name in live:
        groups.setdefault(_layout(footers[name][0]), []).append(name)
    to_remove = {n for n in names if n in replaced}  # an interrupted run wrote their replacement, then stopped
    written: list[str] = []
    for members in groups.values():
        if len(members) == 1:
            continue  # one part already holds this layout
        covers = set(members)
        for name in members:  # a compacted part merged again: what it replaced stays replaced
            covers |= _replaces(footers[name][0]) if name.startswith(COMPACTED_PREFIX) else set()
        target = _write_compacted(
            store, partition, members, sorted(covers), scratch=scratch, row_group_rows=row_group_rows
        )
        expected = sum(footers[n][1] for n in members)
        got = _footer(store, partition, target)[1]
        if got != expected:
            raise InferenceLogError(
                f"{store.url(AREA, partition, target)}: the compacted part holds {got} rows, the parts it replaces"
                f" {expected}; nothing was removed"
            )
        written.append(target)
        to_remove |= covers
    to_remove -= set(written)
    present = [n for n in sorted(to_remove) if n in footers]
    if present:
        store.fs.rm([store.path(AREA, partition, n) for n in present])
    after = [n for n in list_parts(store, partition) if n not in to_remove]
    return Compaction(
        day=day,
        url=store.url(AREA, partition),
        parts_before=len(live),
        parts_after=len(after),
        rows=sum(footers[n][1] for n in live),
        bytes_before=sum(sizes[n] for n in live),
        bytes_after=sum(int(store.fs.size(store.path(AREA, partition, n))) for n in after),
        removed=len(present),
    )


def compacted_name(covers: Sequence[str]) -> str:
    """Derived from what it replaces: a rerun over the same parts writes the same name, never a second copy."""
    digest = hashlib.sha256("\n".join(sorted(covers)).encode()).hexdigest()[:20]
    return f"{COMPACTED_PREFIX}{digest}{PART_SUFFIX}"


def _write_compacted(
    store: ProjectStore,
    partition: str,
    members: Sequence[str],
    covers: Sequence[str],
    *,
    scratch: Path | None,
    row_group_rows: int,
) -> str:
    """Stream ``members`` into one local Parquet file and upload it as a compacted part; returns its name."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = compacted_name(covers)
    with tempfile.TemporaryDirectory(prefix="mlops-compact-", dir=scratch) as folder:
        local = Path(folder) / name
        writer: pq.ParquetWriter | None = None
        pending: list[pa.Table] = []
        pending_rows = 0
        try:
            for member in members:
                url = store.url(AREA, partition, member)
                table = read_part(store.read_bytes(AREA, partition, member), url)
                table = table.replace_schema_metadata(None)
                if writer is None:
                    schema = _unified(table.schema).with_metadata({REPLACES_KEY: json.dumps(list(covers)).encode()})
                    writer = pq.ParquetWriter(local, schema, compression="zstd")
                pending.append(table.cast(_unified(table.schema)))
                pending_rows += table.num_rows
                if pending_rows >= row_group_rows:
                    writer.write_table(pa.concat_tables(pending), row_group_size=row_group_rows)
                    pending, pending_rows = [], 0
            if writer is not None and pending:
                writer.write_table(pa.concat_tables(pending), row_group_size=row_group_rows)
        finally:
            if writer is not None:
                writer.close()
        _upload_part(store, partition, name, local)
    return name


def _unified(schema: pa.Schema) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([f.with_type(pa.string()) if f.type == pa.large_string() else f for f in schema])


def _upload_part(store: ProjectStore, partition: str, name: str, local: Path) -> None:
    """Upload a local part so that no reader sees it half-written (as ``write_part`` does for bytes)."""
    protocol = store.fs.protocol if isinstance(store.fs.protocol, str) else store.fs.protocol[0]
    final = store.path(AREA, partition, name)
    if protocol not in {"file", "local"}:
        store.fs.put_file(str(local), final)  # an object PUT (or a completed multipart upload) is atomic
        return
    temporary = store.path(AREA, partition, f".{name}.tmp")
    store.fs.put_file(str(local), temporary)
    store.fs.mv(temporary, final)
