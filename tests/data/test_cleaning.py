"""Cleaning fixes formatting noise and counts every change, without hiding real errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines.cleaning import clean, rule_names
from pipelines.validate import Verdict
from projects.contract import Project, parse_project
from tests.helpers.batches import primary
from tests.helpers.system import REPO


def churn_variant(**features: dict[str, Any]) -> Project:
    """The churn contract with some features' settings changed (e.g. outliers: clip)."""
    data = yaml.safe_load((REPO / "projects" / "churn" / "project.yaml").read_text())
    for feature in data["schema"]["features"]:
        feature.update(features.get(feature["name"], {}))
    return parse_project(data, "churn variant")


def test_casing_whitespace_and_units_are_normalised_and_counted(project: Project, good_frame: pd.DataFrame) -> None:
    frame = good_frame.head(6).copy()
    frame.loc[0, "contract"] = "MONTH-TO-MONTH"
    frame.loc[1, "internet_service"] = "  Fiber "
    frame.loc[2, "data_usage_gb"] = "512 MB"
    frame.loc[3, "data_usage_gb"] = "1.5tb"
    frame.loc[4, "region"] = "   "  # whitespace only: a missing value
    out = clean(project, frame)
    assert out.frame.loc[0, "contract"] == "month-to-month"
    assert out.frame.loc[1, "internet_service"] == "fiber"
    assert out.frame.loc[2, "data_usage_gb"] == pytest.approx(0.512)
    assert out.frame.loc[3, "data_usage_gb"] == pytest.approx(1500.0)
    assert pd.isna(out.frame.loc[4, "region"])
    assert out.counts["lowercase:contract"] == 1
    assert out.counts["lowercase:internet_service"] == 1
    assert out.counts["strip_whitespace"] == 2
    assert out.counts["units:data_usage_gb"] == 2
    assert list(out.counts) == rule_names(project), "every declared rule reports, in order"


def test_exact_duplicates_are_dropped_after_normalising(project: Project, good_frame: pd.DataFrame) -> None:
    frame = good_frame.head(5)
    resent = frame.iloc[[1]].assign(contract=lambda f: f["contract"].str.upper())  # same row, other casing
    out = clean(project, pd.concat([frame, frame.iloc[[0]], resent], ignore_index=True))
    assert len(out.frame) == 5
    assert out.counts["drop_exact_duplicates"] == 2


def test_cleaning_does_not_hide_real_errors(check: Callable[..., Verdict], good_frame: pd.DataFrame) -> None:
    """Same id with different values, an unknown category in upper case, a missing value: all still reported."""
    good_frame.loc[3, "customer_id"] = good_frame.loc[4, "customer_id"]
    good_frame.loc[5, "region"] = "  ATLANTIS "
    good_frame.loc[6, "monthly_charges"] = np.nan
    verdict = check(good_frame)
    assert primary(verdict) == {
        ("expect_column_values_to_be_unique", "customer_id"),
        ("expect_column_values_to_be_in_set", "region"),
        ("expect_column_values_to_not_be_null", "monthly_charges"),
    }, primary(verdict)
    region = next(f for f in verdict.failures if f["column"] == "region")
    assert region["examples"] == ["atlantis"], "shown as cleaned, so the person sees what the suite saw"


def test_noisy_but_correct_batch_passes_after_cleaning(check: Callable[..., Verdict], good_frame: pd.DataFrame) -> None:
    good_frame["contract"] = good_frame["contract"].str.upper()
    good_frame["payment_method"] = " " + good_frame["payment_method"].str.title() + "\t"
    usage = good_frame["data_usage_gb"].notna()
    good_frame.loc[usage, "data_usage_gb"] = [
        f"{float(v) * 1024:.1f} MB" for v in good_frame.loc[usage, "data_usage_gb"]
    ]
    doubled = pd.concat([good_frame, good_frame.head(10)], ignore_index=True)
    verdict = check(doubled)
    assert verdict.status == "validated", verdict.reasons
    assert verdict.cleaning["drop_exact_duplicates"] == 10
    assert verdict.cleaning["units:data_usage_gb"] == int(usage.sum()) + int(usage.head(10).sum())


def test_unknown_unit_is_left_for_the_suite_to_name(check: Callable[..., Verdict], good_frame: pd.DataFrame) -> None:
    good_frame.loc[2, "data_usage_gb"] = "3 XB"
    verdict = check(good_frame)
    assert primary(verdict) == {("expect_column_values_to_be_in_type_list", "data_usage_gb")}
    assert next(f for f in verdict.failures if f["column"] == "data_usage_gb")["examples"] == ["3 XB"]


def test_outliers_flag_clip_and_reject(good_frame: pd.DataFrame) -> None:
    """flag -> missing, clip -> the bound, reject -> untouched (the range check quarantines it)."""
    project = churn_variant(monthly_charges={"outliers": "clip"})
    good_frame.loc[0, "data_usage_gb"] = "25000"  # flag (max 10000)
    good_frame.loc[1, "monthly_charges"] = "9000"  # clip (max 500)
    good_frame.loc[2, "monthly_charges"] = "-5"  # clip (min 0)
    good_frame.loc[3, "support_calls"] = "80"  # reject (max 50)
    out = clean(project, good_frame)
    assert pd.isna(out.frame.loc[0, "data_usage_gb"])
    assert out.frame.loc[1, "monthly_charges"] == 500.0
    assert out.frame.loc[2, "monthly_charges"] == 0.0
    assert out.frame.loc[3, "support_calls"] == "80"
    assert out.counts["outliers_flag:data_usage_gb"] == 1
    assert out.counts["outliers_clip:monthly_charges"] == 2
    assert "outliers_reject:support_calls" not in out.counts


def test_parquet_batches_with_typed_columns_are_cleaned_too(project: Project, good_frame: pd.DataFrame) -> None:
    typed = good_frame.assign(tenure_months=pd.to_numeric(good_frame["tenure_months"]), contract="Two-Year ")
    out = clean(project, typed)
    assert (out.frame["contract"] == "two-year").all()
    assert out.frame["tenure_months"].dtype == "float64", "numeric columns are not touched by text rules"
