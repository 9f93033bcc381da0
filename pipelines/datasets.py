"""The validated store's format, in one place: what the data gate writes and training reads.

A validated batch is ``<root>/<project>/validated/<batch-stem>.parquet`` with the contract's columns in
canonical order (``Schema.stored_columns``: key, time, features, sensitive attribute, target; the key is the
declared id or a derived row key, the time the declared timestamp or the batch's time), next to
``<batch-stem>.json``, its ``BatchRecord`` (time, time source, rows, content hash). Types: key -> string,
time -> datetime64[ns, UTC], numeric -> float64, categorical and sensitive -> string (a coded category as its
declared value), boolean -> pandas "boolean" (nullable), target -> "boolean" for a boolean target, string (the
declared class; one coded as numbers as its declared text) for a categorical one, else float64.
``coerce_types`` turns any readable frame into that shape or says which column and which values did not fit.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from projects.clock import as_utc
from projects.contract import REQUEST_ID, Feature, FeatureType, Project
from projects.errors import PlatformError
from projects.storage import ProjectStore

if TYPE_CHECKING:
    import pandas as pd

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "1.0"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "0.0"})


class CoercionError(PlatformError, ValueError):
    """A column whose values cannot take the contract's type; names the column and example values."""

    def __init__(self, column: str, expected: str, examples: list[str]) -> None:
        message = f"column {column!r}: expected {expected}; cannot read values such as {examples}"
        super().__init__(message, column=column, value=examples[0] if examples else None)
        self.expected, self.examples = expected, examples


def _to_bool(series: pd.Series, column: str) -> pd.Series:
    import pandas as pd

    if series.dtype == bool or str(series.dtype) == "boolean":
        return series.astype("boolean")
    text = series.astype("string").str.strip().str.lower()
    mapped = text.map(lambda v: True if v in TRUE_WORDS else False if v in FALSE_WORDS else None)
    bad = text.notna() & mapped.isna()
    if bad.any():
        raise CoercionError(column, "a boolean (true/false)", sorted(set(text[bad].head(5))))
    return pd.Series(pd.array(mapped, dtype="boolean"), index=series.index)


def _to_float(series: pd.Series, column: str) -> pd.Series:
    import pandas as pd

    numbers = pd.to_numeric(series, errors="coerce")
    bad = series.notna() & numbers.isna() & (series.astype("string").str.strip() != "")
    if bad.any():
        raise CoercionError(column, "a number", sorted(set(series[bad].astype(str).head(5))))
    return numbers.astype("float64")


def _to_time(series: pd.Series, column: str) -> pd.Series:
    import pandas as pd

    times = pd.to_datetime(series, errors="coerce", utc=True, format="ISO8601")
    bad = series.notna() & times.isna()
    if bad.any():
        raise CoercionError(column, "an ISO-8601 timestamp", sorted(set(series[bad].astype(str).head(5))))
    return times.astype("datetime64[ns, UTC]")


def _to_category(series: pd.Series, feature: Feature) -> pd.Series:
    """Text, with a coded feature's numbers written as its declared values (1, 1.0, '1' -> the declared '1')."""
    text = series.astype("string")
    if not feature.coded:
        return text
    return text.map(feature.declared_value, na_action="ignore").astype("string")


def coerce_types(project: Project, frame: pd.DataFrame) -> pd.DataFrame:
    """Cast the contract's columns to their declared types; other columns are left as they are."""
    schema = project.schema
    text_columns = {schema.key_column, schema.record_id, REQUEST_ID, schema.sensitive_name}
    out = frame.copy()
    for column in out.columns:
        if column == schema.time_column:
            out[column] = _to_time(out[column], column)
        elif column in text_columns:
            out[column] = out[column].astype("string")
        elif column == schema.target.name:
            target = schema.target
            if target.type is FeatureType.boolean:
                out[column] = _to_bool(out[column], column)
            elif target.type is FeatureType.categorical:
                text = out[column].astype("string").str.strip()
                out[column] = text.map(target.declared_class, na_action="ignore").astype("string")
            else:
                out[column] = _to_float(out[column], column)
        elif column in schema.feature_names:
            feature = schema.feature(column)
            if feature.type is FeatureType.numeric:
                out[column] = _to_float(out[column], column)
            elif feature.type is FeatureType.boolean:
                out[column] = _to_bool(out[column], column)
            else:
                out[column] = _to_category(out[column], feature)
    return out


def validated_name(batch_name: str) -> str:
    stem, _ = posixpath.splitext(batch_name)
    return f"{stem}.parquet"


def record_name(validated: str) -> str:
    """``validated/<stem>.json``: the batch record written beside ``validated/<stem>.parquet``."""
    return f"{posixpath.splitext(validated)[0]}.json"


# --------------------------------------------------------------------------------------------- batch records
@dataclass(frozen=True)
class BatchRecord:
    """A validated batch as windows see it: when it happened, where that time comes from, what it holds.

    Batches are ordered by ``time`` (then by name), never by file name alone: the newest event for data with a
    timestamp, else the batch's declared time. ``late`` says the batch arrived with data older than the
    champion's training watermark when it was validated.
    """

    name: str  # validated/<stem>.parquet
    batch: str  # the landing file
    time: str  # ISO, UTC: what orders batches
    first: str  # ISO, UTC: the oldest event (or the batch time)
    time_source: str  # "event time" | "file name" | "file modified" | "landed"
    rows: int
    sha256: str | None = None
    late: bool = False

    @property
    def moment(self) -> dt.datetime:
        return as_utc(dt.datetime.fromisoformat(self.time))

    @property
    def start(self) -> dt.datetime:
        return as_utc(dt.datetime.fromisoformat(self.first))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def write_record(store: ProjectStore, record: BatchRecord) -> str:
    return store.write_text("validated", record_name(record.name), text=record.to_json())


def read_record(store: ProjectStore, project: Project, name: str) -> BatchRecord:
    """A validated batch's record; one validated before records were kept is timed from its own rows."""
    path = record_name(name)
    if store.exists("validated", path):
        data = json.loads(store.read_text("validated", path))
        return BatchRecord(**{k: data[k] for k in BatchRecord.__dataclass_fields__ if k in data})
    times = store.read_parquet("validated", name)[project.schema.time_column]
    first, last = (times.min(), times.max()) if len(times) else (EPOCH, EPOCH)
    return BatchRecord(name, name, last.isoformat(), first.isoformat(), "event time", len(times))


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def batch_records(store: ProjectStore, project: Project) -> list[BatchRecord]:
    """Every validated batch's record, oldest first by time (ties by name)."""
    names = store.list("validated", suffixes=(".parquet",))
    return sorted((read_record(store, project, n) for n in names), key=lambda r: (r.moment, r.name))


def row_keys(project: Project, frame: pd.DataFrame) -> pd.Series:
    """A stable key per row from its declared values, for data without an id: identical rows get one key.

    pandas' hash of every declared column (a fixed hash key, so it is the same in every process and run), as hex.
    """
    import pandas as pd

    columns = [c for c in project.schema.columns if c in frame.columns]
    hashed = pd.util.hash_pandas_object(frame[columns], index=False)
    return pd.Series([f"{int(v):016x}" for v in hashed], index=frame.index, dtype="string")


def list_validated(store: ProjectStore, project: Project) -> list[str]:
    """Validated batch files, oldest first by their time (never by file name: an undated name sorts anywhere)."""
    return [r.name for r in batch_records(store, project)]


def read_validated(store: ProjectStore, names: list[str]) -> pd.DataFrame:
    """Concatenate validated batches, adding a ``_batch`` column naming the file each row came from."""
    import pandas as pd

    frames = [store.read_parquet("validated", name).assign(_batch=name) for name in names]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)
