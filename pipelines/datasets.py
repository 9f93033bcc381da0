"""The validated store's format, in one place: what the data gate writes and training reads.

A validated batch is ``<root>/<project>/validated/<batch-stem>.parquet`` with the contract's columns in
canonical order and these types: id -> string, timestamp -> datetime64[ns, UTC], numeric -> float64,
categorical and sensitive -> string, boolean -> pandas "boolean" (nullable), target -> "boolean" for a boolean
target else float64. ``coerce_types`` turns any readable frame into that shape or says which column and
which values did not fit.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from projects.contract import FeatureType, Project
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


def coerce_types(project: Project, frame: pd.DataFrame) -> pd.DataFrame:
    """Cast the contract's columns to their declared types; other columns are left as they are."""
    schema = project.schema
    out = frame.copy()
    for column in out.columns:
        if column == schema.id.name:
            out[column] = out[column].astype("string")
        elif column == schema.timestamp.name:
            out[column] = _to_time(out[column], column)
        elif column in (schema.sensitive.name,):
            out[column] = out[column].astype("string")
        elif column == schema.target.name:
            target = schema.target
            out[column] = (
                _to_bool(out[column], column) if target.type is FeatureType.boolean else _to_float(out[column], column)
            )
        elif column in schema.feature_names:
            kind = schema.feature(column).type
            if kind is FeatureType.numeric:
                out[column] = _to_float(out[column], column)
            elif kind is FeatureType.boolean:
                out[column] = _to_bool(out[column], column)
            else:
                out[column] = out[column].astype("string")
    return out


def validated_name(batch_name: str) -> str:
    stem, _ = posixpath.splitext(batch_name)
    return f"{stem}.parquet"


def list_validated(store: ProjectStore) -> list[str]:
    """Validated batch files, oldest first (batch names start with their date)."""
    return store.list("validated", suffixes=(".parquet",))


def read_validated(store: ProjectStore, names: list[str]) -> pd.DataFrame:
    """Concatenate validated batches, adding a ``_batch`` column naming the file each row came from."""
    import pandas as pd

    frames = [store.read_parquet("validated", name).assign(_batch=name) for name in names]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)
