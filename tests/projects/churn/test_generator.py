"""The churn generator: deterministic, and each scenario really is what its name says."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipelines.datasets import coerce_types
from projects.sources import read_frame
from projects.workspace import Workspace
from tests.helpers.examples import why_skipped

# The churn example's own tests: skipped as a whole in a checkout that dropped it.
ChurnGenerator = pytest.importorskip("projects.churn.generator", reason=why_skipped("churn")).ChurnGenerator

DAY = dt.date(2026, 1, 5)
ROWS = 3000


@pytest.fixture(scope="module")
def generator() -> ChurnGenerator:
    from pathlib import Path

    from projects.contract import load_project

    return ChurnGenerator(load_project("churn", Path(__file__).resolve().parents[3] / "projects"), seed=42)


def test_same_seed_same_batch_other_seed_other_batch(generator: ChurnGenerator) -> None:
    a = generator.batch(DAY, "baseline", 200)
    b = generator.batch(DAY, "baseline", 200)
    c = ChurnGenerator(generator.project, seed=7).batch(DAY, "baseline", 200)
    pd.testing.assert_frame_equal(a, b)
    assert not a["monthly_charges"].equals(c["monthly_charges"])


def test_baseline_matches_the_contract(generator: ChurnGenerator) -> None:
    project = generator.project
    frame = coerce_types(project, read_frame(generator.to_csv(generator.batch(DAY, "baseline", ROWS)), "b.csv"))
    assert list(frame.columns) == project.schema.columns
    assert frame["customer_id"].is_unique
    for feature in project.schema.features:
        column = frame[feature.name]
        assert column.isna().mean() <= feature.max_null_fraction, f"{feature.name} has too many nulls"
        if feature.values:
            assert set(column.dropna()) <= set(feature.values), f"{feature.name} has unseen categories"
        if feature.min is not None:
            assert column.min() >= feature.min, f"{feature.name} out of range"
            assert column.max() <= feature.max, f"{feature.name} out of range"
    assert 0.1 < frame["churned"].mean() < 0.5, "a churn rate a model can learn from"


def test_covariate_drift_shifts_declared_features_not_the_mechanism(generator: ChurnGenerator) -> None:
    base = generator.batch(DAY, "baseline", ROWS)
    drift = generator.batch(DAY, "covariate_drift", ROWS)
    for column in ("monthly_charges", "tenure_months", "data_usage_gb", "support_calls"):
        pvalue = stats.ks_2samp(base[column].dropna(), drift[column].dropna()).pvalue
        assert pvalue < 1e-6, f"{column} should be clearly shifted (KS p={pvalue:.2g})"
    share = drift["contract"].eq("month-to-month").mean() - base["contract"].eq("month-to-month").mean()
    assert share > 0.15, "more month-to-month contracts under covariate drift"


def test_concept_drift_keeps_features_but_changes_labels(generator: ChurnGenerator) -> None:
    base = generator.batch(DAY, "baseline", ROWS)
    concept = generator.batch(DAY, "concept_drift", ROWS)
    pvalue = stats.ks_2samp(base["monthly_charges"], concept["monthly_charges"]).pvalue
    assert pvalue > 1e-3, "features keep their distribution under concept drift"

    def tenure_effect(frame: pd.DataFrame) -> float:
        return float(np.corrcoef(frame["tenure_months"], frame["churned"])[0, 1])

    assert tenure_effect(base) < -0.15, "tenure protects much less after the change"
    assert tenure_effect(concept) > -0.08, "tenure protects much less after the change"


def test_breakage_contains_all_four_problems(generator: ChurnGenerator) -> None:
    frame = read_frame(generator.to_csv(generator.batch(DAY, "breakage", ROWS)), "broken.csv")
    contract = frame["contract"].dropna()
    assert (contract != contract.str.lower()).any(), "inconsistent casing"
    assert (frame["internet_service"] != frame["internet_service"].str.strip()).any(), "stray whitespace"
    assert frame["data_usage_gb"].str.endswith(" MB", na=False).any(), "units written into values"
    assert frame["tenure_months"].isna().mean() > 0.2, "missing values over the declared share"
    assert pd.to_numeric(frame["monthly_charges"]).max() > 500, "outliers beyond the declared max"
    assert frame.duplicated().sum() >= ROWS // 20, "exact duplicate rows"


def test_generate_batches_continue_after_the_newest(churn: Workspace) -> None:
    from projects.sources import generate_batches

    first = generate_batches(churn.project, churn.store, "baseline", 2, rows=50)
    second = generate_batches(churn.project, churn.store, "covariate_drift", 1, rows=50)
    assert [b.name for b in first] == ["2026-01-01_baseline.csv", "2026-01-02_baseline.csv"]
    assert [b.name for b in second] == ["2026-01-03_covariate_drift.csv"]
    assert churn.store.list("landing") == [b.name for b in first + second]
