"""The jobs: steps of the libraries chained into the units people and schedulers run.

    validate:             the champion's watermark (registry) -> pipelines.validate.validate_landing
    train_and_gate:       pipelines.training.train -> gate
    gate:                 pipelines.promotion.promote_if_better -> pipelines.model_card.publish_model_card
    retrain:              validate -> train_and_gate
    monitor_and_trigger:  monitoring.monitor.monitor -> monitoring.trigger.act_on_drift(retrain=retrain)

This is the only place that chains steps of different libraries: ``pipelines``, ``serving`` and ``monitoring``
never call each other's orchestration. Where a library must start composed work (the local retrain trigger),
the job hands it in as a callable. The CLI commands, the ``make run`` story and the Kubernetes Jobs all call
these functions, so a retraining is the same code on a laptop and in a cluster.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitoring.monitor import MonitorResult, WindowSpec, monitor
from monitoring.trigger import TriggerDecision, act_on_drift, record_in_summary
from pipelines.datasets import batch_records
from pipelines.drafting import Draft, DraftError, draft_contract, read_samples, stamp_placeholder, unreviewed
from pipelines.model_card import mark_all, publish_model_card
from pipelines.promotion import GateDecision, RollbackResult, promote_if_better, rollback
from pipelines.quarantine import list_quarantine
from pipelines.training import TrainingError, TrainResult, split_batches, train
from pipelines.validate import ValidationRun, validate_landing
from projects import registry, tracking
from projects.clock import parse_utc
from projects.contract import check_new_name, project_dir
from projects.errors import PlatformError
from projects.inference_log import Compaction, closed_days, compact_partition
from projects.settings import REPO_ROOT, Settings, load_settings
from projects.workspace import Workspace


@dataclass(frozen=True)
class GatedTraining:
    """A challenger trained and registered, and what the gate decided about it."""

    training: TrainResult
    decision: GateDecision

    @property
    def version(self) -> str:
        return self.training.version


def champion_watermark(ws: Workspace) -> dt.datetime | None:
    """The newest event the champion trained on, or None (no champion, or the registry cannot be reached)."""
    try:
        client = tracking.configure(ws.settings)
        version = registry.champion_version(client, ws.name)
        if version is None:
            return None
        tags = client.get_model_version(registry.model_name(ws.name), version).tags
    except tracking.TrackingError:
        return None  # the data gate never needs the registry: it only cannot flag late data
    return parse_utc(tags.get(registry.TAG_WATERMARK))


def validate(ws: Workspace) -> ValidationRun:
    """The data gate, flagging batches with data older than the champion's training watermark as late."""
    return validate_landing(ws, late_after=champion_watermark(ws))


def gate(ws: Workspace, version: str | None = None) -> GateDecision:
    """The gate for ``version`` (default: the newest), then its model card (unless the gate refused to score)."""
    decision, evidence = promote_if_better(ws, version)
    client = tracking.configure(ws.settings)
    if evidence is not None:
        decision.model_card_url = publish_model_card(ws, client, decision, evidence)
    if decision.champion_after != decision.champion_before:
        mark_all(ws, client)  # the cards of the versions whose alias moved say so
    return decision


def rollback_champion(ws: Workspace) -> RollbackResult:
    """champion <- previous, then every model card's status line brought up to date."""
    result = rollback(ws)
    mark_all(ws, tracking.configure(ws.settings))
    return result


def mark_cards(ws: Workspace) -> list[str]:
    """Bring every model card's status line up to date (``mlops report``); returns the versions rewritten."""
    return mark_all(ws, tracking.configure(ws.settings))


def train_and_gate(ws: Workspace) -> GatedTraining:
    """Train a challenger on the validated window, then gate it against the champion on the same holdout."""
    trained = train(ws)
    return GatedTraining(training=trained, decision=gate(ws, trained.version))


def retrain(ws: Workspace) -> dict[str, Any]:
    """The same path as a first training: new landing batches through the data gate, then train and gate.

    Returns what the trigger records as its outcome (plain values: it goes into MLflow tags and JSON).
    """
    validation = validate(ws)
    gated = train_and_gate(ws)
    decision = gated.decision
    return {
        "validated_batches": [b.batch for b in validation.results if b.status == "validated"],
        "quarantined_batches": [b.batch for b in validation.results if b.status == "quarantined"],
        "version": gated.version,
        "decision": decision.decision,
        "reason": decision.reason,
        "champion_after": decision.champion_after,
        "model_card": decision.model_card_url,
    }


def monitor_and_trigger(ws: Workspace, window: WindowSpec | str | None = None) -> tuple[MonitorResult, TriggerDecision]:
    """What `mlops monitor` and the story run: the drift check, then the trigger acting on its decision."""
    result = monitor(ws, window)
    decision = act_on_drift(ws, result.drift_detected, retrain=retrain)
    record_in_summary(ws, result.summary_url, decision)
    return result, decision


def compact_log(ws: Workspace, now: dt.datetime | None = None) -> list[Compaction]:
    """What `mlops log compact` runs: every closed day of the inference log, one compacted part per layout."""
    return [compact_partition(ws.store, partition) for partition in closed_days(ws.store, now)]


TEMPLATE = REPO_ROOT / "infra" / "project-template"  # cookiecutter: rendered by `mlops project new`


def init_from_data(
    name: str,
    path: str,
    *,
    target: str | None = None,
    task: str | None = None,
    description: str = "",
    force: bool = False,
    settings: Settings | None = None,
) -> tuple[Path, Draft]:
    """Draft projects/<name>/project.yaml from the sample batches under ``path`` (checked against every one of
    them first) and write it, unless a reviewed file is there (``force`` overwrites)."""
    settings = settings or load_settings()
    folder = project_dir(settings.projects_dir, name)
    if not folder.exists():
        folder = check_new_name(name, settings.projects_dir)
    contract = folder / "project.yaml"
    if contract.exists() and not force and not unreviewed(contract.read_text(encoding="utf-8")):
        raise DraftError(
            f"{contract}: edited since it was drafted (it is yours now); --force overwrites it", where=str(contract)
        )
    url = _data_url(path)
    samples = read_samples(url, settings.storage_options())
    draft = draft_contract(name, url, target=target, samples=samples, task=task, description=description)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").touch()
    contract.write_text(draft.text, encoding="utf-8")
    return contract, draft


def _data_url(path: str) -> str:
    """A sample folder as the contract records it: an fsspec URL as given, a local path made absolute."""
    return path if "://" in path else str(Path(path).resolve())


def new_project(
    name: str,
    *,
    task: str | None = None,
    data: str | None = None,
    target: str | None = None,
    description: str = "",
    settings: Settings | None = None,
) -> tuple[Path, Draft | None]:
    """Render the project template into projects/<name>/ and, given ``data``, its contract drafted from those
    batches (``task`` then decides only when given). The draft is made first: when it is refused, nothing is
    written; when rendering fails, the folder it began is removed (it did not exist: check_new_name)."""
    settings = settings or load_settings()
    folder = check_new_name(name, settings.projects_dir)
    try:
        from cookiecutter.exceptions import CookiecutterException  # noqa: PLC0415 - a dev tool, only this command
        from cookiecutter.main import cookiecutter  # noqa: PLC0415
    except ImportError:
        raise PlatformError("cookiecutter is not installed: run `make setup` (it is in the dev dependencies)") from None
    draft = None
    if data:
        url = _data_url(data)
        samples = read_samples(url, settings.storage_options())
        draft = draft_contract(name, url, target=target, samples=samples, task=task, description=description)
    answers = {
        "name": name,
        "task": draft.project.task.value if draft else task or "classification",
        # the template's own placeholder line; a drafted contract replaces it, whatever the column is called
        "target": (draft.project.schema.target.name if draft else target or "target")
        if draft is None or draft.project.schema.target.name.isidentifier()
        else "target",
        "description": description,
        "data": _data_url(data) if data else "",
    }
    settings.projects_dir.mkdir(parents=True, exist_ok=True)
    try:
        rendered = Path(
            cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(settings.projects_dir))
        )
    except CookiecutterException as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise PlatformError(f"infra/project-template: {exc}", where=str(TEMPLATE)) from None
    contract = rendered / "project.yaml"
    if draft is not None:
        contract.write_text(draft.text, encoding="utf-8")
    else:  # a placeholder nobody edited may be replaced by a draft; an edited one is the user's
        contract.write_text(stamp_placeholder(contract.read_text(encoding="utf-8")), encoding="utf-8")
    return rendered, draft


@dataclass(frozen=True)
class BatchRow:
    """One batch in the window view: where it stands and why."""

    batch: str
    status: str  # validated | quarantined | retired | released | undecided
    role: str  # train | holdout | outside the window | "" (not validated)
    time: str
    time_source: str
    rows: int | None
    note: str


def batches_view(ws: Workspace) -> list[BatchRow]:
    """Every landing batch, in time order where known: validated (and its role in the next training window),
    quarantined or retired (with the first reason), or not yet decided. What ``mlops data list`` prints."""
    records = batch_records(ws.store, ws.project)
    names = [r.name for r in records]
    try:
        train_names, holdout_names = split_batches(ws.project, names)
    except TrainingError:
        train_names, holdout_names = names, []
    rows = []
    for r in records:
        role = "holdout" if r.name in holdout_names else "train" if r.name in train_names else "outside the window"
        note = "late data" if r.late else ""
        rows.append(BatchRow(r.batch, "validated", role, r.time[:19], r.time_source, r.rows, note))
    decided = {r.batch for r in records}
    for entry in list_quarantine(ws.store, include_released=False):
        if entry.batch not in decided:
            reason = entry.reasons[0] if entry.reasons else ""
            rows.append(BatchRow(entry.batch, entry.status, "", entry.decided_at[:19], "", None, reason))
            decided.add(entry.batch)
    rows += [BatchRow(n, "undecided", "", "", "", None, "") for n in ws.store.list("landing") if n not in decided]
    return rows
