"""Pure feature code of {{ cookiecutter.name }}: a function of a DataFrame that returns a DataFrame, no I/O.

Turn your columns into what the model should see (ratios, flags, buckets) here, then switch it on in
project.yaml, declaring each column it adds with its type:

    model:
      feature_code: projects.{{ cookiecutter.name }}.features.add_features
      derived: {amount_per_item: numeric, is_night: boolean}

It becomes the model's first step: training, the gate, serving and batch scoring all run it on the declared
inputs, and it is pickled with the model (by value), so a champion keeps the code it was trained with. Types,
missing values, outliers and encoding stay the contract's business; test what you add in tests/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def add_features(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with the derived columns added (none yet)."""
    return frame.copy()
