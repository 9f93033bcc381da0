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
import hashlib
import io
import json
import posixpath
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from filelock import FileLock

from pipelines.cleaning import clean
from pipelines.datasets import BatchRecord, batch_records, row_keys, validated_name, write_record
from pipelines.expectations import ExpectationSpec, check_suite, describe, run_suite, type_batch
from pipelines.validation_report import render_html
from projects.clock import as_utc, utc_now
from projects.contract import BATCH_TIME, REQUEST_ID, ROW_KEY, Project, Redelivered
from projects.errors import PlatformError
from projects.sources import landing_record, name_time
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
    notes: list[str] = field(default_factory=list)  # what a person should know even though the batch passed
    record: BatchRecord | None = None  # the batch's time and size (pass only)
    sha256: str | None = None  # of the landing file (every decision keeps it: re-delivered copies are recognised)


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
@dataclass(frozen=True)
class BatchContext:
    """What deciding one batch needs to know beyond its bytes (read by the caller; check_batch stays pure).

    ``batch_time`` is the batch's time when the data has no timestamp (from its name or its landing record);
    ``known_keys`` maps every id (or row key) already validated to its batch, for re-deliveries; ``late_after``
    is the champion's training watermark: a batch with data from before it is flagged as late.
    """

    batch_time: dt.datetime | None = None
    time_source: str = "event time"
    known_keys: Mapping[str, str] = field(default_factory=dict)
    late_after: dt.datetime | None = None
    sha256: str | None = None


def check_batch(
    project: Project, specs: list[ExpectationSpec], data: bytes, name: str, context: BatchContext | None = None
) -> Verdict:
    """Read, clean, type and run the suite on one batch's bytes; then key, time and re-delivery checks."""
    context = context or BatchContext()
    try:
        frame = read_batch(data, name)
    except UnreadableBatchError as exc:
        return Verdict(status="quarantined", reasons=[f"unreadable: {exc}"], unreadable=str(exc))
    unknown = _no_known_column(project, frame)
    if unknown:
        return Verdict(status="quarantined", reasons=[f"unreadable: {unknown}"], rows_in=len(frame), unreadable=unknown)
    ignored = [c for c in project.schema.ignore if c in frame.columns]  # schema.ignore: dropped on arrival
    frame = frame.drop(columns=ignored)
    sent_ids = _request_ids(project, frame)  # labels sent back with the service's request ids (no id declared)
    cleaned = clean(project, frame.drop(columns=[REQUEST_ID]) if sent_ids is not None else frame)
    if ignored:
        cleaned.counts["ignored_columns"] = len(ignored)
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
        stored = stored_frame(project, typed.store, context, sent_ids)
        _finish(project, verdict, stored, name, context)
    return verdict


def _request_ids(project: Project, frame: pd.DataFrame) -> pd.Series | None:
    if project.schema.id is not None or REQUEST_ID not in frame.columns:
        return None
    return frame[REQUEST_ID].astype("string").str.strip()


def stored_frame(
    project: Project, typed: pd.DataFrame, context: BatchContext, sent_ids: pd.Series | None = None
) -> pd.DataFrame:
    """The validated-store form: the declared columns plus, where a role is missing, the platform's own key
    (a row key) and time (the batch time), and the request ids labels came back with."""
    import pandas as pd

    schema = project.schema
    out = typed[list(schema.columns)].copy()
    if schema.timestamp is None:
        moment = pd.Timestamp(context.batch_time or utc_now())
        out.insert(0, BATCH_TIME, pd.Series(moment, index=out.index).astype("datetime64[ns, UTC]"))
    if schema.id is None:
        out.insert(0, ROW_KEY, row_keys(project, typed))
    columns = schema.stored_columns
    if sent_ids is not None:
        out[REQUEST_ID] = sent_ids.reindex(out.index).astype("string")
        columns = [*columns, REQUEST_ID]
    return out[columns]


def _finish(project: Project, verdict: Verdict, stored: pd.DataFrame, name: str, context: BatchContext) -> None:
    """Re-deliveries (reject or drop, as declared), then the batch's record and what a person should know."""
    key = project.schema.key_column
    seen = stored[key].astype(str).map(context.known_keys.get)
    overlap = seen.notna()
    if overlap.any():
        earlier = ", ".join(f"{b} ({n})" for b, n in seen[overlap].value_counts().items())
        what = f"{int(overlap.sum())} of {len(stored)} rows have a {_key_words(project)} already validated in {earlier}"
        if project.cleaning.redelivered is Redelivered.reject or overlap.all():
            verdict.status = "quarantined"
            verdict.reasons = [
                f"re-delivered: {what}; the batch would be trained on twice (cleaning.redelivered: "
                f"{project.cleaning.redelivered.value}; 'drop' keeps only the new rows, `mlops data retire` takes "
                "the earlier batch out instead)"
            ]
            return
        stored = stored[~overlap]
        verdict.cleaning = {**verdict.cleaning, "redelivered_rows_dropped": int(overlap.sum())}
        verdict.notes.append(f"re-delivered rows dropped: {what}")
    times = stored[project.schema.time_column]
    first, last = times.min(), times.max()
    late = context.late_after is not None and first <= context.late_after
    if late:
        verdict.notes.append(
            f"late data: the batch holds events from {first:%Y-%m-%d %H:%M:%S} UTC, before the champion's training "
            f"watermark {context.late_after:%Y-%m-%d %H:%M:%S} UTC; it is ordered by its time, never as the newest "
            "(holdout) batch"
        )
    if project.schema.timestamp is None:
        verdict.notes.append(
            f"no timestamp in the data: the batch's time {last:%Y-%m-%d %H:%M:%S} UTC is from its {context.time_source}"
        )
    verdict.rows_out = len(stored)
    verdict.frame = stored
    verdict.record = BatchRecord(
        name=validated_name(name),
        batch=name,
        time=last.isoformat(),
        first=first.isoformat(),
        time_source="event time" if project.schema.timestamp is not None else context.time_source,
        rows=len(stored),
        sha256=context.sha256,
        late=late,
    )


def _key_words(project: Project) -> str:
    schema = project.schema
    return f"{schema.id.name}" if schema.id is not None else "row key (the same values in every column)"


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
        "notes": verdict.notes,
        "failures": verdict.failures,
        "batch_time": asdict(verdict.record) if verdict.record is not None else None,
        "sha256": context_sha(verdict),
        "outputs": {},
        "report_urls": {},
        "history": [],
    }


def context_sha(verdict: Verdict) -> str | None:
    return verdict.record.sha256 if verdict.record is not None else verdict.sha256


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
    if report.get("batch_time"):
        write_record(store, BatchRecord(**report["batch_time"]))  # before the Parquet: the marker comes last
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


def batch_context(
    ws: Workspace, name: str, data: bytes, known: KnownBatches, late_after: dt.datetime | None
) -> BatchContext:
    """What check_batch needs beyond the bytes: the batch time (data without a timestamp), ids seen, the watermark."""
    sha = hashlib.sha256(data).hexdigest()
    if ws.project.schema.timestamp is not None:
        return BatchContext(known_keys=known.keys, late_after=late_after, sha256=sha)
    moment, source = batch_time(ws, name)
    return BatchContext(moment, source, known.keys, late_after, sha)


def batch_time(ws: Workspace, name: str) -> tuple[dt.datetime, str]:
    """A batch's time when its rows carry none: from its name (``source.batch_time``), else the source file's
    modification time recorded at ingest, else when it landed (the landing file's own time)."""
    by_name = name_time(name, ws.project.source.batch_time)
    if by_name is not None:
        return by_name, "file name"
    record = landing_record(ws.store, name)
    if record is not None and record.source_modified:
        return as_utc(dt.datetime.fromisoformat(record.source_modified)), "file modified"
    if record is not None:
        return as_utc(dt.datetime.fromisoformat(record.landed_at)), "landed"
    return utc_now(), "landed"


@dataclass
class KnownBatches:
    """What the validated store already holds: every key (id or row key) by batch, every file by content."""

    keys: dict[str, str]
    contents: dict[str, str]  # sha256 -> batch (validated or quarantined)
    modified: dict[str, list[str]] = field(default_factory=dict)  # file-modified time -> batches timed by it

    @classmethod
    def read(cls, ws: Workspace) -> KnownBatches:
        import pyarrow.parquet as pq

        key = ws.project.schema.key_column
        keys: dict[str, str] = {}
        contents: dict[str, str] = {}
        modified: dict[str, list[str]] = {}
        for record in batch_records(ws.store, ws.project):
            table = pq.read_table(io.BytesIO(ws.store.read_bytes("validated", record.name)), columns=[key])
            keys.update(dict.fromkeys(map(str, table.column(key).to_pylist()), record.batch))
            if record.sha256:
                contents[record.sha256] = record.batch
            if record.time_source == "file modified":
                modified.setdefault(record.time, []).append(record.batch)
        for path in ws.store.fs.glob(ws.store.path("quarantine", "*", f"{REPORT}.json")):
            report = json.loads(ws.store.fs.cat_file(path))
            if report.get("sha256") and report.get("status") != "retired":
                contents.setdefault(report["sha256"], report["batch"])
        return cls(keys, contents, modified)

    def add(self, verdict: Verdict, name: str, key: str) -> None:
        """A batch just decided: later batches of this run are checked against it too."""
        if verdict.sha256:
            self.contents.setdefault(verdict.sha256, name)
        if verdict.status == "validated" and verdict.frame is not None:
            self.keys.update(dict.fromkeys(map(str, verdict.frame[key].tolist()), name))
        record = verdict.record
        if record is not None and record.time_source == "file modified":
            same = self.modified.setdefault(record.time, [])
            if same:
                verdict.notes.append(
                    f"shares its modification time {record.time[:19]} with {', '.join(same)}: ordered among them "
                    "by name. Name batches with their date (source.batch_time) so their order is known"
                )
            same.append(name)


def decide_batch(
    ws: Workspace,
    specs: list[ExpectationSpec],
    name: str,
    known: KnownBatches | None = None,
    late_after: dt.datetime | None = None,
) -> BatchResult:
    """Check one landing batch and record the decision."""
    known = known if known is not None else KnownBatches.read(ws)
    data = ws.store.read_bytes("landing", name)
    context = batch_context(ws, name, data, known, late_after)
    copy_of = known.contents.get(context.sha256 or "")
    if copy_of is not None:
        reason = f"re-delivered file: identical to {copy_of} (same SHA-256); it would be trained on twice"
        verdict = Verdict(status="quarantined", reasons=[reason], sha256=context.sha256)
    else:
        verdict = check_batch(ws.project, specs, data, name, context)
        verdict.sha256 = context.sha256
    known.add(verdict, name, ws.project.schema.key_column)
    url, now = ws.store.url("landing", name), utc_now()
    report = build_report(ws, verdict, name=name, input_url=url, run="validate", decided_at=now)
    if verdict.status == "validated" and verdict.frame is not None:
        return record_validated(ws, report, verdict.frame)
    return quarantine_batch(ws, report, data)


def validate_landing(
    ws: Workspace, now: dt.datetime | None = None, late_after: dt.datetime | None = None
) -> ValidationRun:
    """Decide every landing batch not yet decided, oldest first by name; safe to re-run (decided batches are skipped).

    ``late_after`` (the champion's training watermark, when the caller knows it) flags batches with older data.
    """
    specs = check_suite(ws.project, now)  # a bad contract stops here, before any batch is touched
    with FileLock(str(ws.lock_path("validate"))):
        todo, done, conflicts = undecided(ws.store)
        known = KnownBatches.read(ws) if todo else KnownBatches({}, {})
        results = [decide_batch(ws, specs, name, known, late_after) for name in todo]
        totals = gate_totals(ws.store)
    return ValidationRun(ws.name, tuple(results), tuple(done), tuple(conflicts), totals)


def gate_totals(store: ProjectStore) -> dict[str, int]:
    validated, quarantined = decided_stems(store)
    return {"landing": len(store.list("landing")), "validated": len(validated), "quarantined": len(quarantined)}
