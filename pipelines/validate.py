"""The data-quality gate: every undecided landing batch goes to the validated store or to quarantine.

    landing/<name> -> read -> clean (pipelines.cleaning) -> type (pipelines.datasets) -> suite (pipelines.expectations)
        pass: validated/<stem>.parquet + reports/validation/<stem>.json|.html (what cleaning changed)
        fail: quarantine/<stem>/<name> (the original bytes) + report.json|.html + history/<run>.json|.html

Landing files are never modified or deleted, so ``landing = validated + quarantined`` always holds. A batch is
decided once its marker is written last (the Parquet file, or the quarantine report.json), which makes a re-run
after a crash or a second run idempotent: decided batches are skipped. An unreadable file (garbage bytes, a wrong
delimiter, an unknown format) is quarantined with the reason, never a crash. ``validate_landing(ws)`` is the
function other code calls (the mlops jobs: the loop, retraining); the CLI only prints its result.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import posixpath
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from filelock import FileLock

from pipelines.cleaning import clean
from pipelines.datasets import validated_name
from pipelines.expectations import ExpectationSpec, check_suite, describe, run_suite, type_batch
from pipelines.validation_report import render_html
from projects.clock import utc_now
from projects.contract import Project
from projects.errors import PlatformError
from projects.storage import Area, ProjectStore
from projects.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

Status = Literal["validated", "quarantined"]
FORMATS = (".csv", ".parquet")
DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}
REPORT = "report"  # quarantine/<stem>/report.json|.html: the latest decision; its .json is written last


class UnreadableBatchError(PlatformError, ValueError):
    """A landing file that cannot be parsed into a table; the message says why, for the report."""


@dataclass(frozen=True)
class BatchResult:
    """What happened to one batch: what the loop, the CLI and tests read."""

    batch: str
    status: Status
    reasons: tuple[str, ...]
    report_urls: dict[str, str]
    rows_in: int | None
    rows_out: int | None
    cleaning: dict[str, int]
    data_url: str
    run: str = "validate"


@dataclass(frozen=True)
class ValidationRun:
    project: str
    results: tuple[BatchResult, ...]
    already_decided: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    totals: dict[str, int] = field(default_factory=dict)  # landing, validated, quarantined (all batches)

    @property
    def validated(self) -> list[BatchResult]:
        return [r for r in self.results if r.status == "validated"]

    @property
    def quarantined(self) -> list[BatchResult]:
        return [r for r in self.results if r.status == "quarantined"]


@dataclass
class Verdict:
    """The pure outcome of checking one batch's bytes; no I/O has happened yet."""

    status: Status
    reasons: list[str]
    rows_in: int | None = None
    rows_out: int | None = None
    cleaning: dict[str, int] = field(default_factory=dict)
    frame: pd.DataFrame | None = None  # the typed, cleaned batch to store (pass only)
    failures: list[dict[str, Any]] = field(default_factory=list)
    evaluated: int = 0
    unreadable: str | None = None


def stem(name: str) -> str:
    return posixpath.splitext(name)[0]


# ------------------------------------------------------------------------------------------------ reading
def read_batch(data: bytes, name: str) -> pd.DataFrame:
    """Parse a batch by its suffix, turning every way a file can be unreadable into one clear reason."""
    import pandas as pd

    suffix = posixpath.splitext(name)[1].lower()
    if suffix not in FORMATS:
        raise UnreadableBatchError(f"unknown format {suffix or '(no suffix)'!r}: expected one of {', '.join(FORMATS)}")
    if not data.strip():
        raise UnreadableBatchError("the file is empty (no header, no rows)")
    if suffix == ".parquet":
        try:
            return pd.read_parquet(io.BytesIO(data))
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise UnreadableBatchError(f"not a readable Parquet file: {str(exc).splitlines()[0][:200]}") from None
    return _read_csv(data)


def _read_csv(data: bytes) -> pd.DataFrame:
    import pandas as pd

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableBatchError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): garbage bytes or a binary file "
            "saved as .csv"
        ) from None
    if "\x00" in text:
        raise UnreadableBatchError("the file contains NUL bytes: garbage or a binary file saved as .csv")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise UnreadableBatchError(f"not a readable CSV file: {str(exc).splitlines()[0][:200]}") from None
    header = text.splitlines()[0] if text else ""
    if len(frame.columns) == 1:
        for delimiter, label in DELIMITERS.items():
            if delimiter in header:
                raise UnreadableBatchError(
                    f"wrong delimiter: the header is {label}-separated ({header[:80]!r}); "
                    "expected a comma-separated CSV"
                )
    return frame


def _no_known_column(project: Project, frame: pd.DataFrame) -> str | None:
    """A header sharing no name with the contract is not this project's data (or has no header line at all)."""
    if set(map(str, frame.columns)) & set(project.schema.columns):
        return None
    found = [str(c)[:40] for c in list(frame.columns)[:5]]
    return f"no column of the contract in the header (found {found}): not this project's data, or no header line"


# ------------------------------------------------------------------------------------------------ checking
def check_batch(project: Project, specs: list[ExpectationSpec], data: bytes, name: str) -> Verdict:
    """Read, clean, type and run the suite on one batch's bytes."""
    try:
        frame = read_batch(data, name)
    except UnreadableBatchError as exc:
        return Verdict(status="quarantined", reasons=[f"unreadable: {exc}"], unreadable=str(exc))
    unknown = _no_known_column(project, frame)
    if unknown:
        return Verdict(status="quarantined", reasons=[f"unreadable: {unknown}"], rows_in=len(frame), unreadable=unknown)
    cleaned = clean(project, frame)
    typed = type_batch(project, cleaned.frame)
    outcome = run_suite(project, specs, typed.suite)
    verdict = Verdict(
        status="validated" if outcome.success else "quarantined",
        reasons=[describe(f, project) for f in outcome.primary],
        rows_in=len(frame),
        rows_out=len(typed.store),
        cleaning=cleaned.counts,
        failures=[asdict(f) for f in outcome.failures],
        evaluated=outcome.evaluated,
    )
    if outcome.success:
        verdict.frame = typed.store[list(project.schema.columns)]
    return verdict


# ------------------------------------------------------------------------------------------------ recording
def build_report(
    ws: Workspace, verdict: Verdict, *, name: str, input_url: str, run: str, decided_at: dt.datetime
) -> dict[str, Any]:
    """The JSON record of a decision (the HTML page is rendered from it)."""
    return {
        "schema_version": 1,
        "project": ws.name,
        "contract_hash": ws.project.contract_hash(),
        "batch": name,
        "stem": stem(name),
        "status": verdict.status,
        "run": run,
        "decided_at": decided_at.isoformat(timespec="microseconds"),
        "input_url": input_url,
        "rows_in": verdict.rows_in,
        "rows_out": verdict.rows_out,
        "cleaning": verdict.cleaning,
        "unreadable": verdict.unreadable,
        "evaluated": verdict.evaluated,
        "failed": len(verdict.failures),
        "reasons": verdict.reasons,
        "failures": verdict.failures,
        "outputs": {},
        "report_urls": {},
        "history": [],
    }


def _write_report(store: ProjectStore, report: dict[str, Any], area: Area, *parts: str) -> dict[str, str]:
    """Write ``<parts>.html`` then ``<parts>.json`` (the JSON last: it is the marker other code trusts)."""
    *folder, base = parts
    urls = {"json": store.url(area, *folder, f"{base}.json"), "html": store.url(area, *folder, f"{base}.html")}
    report = {**report, "report_urls": urls}
    store.write_text(area, *folder, f"{base}.html", text=render_html(report))
    store.write_text(area, *folder, f"{base}.json", text=json.dumps(report, indent=2, sort_keys=False))
    return urls


def record_validated(ws: Workspace, report: dict[str, Any], frame: pd.DataFrame) -> BatchResult:
    """Reports first, the validated Parquet last: once it exists, the batch is decided."""
    store, name = ws.store, report["batch"]
    data_url = store.url("validated", validated_name(name))
    report = {**report, "outputs": {**report["outputs"], "validated batch": data_url}}
    urls = _write_report(store, report, "reports", "validation", report["stem"])
    store.write_parquet("validated", validated_name(name), frame=frame)
    return _result(report, urls, data_url)


def quarantine_batch(ws: Workspace, report: dict[str, Any], original: bytes | None) -> BatchResult:
    """Keep the original bytes, add the report to the batch's history, then write report.json (the marker)."""
    store, key = ws.store, report["stem"]
    data_url = store.url("quarantine", key, report["batch"])
    if original is not None:
        store.write_bytes("quarantine", key, report["batch"], data=original)
    run_id = dt.datetime.fromisoformat(report["decided_at"]).strftime("%Y%m%dT%H%M%S.%fZ") + f"-{report['run']}"
    entry = {"decided_at": report["decided_at"], "run": report["run"], "status": report["status"]}
    history = [*report["history"], {**entry, **_history_urls(store, key, run_id)}]
    report = {**report, "history": history, "outputs": {**report["outputs"], "quarantined file": data_url}}
    _write_report(store, report, "quarantine", key, "history", run_id)
    urls = _write_report(store, report, "quarantine", key, REPORT)
    return _result(report, urls, data_url)


def _history_urls(store: ProjectStore, key: str, run_id: str) -> dict[str, str]:
    return {ext: store.url("quarantine", key, "history", f"{run_id}.{ext}") for ext in ("json", "html")}


def _result(report: dict[str, Any], urls: dict[str, str], data_url: str) -> BatchResult:
    return BatchResult(
        batch=report["batch"],
        status=report["status"] if report["status"] != "released" else "validated",
        reasons=tuple(report["reasons"]),
        report_urls=urls,
        rows_in=report["rows_in"],
        rows_out=report["rows_out"],
        cleaning=dict(report["cleaning"]),
        data_url=data_url,
        run=report["run"],
    )


# ------------------------------------------------------------------------------------------------ the gate
def decided_stems(store: ProjectStore) -> tuple[set[str], set[str]]:
    """(validated, quarantined) batch stems, from the markers written last."""
    validated = {stem(n) for n in store.list("validated", suffixes=(".parquet",))}
    pattern = store.path("quarantine", "*", f"{REPORT}.json")
    quarantined = {posixpath.basename(posixpath.dirname(p)) for p in store.fs.glob(pattern)}
    return validated, quarantined - validated


def undecided(store: ProjectStore) -> tuple[list[str], list[str], list[str]]:
    """Landing batches not yet decided, those already decided, and names whose stem another file already owns."""
    validated, quarantined = decided_stems(store)
    todo, done, conflicts, seen = [], [], [], set()
    for name in store.list("landing"):
        key = stem(name)
        if key in seen:
            conflicts.append(name)
        elif key in validated or key in quarantined:
            done.append(name)
        else:
            todo.append(name)
        seen.add(key)
    return todo, done, conflicts


def decide_batch(ws: Workspace, specs: list[ExpectationSpec], name: str) -> BatchResult:
    """Check one landing batch and record the decision."""
    data = ws.store.read_bytes("landing", name)
    verdict = check_batch(ws.project, specs, data, name)
    url, now = ws.store.url("landing", name), utc_now()
    report = build_report(ws, verdict, name=name, input_url=url, run="validate", decided_at=now)
    if verdict.status == "validated" and verdict.frame is not None:
        return record_validated(ws, report, verdict.frame)
    return quarantine_batch(ws, report, data)


def validate_landing(ws: Workspace, now: dt.datetime | None = None) -> ValidationRun:
    """Decide every landing batch not yet decided; safe to re-run (decided batches are skipped)."""
    specs = check_suite(ws.project, now)  # a bad contract stops here, before any batch is touched
    with FileLock(str(ws.lock_path("validate"))):
        todo, done, conflicts = undecided(ws.store)
        results = [decide_batch(ws, specs, name) for name in todo]
        totals = gate_totals(ws.store)
    return ValidationRun(ws.name, tuple(results), tuple(done), tuple(conflicts), totals)


def gate_totals(store: ProjectStore) -> dict[str, int]:
    validated, quarantined = decided_stems(store)
    return {"landing": len(store.list("landing")), "validated": len(validated), "quarantined": len(quarantined)}
