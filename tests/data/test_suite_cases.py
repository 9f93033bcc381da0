"""The Great Expectations suite derived from the contract, on a good batch and on each kind of corruption.

Every corrupted batch must be quarantined with a report naming the cause (the expectation and the column), and
nothing else may be blamed: a report that lists twenty consequences hides the one thing to fix.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines.expectations import derive_specs, quick_forms
from pipelines.validate import Verdict, check_batch
from projects.contract import Project, parse_project
from tests.helpers.batches import NOW, landing_csv, primary
from tests.helpers.system import REPO

if TYPE_CHECKING:
    from projects.churn.generator import ChurnGenerator


def test_suite_is_derived_from_the_contract(project: Project) -> None:
    """Every column of the contract gets existence, type and null checks; ranges and sets come from the YAML."""
    specs = derive_specs(project, NOW)
    by = {(s.type, s.column) for s in specs}
    for column in project.schema.columns:
        assert ("ExpectColumnToExist", column) in by, column
        assert ("ExpectColumnValuesToBeInTypeList", column) in by, column
        assert ("ExpectColumnValuesToNotBeNull", column) in by, column
    between = {s.column: s.kwargs for s in specs if s.type == "ExpectColumnValuesToBeBetween"}
    assert between["support_calls"] == {"column": "support_calls", "min_value": 0.0, "max_value": 50.0}
    usage = next(s for s in specs if s.type == "ExpectColumnValuesToNotBeNull" and s.column == "data_usage_gb")
    assert usage.kwargs["mostly"] == pytest.approx(0.95), "max_null_fraction 0.05 becomes mostly=0.95"
    region = next(s for s in specs if s.type == "ExpectColumnValuesToBeInSet" and s.column == "region")
    assert region.kwargs["value_set"] == ["north", "south", "east", "west"]
    assert ("ExpectColumnValuesToBeUnique", "customer_id") in by
    assert ("ExpectColumnMeanToBeBetween", "monthly_charges") in by, "extra expectations from project.yaml"
    assert between["event_time"]["max_value"] == "2026-06-01T13:00:00", "now + max_future_seconds (3600)"


def test_good_batch_passes(check: Callable[..., Verdict], good_csv: bytes) -> None:
    verdict = check(good_csv)
    assert verdict.status == "validated", verdict.reasons
    assert verdict.failures == []
    assert verdict.evaluated > 50
    assert verdict.frame is not None
    assert len(verdict.frame) == verdict.rows_in == verdict.rows_out


@pytest.mark.parametrize("scenario", ["baseline", "covariate_drift", "concept_drift"])
def test_drifted_batches_are_valid_data(
    check: Callable[..., Verdict], generator: ChurnGenerator, scenario: str
) -> None:
    """Drift is the monitor's business, not the gate's: drifted batches pass."""
    verdict = check(landing_csv(generator, scenario, rows=400, day=dt.date(2026, 3, 2)))
    assert verdict.status == "validated", verdict.reasons


def test_breakage_is_cleaned_then_quarantined_for_the_real_errors(
    check: Callable[..., Verdict], generator: ChurnGenerator
) -> None:
    """Casing, whitespace, units and duplicates are fixed; nulls over the share and the outliers stop the batch."""
    verdict = check(landing_csv(generator, "breakage", rows=400, day=dt.date(2026, 3, 3)))
    assert verdict.status == "quarantined"
    causes = primary(verdict)
    assert ("expect_column_values_to_not_be_null", "tenure_months") in causes
    assert ("expect_column_values_to_be_between", "monthly_charges") in causes
    blamed = {column for _, column in causes}
    assert blamed <= {"tenure_months", "monthly_charges"}, f"cleaning should have fixed the rest: {causes}"
    counts = verdict.cleaning
    assert counts["lowercase:contract"] > 0
    assert counts["strip_whitespace"] > 0
    assert counts["units:data_usage_gb"] > 0
    assert counts["drop_exact_duplicates"] == 20, "400 // 20 re-sent rows"
    assert verdict.rows_in == 420
    assert verdict.rows_out == 400


def _drop_region(f: pd.DataFrame) -> pd.DataFrame:
    return f.drop(columns=["region"])


def _text_in_numbers(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[[3, 8], "tenure_months"] = ["twelve", "n/a months"]
    return f


def _nulls_over_share(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[f.index[:40], "data_usage_gb"] = np.nan  # 20 % missing; 5 % allowed
    return f


def _out_of_range(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[[5], "support_calls"] = "99"
    return f


def _unseen_category(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[[1, 2], "region"] = "atlantis"
    return f


def _duplicate_ids(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[10, "customer_id"] = f.loc[11, "customer_id"]  # same id, different row: not an exact duplicate
    return f


def _extra_column(f: pd.DataFrame) -> pd.DataFrame:
    return f.assign(coupon_code="SPRING")


def _future_timestamps(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[[0, 4], "event_time"] = "2030-01-01T00:00:00+00:00"
    return f


def _unparseable_timestamp(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[[7], "event_time"] = "yesterday at noon"
    return f


def _fractional_integer(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[[9], "support_calls"] = "2.5"
    return f


CASES = {
    "missing column": (_drop_region, ("expect_column_to_exist", "region"), None),
    "wrong dtype": (_text_in_numbers, ("expect_column_values_to_be_in_type_list", "tenure_months"), "twelve"),
    "nulls over the share": (_nulls_over_share, ("expect_column_values_to_not_be_null", "data_usage_gb"), None),
    "out of range": (_out_of_range, ("expect_column_values_to_be_between", "support_calls"), 99.0),
    "unseen category": (_unseen_category, ("expect_column_values_to_be_in_set", "region"), "atlantis"),
    "duplicate ids": (_duplicate_ids, ("expect_column_values_to_be_unique", "customer_id"), None),
    "extra column": (_extra_column, ("expect_table_columns_to_match_set", None), None),
    "future timestamps": (_future_timestamps, ("expect_column_values_to_be_between", "event_time"), None),
    "unparseable timestamp": (
        _unparseable_timestamp,
        ("expect_column_values_to_be_in_type_list", "event_time"),
        "yesterday at noon",
    ),
    "fractional integer": (_fractional_integer, ("expect_column_values_to_be_in_type_list", "support_calls"), "2.5"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_corrupted_batch_is_quarantined_naming_the_cause(
    check: Callable[..., Verdict], good_frame: pd.DataFrame, case: str
) -> None:
    corrupt, cause, example = CASES[case]
    verdict = check(corrupt(good_frame))
    assert verdict.status == "quarantined", f"{case}: passed the gate"
    assert cause in primary(verdict), f"{case}: expected {cause}, report blames {primary(verdict)}"
    columns = {column for _, column in primary(verdict)} - {None}
    assert columns <= {cause[1]}, f"{case}: other columns blamed too: {primary(verdict)}"
    failure = next(f for f in verdict.failures if (f["expectation"], f["column"]) == cause)
    if example is not None:
        assert example in failure["examples"], f"{case}: examples {failure['examples']} miss {example!r}"
    reason = next(r for r in verdict.reasons if cause[0] in r)
    assert cause[1] is None or cause[1] in reason, reason


def test_missing_column_report_names_only_the_cause(check: Callable[..., Verdict], good_frame: pd.DataFrame) -> None:
    """Checks on the missing column cannot run; they are recorded as consequences, not as more reasons."""
    verdict = check(good_frame.drop(columns=["monthly_charges"]))
    consequences = [f for f in verdict.failures if f["consequence_of"]]
    assert consequences, "range, type and mean checks on the missing column are recorded"
    assert all("monthly_charges" in f["consequence_of"] for f in consequences)
    assert any("missing column 'monthly_charges'" in r for r in verdict.reasons)
    assert any("missing column(s) ['monthly_charges']" in r for r in verdict.reasons), verdict.reasons


def test_extra_column_is_named(check: Callable[..., Verdict], good_frame: pd.DataFrame) -> None:
    verdict = check(good_frame.assign(coupon_code="SPRING"))
    assert any("coupon_code" in r for r in verdict.reasons), verdict.reasons


def test_header_only_is_quarantined_as_empty(check: Callable[..., Verdict], good_frame: pd.DataFrame) -> None:
    verdict = check(good_frame.iloc[:0])
    assert verdict.status == "quarantined"
    assert verdict.rows_in == 0
    assert primary(verdict) == {("expect_table_row_count_to_be_between", None)}, primary(verdict)
    assert "no rows" in verdict.reasons[0]


def test_nulls_within_the_share_pass(check: Callable[..., Verdict], good_frame: pd.DataFrame) -> None:
    """The declared share is a real threshold: 4 % missing data usage (5 % allowed) is fine."""
    good_frame["data_usage_gb"] = good_frame["data_usage_gb"].fillna("100")
    good_frame.loc[good_frame.index[:8], "data_usage_gb"] = np.nan
    assert check(good_frame).status == "validated"


def test_stored_frame_has_the_validated_store_types(
    check: Callable[..., Verdict], good_csv: bytes, project: Project
) -> None:
    frame = check(good_csv).frame
    assert frame is not None
    assert list(frame.columns) == project.schema.columns
    assert str(frame["event_time"].dtype) == "datetime64[ns, UTC]"
    assert frame["tenure_months"].dtype == "float64"
    assert str(frame["has_partner"].dtype) == "boolean"
    assert str(frame["region"].dtype) == "string"
    assert str(frame["churned"].dtype) == "boolean"


def test_quick_forms_are_only_for_rules_derived_from_the_schema(project: Project) -> None:
    specs = derive_specs(project, NOW)
    extra = next(s for s in specs if s.source == "expectations[0]")
    assert quick_forms(extra) == [extra], "project-listed expectations run exactly as written"
    between = next(s for s in specs if s.type == "ExpectColumnValuesToBeBetween" and s.column == "support_calls")
    assert [f.type for f in quick_forms(between)] == ["ExpectColumnMinToBeBetween", "ExpectColumnMaxToBeBetween"]


def test_an_allowed_all_null_column_passes(good_frame: pd.DataFrame) -> None:
    """min/max of a column with no value fail as aggregates; the per-row check (nothing out of range) decides."""
    data = yaml.safe_load((REPO / "projects" / "churn" / "project.yaml").read_text())
    usage = next(f for f in data["schema"]["features"] if f["name"] == "data_usage_gb")
    usage["max_null_fraction"] = 1.0
    project = parse_project(data, "churn variant")
    good_frame["data_usage_gb"] = np.nan
    verdict = check_batch(project, derive_specs(project, NOW), good_frame.to_csv(index=False).encode(), "x.csv")
    assert verdict.status == "validated", verdict.reasons
