"""A project's own feature code (`model.feature_code`, `model.derived`): the model's first step, its columns used,
its mistakes named, and pickled with the model so a champion loads where the code is not importable."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING, Any

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from pipelines.features import build_pipeline, encode_target
from pipelines.training import pickled_by_value
from projects.contract import ContractError, FeatureType, parse_project

if TYPE_CHECKING:
    from pathlib import Path

    from projects.contract import Project

HERE = __name__  # tests.pipelines.test_feature_code: the functions below are what the contracts point at


def add_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Charges per month of tenure, a heavy-user flag and a tenure band: one derived column of each type."""
    out = frame.copy()
    out["charge_per_month"] = out["monthly_charges"] / (out["tenure_months"].astype("float64") + 1.0)
    out["heavy_user"] = out["data_usage_gb"] > 40
    out["tenure_band"] = pd.cut(out["tenure_months"], [-1, 12, 36, 1000], labels=["new", "settled", "loyal"])
    out["scratch"] = 1.0  # an undeclared column: not a model input
    return out


def forgets_a_column(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.copy()


def drops_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.head(1).copy()


def reorders_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("tenure_months").assign(charge_per_month=1.0)


def drops_an_input(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["region"]).assign(charge_per_month=1.0)


DERIVED = {"charge_per_month": "numeric", "heavy_user": "boolean", "tenure_band": "categorical"}


def with_feature_code(project: Project, function: str, derived: dict[str, str] | None = None) -> Project:
    contract = project.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    contract["model"] |= {"feature_code": f"{HERE}.{function}", "derived": DERIVED if derived is None else derived}
    return parse_project(contract, "tests/pipelines/test_feature_code.py")


def fit(project: Project, train: pd.DataFrame) -> Any:
    inputs = project.schema.model_inputs
    return build_pipeline(project).fit(train[inputs], encode_target(project, train[project.schema.target.name]))


def test_feature_code_runs_first_and_the_model_uses_every_derived_column(churn_project, churn_data):
    project = with_feature_code(churn_project, "add_features")
    train, holdout = churn_data
    model = fit(project, train)
    assert model.steps[0][0] == "feature_code"
    names = list(model[:-1].get_feature_names_out())
    assert "numeric__charge_per_month" in names
    assert "boolean__heavy_user" in names
    assert {"derived_categorical__tenure_band_new", "derived_categorical__tenure_band_loyal"} <= set(names)
    assert not any("scratch" in n for n in names), "an undeclared column the function adds is not a model input"
    inputs = holdout[project.schema.model_inputs]
    before = inputs.copy()
    proba = model.predict_proba(inputs)
    assert proba.shape == (len(holdout), 2)
    assert np.isfinite(proba).all()
    pd.testing.assert_frame_equal(inputs, before)  # the caller's frame is not touched


def test_derived_columns_change_what_the_model_learns(churn_project, churn_data):
    train, holdout = churn_data
    plain = fit(churn_project, train).predict_proba(holdout[churn_project.schema.model_inputs])
    project = with_feature_code(churn_project, "add_features")
    derived = fit(project, train).predict_proba(holdout[project.schema.model_inputs])
    assert not np.allclose(plain, derived), "the derived columns reached the estimator"


def test_a_function_that_forgets_a_declared_column_is_named(churn_project, churn_data):
    project = with_feature_code(churn_project, "forgets_a_column")
    with pytest.raises(ValueError, match=r"forgets_a_column: did not add the derived column\(s\) \['charge_per_month'"):
        fit(project, churn_data[0])


def test_a_function_that_drops_rows_is_refused(churn_project, churn_data):
    project = with_feature_code(churn_project, "drops_rows", derived={})
    with pytest.raises(ValueError, match=r"drops_rows: returned 1 row\(s\) for \d+; keep every row"):
        fit(project, churn_data[0])


@pytest.mark.parametrize(
    ("function", "why"),
    [
        ("reorders_rows", r"reorders_rows: changed the rows' index or order"),
        ("drops_an_input", r"drops_an_input: dropped input column\(s\) \['region'\]"),
    ],
)
def test_feature_code_that_would_mismatch_predictions_and_records_is_refused(churn_project, churn_data, function, why):
    project = with_feature_code(churn_project, function, derived={"charge_per_month": "numeric"})
    with pytest.raises(ValueError, match=why):
        fit(project, churn_data[0])


def test_contract_errors_name_the_key(churn_project):
    with pytest.raises(ContractError, match=r"model.feature_code: 'tests.pipelines.test_feature_code.nowhere'"):
        build_pipeline(with_feature_code(churn_project, "nowhere"))
    contract = churn_project.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    contract["model"]["derived"] = {"ratio": "numeric"}
    with pytest.raises(ContractError, match=r"model\.derived: columns are derived by model\.feature_code"):
        parse_project(contract, "project.yaml")
    contract["model"] |= {"feature_code": f"{HERE}.add_features", "derived": {"tenure_months": "numeric"}}
    with pytest.raises(ContractError, match=r"model.derived: \['tenure_months'\] already declared in schema"):
        parse_project(contract, "project.yaml")
    assert with_feature_code(churn_project, "add_features").model.derived["heavy_user"] is FeatureType.boolean


def test_the_pickled_model_carries_its_feature_code(churn_project, churn_data, tmp_path: Path):
    """Pickled as training logs it, the model loads and scores in a process where neither this test module nor
    the platform's packages can be imported: the feature code travelled by value."""
    project = with_feature_code(churn_project, "add_features")
    train, holdout = churn_data
    model = fit(project, train)
    with pickled_by_value(project):
        blob = cloudpickle.dumps(model)
    (tmp_path / "model.pkl").write_bytes(blob)
    holdout[project.schema.model_inputs].head(5).to_pickle(tmp_path / "inputs.pkl")
    expected = model.predict_proba(holdout[project.schema.model_inputs].head(5))
    script = (
        "import sys\n"
        "for name in ('tests', 'pipelines', 'projects'): sys.modules[name] = None  # importing them now fails\n"
        "import pickle, pandas as pd, numpy as np\n"
        f"model = pickle.loads(open({str(tmp_path / 'model.pkl')!r}, 'rb').read())\n"
        f"proba = model.predict_proba(pd.read_pickle({str(tmp_path / 'inputs.pkl')!r}))\n"
        "np.save(sys.argv[1], proba)\n"
    )
    out = tmp_path / "proba.npy"
    done = subprocess.run(
        [sys.executable, "-c", script, str(out)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_allclose(np.load(out), expected)
