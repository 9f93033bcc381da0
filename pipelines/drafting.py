"""A contract drafted from sample batches (`mlops project init-from-data`): a first project.yaml to review.

Every sample batch (CSV or Parquet under a folder or fsspec URL) is read the way the data gate reads it, and each
column is profiled across all of them: its type (boolean, number, integer, time, text), missing values, range or
set of values, and whether it is unique. From that the draft proposes:

- the **target** (named with ``--target``, else a column called target, label, y, class or outcome): two values
  make a binary classification, up to ``MAX_CLASSES`` texts a multiclass one, numbers a regression;
- the **id** (a text or integer column unique across every row) and the **timestamp** (every value a time);
- every other column as a **feature**: numbers with a range widened beyond the observed minimum and maximum by
  ``MARGIN`` of the observed span on each side (a column never below zero stays at zero), integers marked as
  such, at most ``CODED_MAX`` distinct integers proposed as **coded categories**, texts with at most
  ``MAX_CATEGORIES`` values as categories, booleans as booleans; ``max_null_fraction`` twice the highest share
  seen in one batch (0 when none was missing);
- text columns that are neither (free text, a second id), extra time columns and columns some samples lack go
  to ``schema.ignore`` (dropped on arrival), each said why.

Every guessed line carries a comment saying what it was guessed from. The draft is then run through the data
gate itself against every sample batch before anything is written: a draft that would quarantine one of the
user's own normal batches is a bad draft, and the error names the batch and why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import posixpath
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml
from fsspec.core import url_to_fs

from pipelines.datasets import FALSE_WORDS, TRUE_WORDS
from pipelines.expectations import derive_specs
from pipelines.validate import BatchContext, UnreadableBatchError, check_batch, read_batch
from projects.contract import Project, parse_project
from projects.errors import PlatformError
from projects.sources import held_back, natural_key

if TYPE_CHECKING:
    import pandas as pd

MIN_SAMPLES = 2  # one batch to train on, one for the gate's holdout
MARGIN = 0.1  # ranges are widened by 10 % of the observed span on each side
MAX_CATEGORIES = 30  # a text column with at most this many distinct values is a category
MAX_CLASSES = 20  # a text target with 3 to this many values is a multiclass target
CODED_MAX = 12  # an integer column with at most this many distinct values is proposed as coded categories
TARGET_NAMES = ("target", "label", "y", "class", "outcome")
SUFFIXES = (".csv", ".parquet")
DRAFT_MARK = "# mlops: draft sha256="  # while the body still hashes to this, the draft may be overwritten
PLACEHOLDER_MARK = "# mlops: placeholder"  # the template's project.yaml, always replaced by a draft


class DraftError(PlatformError, ValueError):
    """The samples cannot give a usable draft; the message names the file, the column or the batch."""


@dataclass(frozen=True)
class Sample:
    name: str
    data: bytes
    frame: pd.DataFrame


@dataclass
class Column:
    """One column profiled across every sample batch."""

    name: str
    kind: str  # boolean | integer | numeric | time | text
    batches: int  # how many samples have it
    null_share: float  # the highest share of missing values in one batch
    values: list[str] | None  # the distinct values (None: more than MAX_CATEGORIES)
    low: float | None = None
    high: float | None = None
    unique: bool = False  # no value repeats across all rows of all samples
    lower: bool = False  # every text value is lower case
    null_batches: list[str] = field(default_factory=list)  # the samples with a missing value in it


@dataclass(frozen=True)
class Draft:
    """The contract text (with its comments), the project it parses to, and what the drafting decided."""

    text: str
    project: Project
    notes: list[str]


# --------------------------------------------------------------------------------------------- reading
def read_samples(url: str, storage_options: dict[str, Any] | None = None) -> list[Sample]:
    """Every CSV/Parquet file directly under ``url``, in natural name order (batch_2 before batch_10, as
    `make run` lands them), read as the data gate reads a batch."""
    try:
        fs, base = url_to_fs(url, **(storage_options or {}))
    except (ImportError, ValueError) as exc:  # an unknown protocol, or its filesystem library missing
        raise DraftError(f"{url}: {exc}", where=url) from None
    if not fs.exists(base):
        raise DraftError(f"{url}: no such folder", where=url)
    paths = sorted((p for p in fs.ls(base, detail=False) if str(p).endswith(SUFFIXES)), key=natural_key)
    if not paths:
        raise DraftError(f"{url}: no .csv or .parquet sample batch in it", where=url)
    samples = []
    for path in paths:
        name = posixpath.basename(str(path))
        data = fs.cat_file(path)
        try:
            samples.append(Sample(name, data, read_batch(data, name)))
        except UnreadableBatchError as exc:
            raise DraftError(f"{url}/{name}: {exc}", where=f"{url}/{name}") from None
    return samples


# --------------------------------------------------------------------------------------------- profiling
def _text(series: pd.Series) -> pd.Series:
    return series.astype("string").str.strip().replace("", None)


def _kind(text: pd.Series) -> str:
    import pandas as pd

    present = text.dropna()
    if present.empty:
        return "text"
    lowered = set(present.str.lower())
    if lowered <= TRUE_WORDS | FALSE_WORDS and len(lowered) <= 2 and not lowered <= {"1", "0", "1.0", "0.0"}:
        return "boolean"
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().all():
        return "integer" if bool((numbers % 1 == 0).all()) else "numeric"
    times = pd.to_datetime(present, errors="coerce", utc=True, format="ISO8601")
    if times.notna().all() and present.str.contains(r"\d{4}-\d{2}-\d{2}").all():
        return "time"
    return "text"


def profile(samples: list[Sample]) -> list[Column]:
    """Each column's kind, missing share, values or range and uniqueness, across all samples (first seen order)."""
    import pandas as pd

    names: list[str] = []
    for sample in samples:
        names += [str(c) for c in sample.frame.columns if str(c) not in names]
    columns = []
    for name in names:
        having = [s for s in samples if name in s.frame.columns]
        parts = [_text(s.frame[name]) for s in having]
        everything = pd.concat(parts, ignore_index=True)
        kind = _kind(everything)
        present = everything.dropna()
        distinct = sorted(set(present))
        column = Column(
            name=name,
            kind=kind,
            batches=len(parts),
            null_share=max(float(p.isna().mean()) for p in parts),
            values=distinct if len(distinct) <= MAX_CATEGORIES else None,
            unique=present.is_unique and len(present) == len(everything),
            lower=bool((present == present.str.lower()).all()),
            null_batches=[s.name for s, p in zip(having, parts, strict=True) if p.isna().any()],
        )
        if kind in {"integer", "numeric"} and not present.empty:
            numbers = pd.to_numeric(present)
            column.low, column.high = float(numbers.min()), float(numbers.max())
        columns.append(column)
    return columns


# --------------------------------------------------------------------------------------------- roles
@dataclass
class Roles:
    target: Column
    task: str
    target_line: dict[str, Any]
    target_note: str
    id: Column | None = None
    timestamp: Column | None = None
    left_out: dict[str, str] = field(default_factory=dict)  # column -> why it is not a feature


def _pick_target(columns: list[Column], target: str | None) -> Column:
    by_name = {c.name: c for c in columns}
    if target is not None:
        if target not in by_name:
            raise DraftError(f"--target {target!r}: no such column; the samples have {sorted(by_name)}", column=target)
        return by_name[target]
    for name in TARGET_NAMES:
        if name in by_name:
            return by_name[name]
    raise DraftError(
        f"which column is the target? name it with --target (the samples have {sorted(by_name)})", key="target"
    )


def _target(column: Column, task: str | None = None) -> tuple[str, dict[str, Any], str]:
    """(task, the target's contract line, the comment saying why). ``task`` (TASK=, --task) decides when given;
    otherwise numbers are a regression, except integers with at most ``CODED_MAX`` values (coded classes)."""
    values = column.values or []
    numeric = column.kind in {"integer", "numeric"}
    if task == "regression":
        if not numeric:
            raise DraftError(
                f"column {column.name!r}: task regression needs a numeric target; its values are {column.kind} "
                f"({values[:5]}...)",
                column=column.name,
            )
        return "regression", {"name": column.name, "type": "numeric"}, "numbers, and TASK=regression"
    if column.kind == "boolean":
        positive = next((v for v in values if v.lower() in TRUE_WORDS), "true")
        line = {"name": column.name, "type": "boolean", "positive": True}
        return "classification", line, f"values {values}: a binary target, {positive!r} is the positive class"
    coded = column.kind == "integer" and column.values is not None and len(values) <= CODED_MAX
    if numeric and task is None and not coded:
        return "regression", {"name": column.name, "type": "numeric"}, "numbers: a regression target"
    if numeric and column.values is None:
        raise DraftError(
            f"column {column.name!r}: more than {MAX_CATEGORIES} distinct numbers cannot be classification "
            "classes (TASK=regression?)",
            column=column.name,
        )
    if numeric:
        values = sorted(values, key=float)  # 2 before 10
    if len(values) == 2:
        line = {"name": column.name, "type": "categorical", "classes": values, "positive": values[-1]}
        return "classification", line, f"two values: binary; check that {values[-1]!r} is the positive class"
    if 3 <= len(values) <= MAX_CLASSES:
        line = {"name": column.name, "type": "categorical", "classes": values}
        return "classification", line, f"{len(values)} values: a multiclass target"
    raise DraftError(
        f"column {column.name!r}: {len(values) or 'more than ' + str(MAX_CATEGORIES)} distinct values cannot be a "
        "classification target, and they are not numbers for a regression",
        column=column.name,
    )


def _id_like(name: str) -> bool:
    """Named like an id: ``id``, ``*_id``, ``id_*``, ``*Id``, ``uuid``, ``key``; not ``paid`` or ``width``."""
    return bool(re.search(r"(^|_)(id|uuid|guid|key)($|_)", name.lower()) or re.search(r"[a-z]Id$", name))


def guess_roles(columns: list[Column], target: str | None, samples: int, task: str | None = None) -> Roles:
    chosen = _pick_target(columns, target)
    if chosen.null_batches:
        raise DraftError(
            f"target column {chosen.name!r}: missing values in {', '.join(chosen.null_batches)}; every labelled row "
            "needs its target (fix those files or leave them out of the samples)",
            column=chosen.name,
        )
    task, line, note = _target(chosen, task)
    roles = Roles(target=chosen, task=task, target_line=line, target_note=note)
    others = [c for c in columns if c is not chosen]
    ids = [c for c in others if c.unique and c.kind in {"text", "integer"}]
    ids.sort(key=lambda c: (not _id_like(c.name), c.kind != "text"))
    times = [c for c in others if c.kind == "time" and c.null_share == 0]
    times.sort(key=lambda c: not re.search(r"time|date|_at$|^ts$", c.name.lower()))
    roles.id = ids[0] if ids and (ids[0].kind == "text" or _id_like(ids[0].name)) else None
    roles.timestamp = times[0] if times else None
    taken = {c.name for c in (roles.id, roles.timestamp) if c is not None}
    for column in others:
        if column.name in taken:
            continue
        if column.kind == "time":
            roles.left_out[column.name] = "a second time column (only one is the timestamp)"
        elif column.kind == "text" and column.values is None:
            roles.left_out[column.name] = (
                "unique text: an id?" if column.unique else f"more than {MAX_CATEGORIES} distinct texts: free text?"
            )
        elif column.batches < samples:
            roles.left_out[column.name] = f"in {column.batches} of {samples} sample batches only"
    return roles


# --------------------------------------------------------------------------------------------- features
def _widen(low: float, high: float, integer: bool) -> tuple[float, float]:
    span = high - low or max(abs(high), 1.0)
    lo, hi = low - MARGIN * span, high + MARGIN * span
    if low >= 0:
        lo = max(0.0, lo)
    if integer:
        return float(math.floor(lo)), float(math.ceil(hi))
    digits = max(0, 2 - math.floor(math.log10(span))) if span > 0 else 2
    scale = 10**digits
    return math.floor(lo * scale) / scale, math.ceil(hi * scale) / scale


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def feature_line(column: Column) -> tuple[dict[str, Any], str]:
    """One feature's contract line and the comment saying what it was guessed from."""
    line: dict[str, Any] = {"name": column.name}
    if column.kind == "boolean":
        line["type"], note = "boolean", f"values {column.values}"
    elif column.kind == "integer" and column.values is not None and len(column.values) <= CODED_MAX:
        codes = sorted({_number(float(v)) for v in column.values})
        line["type"], line["values"] = "categorical", codes
        note = f"{len(codes)} distinct integers: codes? make it numeric if they are amounts"
    elif column.kind in {"integer", "numeric"}:
        assert column.low is not None
        assert column.high is not None
        low, high = _widen(column.low, column.high, column.kind == "integer")
        line |= {"type": "numeric", "min": _number(low), "max": _number(high)}
        if column.kind == "integer":
            line["integer"] = True
        note = f"observed {_number(column.low)}..{_number(column.high)}, widened by {MARGIN:.0%} of the span"
    else:
        line["type"], line["values"] = "categorical", column.values
        note = f"{len(column.values or [])} distinct values"
    if column.null_share > 0:
        line["max_null_fraction"] = min(1.0, math.ceil(200 * column.null_share) / 100)
        note += f"; up to {column.null_share:.1%} missing in one batch (allowed: twice that)"
    return line, note


# --------------------------------------------------------------------------------------------- the text
def _flow(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()
    return text.removesuffix("...").strip()  # a scalar is dumped as a document: drop its end marker


def _line(key: str, value: Any, comment: str = "", indent: int = 0) -> str:
    text = f"{' ' * indent}{key}: {_flow(value)}"
    return f"{text}   # guessed: {comment}" if comment else text


def _model(name: str, task: str, classes: int) -> list[str]:
    if task == "regression":
        estimator, metric, floor = "sklearn.ensemble.HistGradientBoostingRegressor", "rmse", None
    else:
        estimator = "sklearn.ensemble.HistGradientBoostingClassifier"
        metric, floor = ("roc_auc", 0.6) if classes <= 2 else ("f1", 0.5)
    return [
        "model:",
        f"  estimator: {estimator}   # guessed: a strong default for tables; any scikit-learn estimator works",
        "  params: {max_iter: 200, random_state: 0}",
        "  numeric_impute: median",
        "  scale: false",
        f"  # feature_code: projects.{name}.features.add_features   # your pure feature function (features.py)",
        "  # derived: {new_column: numeric}   # the columns it adds, each numeric, boolean or categorical",
        "",
        "gate:",
        f"  metric: {metric}",
        "  min_improvement: 0.0",
        f"  floor: {floor if floor is not None else '{floor}'}   # guessed: the worst score you would still ship",
    ]


def render(
    name: str,
    url: str,
    samples: list[Sample],
    columns: list[Column],
    roles: Roles,
    *,
    description: str = "",
    redelivered_drop: bool = False,
) -> str:
    """The draft as project.yaml text, a comment on every guessed line."""
    taken = {c.name for c in (roles.target, roles.id, roles.timestamp) if c is not None}
    features = [c for c in columns if c.name not in taken and c.name not in roles.left_out]
    if not features:
        raise DraftError(f"{url}: no column is usable as a feature (left out: {roles.left_out})", where=url)
    rows = [len(s.frame) for s in samples]
    holdout = 1 if len(samples) < 4 else 2
    window = max(len(samples), holdout + 1)
    # `make run` trains the first champion on the oldest batches, the newest held back (projects.sources.held_back):
    # min_rows must let that first model train
    first_training = rows[: len(samples) - held_back(len(samples), holdout) - holdout]
    lines = [
        f"name: {name}",
        f"description: {_flow(description)}" if description else 'description: ""   # say what this project predicts',
        _line("task", roles.task, roles.target_note),
        "",
        "source:",
        "  kind: files",
        f"  url: {_flow(url)}   # where new batches arrive (any fsspec URL); `mlops data ingest` lands them",
        "",
        "schema:",
    ]
    if roles.id is not None:
        lines.append(_line("id", {"name": roles.id.name}, "unique in every row of the samples", 2))
    else:
        lines.append("  # no id guessed: rows are keyed by their values; declare one if the data has it")
    if roles.timestamp is not None:
        lines.append(_line("timestamp", {"name": roles.timestamp.name}, "every value is a time", 2))
    else:
        lines.append("  # no timestamp guessed: a batch's time comes from its name or its file time")
    lines.append(_line("target", roles.target_line, roles.target_note, 2))
    lines.append("  # no sensitive attribute: declare schema.sensitive and gate.fairness to audit fairness")
    lines.append("  features:")
    lines += [_line("-", line, note, 4).replace("    -: ", "    - ", 1) for line, note in map(feature_line, features)]
    if roles.left_out:
        why = "; ".join(f"{col}: {reason}" for col, reason in roles.left_out.items())
        lines.append(_line("ignore", list(roles.left_out), f"dropped on arrival ({why})", 2))
    lowercase = [c.name for c in features if c.values is not None and c.kind == "text" and c.lower]
    lines += ["", "cleaning:", "  strip_whitespace: true"]
    if lowercase:
        lines.append(_line("lowercase", lowercase, "every value is lower case in the samples", 2))
    lines.append("  drop_exact_duplicates: true")
    if redelivered_drop:
        lines.append(
            "  redelivered: drop   # guessed: with no id, identical rows recur across the samples; drop them, not "
            "the batch"
        )
    lines.append("")
    classes = len(roles.target_line.get("classes", [])) or 2
    model = _model(name, roles.task, classes)
    if roles.task == "regression":
        spread = _target_spread(samples, roles.target.name)
        model = [m.replace("{floor}", f"{spread:.4g}") for m in model]
        model[-1] += " (here: the target's standard deviation, what predicting the mean scores)"
    lines += model
    lines += [
        "",
        "training:",
        _line("window_batches", window, f"{len(samples)} sample batches", 2),
        _line("holdout_batches", holdout, "the newest, scored by the gate, never trained on", 2),
        _line("min_rows", max(10, min(200, sum(first_training) // 2)), "half the first model's training rows", 2),
        _line("reference_rows", max(10, min(5000, sum(rows) // 2)), "drift reference sample", 2),
        "",
        "drift:",
        _line("min_rows", max(10, min(200, *rows)), "the smallest sample batch", 2),
    ]
    return "\n".join(lines) + "\n"


def _target_spread(samples: list[Sample], target: str) -> float:
    import pandas as pd

    values = pd.concat([pd.to_numeric(s.frame[target], errors="coerce") for s in samples], ignore_index=True)
    return float(values.std()) or 1.0


def with_header(body: str, url: str, samples: int) -> str:
    """The draft's header: where it came from, what to do, and the hash that says it is still unreviewed."""
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    return (
        f"# Drafted by `mlops project init-from-data` from {samples} sample batch(es) in {url}\n"
        f"# on {dt.datetime.now(dt.UTC):%Y-%m-%d}. Every line marked 'guessed' was guessed from those samples:\n"
        "# review each, then run `mlops project show <name>`. Once you edit this file it is yours, and\n"
        "# init-from-data will not overwrite it without --force.\n"
        f"{DRAFT_MARK}{digest}\n{body}"
    )


def stamp_placeholder(text: str) -> str:
    """The template's placeholder with its hash in place of the bare mark: once edited, it is the user's."""
    first, _, body = text.partition("\n")
    if first.strip() != PLACEHOLDER_MARK:
        return text
    return f"{DRAFT_MARK}{hashlib.sha256(body.encode()).hexdigest()[:16]}\n{body}"


def unreviewed(text: str) -> bool:
    """True for the template's placeholder and for a draft nobody has edited since (its hash still matches)."""
    if PLACEHOLDER_MARK in text:
        return True
    match = re.search(re.escape(DRAFT_MARK) + r"([0-9a-f]{16})\n", text)
    if match is None:
        return False
    body = text[match.end() :]
    return hashlib.sha256(body.encode()).hexdigest()[:16] == match.group(1)


# --------------------------------------------------------------------------------------------- the check
def check_draft(project: Project, samples: list[Sample]) -> dict[str, list[str]]:
    """Run the data gate the draft implies on every sample; batch -> reasons, for those it would quarantine."""
    specs = derive_specs(project, dt.datetime.now(dt.UTC))
    problems = {}
    known: dict[str, str] = {}  # id (or row key) -> batch: re-deliveries are checked as the gate would see them
    for sample in samples:
        verdict = check_batch(project, specs, sample.data, sample.name, BatchContext(known_keys=dict(known)))
        if verdict.status != "validated":
            problems[sample.name] = list(verdict.reasons)
        elif verdict.frame is not None:
            known.update(dict.fromkeys(verdict.frame[project.schema.key_column].astype(str), sample.name))
    return problems


def draft_contract(
    name: str,
    url: str,
    target: str | None = None,
    samples: list[Sample] | None = None,
    *,
    task: str | None = None,
    description: str = "",
) -> Draft:
    """Profile, guess, render, parse, and check the draft against every sample; DraftError if it is not usable."""
    samples = samples if samples is not None else read_samples(url)
    if len(samples) < MIN_SAMPLES:
        raise DraftError(
            f"{url}: {len(samples)} sample batch; at least {MIN_SAMPLES} are needed (one to train on, one for the "
            "gate's out-of-time holdout), and 5 or more for `make run` to show drift and a retrain",
            where=url,
        )
    columns = profile(samples)
    roles = guess_roles(columns, target, len(samples), task)

    def drafted(redelivered_drop: bool) -> tuple[str, Project, dict[str, list[str]]]:
        body = render(name, url, samples, columns, roles, description=description, redelivered_drop=redelivered_drop)
        text = with_header(body, url, len(samples))
        project = parse_project(yaml.safe_load(text), f"draft of projects/{name}/project.yaml")
        return text, project, check_draft(project, samples)

    text, project, problems = drafted(redelivered_drop=False)
    redelivered = all(r.startswith("re-delivered") for reasons in problems.values() for r in reasons)
    if problems and redelivered and roles.id is None:  # rows that recur without an id are data, not re-deliveries
        text, project, problems = drafted(redelivered_drop=True)
    if problems:
        listed = "; ".join(f"{batch}: {' | '.join(reasons)[:300]}" for batch, reasons in problems.items())
        hint = (
            "; rows without an id are keyed by their values, so a batch made of rows seen before is a re-delivery: "
            "declare an id column (or add one to the data)"
            if redelivered and roles.id is None
            else ""
        )
        raise DraftError(f"the draft would quarantine sample batch(es) of your own: {listed}{hint}", where=url)
    notes = [f"{col}: left out ({why})" for col, why in roles.left_out.items()]
    return Draft(text=text, project=project, notes=notes)
