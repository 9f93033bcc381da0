"""The contract-derived pipeline: every dtype the platform hands it, outlier handling, estimator errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.features import build_pipeline, cast_inputs, encode_target, load_estimator, model_scores
from projects.contract import ContractError, Task
from tests.helpers import builders
from tests.helpers.models import fit_on


def test_pipeline_scores_validated_frames_with_missing_values_of_every_kind(churn_project, churn_data, churn_model):
    # Given validated-typed rows with NA in a float, a pandas "string" and a nullable "boolean" column
    holdout = churn_data[1].head(20).copy()
    holdout.loc[0, "data_usage_gb"] = np.nan
    holdout.loc[1, "contract"] = pd.NA
    holdout.loc[2, "senior_citizen"] = pd.NA
    inputs = holdout[churn_project.schema.model_inputs]
    assert str(inputs["contract"].dtype) == "string"
    assert str(inputs["senior_citizen"].dtype) == "boolean"
    # When the fitted pipeline scores them
    proba = churn_model.predict_proba(inputs)
    # Then every row gets a probability, positive class in column 1
    assert proba.shape == (20, 2)
    assert np.isfinite(proba).all()
    assert list(churn_model.classes_) == [0, 1], "column 1 of predict_proba must be the positive class"


def test_pipeline_accepts_what_a_service_sends_object_columns_none_and_unknown_categories(churn_project, churn_model):
    # Given JSON-like records: Python objects, None for missing, a category the contract does not know
    record = {
        "tenure_months": 3,
        "monthly_charges": 99.5,
        "data_usage_gb": None,
        "support_calls": 4,
        "contract": "month-to-month",
        "internet_service": "satellite",
        "payment_method": None,
        "region": "north",
        "senior_citizen": None,
        "has_partner": True,
        "paperless_billing": "false",
    }
    frame = pd.DataFrame([record, record]).astype(object)
    # Then it scores them instead of failing on dtype or unknown values
    scores = model_scores(churn_model, frame[churn_project.schema.model_inputs], Task.classification)
    assert scores.shape == (2,)
    assert np.all((scores >= 0) & (scores <= 1))


def test_cast_applies_declared_outlier_handling_clip_and_flag():
    frame = pd.DataFrame({"a": [-5.0, 5.0, 50.0], "b": [-5.0, 5.0, 50.0], "flag": pd.array([True, None, False])})
    out = cast_inputs(
        frame, numeric=["a", "b"], boolean=["flag"], categorical=[], clip={"a": (0.0, 10.0)}, flag={"b": (0.0, 10.0)}
    )
    assert out["a"].tolist() == [0.0, 5.0, 10.0], "clip: values pinned to [min, max]"
    assert out["b"].isna().tolist() == [True, False, True], "flag: out-of-range values become missing"
    assert out["flag"].tolist()[0] == 1.0
    assert np.isnan(out["flag"].tolist()[1])


def test_cast_names_the_missing_column():
    with pytest.raises(ValueError, match="missing column"):
        cast_inputs(pd.DataFrame({"a": [1.0]}), numeric=["a", "b"], boolean=[], categorical=[], clip={}, flag={})


def test_sensitive_attribute_as_input_is_one_hot_encoded(churn_project, biased_data):
    project = builders.with_sensitive_input(churn_project)
    model = fit_on(project, biased_data[0])
    names = list(model[:-1].get_feature_names_out())
    assert any("gender_female" in n for n in names), names


def test_estimator_errors_name_the_key(churn_project):
    with pytest.raises(ContractError, match=r"model.estimator: 'sklearn.nope.Missing' cannot be imported"):
        load_estimator(builders.with_estimator(churn_project, "sklearn.nope.Missing"))
    with pytest.raises(ContractError, match=r"model.params: .*rejected"):
        load_estimator(builders.with_estimator(churn_project, "sklearn.linear_model.LogisticRegression", {"bogus": 1}))
    with pytest.raises(ContractError, match="is a regressor, but task is classification"):
        load_estimator(builders.with_estimator(churn_project, "sklearn.linear_model.Ridge"))


def test_encode_target_marks_the_declared_positive_class(churn_project):
    target = pd.array([True, False, True], dtype="boolean")
    assert encode_target(churn_project, pd.Series(target)).tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="'churned': 1 missing target"):
        encode_target(churn_project, pd.Series(pd.array([True, None], dtype="boolean")))


def test_regression_pipeline_fits_and_predicts_numbers():
    project = builders.regression_project()
    batches = builders.regression_batches(project, batches=3)
    train, holdout = builders.concat(batches[:2]), builders.concat(batches[2:])
    model = build_pipeline(project).fit(train[project.schema.model_inputs], encode_target(project, train["kwh"]))
    predictions = model_scores(model, holdout[project.schema.model_inputs], Task.regression)
    rmse = float(np.sqrt(np.mean((predictions - holdout["kwh"].to_numpy()) ** 2)))
    assert rmse < 25, f"a linear model should explain the linear mechanism; rmse {rmse:.1f}"


def _pandas_reference_cast(frame, *, numeric, boolean, categorical, clip, flag):  # type: ignore[no-untyped-def]
    """The semantics cast_inputs keeps, written with pandas' string methods (its implementation until it was
    rewritten on numpy arrays for speed): the oracle for the test below."""
    out = pd.DataFrame(index=frame.index)
    for column in numeric:
        values = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        if column in clip:
            values = values.clip(lower=clip[column][0], upper=clip[column][1])
        if column in flag:
            low, high = flag[column]
            outside = (values < low if low is not None else False) | (values > high if high is not None else False)
            values = values.mask(outside)
        out[column] = values
    words = {"true": 1.0, "1": 1.0, "1.0": 1.0, "false": 0.0, "0": 0.0, "0.0": 0.0}
    for column in boolean:
        out[column] = frame[column].astype("string").str.strip().str.lower().map(words).astype("float64")
    for column in categorical:
        text = frame[column].astype("string").str.strip()
        out[column] = text.astype(object).where(text.notna(), np.nan)
    return out[[c for c in frame.columns if c in out.columns]]


def test_cast_inputs_matches_the_pandas_reference_on_every_input_dtype() -> None:
    """Given every dtype a caller may hand over (typed, nullable, object with text, numbers, None, NA, NaN,
    whitespace), when cast, then the numpy implementation equals the pandas reference value for value."""
    frame = pd.DataFrame(
        {
            "f": [1.5, np.nan, -3.0, 200.0, 7.0, 0.0, 50.0],
            "o": ["12", " 3.5 ", "abc", None, 4, np.nan, "1e3"],
            "i": pd.array([1, None, 3, 4, 5, 6, 700], dtype="Int64"),
            "b": pd.array([True, None, False, True, False, None, True], dtype="boolean"),
            "bo": ["TRUE", " 0 ", 1, 0.0, "yes", None, np.nan],
            "bn": np.array([True, False, True, True, False, False, True]),
            "c": pd.array([" a", "b ", None, "c", "a", " ", "b"], dtype="string"),
            "co": [5, "x ", None, 2.0, np.nan, pd.NA, "y"],
        },
        index=[10, 11, 12, 13, 14, 15, 16],
    )
    spec = {
        "numeric": ["f", "o", "i"],
        "boolean": ["b", "bo", "bn"],
        "categorical": ["c", "co"],
        "clip": {"f": (0.0, 100.0), "i": (None, 10.0)},
        "flag": {"o": (0.0, 100.0), "f": (None, 60.0)},
    }
    ours = cast_inputs(frame, **spec)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(ours, _pandas_reference_cast(frame, **spec))
    assert ours.loc[13, "f"] != ours.loc[13, "f"], "clipped to 100, then flagged above 60: missing"
    assert ours["bo"].tolist()[:4] == [1.0, 0.0, 1.0, 0.0]
    assert ours.loc[14, "bo"] != ours.loc[14, "bo"]
