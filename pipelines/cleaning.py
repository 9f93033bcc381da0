"""Cleaning: the fixes a project declares (``cleaning:`` and per-feature ``outliers:`` in project.yaml), as a pure step.

Cleaning runs before the suite so that harmless formatting noise (casing, stray whitespace, values written with a
unit, a re-sent extract duplicating rows) does not quarantine a batch, and so that declared outlier handling
(clip or flag) happens before the ranges are checked. It never touches what would hide a real error: it does
not fill missing values, invent categories, or drop rows that merely share an id. Every rule reports how many
values or rows it changed, so a person can see what the gate did to their data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from projects.contract import Feature, FeatureType, OutlierAction, Project, UnitRule

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

NUMBER_WITH_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]+)\s*$")


@dataclass
class Cleaned:
    """The cleaned frame and, per rule, how many values (or rows, for duplicates) it changed."""

    frame: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(self.counts.values())


def rule_names(project: Project) -> list[str]:
    """Every rule the project declares, in the order they run (the keys of ``Cleaned.counts``)."""
    cleaning = project.cleaning
    names = ["strip_whitespace"] if cleaning.strip_whitespace else []
    names += [f"lowercase:{column}" for column in cleaning.lowercase]
    names += [f"units:{rule.column}" for rule in cleaning.units]
    names += ["drop_exact_duplicates"] if cleaning.drop_exact_duplicates else []
    names += [f"outliers_{f.outliers.value}:{f.name}" for f in _outlier_features(project)]
    return names


def clean(project: Project, frame: pd.DataFrame) -> Cleaned:
    """Apply the declared rules in order: text normalisation, units, exact duplicates, then outliers."""
    cleaning = project.cleaning
    out = Cleaned(frame=frame.copy())
    if cleaning.strip_whitespace:
        out.counts["strip_whitespace"] = sum(_rewrite_text(out.frame, c, "strip") for c in list(out.frame.columns))
    for column in cleaning.lowercase:
        out.counts[f"lowercase:{column}"] = _rewrite_text(out.frame, column, "lower")
    for rule in cleaning.units:
        out.counts[f"units:{rule.column}"] = _convert_units(out.frame, rule)
    if cleaning.drop_exact_duplicates:
        before = len(out.frame)
        out.frame = out.frame.drop_duplicates(ignore_index=True)
        out.counts["drop_exact_duplicates"] = before - len(out.frame)
    for feature in _outlier_features(project):
        out.counts[f"outliers_{feature.outliers.value}:{feature.name}"] = _handle_outliers(out.frame, feature)
    return out


def _outlier_features(project: Project) -> list[Feature]:
    return [
        f for f in project.schema.features if f.type is FeatureType.numeric and f.outliers is not OutlierAction.reject
    ]


def _rewritten(original: pd.Series, how: Literal["strip", "lower"]) -> tuple[pd.Series, np.ndarray] | None:
    """Every text value stripped or lower-cased, and which values changed; None for a column without text.

    pyarrow's string kernels do it in C++ (a CSV batch is text in every column, so a per-value Python loop is
    the most expensive part of cleaning); a column mixing text with other objects falls back to pandas.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        text = pa.array(original.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        try:
            accessor = original.str
        except AttributeError:  # an object column without a single string in it
            return None
        new = accessor.strip() if how == "strip" else accessor.lower()
        return new, (new.notna() & (new != original)).to_numpy(dtype=bool)
    rewritten = pc.utf8_trim_whitespace(text) if how == "strip" else pc.utf8_lower(text)
    changed = pc.fill_null(pc.not_equal(rewritten, text), False).to_numpy(zero_copy_only=False)
    return pd.Series(rewritten.to_numpy(zero_copy_only=False), index=original.index, dtype=object), changed


def _rewrite_text(frame: pd.DataFrame, column: str, how: Literal["strip", "lower"]) -> int:
    """Rewrite a column's text in place; stripping a whitespace-only value leaves it missing. Returns the count."""
    if column not in frame.columns or frame[column].dtype.kind != "O":  # object and pandas string columns only
        return 0
    original = frame[column]
    result = _rewritten(original, how)
    if result is None or not result[1].any():
        return 0
    new, changed = result
    values = original.mask(changed, new)
    if how == "strip":
        values = values.mask(changed & (new == "").to_numpy(dtype=bool))
    frame[column] = values
    return int(changed.sum())


def _convert_units(frame: pd.DataFrame, rule: UnitRule) -> int:
    """'512 MB' -> 0.512 when the declared unit is GB. Unknown units are left alone, so the suite names them."""
    import pandas as pd

    if rule.column not in frame.columns or frame[rule.column].dtype.kind != "O":
        return 0
    original = frame[rule.column]
    candidates = original.notna() & pd.to_numeric(original, errors="coerce").isna()  # plain numbers carry no unit
    if not candidates.any():
        return 0
    parts = original[candidates].astype(str).str.extract(NUMBER_WITH_UNIT)
    factors = {unit.lower(): factor for unit, factor in rule.factors.items()}
    factor = parts[1].str.lower().map(factors)
    convert = parts[0].notna() & factor.notna()
    if not convert.any():
        return 0
    column = original.astype(object)
    column[convert[convert].index] = parts[0][convert].astype(float) * factor[convert].astype(float)
    frame[rule.column] = column
    return int(convert.sum())


def _handle_outliers(frame: pd.DataFrame, feature: Feature) -> int:
    """Clip to the declared range or flag (set missing); values that are not numbers are left for the suite."""
    import numpy as np
    import pandas as pd

    if feature.name not in frame.columns:
        return 0
    original = frame[feature.name]
    numbers = pd.to_numeric(original, errors="coerce")
    low = -np.inf if feature.min is None else feature.min
    high = np.inf if feature.max is None else feature.max
    outside = (numbers < low) | (numbers > high)
    if not outside.any():
        return 0
    flagged = pd.Series(np.nan, index=numbers.index)
    replacement = numbers.clip(low, high) if feature.outliers is OutlierAction.clip else flagged
    if original.dtype.kind in "fi":
        frame[feature.name] = numbers.mask(outside, replacement)
    else:  # text from a CSV: only the outliers become numbers, the rest is typed later like any other value
        column = original.astype(object)
        column[outside] = replacement[outside]
        frame[feature.name] = column
    return int(outside.sum())
