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
from typing import TYPE_CHECKING

from projects.contract import Feature, FeatureType, OutlierAction, Project, UnitRule

if TYPE_CHECKING:
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
        out.counts["strip_whitespace"] = sum(_strip_column(out.frame, column) for column in list(out.frame.columns))
    for column in cleaning.lowercase:
        out.counts[f"lowercase:{column}"] = _lowercase_column(out.frame, column)
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


def _text(frame: pd.DataFrame, column: str) -> pd.Series | None:
    """The column's string values (NaN elsewhere), or None when it holds no text (numeric Parquet columns)."""
    if column not in frame.columns or frame[column].dtype.kind != "O":  # object and pandas string columns
        return None
    try:
        return frame[column].str
    except AttributeError:  # an object column without a single string in it
        return None


def _strip_column(frame: pd.DataFrame, column: str) -> int:
    """Strip surrounding whitespace; a value that was only whitespace becomes missing (what an empty field means)."""
    accessor = _text(frame, column)
    if accessor is None:
        return 0
    original = frame[column]
    stripped = accessor.strip()
    changed = stripped.notna() & (stripped != original)
    if not changed.any():
        return 0
    frame[column] = original.mask(changed, stripped.where(stripped != ""))
    return int(changed.sum())


def _lowercase_column(frame: pd.DataFrame, column: str) -> int:
    accessor = _text(frame, column)
    if accessor is None:
        return 0
    original = frame[column]
    lowered = accessor.lower()
    changed = lowered.notna() & (lowered != original)
    if changed.any():
        frame[column] = original.mask(changed, lowered)
    return int(changed.sum())


def _convert_units(frame: pd.DataFrame, rule: UnitRule) -> int:
    """'512 MB' -> 0.512 when the declared unit is GB. Unknown units are left alone, so the suite names them."""
    accessor = _text(frame, rule.column)
    if accessor is None:
        return 0
    parts = accessor.extract(NUMBER_WITH_UNIT)
    factors = {unit.lower(): factor for unit, factor in rule.factors.items()}
    factor = parts[1].str.lower().map(factors)
    convert = parts[0].notna() & factor.notna()
    if not convert.any():
        return 0
    values = parts[0][convert].astype(float) * factor[convert].astype(float)
    column = frame[rule.column].astype(object)
    column[convert] = values
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
