"""What makes a registered version servable: the checks serving makes before a model answers, shared with promotion.

Serving refuses a version trained under another contract, pickled with other library versions, or unable to
score one record of the contract. Promotion and rollback make the very same checks before they move the
champion alias, so an alias never points at a version no service would load. Both layers import this module
(serving may not be imported by pipelines); the callers read the registry tags and build the typed frame, this
module decides. It also builds the example record both use: from the training data's per-column medians and
modes when the version recorded them (``example_values`` at training time), else from the contract alone.

Only the contract, the error base and the standard library are imported here (pandas is used by duck typing).
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Callable, Mapping, Sized
from importlib.metadata import version as installed_version
from typing import TYPE_CHECKING, Any

from projects.contract import Feature, FeatureType, Project, Task
from projects.errors import PlatformError

if TYPE_CHECKING:
    import pandas as pd

# Libraries whose versions must match the training run's for a pickled model to be trusted, and how many
# leading version parts must agree (scikit-learn pickles are only supported within a minor release).
PINNED_LIBRARIES = {"python": 2, "scikit-learn": 2, "numpy": 1}
EXAMPLE_ID = "example-1"
SIGNIFICANT_DIGITS = 4  # an example value is a statistic, not a row: rounded so no record's value is copied


class UnservableError(PlatformError, ValueError):
    """A version no service would serve; the message says why in words an operator can act on."""


# --------------------------------------------------------------------------------------------- libraries
def running_libraries() -> dict[str, str]:
    """Versions of what a pickled model depends on, in this process (training records the same keys)."""
    found = {"python": platform.python_version()}
    for name in ("scikit-learn", "numpy", "pandas", "mlflow"):
        try:
            found[name] = installed_version(name)
        except Exception:  # noqa: S112 - a library that is not installed is simply not compared
            continue
    return found


def library_mismatches(recorded: Mapping[str, str], running: Mapping[str, str]) -> list[str]:
    """Pinned libraries whose version parts differ between training and here, as readable phrases."""
    known = {("scikit-learn" if k == "sklearn" else k): str(v) for k, v in recorded.items()}
    out = []
    for name, parts in PINNED_LIBRARIES.items():
        if name in known and name in running and known[name].split(".")[:parts] != running[name].split(".")[:parts]:
            out.append(f"{name} {known[name]} at training, {running[name]} here")
    return out


def check_recorded(
    project: Project, version: str, tags: Mapping[str, str], contract_tag: str, libraries_tag: str
) -> None:
    """Refuse a version trained under another contract or pickled with incompatible libraries.

    ``tags`` are the version's registry tags; ``contract_tag`` and ``libraries_tag`` the names it records the
    contract hash and the library versions under (projects.registry spells them).
    """
    expected = project.contract_hash()
    recorded = tags.get(contract_tag)
    if recorded is None:
        raise UnservableError(f"version {version} has no {contract_tag} tag, so its contract is unknown")
    if recorded != expected:
        raise UnservableError(
            f"contract mismatch: version {version} was trained under contract {recorded}, this service runs "
            f"{expected} (retrain under the current project.yaml, or serve the project.yaml it was trained with)"
        )
    if libraries_tag not in tags:
        raise UnservableError(f"version {version} has no {libraries_tag} tag, so its library versions are unknown")
    try:
        libraries = json.loads(tags[libraries_tag])
    except ValueError:
        raise UnservableError(f"version {version}: tag {libraries_tag} is not JSON: {tags[libraries_tag]!r}") from None
    if not isinstance(libraries, dict):
        raise UnservableError(f"version {version}: tag {libraries_tag} is not a JSON object: {tags[libraries_tag]!r}")
    mismatches = library_mismatches(libraries, running_libraries())
    if mismatches:
        raise UnservableError(f"library mismatch for version {version}: {'; '.join(mismatches)}")


# --------------------------------------------------------------------------------------------- the model
def same_label(value: Any, positive: Any) -> bool:
    return str(value).strip().lower() == str(positive).strip().lower()


def positive_column(project: Project, model: Any) -> int | None:
    """Which predict_proba column is the positive class (None for regression, a multiclass target, whose
    probabilities are one per class, or a model without them)."""
    if project.task is not Task.classification or not hasattr(model, "predict_proba"):
        return None
    if project.schema.target.multiclass:
        return None
    classes = list(getattr(model, "classes_", []))
    for i, label in enumerate(classes):
        if same_label(label, project.schema.target.positive):
            return i
    if len(classes) == 2:
        return 1  # by convention column 1 is the positive class
    raise UnservableError(
        f"the model's classes {classes} do not include the positive class {project.schema.target.positive!r}"
    )


def warm_up(version: str, predict_one: Callable[[], Sized]) -> None:
    """Score the example record (``predict_one`` does, the caller's way): proves the model takes the contract's
    frame before anyone relies on it."""
    try:
        prediction = predict_one()
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise UnservableError(
            f"version {version} cannot score a record of this contract: {type(exc).__name__}: "
            f"{text[0][:300] if text else ''}"
        ) from exc
    if len(prediction) != 1:
        raise UnservableError(f"version {version} returned {len(prediction)} predictions for 1 record")


# --------------------------------------------------------------------------------------------- examples
def contract_example(project: Project) -> dict[str, Any]:
    """A valid record from the contract alone (middle of each range, first allowed value)."""
    schema = project.schema
    record: dict[str, Any] = {schema.id.name: EXAMPLE_ID} if schema.id is not None else {}
    for feature in schema.features:
        if feature.type is FeatureType.numeric:
            low, high = feature.min or 0.0, feature.max if feature.max is not None else (feature.min or 0.0) + 1
            value = (low + high) / 2
            record[feature.name] = float(round(value)) if feature.integer else value
        elif feature.type is FeatureType.boolean:
            record[feature.name] = False
        else:
            record[feature.name] = feature.values[0] if feature.values else ""
    if schema.sensitive is not None:
        record[schema.sensitive.name] = schema.sensitive.values[0]
    return record


def _rounded(feature: Feature, value: float) -> float:
    if feature.integer:
        return float(round(value))
    if value == 0 or not math.isfinite(value):
        return 0.0
    digits = SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(value)))
    rounded = round(value, digits)
    low = feature.min if feature.min is not None else -math.inf
    high = feature.max if feature.max is not None else math.inf
    return float(min(max(rounded, low), high))


def _mode(values: pd.Series) -> Any:
    counts = values.dropna().astype(str).value_counts()
    return None if counts.empty else counts.index[0]


def example_values(project: Project, frame: pd.DataFrame) -> dict[str, Any]:
    """Per-column medians (numeric) and modes (categorical, boolean, sensitive attribute) of training rows.

    Each column is summarised on its own, so the example is typical without being anyone's record. Columns with
    no values are left out (the contract example fills them in).
    """
    schema = project.schema
    out: dict[str, Any] = {}
    for feature in schema.features:
        column = frame[feature.name]
        if feature.type is FeatureType.numeric:
            known = column.astype("float64").dropna()
            if len(known):
                out[feature.name] = _rounded(feature, float(known.median()))
        elif feature.type is FeatureType.boolean:
            mode = _mode(column)
            if mode is not None:
                out[feature.name] = mode.strip().lower() in {"true", "1", "1.0"}
        else:
            mode = _mode(column)
            if mode is not None:
                out[feature.name] = feature.declared_value(mode) if feature.coded else mode
    if schema.sensitive is not None and schema.sensitive.name in frame:
        mode = _mode(frame[schema.sensitive.name])
        if mode is not None:
            out[schema.sensitive.name] = mode
    return out


def example_record(project: Project, recorded: str | None = None) -> dict[str, Any]:
    """The record docs and warm-ups use: ``recorded`` (JSON from ``example_values``) over the contract example.

    A recorded value the contract would refuse (outside a range, not an allowed value) is ignored, so the result
    is always a valid record; an unreadable ``recorded`` gives the contract example.
    """
    record = contract_example(project)
    try:
        values = json.loads(recorded) if recorded else {}
    except ValueError:
        values = {}
    if not isinstance(values, dict):
        return record
    by_name = {f.name: f for f in project.schema.features}
    sensitive = project.schema.sensitive
    for name, value in values.items():
        feature = by_name.get(name)
        if (feature is not None and _acceptable(feature, value)) or (
            sensitive is not None and name == sensitive.name and value in sensitive.values
        ):
            record[name] = value
    return record


def _acceptable(feature: Feature, value: Any) -> bool:
    if feature.type is FeatureType.numeric:
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            return False
        too_low = feature.min is not None and value < feature.min
        too_high = feature.max is not None and value > feature.max
        return not (too_low or too_high or (feature.integer and value != round(value)))
    if feature.type is FeatureType.boolean:
        return isinstance(value, bool)
    return value in (feature.values or ())
