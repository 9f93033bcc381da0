"""The retrain trigger: turn a drift decision into (at most) one retraining, and record why either way.

The decision is a pure function of facts read from the registry and the validated store (``decide``); where
the retraining runs is a small interface chosen by the platform's ``MLOPS_MODE`` (``local``: in-process,
deduplicated by a file lock; ``kubernetes``: a Job cloned from the project's suspended CronJob, named after the
decision so a second trigger gets a conflict, not a second Job). What a local retraining runs (validate ->
train -> gate) is composed above this library and handed in as a callable (``Retrain``, from ``mlops.jobs``):
monitoring never imports orchestration.

State lives in MLflow tags on the registered model, never in the process, because monitoring runs as stateless
CronJob pods in the cluster:

- ``mlops.last_retrain_at``: start of the last retraining, for the cooldown;
- ``mlops.last_trigger``: the last decision as JSON (action, reason, numbers).

Retraining needs labelled data the champion's training run has not seen: validated rows with event time after
the end of its window (``mlops.window_end``: the newest event of its training batches *and* of the holdout it was
judged on; ``mlops.watermark``, the newest event trained on, for versions without it). Rows between the two are
the holdout: retraining on the same window would only reproduce the champion. Drift without such rows is recorded
as "drift, but no new labels: waiting", which the monitor's summary surfaces as an alert.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import fsspec
from filelock import FileLock, Timeout

from monitoring.drift_page import render_page
from monitoring.kubernetes import RetrainJobs, job_from_cronjob, retrain_cronjob, retrain_job_name
from pipelines.datasets import list_validated
from projects import registry, tracking
from projects.clock import iso_now, parse_utc, utc_now
from projects.settings import Mode
from projects.workspace import Workspace

if TYPE_CHECKING:
    from mlflow import MlflowClient

Retrain = Callable[[Workspace], dict[str, Any]]
"""What a retraining does (validate -> train -> gate), injected by the composer (``mlops.jobs.retrain``)."""

RETRAIN = "retrain"
NO_DRIFT = "no_drift"
INSUFFICIENT = "insufficient_data"
COOLDOWN = "cooldown"
WAITING = "waiting_for_labels"
BUSY = "already_running"
ALREADY = "already_triggered"  # a Job for this very decision exists (the API answered 409)


@dataclass(frozen=True)
class TriggerFacts:
    """What the decision depends on, read once so the decision itself is pure and testable."""

    drift_detected: bool | None
    champion_version: str | None
    watermark: dt.datetime | None
    newest_labelled: dt.datetime | None
    new_labelled_rows: int
    last_retrain_at: dt.datetime | None
    now: dt.datetime
    cooldown: dt.timedelta


@dataclass
class TriggerDecision:
    action: str  # RETRAIN, NO_DRIFT, INSUFFICIENT, COOLDOWN, WAITING, BUSY or ALREADY (the constants above)
    reason: str
    facts: dict[str, Any] = field(default_factory=dict)
    outcome: dict[str, Any] = field(default_factory=dict)  # filled when a retraining ran

    @property
    def triggered(self) -> bool:
        return self.action == RETRAIN

    def to_dict(self) -> dict[str, Any]:
        return {"triggered": self.triggered, **asdict(self)}


def decide(facts: TriggerFacts) -> TriggerDecision:
    """Retrain only on drift, outside the cooldown, with labelled data newer than the champion's watermark."""
    described = {k: (v.isoformat() if isinstance(v, dt.datetime) else str(v)) for k, v in asdict(facts).items()}
    if facts.drift_detected is None:
        return TriggerDecision(INSUFFICIENT, "insufficient data in the window: no decision", described)
    if not facts.drift_detected:
        return TriggerDecision(NO_DRIFT, "no dataset drift: nothing to do", described)
    if facts.last_retrain_at and facts.now - facts.last_retrain_at < facts.cooldown:
        until = facts.last_retrain_at + facts.cooldown
        return TriggerDecision(
            COOLDOWN,
            f"drift, but the last retraining started at {facts.last_retrain_at:%Y-%m-%d %H:%M:%S} UTC; "
            f"cooldown until {until:%H:%M:%S} UTC",
            described,
        )
    if facts.new_labelled_rows == 0:
        mark = f"{facts.watermark:%Y-%m-%d %H:%M:%S}" if facts.watermark else "(none)"
        return TriggerDecision(
            WAITING,
            f"drift, but no new labels: waiting (no validated rows after the champion's window, {mark})",
            described,
        )
    return TriggerDecision(
        RETRAIN,
        f"drift detected and {facts.new_labelled_rows} labelled rows newer than the champion's window",
        described,
    )


# --------------------------------------------------------------------------------------------- facts
def labelled_after(ws: Workspace, watermark: dt.datetime | None) -> tuple[int, dt.datetime | None]:
    """Validated rows with a target and an event time after ``watermark``; reads only two columns per batch."""
    schema = ws.project.schema
    count, newest = 0, None
    for name in list_validated(ws.store, ws.project):
        frame = ws.store.read_parquet("validated", name)[[schema.time_column, schema.target.name]]
        times = frame.loc[frame[schema.target.name].notna(), schema.time_column]
        fresh = times[times > watermark] if watermark is not None else times
        count += len(fresh)
        if len(fresh):
            top = fresh.max().to_pydatetime()
            newest = top if newest is None or top > newest else newest
    return count, newest


def last_retrain_at(client: MlflowClient, project: str) -> dt.datetime | None:
    return parse_utc(client.get_registered_model(registry.model_name(project)).tags.get(registry.TAG_LAST_RETRAIN_AT))


def gather_facts(
    ws: Workspace, client: MlflowClient, drift_detected: bool | None, now: dt.datetime | None = None
) -> TriggerFacts:
    name = registry.model_name(ws.name)
    champion = registry.champion_version(client, ws.name)
    watermark = None
    if champion is not None:
        tags = client.get_model_version(name, champion).tags
        watermark = parse_utc(tags.get(registry.TAG_WINDOW_END) or tags.get(registry.TAG_WATERMARK))
    count, newest = labelled_after(ws, watermark) if drift_detected else (0, None)
    last = last_retrain_at(client, ws.name) if champion is not None else None
    return TriggerFacts(
        drift_detected=drift_detected,
        champion_version=champion,
        watermark=watermark,
        newest_labelled=newest,
        new_labelled_rows=count,
        last_retrain_at=last,
        now=now or utc_now(),
        cooldown=dt.timedelta(minutes=ws.project.drift.cooldown_minutes),
    )


# --------------------------------------------------------------------------------------------- kinds
class RetrainTrigger(Protocol):
    """Where a retraining runs. ``fire`` returns what happened; it must never start two for one decision."""

    kind: ClassVar[str]

    def fire(self, ws: Workspace, client: MlflowClient, decision: TriggerDecision) -> TriggerDecision: ...


class LocalTrigger:
    """In-process retraining, one at a time per project (file lock); what it runs is injected (``retrain``)."""

    kind: ClassVar[str] = "local"

    def __init__(self, retrain: Retrain) -> None:
        self.retrain = retrain

    def fire(self, ws: Workspace, client: MlflowClient, decision: TriggerDecision) -> TriggerDecision:
        lock = FileLock(str(ws.lock_path("retrain")))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return TriggerDecision(BUSY, "a retraining for this project is already running", decision.facts)
        try:
            # Re-read under the lock: a concurrent monitor may have retrained while we were deciding.
            last = last_retrain_at(client, ws.name)
            cooldown = dt.timedelta(minutes=ws.project.drift.cooldown_minutes)
            if last is not None and utc_now() - last < cooldown:
                reason = f"drift, but another monitor started a retraining at {last:%Y-%m-%d %H:%M:%S} UTC (cooldown)"
                return TriggerDecision(COOLDOWN, reason, decision.facts)
            client.set_registered_model_tag(registry.model_name(ws.name), registry.TAG_LAST_RETRAIN_AT, iso_now())
            decision.outcome = self.retrain(ws)
            return decision
        finally:
            lock.release()


class KubernetesTrigger:
    """A Job cloned from the project's suspended retraining CronJob, as ``kubectl create job --from=cronjob`` does.

    The Job's name is derived from the decision (project, champion version, newest labelled row), so a second
    monitor acting on the same facts gets 409 Conflict and records "already triggered" instead of a second Job.
    The cooldown starts when the Job is created; the Job itself runs ``mlops retrain`` (validate -> train -> gate).
    """

    kind: ClassVar[str] = "kubernetes"

    def __init__(self, retrain: Retrain | None = None, jobs: RetrainJobs | None = None) -> None:
        self.jobs = jobs  # the API layer (tests hand in one aimed at a stand-in server)

    def fire(self, ws: Workspace, client: MlflowClient, decision: TriggerDecision) -> TriggerDecision:
        jobs = self.jobs or RetrainJobs(ws.settings.namespace)
        facts = decision.facts
        name = retrain_job_name(ws.name, str(facts.get("champion_version")), str(facts.get("newest_labelled")))
        body = job_from_cronjob(jobs.read_cronjob(retrain_cronjob(ws.name)), name)
        created = jobs.create_job(body)
        follow = f"kubectl -n {created.namespace} logs -f job/{created.name}"
        where = {"started": f"Job {created.namespace}/{created.name}", "follow": follow}
        if not created.created:
            reason = f"drift, but Job {created.name} was already created for this decision (409): not a second one"
            return TriggerDecision(ALREADY, reason, facts, outcome=where)
        client.set_registered_model_tag(registry.model_name(ws.name), registry.TAG_LAST_RETRAIN_AT, iso_now())
        decision.outcome = where
        return decision


TRIGGERS: dict[str, Callable[[Retrain], RetrainTrigger]] = {
    LocalTrigger.kind: LocalTrigger,
    KubernetesTrigger.kind: KubernetesTrigger,
}


def make_trigger(kind: str, retrain: Retrain) -> RetrainTrigger:
    try:
        return TRIGGERS[kind](retrain)
    except KeyError:
        raise ValueError(f"trigger kind {kind!r}: expected one of {', '.join(TRIGGERS)}") from None


def trigger_kind(ws: Workspace) -> str:
    """Where retraining runs is the platform's choice (MLOPS_MODE), not the project's: the same project.yaml
    retrains in-process on a laptop and as a Job in the cluster."""
    return KubernetesTrigger.kind if ws.settings.mode is Mode.kubernetes else LocalTrigger.kind


def act_on_drift(
    ws: Workspace, drift_detected: bool | None, retrain: Retrain, now: dt.datetime | None = None
) -> TriggerDecision:
    """Decide, fire if warranted (``retrain`` is what a local trigger runs), and record the decision on the
    registered model (jobs are stateless)."""
    client = tracking.configure(ws.settings)
    decision = decide(gather_facts(ws, client, drift_detected, now))
    if decision.triggered:
        decision = make_trigger(trigger_kind(ws), retrain).fire(ws, client, decision)
    if decision.facts.get("champion_version") not in {None, "None"}:
        client.set_registered_model_tag(
            registry.model_name(ws.name), registry.TAG_LAST_TRIGGER, json.dumps(decision.to_dict(), default=str)
        )
    return decision


def record_in_summary(ws: Workspace, summary_url: str, decision: TriggerDecision) -> None:
    """Add the trigger decision to the monitor's JSON summary and its drift page: one place tells what was seen
    and what was done."""
    options = ws.settings.storage_options() if summary_url.startswith("s3://") else {}
    with fsspec.open(summary_url, "r", **options) as handle:
        summary = json.load(handle)
    summary["trigger"] = decision.to_dict()
    with fsspec.open(summary_url, "w", **options) as handle:
        json.dump(summary, handle, indent=2, default=str)
    if summary.get("report_url"):  # the drift page shows what the trigger did, too
        evidently = posixpath.basename(summary.get("evidently_url") or "") or None
        with fsspec.open(summary["report_url"], "w", **options) as handle:
            handle.write(render_page(summary, evidently))
