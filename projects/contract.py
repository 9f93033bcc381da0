"""The project contract: everything a project declares, validated once.

``projects/<name>/project.yaml`` is the single place where a project's schema (features, roles, ranges,
allowed sets, nullability), cleaning rules, model spec, gate, drift and serving settings are stated. The Great
Expectations suite, the service's request model, Evidently's column mapping and the training preprocessing are
all derived from these models; nothing restates the schema by hand.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from projects.errors import PlatformError


class ContractError(PlatformError, ValueError):
    """A project.yaml that cannot be used; the message names the file, the key and what was expected."""


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


# --------------------------------------------------------------------------------------------- schema
class FeatureType(StrEnum):
    numeric = "numeric"
    categorical = "categorical"
    boolean = "boolean"


class OutlierAction(StrEnum):
    reject = "reject"  # leave the value; the range expectation quarantines the batch
    clip = "clip"  # clip to [min, max] during cleaning (counted)
    flag = "flag"  # set to missing during cleaning (counted); the imputer fills it at training time


class Feature(Frozen):
    """One model input column."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: FeatureType
    description: str = ""
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] | None = Field(
        default=None,
        description="Allowed categories (categorical only). Numbers are allowed: a column coded as numbers takes "
        "1, 1.0 and '1' as the same declared value.",
    )
    max_null_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    integer: bool = False
    outliers: OutlierAction = OutlierAction.reject

    @field_validator("values", mode="before")
    @classmethod
    def _values_as_text(cls, value: Any) -> Any:
        """YAML reads ``[1, 2]`` as numbers: a category is kept as the text a person wrote (1 -> '1', 2.5 -> '2.5')."""
        if isinstance(value, list | tuple):
            return tuple(_category_text(v) for v in value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Feature:
        if self.type is FeatureType.categorical and not self.values:
            raise ValueError(f"feature {self.name!r}: a categorical feature needs 'values' (the allowed set)")
        if self.type is not FeatureType.categorical and self.values:
            raise ValueError(f"feature {self.name!r}: 'values' is only for categorical features")
        if self.type is not FeatureType.numeric and (self.min is not None or self.max is not None):
            raise ValueError(f"feature {self.name!r}: 'min'/'max' are only for numeric features")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"feature {self.name!r}: min {self.min} is greater than max {self.max}")
        if self.outliers is not OutlierAction.reject and (self.min is None and self.max is None):
            raise ValueError(f"feature {self.name!r}: outliers: {self.outliers} needs 'min' or 'max'")
        return self

    @property
    def nullable(self) -> bool:
        return self.max_null_fraction > 0

    @property
    def coded(self) -> bool:
        """A categorical feature whose every declared value is a number: 1, 1.0 and '1' mean the same value."""
        values = self.values or ()
        return bool(values) and self.type is FeatureType.categorical and all(_as_number(v) for v in values)

    def declared_value(self, raw: Any) -> Any:
        """The declared category ``raw`` stands for (coded features: by number), else ``raw`` unchanged.

        Used by the data gate and the service alike, so the model and the inference log see the declared value.
        """
        if not self.coded or raw is None or isinstance(raw, bool):
            return raw
        number = _as_number(raw)
        if number is None:
            return raw
        return _coded_lookup(self.values or ()).get(number[0], raw)


def _category_text(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def _as_number(value: Any) -> tuple[float] | None:
    """(value as a float,) when ``value`` is a finite number or text that reads as one; else None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return (number,) if math.isfinite(number) else None


@lru_cache(maxsize=256)
def _coded_lookup(values: tuple[str, ...]) -> dict[float, str]:
    return {number[0]: v for v in values if (number := _as_number(v)) is not None}


class IdColumn(Frozen):
    name: str


class TimestampColumn(Frozen):
    name: str
    max_future_seconds: int = Field(default=3600, ge=0, description="Clock skew tolerated before 'in the future'.")


MULTICLASS_METRICS = ("roc_auc", "f1", "accuracy", "precision", "recall", "log_loss")  # macro / one-vs-rest


class Target(Frozen):
    """The label. Three shapes of classification, one of regression:

    - ``type: boolean`` (the default): ``positive`` (default true) is the class the score is the probability of;
    - ``type: categorical`` with two ``classes`` and ``positive`` (one of them): binary, as a boolean target;
    - ``type: categorical`` with three or more ``classes`` and no ``positive``: multiclass; a label is encoded as
      its index in ``classes``, and the model's probabilities come in that order;
    - ``type: numeric``: regression (no ``classes``).
    """

    name: str
    type: FeatureType = FeatureType.boolean
    positive: str | bool | None = Field(default=True, description="Positive class (binary classification).")
    classes: tuple[str, ...] | None = Field(
        default=None,
        description="Categorical target: every class, in the order the model's probabilities take. Two classes "
        "need 'positive'; three or more are multiclass (no 'positive'). Numbers are kept as text (1 -> '1').",
    )

    @model_validator(mode="before")
    @classmethod
    def _multiclass_has_no_positive(cls, data: Any) -> Any:
        """A multiclass target has no positive class: the default (true) is dropped, a declared one refused."""
        if not isinstance(data, dict) or not isinstance(data.get("classes"), list | tuple):
            return data
        if len(data["classes"]) < 3:
            return data
        if data.get("positive") is not None:
            raise ValueError(
                f"target {data.get('name')!r}: positive: {data['positive']!r} is for a binary target; a target with "
                f"{len(data['classes'])} classes is multiclass and has no positive class (remove 'positive')"
            )
        return {**data, "positive": None}

    @field_validator("classes", mode="before")
    @classmethod
    def _classes_as_text(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            if any(isinstance(v, bool) for v in value):
                raise ValueError(
                    f"classes {list(value)}: YAML reads bare yes/no/true/false/on/off as booleans; quote the class "
                    'names ("no", "yes"), or declare type: boolean'
                )
            return tuple(_category_text(v) for v in value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Target:
        where = f"target {self.name!r}"
        if self.classes is not None and self.type is not FeatureType.categorical:
            raise ValueError(f"{where}: 'classes' are only for a categorical target (type: categorical)")
        if self.type is not FeatureType.categorical:
            return self
        if not self.classes or len(self.classes) < 2:
            raise ValueError(f"{where}: a categorical target needs 'classes' (two or more), got {self.classes}")
        repeated = sorted({c for c in self.classes if self.classes.count(c) > 1})
        if repeated:
            raise ValueError(f"{where}: classes must be unique; repeated: {repeated}")
        if len(self.classes) == 2:
            if "positive" not in self.model_fields_set or self.positive is None:
                raise ValueError(f"{where}: two classes {list(self.classes)} need 'positive' (one of them)")
            if isinstance(self.positive, bool):
                raise ValueError(
                    f"{where}: positive: {self.positive!r} was read as a boolean (YAML reads bare yes/no/true/false "
                    f'as booleans); quote it, e.g. positive: "{self.classes[1]}"'
                )
            if _category_text(self.positive) not in self.classes:
                raise ValueError(f"{where}: positive {self.positive!r} is not one of classes {list(self.classes)}")
        return self

    @property
    def multiclass(self) -> bool:
        """Three or more declared classes: labels are class indices, the score a probability per class."""
        return self.type is FeatureType.categorical and self.classes is not None and len(self.classes) >= 3

    @property
    def class_names(self) -> tuple[str, ...]:
        """The classes in probability order: as declared (multiclass), else (negative, positive)."""
        if self.classes is None:
            return ("false", "true")
        if self.multiclass:
            return self.classes
        return (*(c for c in self.classes if c != self.positive_text), self.positive_text)

    @property
    def positive_text(self) -> str:
        return str(_category_text(self.positive))

    def declared_class(self, raw: Any) -> Any:
        """The declared class ``raw`` stands for: a class coded as numbers takes 1, 1.0 and '1' alike."""
        classes = self.classes or ()
        if raw is None or isinstance(raw, bool) or not classes or not all(_as_number(c) for c in classes):
            return raw
        number = _as_number(raw)
        return raw if number is None else _coded_lookup(classes).get(number[0], raw)


class Sensitive(Frozen):
    """The attribute audited for fairness; logged with every inference either way."""

    name: str
    values: tuple[str, ...]
    model_input: bool = Field(default=False, description="True: fed to the model. False: audit-only.")


ROW_KEY = "_row_key"  # validated store, no id declared: a stable key derived from the row's contract values
BATCH_TIME = "_batch_time"  # validated store, no timestamp declared: the batch's time, on every row
REQUEST_ID = "request_id"  # no id declared: the id the service gives each record (and labels may carry back)
PLATFORM_COLUMNS = (ROW_KEY, BATCH_TIME, REQUEST_ID)


class Schema(Frozen):
    """Roles and features. Only the target and the features are required; each optional role has a fallback:

    - no ``id``: a row key derived from the row's values keys the validated store (lineage, re-deliveries); the
      service gives every record a ``request_id``, returns and logs it; labels joined back by that id;
    - no ``timestamp``: the batch's time (``source.batch_time``, else the file's modification time at ingest)
      orders batches and is the time of each of its rows;
    - no ``sensitive`` attribute: fairness is "not audited", recorded as such on the version, never a pass.
    """

    id: IdColumn | None = None
    timestamp: TimestampColumn | None = None
    target: Target
    sensitive: Sensitive | None = None
    features: tuple[Feature, ...] = Field(min_length=1)
    ignore: tuple[str, ...] = Field(
        default=(),
        description="Columns the batches carry that are dropped on arrival (free text, internal fields): never "
        "stored, never a model input, not an unexpected column.",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> Schema:
        names = [self.target.name, *(r.name for r in (self.id, self.timestamp, self.sensitive) if r is not None)]
        names += [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"column names must be unique across roles and features; repeated: {dupes}")
        both = sorted(set(names) & set(self.ignore))
        if both:
            raise ValueError(f"ignore: {both} are declared columns too; a column is either used or ignored")
        reserved = sorted(set(names) & set(PLATFORM_COLUMNS))
        if reserved:
            raise ValueError(f"column name(s) {reserved} are reserved for the platform's own columns; rename them")
        return self

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def sensitive_name(self) -> str | None:
        return self.sensitive.name if self.sensitive is not None else None

    @property
    def model_inputs(self) -> list[str]:
        """Columns the model sees, in order: the features plus the sensitive attribute if it is an input."""
        names = self.feature_names
        return [*names, self.sensitive.name] if self.sensitive is not None and self.sensitive.model_input else names

    @property
    def key_column(self) -> str:
        """What keys a row in the validated store: the declared id, else the derived row key."""
        return self.id.name if self.id is not None else ROW_KEY

    @property
    def time_column(self) -> str:
        """The time of a row in the validated store: the declared timestamp, else its batch's time."""
        return self.timestamp.name if self.timestamp is not None else BATCH_TIME

    @property
    def record_id(self) -> str:
        """What names a record the service answers (echoed, logged, joined with labels): the id or request_id."""
        return self.id.name if self.id is not None else REQUEST_ID

    @property
    def columns(self) -> list[str]:
        """Every column a landing batch must carry, in canonical order (only the declared roles)."""
        first = [r.name for r in (self.id, self.timestamp) if r is not None]
        audit = [self.sensitive.name] if self.sensitive is not None else []
        return [*first, *self.feature_names, *audit, self.target.name]

    @property
    def optional_columns(self) -> list[str]:
        """Columns a landing batch may carry besides ``columns``: the request id labels come back with."""
        return [REQUEST_ID] if self.id is None else []

    @property
    def stored_columns(self) -> list[str]:
        """The validated store's columns, in order: key, time, features, sensitive attribute, target."""
        audit = [self.sensitive.name] if self.sensitive is not None else []
        return [self.key_column, self.time_column, *self.feature_names, *audit, self.target.name]

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)


# --------------------------------------------------------------------------------------------- data source
class BatchTime(Frozen):
    """Where a batch's time comes from when the data has no timestamp column: its file name.

    ``pattern`` is a regular expression whose first group is the time; ``format`` parses it (strptime; empty: ISO
    8601). Without a match the file's modification time recorded at ingest is used (ties broken by name).
    """

    pattern: str = Field(default=r"(\d{4}-\d{2}-\d{2})", description="Regex; its first group is the time.")
    format: str = Field(default="", description="strptime format of the group; empty: ISO 8601.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if compiled.groups < 1:
            raise ValueError("the pattern needs one group (in parentheses) around the time")
        return value


class GeneratorSource(Frozen):
    kind: Literal["generator"]
    generator: str = Field(description="Import path 'package.module:Class' of a BatchGenerator.")
    seed: int = 42
    rows_per_batch: int = Field(default=2000, gt=0)
    start: str = Field(default="2026-01-01", description="Date of the first batch when landing is empty.")
    batch_time: BatchTime = Field(default_factory=BatchTime)  # generated batches are named <date>_<scenario>.csv


class FilesSource(Frozen):
    kind: Literal["files"]
    url: str = Field(description="Folder or prefix (any fsspec URL) holding CSV/Parquet batches.")
    pattern: str = "*"
    batch_time: BatchTime = Field(default_factory=BatchTime)


Source = Annotated[GeneratorSource | FilesSource, Field(discriminator="kind")]


# --------------------------------------------------------------------------------------------- cleaning
class UnitRule(Frozen):
    """Parse values such as '512 MB' into a number in the declared unit."""

    column: str
    unit: str
    factors: dict[str, float] = Field(min_length=1, description="Multiplier from each unit to 'unit'.")


class Redelivered(StrEnum):
    reject = "reject"  # quarantine a batch with rows an earlier validated batch already holds
    drop = "drop"  # drop those rows (counted in the report) and validate the rest


class Cleaning(Frozen):
    strip_whitespace: bool = True
    lowercase: tuple[str, ...] = Field(default=(), description="Categorical columns normalised to lower case.")
    units: tuple[UnitRule, ...] = ()
    drop_exact_duplicates: bool = Field(default=True, description="Identical rows inside one batch.")
    redelivered: Redelivered = Field(
        default=Redelivered.reject,
        description="Rows whose id (or row key) an earlier validated batch holds: reject the batch, or drop them.",
    )


# --------------------------------------------------------------------------------------------- model, gate
class Task(StrEnum):
    classification = "classification"
    regression = "regression"


class ModelSpec(Frozen):
    estimator: str = Field(
        description="Import path of a scikit-learn estimator, e.g. sklearn.linear_model.LogisticRegression"
    )
    params: dict[str, Any] = Field(default_factory=dict)
    numeric_impute: Literal["median", "mean"] = "median"
    scale: bool = True
    categorical_impute: Literal["most_frequent", "constant"] = "most_frequent"
    feature_code: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$",
        description=(
            "The project's own pure feature function, e.g. projects.fraud.features.add_features: DataFrame in, "
            "DataFrame with the derived columns added out; the model's first step, pickled with it."
        ),
    )
    derived: dict[str, FeatureType] = Field(
        default_factory=dict,
        description="Columns feature_code adds, with their type (numeric, boolean, categorical); the model uses them.",
    )

    @model_validator(mode="after")
    def _derived_needs_code(self) -> ModelSpec:
        if self.derived and self.feature_code is None:
            raise ValueError("model.derived: columns are derived by model.feature_code, which is not set")
        return self


class Training(Frozen):
    window_batches: int = Field(default=30, gt=0, description="Newest validated batches used (holdout included).")
    holdout_batches: int = Field(default=2, gt=0, description="Newest batches held out, never trained on.")
    reference_rows: int = Field(default=5000, gt=0, description="Training rows kept as the drift reference.")
    min_rows: int = Field(default=200, gt=0)

    @model_validator(mode="after")
    def _holdout_fits(self) -> Training:
        if self.holdout_batches >= self.window_batches:
            raise ValueError("holdout_batches must be smaller than window_batches")
        return self


class FairnessMetric(StrEnum):
    demographic_parity = "demographic_parity_difference"
    equal_opportunity = "equal_opportunity_difference"
    group_error_gap = "group_error_gap"


class Fairness(Frozen):
    metric: FairnessMetric
    max_gap: float = Field(ge=0)


class Invariance(Frozen):
    """Changing ``column`` to each of ``values`` must not move predictions by more than ``tolerance``."""

    kind: Literal["invariance"]
    name: str
    column: str
    values: tuple[str | float | bool, ...]
    tolerance: float = 0.05


class Directional(Frozen):
    """Adding ``delta`` to ``column`` must move the score in ``direction`` (for at least ``min_share`` of rows).

    The score is P(positive) for a binary target; a multiclass target has one probability per class, so
    ``target_class`` (required there, refused elsewhere) names the class whose probability must move.
    """

    kind: Literal["directional"]
    name: str
    column: str
    delta: float
    direction: Literal["increase", "decrease"]
    min_share: float = Field(default=0.9, ge=0, le=1)
    target_class: str | None = Field(
        default=None, description="Multiclass target only (required there): the class whose probability must move."
    )

    @field_validator("target_class", mode="before")
    @classmethod
    def _class_as_text(cls, value: Any) -> Any:
        return _category_text(value) if value is not None and not isinstance(value, bool) else value


class MinimumFunctionality(Frozen):
    """On the slice selected by ``where`` (a pandas query), the metric must reach ``min``.

    A slice with fewer than ``min_rows`` holdout rows is reported as not evaluated rather than failed: the metric
    on a handful of rows is noise (accuracy on 8 rows has a 95 % interval about 0.7 wide), and after a population
    shift a rare slice would otherwise block every retrained model. An empty slice still fails: it usually means
    the ``where`` no longer matches the data (a renamed category).
    """

    kind: Literal["minimum_functionality"]
    name: str
    where: str
    metric: str
    min: float
    min_rows: int = Field(default=50, gt=0)


Behaviour = Annotated[Invariance | Directional | MinimumFunctionality, Field(discriminator="kind")]


class Gate(Frozen):
    metric: str = Field(
        description="Primary metric: roc_auc, average_precision, f1, accuracy, precision, recall, log_loss, brier "
        "(binary); roc_auc (one-vs-rest, macro), f1, precision, recall (macro), accuracy, log_loss (multiclass); "
        "rmse, mae, r2 (regression)"
    )
    min_improvement: float = 0.0
    floor: float
    fairness: Fairness | None = Field(
        default=None, description="Without it (or without schema.sensitive) fairness is recorded as not audited."
    )
    behaviour: tuple[Behaviour, ...] = ()

    @property
    def higher_is_better(self) -> bool:
        return self.metric not in {"rmse", "mae", "log_loss", "brier"}


# --------------------------------------------------------------------------------------------- drift, serving
P_VALUE_METHODS = frozenset(
    {"ks", "chisquare", "chi2_contingency", "z", "fisher_exact", "anderson", "cramer_von_mises", "mannw", "t_test"}
)  # Evidently stat tests whose score is a p-value (distances such as psi or wasserstein are not)


class Correction(StrEnum):
    """Multiple-testing correction across the monitored columns (p-value tests only)."""

    none = "none"  # each column at ``threshold``
    bonferroni = "bonferroni"  # each column at threshold / columns: family-wise error <= threshold
    bh = "bh"  # Benjamini-Hochberg: expected share of false alarms among flagged columns <= threshold


class Drift(Frozen):
    """Pinned explicitly: Evidently's defaults change the test at 1,000 rows, so sampling would change it silently."""

    num_method: str = "ks"
    cat_method: str = "chi2_contingency"  # a two-sample test; Evidently's "chisquare" overstates drift
    threshold: float = Field(default=0.05, gt=0, lt=1)
    correction: Correction = Field(default=Correction.none, description="none, bonferroni or bh (monitoring/README).")
    drift_share: float = Field(default=0.5, gt=0, le=1)
    min_rows: int = Field(default=200, gt=0)
    sample_rows: int = Field(default=20000, gt=0)
    cooldown_minutes: float = Field(default=30, ge=0)

    @model_validator(mode="after")
    def _correctable(self) -> Drift:
        if self.correction is not Correction.none:
            distances = sorted({self.num_method, self.cat_method} - P_VALUE_METHODS)
            if distances:
                raise ValueError(
                    f"correction: {self.correction.value} corrects p-values, but {distances} return distances; "
                    f"use p-value tests ({', '.join(sorted(P_VALUE_METHODS))}) or correction: none"
                )
        return self


class Serving(Frozen):
    max_batch_size: int = Field(default=1000, gt=0)
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    poll_seconds: float = Field(default=5.0, gt=0)
    log_flush_rows: int = Field(default=1000, gt=0)
    log_flush_seconds: float = Field(default=5.0, gt=0)
    # Bounds a client cannot push past (serving/README.md, "What the service guarantees"); per process.
    max_concurrency: int = Field(default=32, gt=0, description="Predict calls in progress at once; more get 503")
    header_timeout_seconds: float = Field(default=10.0, gt=0, description="Time to send a request's headers")
    body_timeout_seconds: float = Field(default=30.0, gt=0, description="Time to send a predict call's body")
    keep_alive_seconds: float = Field(default=5.0, gt=0, description="An idle connection is closed after this")


class Trigger(Frozen):
    """How drift turns into a retraining. Where it runs is the platform's choice, not the project's
    (``MLOPS_MODE``: ``local`` retrains in-process, deduplicated by a file lock; ``kubernetes`` creates a Job from
    the project's suspended retraining CronJob), so one project.yaml runs on a laptop and in a cluster alike.
    ``kind: local`` is the only value a project can state."""

    kind: Literal["local"] = "local"


# --------------------------------------------------------------------------------------------- the project
CONTRACT_HASH_VERSION = 2
MODEL_SECTIONS = ("task", "schema_", "cleaning", "model", "training")  # what a trained model depends on


class Project(Frozen):
    # A Python package name (projects/<name>/ holds its code) and a Kubernetes name: lowercase letters and digits,
    # starting with a letter; 2 to 44 characters, so every name k8s/render.py generates fits (`--print-limits`).
    name: str = Field(pattern=r"^[a-z][a-z0-9]{1,43}$")
    description: str = ""
    task: Task
    source: Source
    schema_: Schema = Field(alias="schema")
    cleaning: Cleaning = Field(default_factory=Cleaning)
    expectations: tuple[dict[str, Any], ...] = Field(
        default=(), description="Extra Great Expectations: {type: ExpectColumn..., kwargs: {...}}"
    )
    model: ModelSpec
    training: Training = Field(default_factory=Training)
    gate: Gate
    drift: Drift = Field(default_factory=Drift)
    serving: Serving = Field(default_factory=Serving)
    trigger: Trigger = Field(default_factory=Trigger)

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)

    @field_validator("expectations")
    @classmethod
    def _expectation_shape(cls, value: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        for i, exp in enumerate(value):
            if set(exp) - {"type", "kwargs"} or "type" not in exp:
                raise ValueError(f"expectations[{i}]: expected {{type: ExpectSomething, kwargs: {{...}}}}, got {exp}")
        return value

    @model_validator(mode="after")
    def _references_exist(self) -> Project:
        known = set(self.schema_.columns)
        refs = [(f"cleaning.lowercase[{i}]", c) for i, c in enumerate(self.cleaning.lowercase)]
        refs += [(f"cleaning.units[{i}].column", r.column) for i, r in enumerate(self.cleaning.units)]
        refs += [
            (f"gate.behaviour[{i}].column", b.column) for i, b in enumerate(self.gate.behaviour) if hasattr(b, "column")
        ]
        for where, column in refs:
            if column not in known:
                raise ValueError(f"{where}: unknown column {column!r}; known columns: {sorted(known)}")
        clash = sorted(set(self.model.derived) & known)
        if clash:
            raise ValueError(f"model.derived: {clash} already declared in schema; a derived column needs a new name")
        self._target_fits_task()
        fairness = self.gate.fairness
        if fairness is not None and self.schema_.sensitive is None:
            raise ValueError(
                "gate.fairness: there is no schema.sensitive to audit; declare the sensitive attribute, or remove "
                "gate.fairness (the gate then records fairness as not audited)"
            )
        if (
            fairness is not None
            and self.task is Task.regression
            and fairness.metric is not FairnessMetric.group_error_gap
        ):
            raise ValueError("gate.fairness.metric: a regression project needs group_error_gap")
        return self

    def _target_fits_task(self) -> None:
        """Classes, the gate's metric and directional tests must fit the target's shape; errors name the key."""
        target = self.schema_.target
        if self.task is Task.regression and target.classes is not None:
            raise ValueError("schema.target.classes: a regression target has no classes (remove them, or use task: "
                             "classification)")  # fmt: skip
        if self.task is Task.regression and target.type is FeatureType.categorical:
            raise ValueError("schema.target.type: a regression target is numeric, not categorical")
        if target.multiclass and self.gate.metric not in MULTICLASS_METRICS:
            raise ValueError(
                f"gate.metric: {self.gate.metric!r} is not defined for the multiclass target {target.name!r}; "
                f"expected one of {list(MULTICLASS_METRICS)}"
            )
        for i, test in enumerate(self.gate.behaviour):
            if not isinstance(test, Directional):
                continue
            key = f"gate.behaviour[{i}].target_class"
            if target.multiclass and test.target_class is None:
                raise ValueError(
                    f"{key}: the multiclass target {target.name!r} has a probability per class; name the class whose "
                    f"probability must {test.direction} (one of {list(target.classes or ())})"
                )
            if target.multiclass and test.target_class not in (target.classes or ()):
                raise ValueError(f"{key}: {test.target_class!r} is not one of classes {list(target.classes or ())}")
            if not target.multiclass and test.target_class is not None:
                raise ValueError(f"{key}: only for a multiclass target; a binary score is P(positive) already")

    @property
    def schema(self) -> Schema:  # type: ignore[override]
        return self.schema_

    def contract_hash(self) -> str:
        """Hash of what a trained model depends on, recorded with every version and checked by serving.

        Only the sections that shape the model and its inputs count (``MODEL_SECTIONS``: task, schema, cleaning,
        model, training); the gate, drift, serving limits, trigger, source and descriptions can change without
        retraining. Values equal to their defaults are left out, so a release that adds a setting with a default
        keeps every champion's hash, and serving keeps serving it. A release that changes what an existing default
        means must bump ``CONTRACT_HASH_VERSION`` (every model is then retrained once).
        """
        dumped = self.model_dump(
            mode="json",
            by_alias=True,
            exclude_defaults=True,
            include=set(MODEL_SECTIONS),
            exclude={"schema_": {"features": {"__all__": {"description"}}}},  # words for people, not for the model
        )
        dumped["task"] = self.task.value  # required, so never a default: always in the hash
        canonical = json.dumps({"v": CONTRACT_HASH_VERSION, **dumped}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------- loading
def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"generator", "files", "invariance", "directional", "minimum_functionality"}:
            continue  # discriminator tags pydantic adds to the path; the user never wrote them
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def format_validation_error(path: Path | str, error: ValidationError) -> str:
    lines = [f"{path}: invalid project contract"]
    for err in error.errors():
        key = _location(tuple(err["loc"]))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not part of the contract; check the spelling or see `mlops project schema`)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        got = err.get("input")
        suffix = "" if err["type"] in {"missing", "extra_forbidden"} or isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  - {key}: {msg}{suffix}")
    return "\n".join(lines)


def parse_project(data: Any, path: Path | str = "<memory>") -> Project:
    if not isinstance(data, dict):
        raise ContractError(f"{path}: expected a mapping at the top level, got {type(data).__name__}", where=str(path))
    try:
        return Project.model_validate(data)
    except ValidationError as exc:
        keys = [_location(tuple(err["loc"])) for err in exc.errors()]
        raise ContractError(
            format_validation_error(path, exc), where=str(path), key=keys[0] if keys else None
        ) from None


def load_project_file(path: Path) -> Project:
    if not path.is_file():
        raise ContractError(f"{path}: project file not found", where=str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}", where=str(path)) from None
    return parse_project(data, path)


def project_dir(projects_dir: Path, name: str) -> Path:
    return projects_dir / name


def load_project(name: str, projects_dir: Path) -> Project:
    """Load ``<projects_dir>/<name>/project.yaml``; the name in the file must match its folder."""
    path = project_dir(projects_dir, name) / "project.yaml"
    if not path.is_file():
        known = sorted(p.parent.name for p in projects_dir.glob("*/project.yaml"))
        raise ContractError(
            f"{path}: project {name!r} not found; known projects: {', '.join(known) or 'none'}", where=str(path)
        )
    project = load_project_file(path)
    if project.name != name:
        raise ContractError(
            f"{path}: name: {project.name!r} does not match its folder {name!r}", where=str(path), key="name"
        )
    return project


NAME_PATTERN = re.compile(r"[a-z][a-z0-9]{1,43}")  # Project.name's pattern, for a name before there is a file


def check_new_name(name: str, projects_dir: Path) -> Path:
    """The folder a new project ``name`` would get; ContractError if the name cannot be one or is taken."""
    if not NAME_PATTERN.fullmatch(name):
        raise ContractError(
            f"project name {name!r}: use 2 to 44 lowercase letters and digits, starting with a letter (it is a "
            "Python package, projects/<name>/, and part of every Kubernetes name the manifests generate)",
            key="name",
            value=name,
        )
    if (Path(__file__).parent / f"{name}.py").exists():  # projects.<name> would shadow the platform's module
        raise ContractError(
            f"project name {name!r}: taken by a module of the platform (projects/{name}.py)", value=name
        )
    folder = project_dir(projects_dir, name)
    if folder.exists():
        raise ContractError(
            f"{folder}: project {name!r} exists already (redraft its contract with `mlops project init-from-data "
            f"--project {name} --path <batches>`, or pick another name)",
            where=str(folder),
            value=name,
        )
    return folder


def list_projects(projects_dir: Path) -> list[str]:
    return sorted(p.parent.name for p in projects_dir.glob("*/project.yaml"))


def default_project(projects_dir: Path) -> str:
    """The project a command works on when none is named: the only one there is, else the worked example (churn)
    while it is there; otherwise the error lists them (name one with --project or MLOPS_PROJECT)."""
    known = list_projects(projects_dir)
    if len(known) == 1:
        return known[0]
    if "churn" in known:
        return "churn"
    raise ContractError(
        f"{projects_dir}: {'no project yet' if not known else 'projects ' + ', '.join(known)}; name one with "
        "--project NAME (or MLOPS_PROJECT=NAME)" + ("; `make new-project NAME=...` makes one" if not known else ""),
        where=str(projects_dir),
        key="project",
    )


def json_schema() -> dict[str, Any]:
    return Project.model_json_schema(by_alias=True)
