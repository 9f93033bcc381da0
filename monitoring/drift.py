"""The drift decision: pure functions on DataFrames, with Evidently making the call on a fixed-size sample.

Why a sample, and why it is honest (the full argument, with measured error rates, is in monitoring/README.md):

- Evidently's DataDriftPreset on a 1e6-row window takes minutes. A two-sample test's power is bounded by the
  *smaller* sample, and the reference (the champion's training sample) is a few thousand rows, so beyond a
  window sample of a few times the reference the extra rows buy almost no power. A fixed-size sample
  (``project.drift.sample_rows``) therefore decides in about a second at any window size.
- The sample is stratified on serving time (one draw per equal-count time stratum), so a drift that starts
  half-way through the window is represented in exact proportion, not just on average.
- The methods and thresholds are pinned from project.yaml and passed to ``DataDriftPreset`` explicitly, so the
  test never changes with the sample size (Evidently's defaults switch tests at 1,000 rows).
- Evidently's ``chisquare`` is a goodness-of-fit test that treats the reference's frequencies as exact; with a
  window sample n and a reference of m rows its statistic is inflated by about 1 + n/m under no drift, so its
  false-positive rate is far above the threshold. ``chi2_contingency`` (registered here) is the two-sample
  chi-square test of homogeneity, whose error rate is the nominal one; ``drift_warnings`` says so when a
  project still pins ``chisquare``.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from projects.contract import ContractError, Correction, FeatureType, Project
from projects.inference_log import PREDICTED_CLASS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from evidently import DataDefinition
    from evidently.core.report import Snapshot
    from evidently.presets import DataDriftPreset

CHI2_TWO_SAMPLE = "chi2_contingency"
NUMERICAL = "numerical"
CATEGORICAL = "categorical"


class DriftInputError(ValueError):
    """A window or reference that cannot be compared; the message names the frame and the column."""


@dataclass(frozen=True)
class DriftColumns:
    """Which monitored columns Evidently treats as numerical and which as categorical (from the contract)."""

    numerical: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.numerical, *self.categorical)

    def kind(self, column: str) -> str:
        return NUMERICAL if column in self.numerical else CATEGORICAL


@dataclass(frozen=True)
class ColumnDrift:
    """Evidently's verdict on one column: its score (a p-value for the pinned tests), method and threshold."""

    column: str
    kind: str
    method: str
    threshold: float
    score: float
    drifted: bool


@dataclass(frozen=True)
class DriftOutcome:
    """The dataset decision and every number behind it. ``snapshot`` is Evidently's, kept for the HTML report."""

    columns: tuple[ColumnDrift, ...]
    drifted_count: int
    share_drifted: float
    drift_share: float
    dataset_drift: bool
    window_rows: int
    sample_rows: int
    reference_rows: int
    warnings: tuple[str, ...] = ()
    snapshot: Any = field(default=None, repr=False, compare=False)

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers (no snapshot)."""
        out = asdict(self)
        out.pop("snapshot")
        out["columns"] = [asdict(c) for c in self.columns]
        out["warnings"] = list(self.warnings)
        return out

    def html(self) -> str:
        """Evidently's own HTML report of this decision."""
        if self.snapshot is None:
            raise ValueError("this outcome has no Evidently snapshot to render")
        return str(self.snapshot.get_html_str(as_iframe=False))


# --------------------------------------------------------------------------------------------- columns
def drift_columns(project: Project, available: set[str] | None = None) -> DriftColumns:
    """Monitored columns from the contract: every model input, plus the sensitive attribute when present.

    The sensitive attribute is monitored even when it is audit-only: a population shift across it is what
    makes a fairness gap move. Numeric features are numerical; categorical and boolean ones categorical. A
    multiclass project's ``predicted_class`` is monitored too (prediction drift): served traffic's predicted
    classes against the champion's predictions on its reference sample (logged by training), when both have it.
    """
    schema = project.schema
    numerical = [f.name for f in schema.features if f.name in schema.model_inputs and f.type is FeatureType.numeric]
    categorical = [
        f.name for f in schema.features if f.name in schema.model_inputs and f.type is not FeatureType.numeric
    ]
    sensitive = schema.sensitive_name
    if sensitive is not None and (sensitive in schema.model_inputs or available is None or sensitive in available):
        categorical.append(sensitive)
    if schema.target.multiclass and (available is None or PREDICTED_CLASS in available):
        categorical.append(PREDICTED_CLASS)  # prediction drift: the distribution of predicted classes
    return DriftColumns(numerical=tuple(numerical), categorical=tuple(dict.fromkeys(categorical)))


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DriftInputError(f"{what}: missing column(s) {missing}; it has {sorted(map(str, frame.columns))}")


def evidently_frame(
    frame: pd.DataFrame, columns: DriftColumns, what: str, booleans: frozenset[str] = frozenset()
) -> pd.DataFrame:
    """Only the monitored columns, typed the way Evidently compares them: float64, or text with NaN for missing.

    Reference (validated store types) and window (inference log types) must end up identical, or a boolean
    stored as ``True`` in one and ``true`` in the other would read as drift.
    """
    import numpy as np
    import pandas as pd

    _require_columns(frame, columns.all, what)
    out: dict[str, np.ndarray] = {}
    for name in columns.numerical:
        values = pd.to_numeric(frame[name], errors="coerce")
        bad = frame[name].notna() & values.isna()
        if bad.any():
            examples = sorted(set(frame.loc[bad, name].astype(str).head(5)))
            raise DriftInputError(f"{what}: column {name!r} should be numeric; cannot read values such as {examples}")
        out[name] = values.astype("float64").to_numpy()
    for name in columns.categorical:
        series = frame[name]
        if name in booleans:
            try:
                series = series.astype("boolean").map({True: "true", False: "false"}, na_action="ignore")
            except (TypeError, ValueError):
                examples = sorted(set(series.dropna().astype(str).head(5)))
                raise DriftInputError(
                    f"{what}: column {name!r} should be boolean; got values such as {examples}"
                ) from None
        text = series.astype("string")
        out[name] = text.astype(object).where(text.notna(), np.nan).to_numpy()
    return pd.DataFrame(out, columns=list(columns.all))


# --------------------------------------------------------------------------------------------- sampling
def stratified_sample(frame: pd.DataFrame, rows: int, seed: int, order_by: str | None = None) -> pd.DataFrame:
    """A fixed-size sample with one random row from each of ``rows`` equal-count strata of serving time.

    Proportional allocation by time with exact counts: a shift confined to part of the window appears in the
    sample in the same proportion as in the window. Returns the frame itself when it is not larger than ``rows``.
    """
    import numpy as np

    total = len(frame)
    if total <= rows:
        return frame
    if order_by is not None and not frame[order_by].is_monotonic_increasing:
        order = np.argsort(np.asarray(frame[order_by].values), kind="stable")
    else:
        order = None
    picks = stratified_positions(total, rows, seed)
    positions = order[picks] if order is not None else picks
    return frame.iloc[positions]


def stratified_positions(total: int, rows: int, seed: int) -> np.ndarray:
    """Positions (in time order) of one random row in each of ``rows`` equal-count strata of ``total`` rows."""
    import numpy as np

    if total <= rows:
        return np.arange(total, dtype=np.int64)
    bounds = (np.arange(rows + 1, dtype=np.int64) * total) // rows
    rng = np.random.default_rng(seed)
    return bounds[:-1] + (rng.random(rows) * np.diff(bounds)).astype(np.int64)


# --------------------------------------------------------------------------------------------- methods
def _chi2_two_sample(
    reference: pd.Series, current: pd.Series, feature_type: Any, threshold: float
) -> tuple[float, bool]:
    """Pearson's chi-square test of homogeneity on the 2 x k table of category counts (NaN dropped)."""
    import numpy as np
    from scipy.stats import chi2_contingency

    ref_counts = reference.dropna().value_counts()
    cur_counts = current.dropna().value_counts()
    keys = sorted(set(ref_counts.index) | set(cur_counts.index), key=str)
    if len(keys) < 2 or ref_counts.sum() == 0 or cur_counts.sum() == 0:
        return 1.0, False
    table = np.array([[ref_counts.get(k, 0) for k in keys], [cur_counts.get(k, 0) for k in keys]])
    p_value = float(chi2_contingency(table, correction=False).pvalue)
    return p_value, p_value < threshold


def register_stattests() -> None:
    """Register ``chi2_contingency`` with Evidently (idempotent; done at call time, never at import)."""
    from evidently.legacy.calculations.stattests.registry import StatTest, _registered_stat_tests, register_stattest
    from evidently.legacy.core import ColumnType

    if CHI2_TWO_SAMPLE in _registered_stat_tests:
        return
    test = StatTest(
        name=CHI2_TWO_SAMPLE,
        display_name="chi-square two-sample p_value",
        allowed_feature_types=[ColumnType.Categorical],
        default_threshold=0.05,
    )
    register_stattest(test, _chi2_two_sample)


def check_methods(project: Project) -> None:
    """Fail early, naming project.yaml's key, if a pinned method is unknown to Evidently or wrong for the type."""
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests, get_registered_stattest
    from evidently.legacy.core import ColumnType

    register_stattests()
    for key, method, kind, label in (
        ("drift.num_method", project.drift.num_method, ColumnType.Numerical, NUMERICAL),
        ("drift.cat_method", project.drift.cat_method, ColumnType.Categorical, CATEGORICAL),
    ):
        try:
            get_registered_stattest(method, kind)
        except ValueError:
            known = sorted(n for n, kinds in _registered_stat_tests.items() if kind in kinds)
            raise ContractError(
                f"project {project.name!r}: {key}: {method!r} is not an Evidently {label} drift method; "
                f"expected one of {known}"
            ) from None


def goodness_of_fit_false_positive_rate(sample_rows: int, reference_rows: int, categories: int, alpha: float) -> float:
    """Expected false-positive rate of Evidently's ``chisquare`` (goodness of fit against reference frequencies).

    Under no drift the statistic is (1 + n/m) times a chi-square with k-1 degrees of freedom, because the
    reference frequencies it treats as exact are themselves estimated from m rows.
    """
    from scipy.stats import chi2

    if categories < 2:
        return 0.0
    dof = categories - 1
    critical = chi2.ppf(1 - alpha, dof)
    return float(chi2.sf(critical / (1 + sample_rows / reference_rows), dof))


def drift_warnings(project: Project, columns: DriftColumns, reference: pd.DataFrame, sample_rows: int) -> list[str]:
    """Say so, with the number, when the pinned categorical test cannot hold its nominal error rate."""
    if project.drift.cat_method != "chisquare" or not columns.categorical or len(reference) == 0:
        return []
    categories = max(int(reference[c].nunique()) for c in columns.categorical)
    rate = goodness_of_fit_false_positive_rate(sample_rows, len(reference), categories, project.drift.threshold)
    return [
        f"drift.cat_method 'chisquare' is Evidently's goodness-of-fit test against the reference's frequencies: "
        f"with {sample_rows} window rows against {len(reference)} reference rows its false-positive rate per "
        f"categorical column is about {rate:.0%}, not {project.drift.threshold:.0%}. Set drift.cat_method: "
        f"{CHI2_TWO_SAMPLE} (two-sample test) in projects/{project.name}/project.yaml."
    ]


# --------------------------------------------------------------------------------------------- Evidently
def data_definition(columns: DriftColumns) -> DataDefinition:
    """Evidently's column mapping, derived from the contract (never inferred from the data)."""
    from evidently import DataDefinition

    return DataDefinition(numerical_columns=list(columns.numerical), categorical_columns=list(columns.categorical))


def drift_preset(project: Project, columns: DriftColumns) -> DataDriftPreset:
    """DataDriftPreset with every method and threshold pinned from project.yaml."""
    from evidently.presets import DataDriftPreset

    drift = project.drift
    return DataDriftPreset(
        columns=list(columns.all),
        num_method=drift.num_method,
        cat_method=drift.cat_method,
        threshold=drift.threshold,
        drift_share=drift.drift_share,
    )


def run_evidently(reference: pd.DataFrame, current: pd.DataFrame, project: Project, columns: DriftColumns) -> Snapshot:
    """Run the pinned preset (with its tests, which carry Evidently's decisions) and return the snapshot."""
    from evidently import Dataset, Report

    check_methods(project)
    definition = data_definition(columns)
    report = Report([drift_preset(project, columns)], include_tests=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # Evidently's own pandas downcasting notices
        return report.run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )


def read_snapshot(snapshot: Snapshot, columns: DriftColumns) -> tuple[list[ColumnDrift], int, float, bool]:
    """Per-column scores and Evidently's test verdicts, the drifted count and share, and the dataset decision."""
    data = snapshot.dict()
    scores, configs, count, share = {}, {}, None, None
    for metric in data["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            scores[config["column"]] = float(metric["value"])
            configs[config["column"]] = config
        elif config["type"].endswith(":DriftedColumnsCount"):
            count, share = int(metric["value"]["count"]), float(metric["value"]["share"])
    verdicts, dataset_drift = {}, None
    for test in data["tests"]:
        params = test["metric_config"]["params"]
        if params["type"].endswith(":ValueDrift"):
            verdicts[params["column"]] = test["status"] == "FAIL"
        elif params["type"].endswith(":DriftedColumnsCount"):
            dataset_drift = test["status"] == "FAIL"
    if count is None or share is None or dataset_drift is None or set(scores) != set(columns.all):
        raise RuntimeError(f"unexpected Evidently snapshot: columns {sorted(scores)}, count {count}, share {share}")
    results = [
        ColumnDrift(
            column=name,
            kind=columns.kind(name),
            method=str(configs[name]["method"]),
            threshold=float(configs[name]["threshold"]),
            score=scores[name],
            drifted=verdicts[name],
        )
        for name in columns.all
    ]
    return results, count, share, dataset_drift


def corrected(results: list[ColumnDrift], project: Project) -> tuple[list[ColumnDrift], int, float, bool]:
    """Per-column verdicts after a multiple-testing correction of the p-values (``drift.correction``).

    Bonferroni flags p < threshold / m (family-wise error <= threshold); Benjamini-Hochberg flags the k smallest
    p-values, k the largest with p_(k) <= threshold * k / m (expected share of false alarms <= threshold). The
    dataset decision is Evidently's rule on the corrected count: share of drifted columns >= drift.drift_share.
    """
    drift, m = project.drift, len(results)
    if drift.correction is Correction.bonferroni:
        flags = [r.score < drift.threshold / m for r in results]
    else:
        ranked = sorted(range(m), key=lambda i: results[i].score)
        passing = [rank for rank, i in enumerate(ranked, 1) if results[i].score <= drift.threshold * rank / m]
        cut = max(passing, default=0)
        chosen = set(ranked[:cut])
        flags = [i in chosen for i in range(m)]
    out = [replace(r, drifted=flag) for r, flag in zip(results, flags, strict=True)]
    count = sum(flags)
    share = count / m if m else 0.0
    return out, count, share, share >= drift.drift_share


def assess_drift(
    reference: pd.DataFrame,
    window: pd.DataFrame,
    project: Project,
    *,
    seed: int = 0,
    order_by: str | None = None,
    sample_rows: int | None = None,
    window_rows: int | None = None,
) -> DriftOutcome:
    """Compare a window with the reference: sample the window to a fixed size, then let Evidently decide.

    ``window_rows``: the window's true size when the caller already sampled it while reading (``window`` is then
    that sample). The caller handles "insufficient data" (``project.drift.min_rows``) before calling.
    """
    if len(reference) == 0:
        raise DriftInputError("reference: no rows to compare against")
    if len(window) == 0:
        raise DriftInputError("window: no rows to compare")
    columns = drift_columns(project, available=set(reference.columns) & set(window.columns))
    size = sample_rows or project.drift.sample_rows
    sample = stratified_sample(window, size, seed=seed, order_by=order_by)
    booleans = frozenset(f.name for f in project.schema.features if f.type is FeatureType.boolean)
    current = evidently_frame(sample, columns, "window", booleans)
    ref = evidently_frame(reference, columns, "reference", booleans)
    snapshot = run_evidently(ref, current, project, columns)
    results, count, share, dataset_drift = read_snapshot(snapshot, columns)
    notes = drift_warnings(project, columns, ref, len(current))
    if project.drift.correction is not Correction.none:
        results, count, share, dataset_drift = corrected(results, project)
        notes.append(
            f"drift.correction {project.drift.correction.value}: {count} of {len(results)} columns drifted after "
            "correcting for the number of columns tested (Evidently's own report shows the uncorrected verdicts)"
        )
    return DriftOutcome(
        columns=tuple(results),
        drifted_count=count,
        share_drifted=share,
        drift_share=project.drift.drift_share,
        dataset_drift=dataset_drift,
        window_rows=window_rows if window_rows is not None else len(window),
        sample_rows=len(current),
        reference_rows=len(ref),
        warnings=tuple(notes),
        snapshot=snapshot,
    )
