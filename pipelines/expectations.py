"""The Great Expectations suite, derived from the contract, and how a batch is run through it.

Nothing here restates a schema: every expectation is computed from ``project.schema`` (columns, types, nulls,
ranges, allowed sets, unique ids, timestamps) plus the extra expectations ``project.expectations`` lists. Each
one carries ``source``, the place in project.yaml it comes from, so a report can say why a rule exists.

Speed (see tests/benchmarks/validation.py): the whole suite runs once over the whole frame with
``BOOLEAN_ONLY`` (GX then computes only pass/fail); examples and counts are computed afterwards, and only for
the expectations that failed. GX runs in an ephemeral context (no files written) with its progress bars off.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from pipelines.datasets import FALSE_WORDS, TRUE_WORDS, CoercionError, coerce_types
from projects.contract import ContractError, FeatureType, Project

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.core import ExpectationSuite, ExpectationValidationResult
    from great_expectations.data_context import AbstractDataContext
    from great_expectations.datasource.fluent.interfaces import Batch
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

EXAMPLES = 10  # unexpected values shown per failed expectation

# Per contract type: what GX accepts (the typed column's dtype, or the Python type of each parsed value when a
# column keeps unparseable values and is therefore an object column), and how a person calls it.
TYPE_LISTS: dict[str, tuple[list[str], str]] = {
    "numeric": (["float64", "float"], "a number"),
    "integer": (["float64", "float"], "a whole number"),
    "categorical": (["StringDtype", "str"], "text"),
    "boolean": (["BooleanDtype", "bool"], "a boolean (true/false)"),
    "timestamp": (["datetime64[ns]", "Timestamp"], "an ISO-8601 timestamp"),
}


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation as data: a GX class name, its kwargs and the project.yaml key it was derived from."""

    type: str
    kwargs: dict[str, Any]
    source: str

    @property
    def column(self) -> str | None:
        value = self.kwargs.get("column")
        return str(value) if value is not None else None


@dataclass(frozen=True)
class Failure:
    """A failed expectation as a person needs it: what, which column, how many, examples, and why it exists."""

    expectation: str
    column: str | None
    source: str
    kwargs: dict[str, Any]
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    element_count: int | None = None
    examples: list[Any] = field(default_factory=list)
    example_ids: list[Any] = field(default_factory=list)
    observed_value: Any = None
    details: Any = None
    exception: str | None = None
    consequence_of: str | None = None  # set when this failure only follows from another one (missing column...)


@dataclass(frozen=True)
class SuiteOutcome:
    success: bool
    evaluated: int
    failures: list[Failure]

    @property
    def primary(self) -> list[Failure]:
        """Failures that are causes, not consequences: what a report leads with."""
        return [f for f in self.failures if f.consequence_of is None]


# ------------------------------------------------------------------------------------------------ the suite
def derive_specs(project: Project, now: dt.datetime) -> list[ExpectationSpec]:
    """The suite for ``project`` at time ``now`` (the future-timestamp bound moves with the clock)."""
    schema = project.schema
    specs = [
        ExpectationSpec("ExpectTableRowCountToBeBetween", {"min_value": 1}, "a batch must hold at least one row"),
        ExpectationSpec(
            "ExpectTableColumnsToMatchSet", {"column_set": schema.columns, "exact_match": True}, "schema (all roles)"
        ),
    ]
    specs += [ExpectationSpec("ExpectColumnToExist", {"column": c}, "schema (all roles)") for c in schema.columns]
    specs += _id_specs(project) + _timestamp_specs(project, now) + _role_specs(project)
    for feature in schema.features:
        specs += _feature_specs(project, feature.name)
    specs += [
        ExpectationSpec(str(e["type"]), dict(e.get("kwargs") or {}), f"expectations[{i}]")
        for i, e in enumerate(project.expectations)
    ]
    return specs


def _type_spec(column: str, kind: str, source: str) -> ExpectationSpec:
    type_list, _ = TYPE_LISTS[kind]
    return ExpectationSpec("ExpectColumnValuesToBeInTypeList", {"column": column, "type_list": type_list}, source)


def _not_null(column: str, max_null_fraction: float, source: str) -> ExpectationSpec:
    kwargs: dict[str, Any] = {"column": column}
    if max_null_fraction > 0:
        kwargs["mostly"] = round(1 - max_null_fraction, 12)
    return ExpectationSpec("ExpectColumnValuesToNotBeNull", kwargs, source)


def _id_specs(project: Project) -> list[ExpectationSpec]:
    """Unique, present ids (their uniqueness across batches is the data gate's re-delivery check)."""
    if project.schema.id is None:
        return []
    name = project.schema.id.name
    return [
        _type_spec(name, "categorical", "schema.id"),
        _not_null(name, 0.0, "schema.id"),
        ExpectationSpec("ExpectColumnValuesToBeUnique", {"column": name}, "schema.id (ids are unique)"),
    ]


def _timestamp_specs(project: Project, now: dt.datetime) -> list[ExpectationSpec]:
    ts = project.schema.timestamp
    if ts is None:
        return []
    latest = now.astimezone(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=ts.max_future_seconds)
    return [
        _type_spec(ts.name, "timestamp", "schema.timestamp"),
        _not_null(ts.name, 0.0, "schema.timestamp"),
        ExpectationSpec(
            "ExpectColumnValuesToBeBetween",
            {"column": ts.name, "max_value": latest.isoformat(timespec="seconds")},
            "schema.timestamp.max_future_seconds (no event in the future)",
        ),
    ]


def _role_specs(project: Project) -> list[ExpectationSpec]:
    schema = project.schema
    sensitive, target = schema.sensitive, schema.target
    target_kind = "boolean" if target.type is FeatureType.boolean else target.type.value
    specs = [_type_spec(target.name, target_kind, "schema.target"), _not_null(target.name, 0.0, "schema.target")]
    if target.classes is not None:  # a categorical target: every label one of the declared classes
        specs.append(
            ExpectationSpec(
                "ExpectColumnValuesToBeInSet",
                {"column": target.name, "value_set": list(target.classes)},
                "schema.target.classes",
            )
        )
    if sensitive is None:
        return specs
    return [
        _type_spec(sensitive.name, "categorical", "schema.sensitive"),
        _not_null(sensitive.name, 0.0, "schema.sensitive"),
        ExpectationSpec(
            "ExpectColumnValuesToBeInSet",
            {"column": sensitive.name, "value_set": list(sensitive.values)},
            "schema.sensitive.values",
        ),
        *specs,
    ]


def _feature_specs(project: Project, name: str) -> list[ExpectationSpec]:
    feature = project.schema.feature(name)
    where = f"schema.features[{name}]"
    kind = "integer" if feature.integer else feature.type.value
    specs = [
        _type_spec(name, kind, f"{where}.type"),
        _not_null(name, feature.max_null_fraction, f"{where}.max_null_fraction"),
    ]
    if feature.min is not None or feature.max is not None:
        bounds = {k: v for k, v in (("min_value", feature.min), ("max_value", feature.max)) if v is not None}
        specs.append(ExpectationSpec("ExpectColumnValuesToBeBetween", {"column": name, **bounds}, f"{where}.min/max"))
    if feature.values:
        specs.append(
            ExpectationSpec(
                "ExpectColumnValuesToBeInSet", {"column": name, "value_set": list(feature.values)}, f"{where}.values"
            )
        )
    return specs


def build_suite(
    project: Project, specs: list[ExpectationSpec], name: str = "gate", origin: list[int] | None = None
) -> ExpectationSuite:
    """GX objects for ``specs``; a project-listed expectation GX does not know is a contract error.

    Each expectation's ``meta.spec`` is its index in ``specs`` (or ``origin[i]``), to map results back.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    expectations = []
    for position, spec in enumerate(specs):
        index = origin[position] if origin is not None else position
        cls = getattr(gxe, spec.type, None)
        if not isinstance(cls, type) or not issubclass(cls, gxe.Expectation):
            raise ContractError(
                f"project {project.name!r}, project.yaml {spec.source}: {spec.type!r} is not a Great Expectations "
                "expectation (expected a class name such as ExpectColumnMeanToBeBetween)"
            )
        try:
            expectations.append(cls(**spec.kwargs, meta={"spec": index, "source": spec.source}))
        except (ValidationError, TypeError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ContractError(f"project {project.name!r}, project.yaml {spec.source}: {spec.type}: {first}") from None
    return gx.ExpectationSuite(name=name, expectations=expectations)


def check_suite(project: Project, now: dt.datetime | None = None) -> list[ExpectationSpec]:
    """Derive and build once, so a bad contract fails before any batch is touched."""
    specs = derive_specs(project, now or dt.datetime.now(dt.UTC))
    build_suite(project, specs)
    return specs


# ------------------------------------------------------------------------------------------------ typing
@dataclass(frozen=True)
class TypedBatch:
    """``store``: the validated-store format; ``suite``: the same values as GX sees them (naive UTC times)."""

    store: pd.DataFrame
    suite: pd.DataFrame


def type_batch(project: Project, frame: pd.DataFrame) -> TypedBatch:
    """Give every contract column its declared type via the validated-store format (pipelines.datasets).

    A column with values that do not fit keeps them (as text) next to the parsed ones, so the suite's type
    expectation reports exactly those values instead of the whole batch failing on the first one.
    """
    import pandas as pd

    columns: dict[str, pd.Series] = {}
    for column in frame.columns:
        try:
            typed = coerce_types(project, frame[[column]])[column]
        except CoercionError:
            typed = _lenient(project, frame[column])
        columns[column] = _integral(project, frame[column], typed)
    store = pd.DataFrame(columns, index=frame.index)
    suite = store
    ts = project.schema.time_column
    if ts in store.columns and isinstance(store[ts].dtype, pd.DatetimeTZDtype):
        suite = store.assign(**{ts: store[ts].dt.tz_convert(None)})
    return TypedBatch(store=store, suite=suite)


def _kind(project: Project, column: str) -> str:
    schema = project.schema
    if column == schema.time_column:
        return "timestamp"
    if column == schema.target.name:
        return "boolean" if schema.target.type is FeatureType.boolean else schema.target.type.value
    if column in schema.feature_names:
        return schema.feature(column).type.value
    return "categorical"


def _lenient(project: Project, raw: pd.Series) -> pd.Series:
    """Parsed values where they parse, the original text where they do not (an object column)."""
    import pandas as pd

    kind = _kind(project, str(raw.name))
    text = raw.astype("string").str.strip()
    if kind == "timestamp":
        parsed = pd.to_datetime(raw, errors="coerce", utc=True, format="ISO8601").astype(object)
    elif kind == "boolean":
        lowered = text.str.lower()
        parsed = lowered.map(lambda v: True if v in TRUE_WORDS else False if v in FALSE_WORDS else None).astype(object)
    else:
        parsed = pd.to_numeric(raw, errors="coerce").astype(object)
    bad = raw.notna() & pd.isna(parsed) & (text != "").fillna(False)
    out = parsed.where(pd.notna(parsed), None)
    out[bad] = raw[bad].astype(str)
    return out


def _integral(project: Project, raw: pd.Series, typed: pd.Series) -> pd.Series:
    """Integer features: a fractional value is a type error (shown as written), like an unparseable one."""
    column = str(raw.name)
    if column not in project.schema.feature_names or not project.schema.feature(column).integer:
        return typed
    if typed.dtype.kind != "f":
        return typed
    fractional = typed.notna() & (typed % 1 != 0)
    if not fractional.any():
        return typed
    out = typed.astype(object)
    out[fractional] = raw[fractional].astype(str)
    return out


# ------------------------------------------------------------------------------------------------ running it
def _context() -> AbstractDataContext:
    """An ephemeral GX context: in-memory stores, no docs site (nothing written anywhere), progress bars off."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def get_batch(frame: pd.DataFrame) -> Batch:
    source = _context().data_sources.add_pandas("gate")
    definition = source.add_dataframe_asset("batch").add_batch_definition_whole_dataframe("whole")
    return definition.get_batch(batch_parameters={"dataframe": frame})


def quick_forms(spec: ExpectationSpec) -> list[ExpectationSpec]:
    """An aggregate expectation with exactly the same verdict, where one exists, for the pass/fail run.

    GX evaluates a per-row ("map") expectation by copying the whole frame without the column's nulls; an
    aggregate (min, max, distinct values, unique share) reads the column once. Both ignore nulls, so for the
    rules derived from the schema (no ``mostly``) the verdicts agree; the per-row form still runs for what
    failed, to count the rows and show examples. Project-listed expectations run exactly as written.
    """
    kwargs, column = spec.kwargs, spec.column
    if not spec.source.startswith("schema") or "mostly" in kwargs or column is None:
        return [spec]
    if spec.type == "ExpectColumnValuesToBeBetween":
        low, high = (_bound(kwargs.get(key)) for key in ("min_value", "max_value"))
        forms = [ExpectationSpec("ExpectColumnMinToBeBetween", {"column": column, "min_value": low}, spec.source)]
        forms += [ExpectationSpec("ExpectColumnMaxToBeBetween", {"column": column, "max_value": high}, spec.source)]
        return [f for f, bound in zip(forms, (low, high), strict=True) if bound is not None]
    if spec.type == "ExpectColumnValuesToBeInSet":
        set_kwargs = {"column": column, "value_set": kwargs["value_set"]}
        return [ExpectationSpec("ExpectColumnDistinctValuesToBeInSet", set_kwargs, spec.source)]
    if spec.type == "ExpectColumnValuesToBeUnique":
        unique = {"column": column, "min_value": 1.0}
        return [ExpectationSpec("ExpectColumnProportionOfUniqueValuesToBeBetween", unique, spec.source)]
    return [spec]


def _bound(value: Any) -> Any:
    """Timestamp bounds are kept as ISO text in the spec (JSON); aggregates compare against a datetime."""
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def run_suite(
    project: Project, specs: list[ExpectationSpec], frame: pd.DataFrame, examples: int = EXAMPLES
) -> SuiteOutcome:
    """Pass/fail for the whole suite in one run over the whole frame; counts and examples only for what failed."""
    forms = [(i, form) for i, spec in enumerate(specs) for form in quick_forms(spec)]
    suite = build_suite(project, [f for _, f in forms], origin=[i for i, _ in forms])
    quick = get_batch(frame).validate(suite, result_format="BOOLEAN_ONLY")
    failed = sorted({_spec_index(r) for r in quick.results if not r.success})
    if not failed:
        return SuiteOutcome(success=True, evaluated=len(specs), failures=[])
    id_column = project.schema.key_column
    results = {}
    for group, frame_for_group in _detail_groups(specs, failed, frame, id_column):
        result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": examples}
        if id_column in frame_for_group.columns:
            result_format["unexpected_index_column_names"] = [id_column]
        suite = build_suite(project, [specs[i] for i in group], name="gate-failures", origin=group)
        detailed = get_batch(frame_for_group).validate(suite, result_format=result_format)
        results.update({_spec_index(r): r for r in detailed.results})
    # the per-row form decides: an aggregate can fail where it passes (e.g. no value at all in an allowed-null column)
    failures = [_failure(specs[i], results[i], id_column) for i in failed if not results[i].success]
    return SuiteOutcome(success=not failures, evaluated=len(specs), failures=_mark_consequences(failures))


def referenced_columns(spec: ExpectationSpec) -> list[str]:
    kwargs = spec.kwargs
    names = [kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B"), *(kwargs.get("column_list") or [])]
    return [str(n) for n in names if n is not None]


def _detail_groups(
    specs: list[ExpectationSpec], failed: list[int], frame: pd.DataFrame, id_column: str
) -> list[tuple[list[int], pd.DataFrame]]:
    """Failed expectations, each with the narrowest frame that gives the same answer.

    GX copies the whole frame for every column check and re-hashes it for every run, so details computed on the
    full frame cost as much as the suite itself: column checks get only their columns (plus the id, to name
    rows), checks on the column set get the columns without rows, and only row-count checks see everything.
    """
    shape = [i for i in failed if specs[i].type.startswith("ExpectTableColumn")]
    rows = [i for i in failed if i not in shape and not referenced_columns(specs[i])]
    columns = [i for i in failed if i not in shape and i not in rows]
    wanted = [id_column] + [c for i in columns for c in referenced_columns(specs[i])]
    present = [c for c in dict.fromkeys(wanted) if c in frame.columns]
    groups = [(shape, frame.iloc[:0]), (rows, frame), (columns, frame[present])]
    return [(group, data) for group, data in groups if group]


def _config(result: ExpectationValidationResult) -> ExpectationConfiguration:
    """The expectation a result is about (GX types it optional; a suite run always sets it)."""
    if result.expectation_config is None:
        raise RuntimeError("Great Expectations returned a result without its expectation configuration")
    return result.expectation_config


def _spec_index(result: ExpectationValidationResult) -> int:
    """Which of our ExpectationSpecs a GX result belongs to (``meta.spec``, set by build_suite)."""
    return int(_config(result).meta["spec"])


def _failure(spec: ExpectationSpec, result: ExpectationValidationResult, id_column: str) -> Failure:
    details = dict(result.result or {})
    index = details.get("partial_unexpected_index_list") or []
    ids = [i.get(id_column) if isinstance(i, dict) else i for i in index]  # rows are named by their id
    return Failure(
        expectation=_config(result).type,
        column=spec.column,
        source=spec.source,
        kwargs=jsonable({k: v for k, v in spec.kwargs.items() if k != "column"}),
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=jsonable(details.get("unexpected_percent")),
        element_count=details.get("element_count"),
        examples=[]
        if spec.type == "ExpectColumnValuesToNotBeNull"
        else jsonable(details.get("partial_unexpected_list") or []),
        example_ids=jsonable(ids),
        observed_value=jsonable(details.get("observed_value")),
        details=jsonable(details.get("details")),
        exception=_exception_message(result.exception_info),
    )


def _exception_message(info: Any) -> str | None:
    """GX nests exceptions by metric id; a person needs the first message, not the traceback."""
    if not info:
        return None
    candidates = [info] if "raised_exception" in info else list(info.values())
    for item in candidates:
        if isinstance(item, dict) and (item.get("raised_exception") or item.get("exception_message")):
            message = str(item.get("exception_message") or "").strip()
            return message.splitlines()[0][:300] if message else "raised an exception"
    return None


def _mark_consequences(failures: list[Failure]) -> list[Failure]:
    """A missing column, wrongly typed values or an empty batch make other checks fail too; say which is the cause."""

    empty = any(f.expectation == "expect_table_row_count_to_be_between" for f in failures)
    missing = {f.column for f in failures if f.expectation == "expect_column_to_exist"}
    mistyped = {f.column for f in failures if f.expectation == "expect_column_values_to_be_in_type_list"}
    out = []
    for f in failures:
        cause = None
        if empty and f.expectation != "expect_table_row_count_to_be_between":
            cause = "the batch has no rows"
        elif f.column in missing and f.expectation != "expect_column_to_exist":
            cause = f"column {f.column!r} is missing"
        elif f.column in mistyped and f.exception and f.expectation != "expect_column_values_to_be_in_type_list":
            cause = f"column {f.column!r} holds values of the wrong type"
        out.append(replace(f, consequence_of=cause) if cause else f)
    return out


# ------------------------------------------------------------------------------------------------ reasons
def describe(failure: Failure, project: Project | None = None) -> str:
    """One sentence a person can act on, ending with the expectation's name."""
    f, col = failure, failure.column
    count, total = f.unexpected_count or 0, f.element_count
    share = f" ({f.unexpected_percent:.1f}%)" if isinstance(f.unexpected_percent, float) else ""
    examples = f"; e.g. {', '.join(short(v) for v in f.examples[:5])}" if f.examples else ""
    if f.exception and f.consequence_of is None:
        text = f"{col or 'table'}: could not be checked: {f.exception}"
    elif f.expectation == "expect_column_to_exist":
        text = f"missing column {col!r}"
    elif f.expectation == "expect_table_columns_to_match_set":
        text = _columns_text(f)
    elif f.expectation == "expect_table_row_count_to_be_between":
        text = f"the batch has no rows (observed {f.observed_value}); a header-only file?"
    elif f.expectation == "expect_column_values_to_be_in_type_list":
        text = _type_text(f, project, count, share, examples)
    elif f.expectation == "expect_column_values_to_not_be_null":
        allowed = 1 - float(f.kwargs.get("mostly", 1.0))
        named = "ids" if project is None or project.schema.id is not None else "rows"  # no id: row positions
        ids = f"; e.g. {named} {', '.join(short(v) for v in f.example_ids[:5])}" if f.example_ids else ""
        text = f"{col}: {count} of {total} values missing{share}, more than the {allowed:.0%} allowed{ids}"
    elif f.expectation == "expect_column_values_to_be_between":
        text = f"{col}: {count} value(s) outside {_bounds(f.kwargs)}{share}{examples}"
    elif f.expectation == "expect_column_values_to_be_in_set":
        text = f"{col}: {count} value(s) not in the allowed set {f.kwargs.get('value_set')}{share}{examples}"
    elif f.expectation == "expect_column_values_to_be_unique":
        text = f"{col}: {count} row(s) share an id with another row{examples}"
    else:
        observed = f"observed {short(f.observed_value)}" if f.observed_value is not None else f"{count} unexpected"
        text = f"{col or 'table'}: {observed}, expected {short(f.kwargs)}{examples}"
    return f"{text} [{f.expectation}]"


def short(value: Any, limit: int = 60) -> str:
    """A value as a person reads it in one line: floats rounded, long text cut."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {short(v)}" for k, v in value.items()) + "}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bounds(kwargs: dict[str, Any]) -> str:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is None:
        return f"the allowed range (at most {high})"
    if high is None:
        return f"the allowed range (at least {low})"
    return f"[{low}, {high}]"


def _columns_text(f: Failure) -> str:
    details = f.details or {}
    mismatched = details.get("mismatched", {}) if isinstance(details, dict) else {}
    parts = []
    if mismatched.get("unexpected"):
        parts.append(f"unexpected column(s) {sorted(mismatched['unexpected'])} not in the contract")
    if mismatched.get("missing"):
        parts.append(f"missing column(s) {sorted(mismatched['missing'])}")
    return "columns do not match the contract: " + ("; ".join(parts) or f"found {f.observed_value}")


def _type_text(f: Failure, project: Project | None, count: int, share: str, examples: str) -> str:
    kind = next(
        (label for types, label in TYPE_LISTS.values() if types == f.kwargs.get("type_list")), "the declared type"
    )
    if project is not None and f.column:
        kind = TYPE_LISTS["integer" if _is_integer(project, f.column) else _kind(project, f.column)][1]
    if f.unexpected_count is None:
        return f"{f.column}: the column's type is {f.observed_value}, expected {kind}"
    return f"{f.column}: {count} value(s) are not {kind}{share}{examples}"


def _is_integer(project: Project, column: str) -> bool:
    return column in project.schema.feature_names and project.schema.feature(column).integer


def jsonable(value: Any) -> Any:
    """Values GX returns (numpy scalars, Timestamps, NA, NaN) as plain JSON."""
    import numpy as np
    import pandas as pd

    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (dt.datetime, dt.date, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (bool, int, str)):
        return value
    return str(value)
