"""Quarantine: what was stopped, why, and replay once a person has fixed it.

Each quarantined batch is a folder ``quarantine/<stem>/`` holding the original file (the copy a person edits;
the landing file itself is never changed), ``report.json``/``report.html`` (the latest decision) and
``history/`` with every report ever written for it. ``replay`` runs the (possibly fixed) copy through cleaning
and the current suite again, so either a fixed file or a contract change can release a batch: on a pass it is
written to the validated store and its quarantine report becomes ``released``; on a failure it stays, with one
more report in its history. Nothing is deleted either way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import posixpath
from dataclasses import dataclass
from typing import Any

from filelock import FileLock

from pipelines.datasets import record_name, validated_name
from pipelines.expectations import ExpectationSpec, check_suite
from pipelines.validate import (
    REPORT,
    BatchResult,
    KnownBatches,
    batch_context,
    build_report,
    check_batch,
    decided_stems,
    quarantine_batch,
    record_validated,
    stem,
)
from projects.clock import utc_now
from projects.errors import PlatformError
from projects.storage import ProjectStore
from projects.workspace import Workspace


class QuarantineError(PlatformError, LookupError):
    """A batch named on the command line that is not in quarantine; the message lists the known ones."""


@dataclass(frozen=True)
class QuarantineEntry:
    stem: str
    batch: str
    status: str  # quarantined | released
    decided_at: str
    reasons: tuple[str, ...]
    replays: int
    report_url: str


def read_report(store: ProjectStore, key: str) -> dict[str, Any]:
    """The latest report of a quarantined batch; an unknown name lists the known ones."""
    key = stem(key)  # accept "2026-01-03_breakage" and "2026-01-03_breakage.csv"
    if not store.exists("quarantine", key, f"{REPORT}.json"):
        known = [e.stem for e in list_quarantine(store, include_released=True)]
        raise QuarantineError(
            f"no quarantined batch {key!r}; known: {', '.join(known) or 'none'}",
            where=store.url("quarantine"),
            value=key,
        )
    report: dict[str, Any] = json.loads(store.read_text("quarantine", key, f"{REPORT}.json"))
    return report


def list_quarantine(store: ProjectStore, include_released: bool = False) -> list[QuarantineEntry]:
    """Quarantined batches, oldest first; ``include_released`` adds those a replay released."""
    validated, _ = decided_stems(store)
    entries = []
    for path in sorted(store.fs.glob(store.path("quarantine", "*", f"{REPORT}.json"))):
        key = posixpath.basename(posixpath.dirname(path))
        report = json.loads(store.read_text("quarantine", key, f"{REPORT}.json"))
        status = "released" if key in validated else report["status"]
        if status == "released" and not include_released:
            continue
        entries.append(
            QuarantineEntry(
                stem=key,
                batch=report["batch"],
                status=status,
                decided_at=report["decided_at"],
                reasons=tuple(report["reasons"]),
                replays=sum(1 for h in report["history"] if h["run"] == "replay"),
                report_url=report["report_urls"]["html"],
            )
        )
    return entries


def replay(ws: Workspace, batches: list[str] | None = None, now: dt.datetime | None = None) -> list[BatchResult]:
    """Run quarantined batches (all still quarantined, or the named ones) through cleaning and the suite again."""
    specs = check_suite(ws.project, now)
    with FileLock(str(ws.lock_path("validate"))):
        names = batches or [e.stem for e in list_quarantine(ws.store)]
        reports = [read_report(ws.store, name) for name in names]  # unknown names fail before any work
        return [_replay_one(ws, specs, report) for report in reports]


def _replay_one(ws: Workspace, specs: list[ExpectationSpec], previous: dict[str, Any]) -> BatchResult:
    store, name = ws.store, previous["batch"]
    key = stem(name)
    data = store.read_bytes("quarantine", key, name)
    known = KnownBatches.read(ws)
    known.contents = {sha: batch for sha, batch in known.contents.items() if batch != name}  # not a copy of itself
    verdict = check_batch(ws.project, specs, data, name, batch_context(ws, name, data, known, None))
    verdict.sha256 = hashlib.sha256(data).hexdigest()
    url, now = store.url("quarantine", key, name), utc_now()
    report = build_report(ws, verdict, name=name, input_url=url, run="replay", decided_at=now)
    report["history"] = previous["history"]
    if verdict.status != "validated" or verdict.frame is None:
        return quarantine_batch(ws, report, None)
    report["outputs"] = {"released from": previous["report_urls"]["html"]}
    result = record_validated(ws, report, verdict.frame)
    released = {**report, "status": "released", "outputs": {"validated batch": result.data_url}}
    quarantine_batch(ws, released, None)
    return result


# --------------------------------------------------------------------------------------------- retire
RETIRED = "retired"


def retire(ws: Workspace, batch: str, reason: str = "") -> QuarantineEntry:
    """Take a validated batch out of every training window, keeping it: ``mlops data retire``.

    The validated Parquet and its record move to ``quarantine/<stem>/retired/`` and the landing bytes are copied
    to ``quarantine/<stem>/`` (so a replay can bring the batch back after a fix); the report says it was retired,
    when and why, and joins the batch's history. Nothing is deleted.
    """
    store, key = ws.store, stem(batch)
    with FileLock(str(ws.lock_path("validate"))):
        name = validated_name(key)
        if not store.exists("validated", name):
            known = [stem(n) for n in store.list("validated", suffixes=(".parquet",))]
            raise QuarantineError(
                f"no validated batch {key!r} to retire; validated: {', '.join(known) or 'none'}",
                where=store.url("validated"),
                value=key,
            )
        report = _validation_report(ws, key)
        original = report["batch"]
        store.copy("landing", original, "quarantine", key, original)
        for part in (name, record_name(name)):
            if store.exists("validated", part):
                store.copy("validated", part, "quarantine", key, RETIRED, part)
        retired = {
            **report,
            "status": RETIRED,
            "run": "retire",
            "decided_at": utc_now().isoformat(timespec="microseconds"),
            "reasons": [f"retired by `mlops data retire`{': ' + reason if reason else ''}: kept, never trained on"],
            "outputs": {"retired batch": store.url("quarantine", key, RETIRED, name)},
        }
        quarantine_batch(ws, retired, None)  # the report (the marker) before the validated file goes
        for part in (name, record_name(name)):
            if store.exists("validated", part):
                store.remove("validated", part)
    return next(e for e in list_quarantine(store, include_released=True) if e.stem == key)


def _validation_report(ws: Workspace, key: str) -> dict[str, Any]:
    """The report written when the batch was validated (its history starts there)."""
    report: dict[str, Any] = json.loads(ws.store.read_text("reports", "validation", f"{key}.json"))
    report.setdefault("history", [])
    return report
