"""The drift core on DataFrames: sampling, typing, pinned methods, and Evidently's decisions (real Evidently).

Error rates are measured here on seeded scenarios: the fast path must agree with Evidently on the full window
for clear shifts, and on no-drift windows its false-positive rate must stay at the test's nominal level.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from monitoring.drift import (
    CHI2_TWO_SAMPLE,
    ColumnDrift,
    DriftInputError,
    assess_drift,
    check_methods,
    corrected,
    drift_columns,
    evidently_frame,
    goodness_of_fit_false_positive_rate,
    stratified_sample,
)
from monitoring.monitor import WindowSpec
from projects.contract import ContractError, Correction, Project, load_project
from projects.settings import REPO_ROOT
from tests.helpers.monitoring import generated, two_sample_project

SHIFTED = {"tenure_months", "monthly_charges", "data_usage_gb", "support_calls", "contract", "internet_service"}
DAY = dt.date(2026, 3, 1)


@pytest.fixture(scope="module")
def churn_project() -> Project:
    return load_project("churn", REPO_ROOT / "projects")


@pytest.fixture(scope="module")
def project(churn_project: Project) -> Project:
    return two_sample_project(churn_project)


def _with(project: Project, **drift: object) -> Project:
    return project.model_copy(update={"drift": project.drift.model_copy(update=drift)})


# --------------------------------------------------------------------------------------------- sampling
def test_sample_has_the_fixed_size_and_no_repeated_row() -> None:
    frame = pd.DataFrame({"x": np.arange(10_007)})
    sample = stratified_sample(frame, 1000, seed=3)
    assert len(sample) == 1000
    assert sample["x"].is_unique


def test_sample_keeps_the_time_mix_of_the_window_exactly() -> None:
    """A shift in the last 10 % of the window is 10 % of the sample, not 10 % on average."""
    times = pd.date_range("2026-01-01", periods=20_000, freq="s", tz="UTC")
    late = np.arange(20_000) >= 18_000
    frame = pd.DataFrame({"served_at": times, "late": late}).sample(frac=1.0, random_state=1)  # shuffled
    for seed in range(5):
        sample = stratified_sample(frame, 500, seed=seed, order_by="served_at")
        assert int(sample["late"].sum()) == 50, f"seed {seed}: {int(sample['late'].sum())} late rows of 500"


def test_sample_is_reproducible_and_small_windows_are_kept_whole() -> None:
    frame = pd.DataFrame({"x": np.arange(5000)})
    assert stratified_sample(frame, 100, seed=7).equals(stratified_sample(frame, 100, seed=7))
    assert not stratified_sample(frame, 100, seed=7).equals(stratified_sample(frame, 100, seed=8))
    assert stratified_sample(frame, 5000, seed=1) is frame


# --------------------------------------------------------------------------------------------- columns, typing
def test_monitored_columns_come_from_the_contract(project: Project) -> None:
    columns = drift_columns(project)
    assert columns.numerical == ("tenure_months", "monthly_charges", "data_usage_gb", "support_calls")
    assert "senior_citizen" in columns.categorical
    assert "gender" in columns.categorical
    assert "gender" not in drift_columns(project, available={"tenure_months"}).categorical


def test_booleans_read_the_same_from_the_store_and_the_log(project: Project) -> None:
    columns = drift_columns(project)
    store = generated(project, "baseline", DAY, 50)
    log = store.assign(senior_citizen=store["senior_citizen"].astype(object).map({True: True, False: False}))
    booleans = frozenset({"senior_citizen", "has_partner", "paperless_billing"})
    a = evidently_frame(store, columns, "reference", booleans)
    b = evidently_frame(log, columns, "window", booleans)
    assert a["senior_citizen"].tolist() == b["senior_citizen"].tolist()
    assert set(a["senior_citizen"].dropna()) <= {"true", "false"}


def test_missing_or_unreadable_columns_are_named(project: Project) -> None:
    columns = drift_columns(project)
    frame = generated(project, "baseline", DAY, 20)
    with pytest.raises(DriftInputError, match=r"window: missing column\(s\) \['tenure_months'\]"):
        evidently_frame(frame.drop(columns=["tenure_months"]), columns, "window")
    bad = frame.astype({"monthly_charges": object})
    bad.loc[3, "monthly_charges"] = "lots"
    with pytest.raises(DriftInputError, match=r"column 'monthly_charges' should be numeric.*'lots'"):
        evidently_frame(bad, columns, "window")


def test_unknown_or_misplaced_methods_name_the_key(project: Project) -> None:
    with pytest.raises(ContractError, match=r"drift.cat_method: 'chi_square'.*expected one of"):
        check_methods(_with(project, cat_method="chi_square"))
    with pytest.raises(ContractError, match=r"drift.num_method: 'chisquare' is not an Evidently numerical"):
        check_methods(_with(project, num_method="chisquare"))
    check_methods(project)  # ks + chi2_contingency are both known


def test_window_spec_reads_durations_and_row_counts() -> None:
    assert WindowSpec.parse("24h").last == dt.timedelta(hours=24)
    assert WindowSpec.parse("7d, 50000rows") == WindowSpec(last=dt.timedelta(days=7), max_rows=50000)
    assert WindowSpec.parse(None) == WindowSpec() == WindowSpec.parse("all")
    with pytest.raises(ValueError, match=r"cannot read 'fortnight'"):
        WindowSpec.parse("fortnight")
    with pytest.raises(ValueError, match="positive"):
        WindowSpec.parse("0rows")


# --------------------------------------------------------------------------------------------- decisions
@pytest.fixture(scope="module")
def reference(project: Project) -> pd.DataFrame:
    return generated(project, "baseline", DAY, 5000)


@pytest.mark.integration
def test_fast_path_agrees_with_evidently_on_the_full_window(project: Project, reference: pd.DataFrame) -> None:
    """Clear shifts: the 5,000-row sample flags exactly the columns Evidently flags on all 40,000 rows."""
    window = generated(project, "covariate_drift", DAY + dt.timedelta(days=1), 40_000)
    fast = assess_drift(reference, window, project, seed=11, sample_rows=5000)
    full = assess_drift(reference, window, project, seed=11, sample_rows=len(window))
    assert (fast.sample_rows, full.sample_rows) == (5000, 40_000)
    assert set(fast.drifted_columns) & SHIFTED == set(full.drifted_columns) & SHIFTED == SHIFTED
    assert fast.dataset_drift
    assert full.dataset_drift
    assert [c.method for c in fast.columns] == [c.method for c in full.columns], "sampling must not change the test"


@pytest.mark.integration
def test_baseline_window_is_no_dataset_drift(project: Project, reference: pd.DataFrame) -> None:
    window = generated(project, "baseline", DAY + dt.timedelta(days=1), 30_000)
    outcome = assess_drift(reference, window, project, seed=5)
    assert not outcome.dataset_drift, outcome.drifted_columns
    assert outcome.share_drifted < project.drift.drift_share
    assert outcome.warnings == ()


@pytest.mark.integration
@pytest.mark.slow
def test_false_positive_rate_stays_nominal_over_50_seeds(project: Project) -> None:
    """No drift, 50 seeded windows x 12 columns: the per-column flag rate stays at the 5 % threshold.

    600 column tests at a true rate of 5 % give 30 +- 5.3 flags; the bound is 3 standard errors above nominal.
    """
    seeds, flags, tests, dataset_flags = 50, 0, 0, 0
    small = _with(project, sample_rows=2000)
    for seed in range(seeds):
        ref = generated(small, "baseline", DAY, 1000, seed=seed)
        window = generated(small, "baseline", DAY + dt.timedelta(days=1), 4000, seed=seed)
        outcome = assess_drift(ref, window, small, seed=seed)
        flags += outcome.drifted_count
        tests += len(outcome.columns)
        dataset_flags += outcome.dataset_drift
    rate = flags / tests
    bound = 0.05 + 3 * math.sqrt(0.05 * 0.95 / tests)
    assert rate <= bound, f"per-column false-positive rate {rate:.3f} over {tests} tests exceeds {bound:.3f}"
    assert dataset_flags / seeds <= 0.05, f"dataset drift on {dataset_flags} of {seeds} no-drift windows"


@pytest.mark.integration
def test_evidently_chisquare_is_inflated_and_the_result_says_so(churn_project: Project) -> None:
    """Evidently's 'chisquare' treats reference frequencies as exact: n=2000 against m=1000 inflates it ~3x."""
    small = _with(churn_project, sample_rows=2000, cat_method="chisquare")
    categorical = list(drift_columns(small).categorical)
    flags, tests = 0, 0
    for seed in range(10):
        ref = generated(small, "baseline", DAY, 1000, seed=seed)
        window = generated(small, "baseline", DAY + dt.timedelta(days=1), 2000, seed=seed)
        outcome = assess_drift(ref, window, small, seed=seed)
        flags += sum(c.drifted for c in outcome.columns if c.column in categorical)
        tests += len(categorical)
    expected = goodness_of_fit_false_positive_rate(2000, 1000, 2, 0.05)  # most categorical columns are binary
    assert expected > 0.2
    assert flags / tests > 0.15, f"{flags}/{tests}: Evidently's chisquare no longer looks inflated; revisit the README"
    assert outcome.warnings, outcome.warnings
    assert "chi2_contingency" in outcome.warnings[0], outcome.warnings
    assert CHI2_TWO_SAMPLE in outcome.warnings[0]


# --------------------------------------------------------------------------------------------- multiple testing
def _column(name: str, p: float) -> ColumnDrift:
    return ColumnDrift(column=name, kind="numerical", method="ks", threshold=0.05, score=p, drifted=p < 0.05)


@pytest.mark.parametrize(
    ("correction", "expected"),
    [
        ("none", ["a", "b", "c", "d"]),  # four p-values under 0.05
        ("bonferroni", ["a", "b"]),  # under 0.05 / 10
        ("bh", ["a", "b", "c"]),  # p_(k) <= 0.05 k / 10: 0.001 <= .005, 0.004 <= .01, 0.012 <= .015, 0.04 > .02
    ],
)
def test_a_multiple_testing_correction_flags_fewer_columns(project: Project, correction: str, expected: list[str]):
    drift = project.drift.model_copy(update={"correction": Correction(correction), "drift_share": 0.3})
    corrected_project = project.model_copy(update={"drift": drift})
    ps = {"a": 0.001, "b": 0.004, "c": 0.012, "d": 0.04, **{f"x{i}": 0.3 + i / 20 for i in range(6)}}
    results = [_column(n, p) for n, p in ps.items()]
    if correction == "none":
        flagged = [r.column for r in results if r.drifted]
        assert flagged == expected
        return
    out, count, share, dataset = corrected(results, corrected_project)
    assert [r.column for r in out if r.drifted] == expected
    assert count == len(expected)
    assert share == pytest.approx(len(expected) / 10), "the exact share, not a rounded one"
    assert dataset is (share >= 0.3), "the dataset decision is Evidently's rule on the corrected count"
