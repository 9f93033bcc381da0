"""The model: a scikit-learn Pipeline derived from the contract and the model spec, nothing restated by hand.

The pipeline takes a pandas DataFrame with ``project.schema.model_inputs`` as columns, typed the way the
validated store keeps them (float64 with NaN, pandas "string" and nullable "boolean" with NA) or the looser way
a service receives them (object columns with None, Python bools). Its first step casts every column to a type
scikit-learn handles (float with NaN, object with NaN) and applies the declared outlier handling, so the same
model object is robust wherever it is loaded. Preprocessing then follows each feature's declared type:

- numeric: impute (median or mean), optionally scale;
- boolean: impute the most frequent value, as 0/1;
- categorical (and the sensitive attribute when it is a model input): impute, then one-hot with the declared
  categories, unknown categories encoded as all zeros.

The estimator is imported from its dotted path with the declared params. The cast function lives at module
level so that training can pickle it by value: the logged model then needs only scikit-learn, pandas and numpy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from projects.contract import ContractError, FeatureType, OutlierAction, Project, Task

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline


_TRUE, _FALSE = frozenset({"true", "1", "1.0"}), frozenset({"false", "0", "0.0"})


def _numeric(series: pd.Series) -> np.ndarray:
    import numpy as np
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":  # float64 from the store and the service: no parsing
        return series.to_numpy(dtype="float64", copy=True)
    if dtype.kind in "fiub":  # pandas' nullable Float64 / Int64 / boolean
        return series.to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _boolean(series: pd.Series) -> np.ndarray:
    import numpy as np
    import pandas as pd

    if isinstance(series.dtype, pd.BooleanDtype) or series.dtype == bool:
        return series.to_numpy(dtype="float64", na_value=np.nan)
    values = series.to_numpy(dtype=object)
    out = np.full(len(values), np.nan)
    for i, value in enumerate(values):
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            continue
        text = str(value).strip().lower()
        out[i] = 1.0 if text in _TRUE else 0.0 if text in _FALSE else np.nan
    return out


def _categorical(series: pd.Series) -> np.ndarray:
    import numpy as np
    import pandas as pd

    values = series.to_numpy(dtype=object)
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        missing = value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))
        out[i] = np.nan if missing else str(value).strip()
    return out


def cast_inputs(
    frame: pd.DataFrame,
    *,
    numeric: list[str],
    boolean: list[str],
    categorical: list[str],
    clip: dict[str, tuple[float | None, float | None]],
    flag: dict[str, tuple[float | None, float | None]],
) -> pd.DataFrame:
    """Cast model inputs to float / object-with-NaN and apply the declared outlier handling.

    scikit-learn's imputers choke on pandas' NA (``bool(pd.NA)`` raises), and a service may hand over None or
    strings; casting here keeps the rest of the pipeline on plain numpy semantics. Column by column on numpy
    arrays, with no parsing for the dtypes the validated store and the service already give (float64, "boolean"):
    a 1-row call costs ~0.3 ms, where pandas' string methods cost ~6 ms, half of a served prediction.
    Booleans accept true/false/1/0/1.0/0.0 in any case and spacing; anything else becomes missing.
    """
    import numpy as np
    import pandas as pd

    missing = [c for c in [*numeric, *boolean, *categorical] if c not in frame.columns]
    if missing:
        raise ValueError(f"model input is missing column(s) {missing}; expected {[*numeric, *boolean, *categorical]}")
    columns: dict[str, np.ndarray] = {}
    for column in numeric:
        values = _numeric(frame[column])
        low, high = clip.get(column, (None, None))
        if low is not None:
            values = np.where(values < low, low, values)  # NaN stays NaN
        if high is not None:
            values = np.where(values > high, high, values)
        low, high = flag.get(column, (None, None))
        if low is not None:
            values[values < low] = np.nan
        if high is not None:
            values[values > high] = np.nan
        columns[column] = values
    for column in boolean:
        columns[column] = _boolean(frame[column])
    for column in categorical:
        columns[column] = _categorical(frame[column])
    order = [c for c in frame.columns if c in columns]  # input order, as get_feature_names_out expects
    return pd.DataFrame({c: columns[c] for c in order}, index=frame.index, copy=False)


def _bounds(project: Project, action: OutlierAction) -> dict[str, tuple[float | None, float | None]]:
    return {
        f.name: (f.min, f.max)
        for f in project.schema.features
        if f.type is FeatureType.numeric and f.outliers is action
    }


def input_columns(project: Project) -> dict[str, list[str]]:
    """Model inputs grouped by the preprocessing they get; the sensitive attribute counts as categorical."""
    schema = project.schema
    groups: dict[str, list[str]] = {"numeric": [], "boolean": [], "categorical": []}
    for feature in schema.features:
        groups[feature.type.value].append(feature.name)
    if schema.sensitive is not None and schema.sensitive.model_input:
        groups["categorical"].append(schema.sensitive.name)
    return groups


def categories(project: Project) -> dict[str, list[str]]:
    """Declared categories per categorical input, so one-hot columns never depend on which values a batch had."""
    schema = project.schema
    cats = {f.name: list(f.values or ()) for f in schema.features if f.type is FeatureType.categorical}
    if schema.sensitive is not None and schema.sensitive.model_input:
        cats[schema.sensitive.name] = list(schema.sensitive.values)
    return cats


def load_estimator(project: Project) -> Any:
    """Import ``model.estimator`` and build it with ``model.params``; errors name the key and the value."""
    spec = project.model
    module_name, _, attr = spec.estimator.rpartition(".")
    if not module_name:
        raise ContractError(
            f"model.estimator: {spec.estimator!r} is not an import path such as sklearn.linear_model.Ridge"
        )
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ContractError(f"model.estimator: {spec.estimator!r} cannot be imported: {exc}") from None
    try:
        estimator = cls(**spec.params)
    except TypeError as exc:
        raise ContractError(f"model.params: {spec.params} rejected by {spec.estimator}: {exc}") from None
    kind = _estimator_type(estimator)
    wanted = "classifier" if project.task is Task.classification else "regressor"
    if kind != wanted:
        raise ContractError(f"model.estimator: {spec.estimator} is a {kind}, but task is {project.task.value}")
    return estimator


def _estimator_type(estimator: Any) -> str | None:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(estimator):
        return "classifier"
    return "regressor" if is_regressor(estimator) else None


def load_feature_code(project: Project) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Import ``model.feature_code`` (a function of the project's own package); errors name the key and the value."""
    path = project.model.feature_code
    assert path is not None
    module_name, _, attr = path.rpartition(".")
    try:
        function: Callable[[pd.DataFrame], pd.DataFrame] = getattr(importlib.import_module(module_name), attr)
    except Exception as exc:  # the project's own module: any error in it is named
        raise ContractError(f"model.feature_code: {path!r} cannot be imported: {type(exc).__name__}: {exc}") from None
    if not callable(function):
        raise ContractError(f"model.feature_code: {path!r} is not a function")
    return function


def apply_feature_code(
    frame: pd.DataFrame, *, function: Callable[[pd.DataFrame], pd.DataFrame], derived: list[str], name: str
) -> pd.DataFrame:
    """The model's first step when the project has feature code: the inputs plus the derived columns it declares.

    The function gets a copy (a pure function cannot harm the caller's frame, an impure one cannot either); what
    it returns must be a DataFrame with the same rows in the same order (its index unchanged: predictions are
    matched to records by position), the inputs kept, and every column of ``model.derived``; else the error
    names the function and what is wrong. Errors are ValueError/TypeError, not the platform's: this function is
    pickled with the model and runs where the platform may not be importable.
    """
    import pandas as pd

    out = function(frame.copy())
    if not isinstance(out, pd.DataFrame):
        raise TypeError(f"model.feature_code {name}: returned {type(out).__name__}, expected a pandas DataFrame")
    if len(out) != len(frame):
        raise ValueError(f"model.feature_code {name}: returned {len(out)} row(s) for {len(frame)}; keep every row")
    if not out.index.equals(frame.index):
        raise ValueError(f"model.feature_code {name}: changed the rows' index or order; keep both as given")
    dropped = [c for c in frame.columns if c not in out.columns]
    if dropped:
        raise ValueError(f"model.feature_code {name}: dropped input column(s) {dropped}; add columns, keep these")
    missing = [c for c in derived if c not in out.columns]
    if missing:
        raise ValueError(f"model.feature_code {name}: did not add the derived column(s) {missing} (model.derived)")
    return out[[*frame.columns, *(c for c in derived if c not in frame.columns)]]


def _feature_code_names(transformer: Any, input_features: Any) -> list[str]:
    """get_feature_names_out of the feature-code step: the inputs, then the derived columns."""
    return [*input_features, *transformer.kw_args["derived"]]


def build_pipeline(project: Project) -> Pipeline:
    """The full model: [feature code ->] cast -> per-type preprocessing -> estimator, all from the contract."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    spec = project.model
    groups = input_columns(project)
    derived = {kind: [c for c, t in spec.derived.items() if t is kind] for kind in FeatureType}
    for kind in (FeatureType.numeric, FeatureType.boolean):
        groups[kind.value] += derived[kind]
    cast = FunctionTransformer(
        cast_inputs,
        kw_args={
            **groups,
            "categorical": [*groups["categorical"], *derived[FeatureType.categorical]],
            "clip": _bounds(project, OutlierAction.clip),
            "flag": _bounds(project, OutlierAction.flag),
        },
        validate=False,
        feature_names_out="one-to-one",
    )
    numeric_steps: list[Any] = [SimpleImputer(strategy=spec.numeric_impute)]
    if spec.scale:
        numeric_steps.append(StandardScaler())
    cats = categories(project)
    fill = {"fill_value": "__missing__"} if spec.categorical_impute == "constant" else {}
    transformers: list[tuple[str, Any, list[str]]] = [
        ("numeric", make_pipeline(*numeric_steps), groups["numeric"]),
        ("boolean", SimpleImputer(strategy="most_frequent"), groups["boolean"]),
        (
            "categorical",
            make_pipeline(
                SimpleImputer(strategy=spec.categorical_impute, **fill),
                OneHotEncoder(categories=[cats[c] for c in groups["categorical"]], handle_unknown="ignore"),
            ),
            groups["categorical"],
        ),
    ]
    if derived[FeatureType.categorical]:  # categories unknown before fitting: learned from the training window
        transformers.append(
            (
                "derived_categorical",
                make_pipeline(
                    SimpleImputer(strategy=spec.categorical_impute, **fill), OneHotEncoder(handle_unknown="ignore")
                ),
                derived[FeatureType.categorical],
            )
        )
    preprocess = ColumnTransformer([t for t in transformers if t[2]], remainder="drop")
    steps: list[tuple[str, Any]] = [("cast", cast), ("preprocess", preprocess), ("estimator", load_estimator(project))]
    if spec.feature_code is not None:
        code = FunctionTransformer(
            apply_feature_code,
            kw_args={"function": load_feature_code(project), "derived": list(spec.derived), "name": spec.feature_code},
            validate=False,
            feature_names_out=_feature_code_names,
        )
        steps.insert(0, ("feature_code", code))
    return Pipeline(steps)


def encode_target(project: Project, target: pd.Series) -> np.ndarray:
    """Binary: 1 for the declared positive class, else 0 (so predict_proba[:, 1] is the positive one).

    Multiclass: the label's index in ``schema.target.classes`` (so probability column k is class k); a value that
    is not a declared class is an error naming the column and the values. Regression: the value as float. A
    missing target is an error naming the column: validated data has none.
    """
    import numpy as np

    declared = project.schema.target
    name = declared.name
    if target.isna().any():
        raise ValueError(f"column {name!r}: {int(target.isna().sum())} missing target value(s) in training data")
    if project.task is Task.regression:
        return target.astype("float64").to_numpy()
    if declared.multiclass:
        classes = list(declared.classes or ())
        text = target.map(declared.declared_class).astype("string")
        codes = text.map({c: i for i, c in enumerate(classes)})
        unknown = codes.isna()
        if unknown.any():
            raise ValueError(
                f"column {name!r}: value(s) {sorted(set(text[unknown].astype(str)))[:5]} are not among the declared "
                f"classes {classes} (schema.target.classes)"
            )
        return np.asarray(codes, dtype=int)
    positive = declared.positive
    if declared.type is FeatureType.boolean:
        positive = True if positive is None else str(positive).strip().lower() in {"true", "1", "yes"}
        return (target.astype("boolean") == positive).astype(int).to_numpy()
    if declared.classes is not None:
        positive = declared.positive_text
        return (target.map(declared.declared_class).astype("string") == positive).astype(int).to_numpy()
    return (target.astype("string") == str(positive)).astype(int).to_numpy()


def class_probabilities(model: Any, frame: pd.DataFrame, classes: int) -> np.ndarray:
    """Multiclass: an (n, classes) matrix whose column k is P(class k), whatever classes the model saw.

    A model trained without some class (absent from the training window) has fewer predict_proba columns; its
    ``classes_`` say which indices they are, and an absent class gets probability 0, so the matrix is always
    aligned to ``schema.target.classes``.
    """
    import numpy as np

    proba = np.asarray(model.predict_proba(frame), dtype=float)
    seen = [int(c) for c in getattr(model, "classes_", range(proba.shape[1]))]
    if seen == list(range(classes)):
        return proba
    out = np.zeros((len(proba), classes))
    out[:, seen] = proba
    return out


def model_scores(model: Any, frame: pd.DataFrame, task: Task, classes: int | None = None) -> np.ndarray:
    """The number(s) the gate and behaviour tests look at: P(positive) for binary classification, the (n, classes)
    probability matrix for multiclass (``classes`` given), the prediction for regression."""
    import numpy as np

    if task is Task.classification and classes is not None:
        return class_probabilities(model, frame, classes)
    if task is Task.classification:
        return np.asarray(model.predict_proba(frame)[:, 1], dtype=float)
    return np.asarray(model.predict(frame), dtype=float)


def project_scores(project: Project, model: Any, frame: pd.DataFrame) -> np.ndarray:
    """``model_scores`` as the project's target asks: the probability matrix for a multiclass target."""
    target = project.schema.target
    return model_scores(model, frame, project.task, len(target.classes or ()) if target.multiclass else None)
