"""Pure feature code of {{ cookiecutter.name }}: functions of a DataFrame that return a DataFrame, no I/O.

Keep here what turns your columns into what the model should see (ratios, flags, buckets) and test it in
tests/. The platform's contract, data gate and pipeline already take care of types, missing values and encoding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def add_features(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with derived columns added (none yet)."""
    return frame.copy()
