"""What the gate measures, as pure functions on arrays and DataFrames: metrics, fairness, behaviour.

Nothing here touches MLflow or the data root, so the model-behaviour suite exercises it with tiny frames and
real scikit-learn models. The gate (pipelines.promotion) turns these numbers into a decision.

Scores are what ``pipelines.features.project_scores`` returns: P(positive) (one number per row) for a binary
target, an (n, classes) probability matrix for a multiclass one, with labels as class indices. For multiclass
the predicted class is the most probable one, and the metrics are: ``accuracy``; ``f1``, ``precision`` and
``recall`` macro-averaged over the classes present in the labels or the predictions (scikit-learn's
``average="macro"``); ``roc_auc`` one-vs-rest, macro-averaged over the classes that occur in the labels without
being all of them (equal to ``roc_auc_score(multi_class="ovr")`` when every class occurs; a class absent from
the holdout has no ROC curve, so it is left out rather than failing the gate); ``log_loss`` over all declared
classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipelines.features import project_scores
from projects.contract import (
    MULTICLASS_METRICS,
    Behaviour,
    Directional,
    FairnessMetric,
    Invariance,
    MinimumFunctionality,
    Project,
    Task,
)
from projects.errors import PlatformError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

CLASSIFICATION_METRICS = ("roc_auc", "average_precision", "f1", "accuracy", "precision", "recall", "log_loss", "brier")
REGRESSION_METRICS = ("rmse", "mae", "r2")
THRESHOLD = 0.5  # decision threshold turning P(positive) into a label


class EvaluationError(PlatformError, ValueError):
    """A metric or slice that cannot be computed; the message names the metric, slice or column."""


# --------------------------------------------------------------------------------------------- metrics
def known_metrics(task: Task, multiclass: bool = False) -> tuple[str, ...]:
    if multiclass:
        return MULTICLASS_METRICS
    return CLASSIFICATION_METRICS if task is Task.classification else REGRESSION_METRICS


def metric(name: str, task: Task, y_true: np.ndarray, scores: np.ndarray) -> float:
    """One metric; NaN when it is undefined on this data (e.g. ROC AUC with a single class present).

    A 2-D ``scores`` (rows x classes) is a multiclass probability matrix (see the module docstring).
    """
    import numpy as np
    from sklearn import metrics as m

    scores = np.asarray(scores, dtype=float)
    multiclass = scores.ndim == 2
    if name not in known_metrics(task, multiclass):
        kind = "a multiclass target" if multiclass else task.value
        raise EvaluationError(
            f"metric {name!r}: unknown for {kind}; expected one of {known_metrics(task, multiclass)}", value=name
        )
    y_true = np.asarray(y_true)
    if len(y_true) == 0:
        return math.nan
    if multiclass:
        return multiclass_metric(name, y_true, scores)
    if task is Task.regression:
        fns = {
            "rmse": lambda: math.sqrt(m.mean_squared_error(y_true, scores)),
            "mae": lambda: m.mean_absolute_error(y_true, scores),
            "r2": lambda: m.r2_score(y_true, scores) if len(y_true) > 1 else math.nan,
        }
        return float(fns[name]())
    labels = (scores >= THRESHOLD).astype(int)
    if name in {"roc_auc", "average_precision"} and len(np.unique(y_true)) < 2:
        return math.nan
    fns = {
        "roc_auc": lambda: m.roc_auc_score(y_true, scores),
        "average_precision": lambda: m.average_precision_score(y_true, scores),
        "f1": lambda: m.f1_score(y_true, labels, zero_division=0),
        "accuracy": lambda: m.accuracy_score(y_true, labels),
        "precision": lambda: m.precision_score(y_true, labels, zero_division=0),
        "recall": lambda: m.recall_score(y_true, labels, zero_division=0),
        "log_loss": lambda: m.log_loss(y_true, np.clip(scores, 1e-15, 1 - 1e-15), labels=[0, 1]),
        "brier": lambda: m.brier_score_loss(y_true, scores, pos_label=1),
    }
    return float(fns[name]())


def all_metrics(task: Task, y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    names = known_metrics(task, multiclass=getattr(scores, "ndim", 1) == 2)
    return {name: metric(name, task, y_true, scores) for name in names}


def multiclass_metric(name: str, y_true: np.ndarray, proba: np.ndarray) -> float:
    """One multiclass metric on class indices and an (n, classes) probability matrix (module docstring)."""
    import numpy as np
    from sklearn import metrics as m

    y_true = np.asarray(y_true, dtype=int)
    predicted = proba.argmax(axis=1)
    if name == "roc_auc":
        return one_vs_rest_auc(y_true, proba)
    if name == "log_loss":
        clipped = np.clip(proba, 1e-15, 1.0)
        clipped = clipped / clipped.sum(axis=1, keepdims=True)
        return float(m.log_loss(y_true, clipped, labels=list(range(proba.shape[1]))))
    if name == "accuracy":
        return float(m.accuracy_score(y_true, predicted))
    scorer = {"f1": m.f1_score, "precision": m.precision_score, "recall": m.recall_score}[name]
    return float(scorer(y_true, predicted, average="macro", zero_division=0))


def class_auc(y_true: np.ndarray, proba: np.ndarray, index: int) -> float:
    """ROC AUC of class ``index`` against the rest; NaN when the class is absent, or all there is."""
    import numpy as np
    from sklearn import metrics as m

    positives = np.asarray(y_true) == index
    if positives.all() or not positives.any():
        return math.nan
    return float(m.roc_auc_score(positives, proba[:, index]))


def one_vs_rest_auc(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Macro average of the one-vs-rest AUCs of the classes that have a curve on these labels."""
    values = [v for k in range(proba.shape[1]) if not math.isnan(v := class_auc(y_true, proba, k))]
    return float(sum(values) / len(values)) if values else math.nan


def per_class_metrics(y_true: np.ndarray, proba: np.ndarray, classes: tuple[str, ...]) -> list[dict[str, Any]]:
    """Per class: rows labelled with it, precision, recall, f1 and its one-vs-rest AUC (the model card's table)."""
    import numpy as np
    from sklearn import metrics as m

    y_true = np.asarray(y_true, dtype=int)
    predicted = proba.argmax(axis=1)
    indices = list(range(len(classes)))
    precision, recall, f1, support = m.precision_recall_fscore_support(
        y_true, predicted, labels=indices, zero_division=0
    )
    return [
        {
            "class": name,
            "support": int(support[k]),
            "predicted": int((predicted == k).sum()),
            "precision": float(precision[k]),
            "recall": float(recall[k]),
            "f1": float(f1[k]),
            "roc_auc": class_auc(y_true, proba, k),
        }
        for k, name in enumerate(classes)
    ]


# --------------------------------------------------------------------------------------------- fairness
@dataclass(frozen=True)
class FairnessResult:
    """The gap the gate checks, and the per-group table the model card shows.

    ``audited`` is False when there was nothing to audit (no sensitive attribute or no ``gate.fairness``
    declared, or fewer than two groups with data): the gap is then NaN and ``note`` says why. Not audited is
    recorded and shown as such, never counted as a pass.
    """

    metric: FairnessMetric | None
    gap: float
    by_group: list[dict[str, Any]]
    note: str = ""
    audited: bool = True
    worst_class: str | None = None  # multiclass: the class whose gap is the largest (by_group shows its values)


def not_audited(reason: str, metric: FairnessMetric | None = None) -> FairnessResult:
    return FairnessResult(metric=metric, gap=math.nan, by_group=[], note=reason, audited=False)


def audit_fairness(project: Project, y_true: np.ndarray, scores: np.ndarray, frame: pd.DataFrame) -> FairnessResult:
    """The declared fairness audit on ``frame``, or why there is none."""
    schema, declared = project.schema, project.gate.fairness
    if schema.sensitive is None:
        return not_audited("fairness not audited: no sensitive attribute declared (schema.sensitive)")
    if declared is None:
        return not_audited("fairness not audited: no gate.fairness declared")
    return fairness(declared.metric, y_true, scores, frame[schema.sensitive.name], schema.target.classes)


def fairness(
    metric_name: FairnessMetric,
    y_true: np.ndarray,
    scores: np.ndarray,
    groups: pd.Series,
    classes: tuple[str, ...] | None = None,
) -> FairnessResult:
    """Largest difference across the sensitive groups present in the data.

    demographic parity: rate of positive predictions; equal opportunity: true-positive rate (groups without
    positives are shown but not compared); group error gap: mean absolute error (regression). A 2-D ``scores``
    is multiclass: see ``multiclass_fairness``.
    """
    import numpy as np
    import pandas as pd

    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype=float)
    keys = pd.Series(groups).astype("string").fillna("(missing)").to_numpy()
    if scores.ndim == 2:
        names = classes or tuple(str(k) for k in range(scores.shape[1]))
        return multiclass_fairness(metric_name, y_true, scores, keys, names)
    rows, values = [], []
    for group in sorted(set(keys)):
        mask = keys == group
        value = _group_value(metric_name, y_true[mask], scores[mask])
        rows.append({"group": group, "rows": int(mask.sum()), "value": value})
        if not math.isnan(value):
            values.append(value)
    if len(values) < 2:
        reason = f"fairness not audited: fewer than two groups with data to compare ({len(values)} of {len(rows)})"
        return FairnessResult(metric=metric_name, gap=math.nan, by_group=rows, note=reason, audited=False)
    return FairnessResult(metric=metric_name, gap=float(max(values) - min(values)), by_group=rows)


def multiclass_fairness(
    metric_name: FairnessMetric, y_true: np.ndarray, proba: np.ndarray, keys: np.ndarray, classes: tuple[str, ...]
) -> FairnessResult:
    """The largest gap over classes of a per-group, per-class rate.

    demographic parity: for each class, the share of each group's rows predicted as that class; equal
    opportunity: for each class, each group's recall of it (groups without rows of the class are not compared);
    group error gap: the error rate (1 - accuracy). The gap is the largest over classes of (highest - lowest
    group); ``by_group`` shows every group's values, its ``value`` that of the class with the largest gap.
    """
    predicted = proba.argmax(axis=1)
    y_true = y_true.astype(int)
    groups = sorted(set(keys))
    table = {}
    for group in groups:
        mask = keys == group
        table[group] = [_class_value(metric_name, y_true[mask], predicted[mask], k) for k in range(len(classes))]
    gaps = {}
    for k in range(len(classes)):
        values = [table[g][k] for g in groups if not math.isnan(table[g][k])]
        if len(values) >= 2:
            gaps[k] = max(values) - min(values)
    counts = {g: int((keys == g).sum()) for g in groups}
    if not gaps:
        rows = [{"group": g, "rows": counts[g], "value": math.nan} for g in groups]
        reason = f"fairness not audited: fewer than two groups with data to compare (of {len(groups)})"
        return FairnessResult(metric=metric_name, gap=math.nan, by_group=rows, note=reason, audited=False)
    worst = max(gaps, key=lambda k: gaps[k])
    rows = [
        {
            "group": g,
            "rows": counts[g],
            "value": table[g][worst],
            "by_class": {name: table[g][k] for k, name in enumerate(classes)},
        }
        for g in groups
    ]
    return FairnessResult(metric=metric_name, gap=float(gaps[worst]), by_group=rows, worst_class=classes[worst])


def _class_value(metric_name: FairnessMetric, y_true: np.ndarray, predicted: np.ndarray, index: int) -> float:
    if metric_name is FairnessMetric.demographic_parity:
        return float((predicted == index).mean()) if len(predicted) else math.nan
    if metric_name is FairnessMetric.equal_opportunity:
        actual = y_true == index
        return float((predicted[actual] == index).mean()) if actual.any() else math.nan
    return float((predicted != y_true).mean()) if len(y_true) else math.nan


def _group_value(metric_name: FairnessMetric, y_true: np.ndarray, scores: np.ndarray) -> float:
    import numpy as np

    labels = (scores >= THRESHOLD).astype(int)
    if metric_name is FairnessMetric.demographic_parity:
        return float(labels.mean()) if len(labels) else math.nan
    if metric_name is FairnessMetric.equal_opportunity:
        positives = y_true == 1
        return float(labels[positives].mean()) if positives.any() else math.nan
    return float(np.abs(y_true - scores).mean()) if len(y_true) else math.nan


# --------------------------------------------------------------------------------------------- behaviour
@dataclass(frozen=True)
class BehaviourResult:
    """One behavioural test's outcome; ``evaluated`` False (too few rows) is neither a pass nor a failure."""

    name: str
    kind: str
    passed: bool
    value: float
    threshold: float
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)
    evaluated: bool = True

    @property
    def status(self) -> str:
        return "not evaluated" if not self.evaluated else "pass" if self.passed else "fail"


def run_behaviour(project: Project, model: Any, frame: pd.DataFrame, y_true: np.ndarray) -> list[BehaviourResult]:
    """Every behavioural test declared in ``gate.behaviour``, run on ``frame`` (the holdout rows)."""
    results = []
    for index, test in enumerate(project.gate.behaviour):
        results.append(_run_one(project, model, frame, y_true, test, index=index))
    return results


def _run_one(
    project: Project, model: Any, frame: pd.DataFrame, y_true: np.ndarray, test: Behaviour, *, index: int
) -> BehaviourResult:
    if isinstance(test, Invariance):
        return invariance(project, model, frame, test)
    if isinstance(test, Directional):
        return directional(project, model, frame, test)
    assert isinstance(test, MinimumFunctionality)
    return minimum_functionality(project, model, frame, y_true, test, index=index)


def _inputs(project: Project, frame: pd.DataFrame) -> pd.DataFrame:
    return frame[project.schema.model_inputs]


def _scores(project: Project, model: Any, frame: pd.DataFrame) -> np.ndarray:
    return project_scores(project, model, _inputs(project, frame))


def invariance(project: Project, model: Any, frame: pd.DataFrame, test: Invariance) -> BehaviourResult:
    """Set the column to each value in turn; the largest per-row spread of scores must stay within tolerance.

    Multiclass: the spread is the largest over classes of each probability's, and the predicted class must not
    change for any row either. A column the model does not take as input cannot move its scores: the test
    passes and says so.
    """
    import numpy as np

    if test.column not in project.schema.model_inputs:
        return BehaviourResult(
            test.name, test.kind, True, 0.0, test.tolerance, f"{test.column!r} is not a model input: no effect possible"
        )
    variants = []
    for value in test.values:
        changed = frame.copy()
        changed[test.column] = _same_dtype(changed[test.column], value)
        variants.append(_scores(project, model, changed))
    spread = np.max(variants, axis=0) - np.min(variants, axis=0)
    worst = float(spread.max()) if spread.size else 0.0
    passed = worst <= test.tolerance
    what = "score"
    extra: dict[str, Any] = {}
    if spread.ndim == 2:  # multiclass: probabilities, and the predicted class
        what = "class probability"
        labels = np.stack([v.argmax(axis=1) for v in variants])
        flipped = int((labels != labels[0]).any(axis=0).sum())
        passed = passed and flipped == 0
        extra["predicted_class_changed"] = flipped
    detail = (
        f"largest {what} change when {test.column} varies over {list(test.values)}: {worst:.4f} "
        f"(tolerance {test.tolerance})"
    )
    if extra:
        detail += f"; predicted class changed for {extra['predicted_class_changed']} row(s) (must be 0)"
    return BehaviourResult(test.name, test.kind, passed, worst, test.tolerance, detail, extra)


def _same_dtype(series: pd.Series, value: Any) -> pd.Series:
    import pandas as pd

    return pd.Series([value] * len(series), index=series.index).astype(series.dtype)


def directional(project: Project, model: Any, frame: pd.DataFrame, test: Directional) -> BehaviourResult:
    """Add ``delta`` to the column; the share of rows whose score moves strictly in ``direction`` must reach
    ``min_share``. A column the model does not take as input cannot move the score: the test fails, saying so."""
    if test.column not in project.schema.model_inputs:
        detail = f"{test.column!r} is not a model input, so the score cannot move"
        return BehaviourResult(test.name, test.kind, False, 0.0, test.min_share, detail)
    before = _scores(project, model, frame)
    changed = frame.copy()
    changed[test.column] = changed[test.column].astype("float64") + test.delta
    after = _scores(project, model, changed)
    what = "score"
    if before.ndim == 2:  # multiclass: the probability of the class the test names (the contract requires it)
        index = (project.schema.target.classes or ()).index(str(test.target_class))
        before, after, what = before[:, index], after[:, index], f"P({test.target_class})"
    moved = after > before if test.direction == "increase" else after < before
    share = float(moved.mean()) if len(moved) else 0.0
    passed = share >= test.min_share
    detail = (
        f"adding {test.delta:g} to {test.column}: {what} {'rose' if test.direction == 'increase' else 'fell'} "
        f"for {share:.1%} of rows (need {test.min_share:.0%})"
    )
    return BehaviourResult(test.name, test.kind, passed, share, test.min_share, detail)


def minimum_functionality(
    project: Project, model: Any, frame: pd.DataFrame, y_true: np.ndarray, test: MinimumFunctionality, *, index: int = 0
) -> BehaviourResult:
    """The metric on the slice selected by ``where`` must reach ``min``; an empty slice fails, saying so.

    A slice smaller than ``min_rows`` is reported as not evaluated (see MinimumFunctionality).
    """
    import numpy as np
    import pandas as pd

    try:
        selected = frame.eval(test.where)
        mask = pd.Series(selected, index=frame.index).astype("boolean").fillna(False).to_numpy(dtype=bool)
    except Exception as exc:
        raise EvaluationError(
            f"gate.behaviour[{index}].where: cannot evaluate {test.where!r}: {exc}",
            key=f"gate.behaviour[{index}].where",
            value=test.where,
        ) from None
    rows = int(mask.sum())
    if rows == 0:
        detail = f"slice {test.where!r} is empty in the holdout"
        return BehaviourResult(test.name, test.kind, False, math.nan, test.min, detail, {"rows": 0})
    if rows < test.min_rows:
        detail = f"not evaluated: only {rows} rows where {test.where} (min_rows {test.min_rows}), too few to judge"
        return BehaviourResult(test.name, test.kind, True, math.nan, test.min, detail, {"rows": rows}, evaluated=False)
    value = metric(test.metric, project.task, np.asarray(y_true)[mask], _scores(project, model, frame[mask]))
    passed = not math.isnan(value) and _reaches(test.metric, value, test.min)
    detail = f"{test.metric} on {rows} rows where {test.where}: {value:.4f} (need {test.min})"
    return BehaviourResult(test.name, test.kind, passed, value, test.min, detail, {"rows": rows})


def _reaches(metric_name: str, value: float, bound: float) -> bool:
    lower_is_better = metric_name in {"rmse", "mae", "log_loss", "brier"}
    return value <= bound if lower_is_better else value >= bound
