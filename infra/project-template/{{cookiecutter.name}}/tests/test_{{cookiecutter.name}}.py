"""{{ cookiecutter.name }}'s own tests (`make test` collects them): the contract loads, the sample batches pass the
data gate it implies, and the feature code is pure."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from projects.contract import FilesSource, load_project
from projects.settings import load_settings

NAME = "{{ cookiecutter.name }}"
HERE = Path(__file__).resolve().parents[1]


def test_the_contract_loads_and_names_its_folder() -> None:
    project = load_project(NAME, HERE.parent)
    assert project.name == NAME


def test_every_sample_batch_passes_the_data_gate() -> None:
    from fsspec.core import url_to_fs

    from pipelines.expectations import derive_specs
    from pipelines.validate import check_batch

    project = load_project(NAME, HERE.parent)
    source = project.source
    assert isinstance(source, FilesSource), "the template's source is files"
    fs, base = url_to_fs(source.url, **load_settings().storage_options())
    if not fs.exists(base):
        pytest.skip(f"source.url {source.url!r} does not exist on this machine: no sample to check")
    files = sorted(p for p in fs.ls(base, detail=False) if str(p).endswith((".csv", ".parquet")))
    if not files:
        pytest.skip(f"no CSV/Parquet batch under {source.url!r} yet")
    specs = derive_specs(project, dt.datetime.now(dt.UTC))
    for path in files:
        verdict = check_batch(project, specs, fs.cat_file(path), Path(str(path)).name)
        assert verdict.status == "validated", f"{path}: {verdict.reasons}"


def contract_rows(rows: int = 3) -> pd.DataFrame:
    """A few rows of the model's inputs, made from the contract: numbers across their range, each category."""
    project = load_project(NAME, HERE.parent)
    columns: dict[str, list[object]] = {}
    for feature in project.schema.features:
        if feature.values:
            columns[feature.name] = [feature.values[i % len(feature.values)] for i in range(rows)]
        elif feature.type.value == "boolean":
            columns[feature.name] = [i % 2 == 0 for i in range(rows)]
        else:
            low = feature.min if feature.min is not None else 0.0
            high = feature.max if feature.max is not None else low + 1.0
            columns[feature.name] = [low + (high - low) * i / max(rows - 1, 1) for i in range(rows)]
    sensitive = project.schema.sensitive
    if sensitive is not None and sensitive.model_input:
        columns[sensitive.name] = [sensitive.values[i % len(sensitive.values)] for i in range(rows)]
    return pd.DataFrame(columns)[project.schema.model_inputs]


def test_feature_code_is_pure_and_adds_what_the_contract_declares() -> None:
    from projects.{{ cookiecutter.name }}.features import add_features

    frame = contract_rows()
    before = frame.copy()
    out = add_features(frame)
    pd.testing.assert_frame_equal(frame, before)  # the input is not changed
    assert out.index.equals(frame.index), "every row, in the same order"
    derived = load_project(NAME, HERE.parent).model.derived
    assert set(derived) <= set(out.columns), f"model.derived names columns add_features does not add: {derived}"
