"""The gate and the champion alias: promote only a better, fair, well-behaved challenger; roll back in one call.

The gate scores challenger and champion on the same out-of-time holdout (the newest validated batches) in the
same call: primary metric against an absolute floor and the champion plus a minimum improvement, the fairness
gap across the sensitive attribute, and the behavioural tests in project.yaml. Every number, the decision and
a sentence a person reads are written as tags on the version; a failing challenger stays registered with them.

MLflow has no compare-and-set on aliases, so moving the champion is made safe by three rules:
1. promotions and rollbacks of a project are serialised by a file lock (``MLOPS_HOME/locks``);
2. just before the alias moves, the champion is re-read; if it is not the one the gate compared against
   (another machine promoted meanwhile), the promotion aborts and says so;
3. ``previous`` is set before ``champion``, so at no moment is there no champion.
A version tagged rolled back is never promoted again by automation.

Neither promotion nor rollback moves the alias to a version no service would load: the target's artifacts are
loaded and given serving's own checks first (contract hash, library versions, a warm-up prediction of the
contract's example; projects/servable.py). A version that fails is refused with the reason, the alias untouched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from pipelines.evaluation import BehaviourResult, FairnessResult, all_metrics, audit_fairness, run_behaviour
from pipelines.features import encode_target, project_scores
from pipelines.training import load_holdout
from projects import registry, tracking
from projects.clock import iso_now, utc_now
from projects.contract import Gate, Project
from projects.errors import PlatformError
from projects.inference_log import typed_frame
from projects.redaction import redact
from projects.registry import alias_version
from projects.servable import UnservableError, check_recorded, contract_example, positive_column, warm_up
from projects.workspace import Workspace

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

LOCK_TIMEOUT_S = 600.0
PROMOTED, REJECTED, ABORTED, UNCHANGED, ROLLED_BACK = "promoted", "rejected", "aborted", "unchanged", "rolled_back"


class PromotionError(PlatformError, RuntimeError):
    """Promotion or rollback cannot proceed (no such version, nothing to roll back to, lock held too long)."""


# --------------------------------------------------------------------------------------------- pure gate
@dataclass(frozen=True)
class Scorecard:
    """One model scored on the holdout: what the gate compares and what the model card shows."""

    version: str
    metrics: dict[str, float]
    fairness: FairnessResult
    behaviour: list[BehaviourResult]
    y_true: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class Check:
    """One check of the gate. Not evaluated (nothing to audit, too few rows) never blocks and never counts as a
    pass: it is reported as what it is."""

    name: str
    passed: bool
    detail: str
    evaluated: bool = True

    @property
    def status(self) -> str:
        return "not evaluated" if not self.evaluated else "pass" if self.passed else "fail"


@dataclass(frozen=True)
class Evidence:
    """What the gate saw: the version's registry record, the challenger model, both scorecards, the holdout.

    The model card is drawn from it; nothing is re-read or re-scored to draw it.
    """

    version: ModelVersion
    model: Any
    challenger: Scorecard
    champion: Scorecard | None
    holdout: pd.DataFrame


@dataclass
class GateDecision:
    project: str
    version: str
    decision: str  # promoted | rejected | aborted | unchanged
    reason: str
    checks: list[Check] = field(default_factory=list)
    numbers: dict[str, float] = field(default_factory=dict)
    champion_before: str | None = None
    champion_after: str | None = None
    holdout_batches: list[str] = field(default_factory=list)
    model_card_url: str | None = None

    @property
    def promoted(self) -> bool:
        return self.decision == PROMOTED


def scorecard(project: Project, model: Any, holdout: pd.DataFrame, version: str, behaviour: bool = True) -> Scorecard:
    """Score ``model`` on ``holdout``: all metrics, the fairness gap and (for the challenger) behaviour."""
    schema = project.schema
    y_true = encode_target(project, holdout[schema.target.name])
    scores = project_scores(project, model, holdout[schema.model_inputs])
    return Scorecard(
        version=version,
        metrics=all_metrics(project.task, y_true, scores),
        fairness=audit_fairness(project, y_true, scores, holdout),
        behaviour=run_behaviour(project, model, holdout, y_true) if behaviour else [],
        y_true=y_true,
        scores=scores,
    )


def _better_or_equal(gate: Gate, value: float, bound: float) -> bool:
    return value >= bound if gate.higher_is_better else value <= bound


def _op(gate: Gate, passed: bool) -> str:
    """The comparison a person reads: which side of the bound the value landed on."""
    if gate.higher_is_better:
        return ">=" if passed else "<"
    return "<=" if passed else ">"


def gate_checks(gate: Gate, challenger: Scorecard, champion: Scorecard | None) -> list[Check]:
    """Every check the gate makes, in the order a person reads them."""
    name = gate.metric
    value = challenger.metrics.get(name, math.nan)
    passed = not math.isnan(value) and _better_or_equal(gate, value, gate.floor)
    checks = [Check("floor", passed, f"{name} {value:.4f} {_op(gate, passed)} floor {gate.floor}")]
    if champion is not None:
        incumbent = champion.metrics.get(name, math.nan)
        sign = "+" if gate.higher_is_better else "-"
        bound = incumbent + gate.min_improvement if gate.higher_is_better else incumbent - gate.min_improvement
        passed = math.isnan(incumbent) or (not math.isnan(value) and _better_or_equal(gate, value, bound))
        detail = (
            f"{name} {value:.4f} {_op(gate, passed)} champion v{champion.version} {incumbent:.4f} "
            f"{sign} min_improvement {gate.min_improvement} (same holdout)"
        )
        checks.append(Check("improvement", passed, detail))
    checks.append(fairness_check(gate, challenger.fairness))
    checks += [Check(f"behaviour: {b.name}", b.passed, b.detail, b.evaluated) for b in challenger.behaviour]
    return checks


def fairness_check(gate: Gate, fair: FairnessResult) -> Check:
    if not fair.audited or gate.fairness is None or fair.metric is None:
        return Check("fairness", True, fair.note or "fairness not audited", evaluated=False)
    passed = fair.gap <= gate.fairness.max_gap
    detail = f"{fair.metric.value} {fair.gap:.4f} {'<=' if passed else '>'} max_gap {gate.fairness.max_gap}"
    return Check("fairness", passed, detail)


def summarise(checks: list[Check]) -> tuple[bool, str]:
    """(passed, reason): the reason lists every failed check, or the numbers that let it through, and says what
    was not evaluated (fairness not audited, behaviour slices too small) instead of counting it as passed."""
    failed = [c for c in checks if not c.passed]
    if failed:
        return False, "rejected: " + "; ".join(f"{c.name}: {c.detail}" for c in failed)
    shown = [c.detail for c in checks if c.name in {"floor", "improvement", "fairness", "champion comparison"}]
    behaviour = [c for c in checks if c.name.startswith("behaviour")]
    evaluated = [c for c in behaviour if c.evaluated]
    tally = f"{len(evaluated)}/{len(evaluated)} behaviour test(s) passed"
    if len(evaluated) < len(behaviour):
        tally += f", {len(behaviour) - len(evaluated)} not evaluated"
    return True, "promoted: " + "; ".join([*shown, tally])


def gate_numbers(gate: Gate, challenger: Scorecard, champion: Scorecard | None, rows: int) -> dict[str, float]:
    """Every number the gate used, keyed as they are tagged (after ``TAG_GATE_PREFIX``)."""
    numbers: dict[str, float] = {f"challenger.{k}": v for k, v in challenger.metrics.items()}
    if champion is not None:
        numbers |= {f"champion.{k}": v for k, v in champion.metrics.items()}
        numbers["champion.version"] = float(champion.version)
        numbers["champion.fairness_gap"] = champion.fairness.gap
    numbers |= {
        "floor": gate.floor,
        "min_improvement": gate.min_improvement,
        "fairness_gap": challenger.fairness.gap,  # NaN (tagged "nan") when not audited
        "fairness_max_gap": gate.fairness.max_gap if gate.fairness is not None else math.nan,
        "fairness_audited": float(challenger.fairness.audited),
        "holdout_rows": float(rows),
    }
    for index, result in enumerate(challenger.behaviour):
        numbers[f"behaviour.{index}.value"] = result.value
        numbers[f"behaviour.{index}.passed"] = float(result.passed) if result.evaluated else math.nan
    return numbers


# --------------------------------------------------------------------------------------------- registry I/O
@contextmanager
def _lock(ws: Workspace) -> Iterator[None]:
    """Serialise promotions and rollbacks of one project on this machine (other machines: see move_champion)."""
    path = ws.lock_path("promotion")
    try:
        with FileLock(str(path), timeout=LOCK_TIMEOUT_S):
            yield
    except Timeout:
        raise PromotionError(
            f"another promotion or rollback of {ws.name!r} has held {path} for over {LOCK_TIMEOUT_S:.0f} s; "
            "wait for it, or remove the lock file if its process is gone"
        ) from None


def get_version(client: MlflowClient, project: str, version: str | None) -> ModelVersion:
    """The requested version, or the newest one; errors name the model and the version."""
    from mlflow.exceptions import MlflowException

    name = registry.model_name(project)
    if version is None:
        versions = client.search_model_versions(f"name = '{name}'")
        if not versions:
            raise PromotionError(
                f"model {name!r} has no registered version; run `mlops train --project {project}` first"
            )
        return max(versions, key=lambda v: int(v.version))
    try:
        return client.get_model_version(name, str(version))
    except MlflowException:
        raise PromotionError(
            f"model {name!r} has no version {version!r}; see `mlops models --project {project}`"
        ) from None


def load_version(project: str, version: str) -> Any:
    import mlflow.sklearn

    return mlflow.sklearn.load_model(f"models:/{registry.model_name(project)}/{version}")


def servable_model(ws: Workspace, mv: ModelVersion, role: str) -> Any:
    """The version's model, loaded and checked as serving checks it; PromotionError (the alias untouched) if not.

    ``role`` says what the version was to become, for the message ("champion", "champion again").
    """
    version, project = str(mv.version), ws.project
    refused = f"v{version} cannot become the {role}"
    try:
        check_recorded(project, version, dict(mv.tags or {}), registry.TAG_CONTRACT_HASH, registry.TAG_LIBRARIES)
    except UnservableError as exc:
        raise PromotionError(
            f"{refused}: {exc}; the champion alias was not moved", key="version", value=version
        ) from None
    try:
        model = load_version(ws.name, version)
    except Exception as exc:  # a missing or corrupt artifact, an unreachable store: MLflow's own errors vary
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise PromotionError(
            redact(f"{refused}: its artifacts do not load ({type(exc).__name__}: {first}); the alias was not moved"),
            key="version",
            value=version,
        ) from None
    try:
        positive_column(project, model)
        example = contract_example(project)
        frame = typed_frame(project, {k: [v] for k, v in example.items()}, project.schema.model_inputs)
        warm_up(version, lambda: project_scores(project, model, frame))
    except UnservableError as exc:
        raise PromotionError(
            f"{refused}: {exc}; the champion alias was not moved", key="version", value=version
        ) from None
    return model


def move_champion(client: MlflowClient, project: str, version: str, expected: str | None) -> tuple[str, str]:
    """Re-read the champion, abort if it moved since the gate read it, else previous <- old, champion <- new."""
    name = registry.model_name(project)
    current = alias_version(client, project, registry.CHAMPION)
    if current == version:
        return ABORTED, f"aborted: v{version} became the champion while the gate ran (another promotion)"
    if current != expected:
        was = f"v{expected}" if expected else "none"
        return ABORTED, (
            f"aborted: the champion changed from {was} to v{current} while the gate ran; "
            f"run `mlops promote --project {project} --version {version}` again to compare against it"
        )
    if expected is not None:
        client.set_registered_model_alias(name, registry.PREVIOUS, expected)
        client.set_model_version_tag(name, version, registry.TAG_REPLACED, expected)
    client.set_registered_model_alias(name, registry.CHAMPION, version)
    return PROMOTED, ""


def gate_tagged(gate: Gate) -> set[str]:
    """The numbers tagged one by one (what the code and a person filtering versions read); the rest go in TAG_GATE."""
    return {f"challenger.{gate.metric}", f"champion.{gate.metric}", "champion.version", "fairness_gap"}


def _write_decision(client: MlflowClient, ws: Workspace, decision: GateDecision, run_id: str | None) -> None:
    """The decision on the version (a few legible tags, one JSON tag, a Markdown description) and on its run."""
    name, gate = registry.model_name(ws.name), ws.project.gate
    tagged = gate_tagged(gate)
    tags = {f"{registry.TAG_GATE_PREFIX}{k}": _fmt(v) for k, v in decision.numbers.items() if k in tagged}
    tags[f"{registry.TAG_GATE_PREFIX}holdout_batches"] = ",".join(decision.holdout_batches)
    tags[registry.TAG_GATE] = gate_json(decision)
    tags[registry.TAG_DECISION] = decision.decision
    tags[registry.TAG_REASON] = decision.reason[:4900]
    fairness = next((c for c in decision.checks if c.name == "fairness"), None)
    if fairness is not None:
        tags[registry.TAG_FAIRNESS] = (
            "audited" if fairness.evaluated else fairness.detail.removeprefix("fairness ")[:4900]
        )
    if decision.promoted:
        tags[registry.TAG_PROMOTED_AT] = iso_now()
    for key, value in tags.items():
        client.set_model_version_tag(name, decision.version, key, value)
    card = ws.store.url("reports", "model_cards", f"v{decision.version}.html")
    client.update_model_version(name, decision.version, description=version_description(decision, gate, card))
    if run_id:
        _write_run(client, run_id, decision)


def gate_json(decision: GateDecision, limit: int = 4900) -> str:
    """Every number and every check in one tag value (MLflow caps a tag at 5,000 characters: details go first)."""
    numbers = {k: None if math.isnan(v) else v for k, v in decision.numbers.items()}
    checks = [{"name": c.name, "status": c.status, "detail": c.detail} for c in decision.checks]
    text = json.dumps({"numbers": numbers, "checks": checks}, separators=(",", ":"))
    if len(text) > limit:
        checks = [{"name": c.name, "status": c.status} for c in decision.checks]
        text = json.dumps({"numbers": numbers, "checks": checks}, separators=(",", ":"))
    return text[:limit]


def version_description(decision: GateDecision, gate: Gate, card_url: str) -> str:
    """What MLflow shows on the version's page: the decision, both models on the same holdout, every check."""
    numbers, version = decision.numbers, decision.version
    champion = f"v{decision.champion_before}" if "champion.version" in numbers else None
    after = f"v{decision.champion_after}" if decision.champion_after else "none"
    lines = [f"**{decision.decision}**: the champion is now {after}.", ""]
    where = ", ".join(decision.holdout_batches)
    rows = int(numbers.get("holdout_rows", 0))
    lines.append(f"Scored on the out-of-time holdout {where} ({rows} rows)" + (", both models." if champion else "."))
    lines += ["", f"| metric | v{version} (this version) |" + (f" {champion} (champion) |" if champion else "")]
    lines.append("|---|---:|" + ("---:|" if champion else ""))
    keys = sorted(k.removeprefix("challenger.") for k in numbers if k.startswith("challenger."))
    for key in sorted(keys, key=lambda k: k != gate.metric):  # the gate's metric first
        label = f"**{key}** (the gate's)" if key == gate.metric else key
        row = f"| {label} | {_cell(numbers[f'challenger.{key}'])} |"
        lines.append(row + (f" {_cell(numbers.get(f'champion.{key}', math.nan))} |" if champion else ""))
    lines += ["", "Checks:", ""]
    lines += [f"- {c.status}: {c.name}: {c.detail}" for c in decision.checks]
    lines += ["", f"Model card: {card_url} (and this run's artifact `{registry.ARTIFACT_MODEL_CARD}`)."]
    return "\n".join(lines)


def _write_run(client: MlflowClient, run_id: str, decision: GateDecision) -> None:
    """The challenger's run carries the decision and both models' scores on the gate's holdout as metrics, so
    MLflow's Compare shows the comparison the gate made (the run's own metrics are on its training holdout)."""
    from mlflow.entities import Metric, RunTag

    stamp = int(utc_now().timestamp() * 1000)
    metrics = [
        Metric(f"gate.{k}", v, stamp, 0)
        for k, v in decision.numbers.items()
        if k.startswith(("challenger.", "champion.")) and k != "champion.version" and math.isfinite(v)
    ]
    tags = [RunTag(registry.TAG_DECISION, decision.decision), RunTag(registry.TAG_REASON, decision.reason[:4900])]
    client.log_batch(run_id, metrics=metrics, tags=tags)


def _cell(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.4f}"


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.6g}"


# --------------------------------------------------------------------------------------------- the gate
def _refusal(client: MlflowClient, ws: Workspace, mv: ModelVersion) -> GateDecision | None:
    """Versions the gate must not even score: rolled back ones, and the current champion itself."""
    version = str(mv.version)
    champion = alias_version(client, ws.name, registry.CHAMPION)
    if mv.tags.get(registry.TAG_ROLLED_BACK) == "true":
        reason = (
            f"rejected: v{version} was rolled back at {mv.tags.get(registry.TAG_ROLLED_BACK_AT, '?')}; "
            "a rolled-back version is never promoted again"
        )
        return GateDecision(ws.name, version, REJECTED, reason, champion_before=champion, champion_after=champion)
    if champion == version:
        reason = f"v{version} is already the champion"
        return GateDecision(ws.name, version, UNCHANGED, reason, champion_before=champion, champion_after=champion)
    return None


def _overlap_check(project: Project, mv: ModelVersion, holdout: pd.DataFrame) -> Check:
    """The holdout must be out of time for the challenger: its first event after the training watermark."""
    import pandas as pd

    first = holdout[project.schema.time_column].min()
    mark = mv.tags.get(registry.TAG_WATERMARK)
    passed = mark is None or pd.Timestamp(mark) < first
    relation = "after" if passed else "not after"
    detail = f"holdout starts {first.isoformat()}, {relation} the training watermark {mark}"
    return Check("out-of-time holdout", passed, detail)


def _score_champion(ws: Workspace, champion: str | None, holdout: pd.DataFrame) -> tuple[Scorecard | None, str]:
    """The champion's scorecard on the same holdout; if it cannot score (new contract), say why."""
    if champion is None:
        return None, ""
    try:
        return scorecard(ws.project, load_version(ws.name, champion), holdout, champion, behaviour=False), ""
    except (KeyError, ValueError) as exc:
        return None, f"champion v{champion} cannot score this holdout under the current contract ({exc})"


def evaluate(ws: Workspace, client: MlflowClient, mv: ModelVersion) -> tuple[GateDecision, Evidence]:
    """Score challenger and champion on the current holdout; returns the decision and what the card needs."""
    version = str(mv.version)
    champion = alias_version(client, ws.name, registry.CHAMPION)
    model = servable_model(ws, mv, "champion")  # before the gate: a version no service loads is never scored
    holdout, batches = load_holdout(ws)
    challenger = scorecard(ws.project, model, holdout, version)
    incumbent, note = _score_champion(ws, champion, holdout)
    checks = [_overlap_check(ws.project, mv, holdout), *gate_checks(ws.project.gate, challenger, incumbent)]
    if note:
        checks.append(Check("champion comparison", True, note))
    passed, reason = summarise(checks)
    decision = GateDecision(
        project=ws.name,
        version=version,
        decision=PROMOTED if passed else REJECTED,
        reason=reason,
        checks=checks,
        numbers=gate_numbers(ws.project.gate, challenger, incumbent, len(holdout)),
        champion_before=champion,
        champion_after=champion,
        holdout_batches=batches,
    )
    return decision, Evidence(version=mv, model=model, challenger=challenger, champion=incumbent, holdout=holdout)


def promote_if_better(ws: Workspace, version: str | None = None) -> tuple[GateDecision, Evidence | None]:
    """Run the gate for ``version`` (default: the newest) and move the champion alias if it passes.

    Returns the decision and what the gate saw (None when it refused to score the version at all), from which
    the composer publishes the model card (``mlops.jobs.gate``).
    """
    client = tracking.configure(ws.settings)
    with _lock(ws):
        mv = get_version(client, ws.name, version)  # read under the lock: tags and aliases are current
        refused = _refusal(client, ws, mv)
        if refused is not None:
            return refused, None
        decision, evidence = evaluate(ws, client, mv)
        if decision.promoted:
            outcome, abort_reason = move_champion(client, ws.name, decision.version, decision.champion_before)
            if outcome == ABORTED:
                decision.decision, decision.reason = ABORTED, abort_reason
            decision.champion_after = alias_version(client, ws.name, registry.CHAMPION)
        _write_decision(client, ws, decision, mv.run_id)
    return decision, evidence


# --------------------------------------------------------------------------------------------- rollback
@dataclass(frozen=True)
class RollbackResult:
    project: str
    rolled_back: str
    restored: str
    previous_now: str | None
    reason: str


def rollback(ws: Workspace) -> RollbackResult:
    """champion <- previous, recorded; the demoted version is tagged so automation never promotes it again."""
    client = tracking.configure(ws.settings)
    name = registry.model_name(ws.name)
    with _lock(ws):
        champion = alias_version(client, ws.name, registry.CHAMPION)
        previous = alias_version(client, ws.name, registry.PREVIOUS)
        if champion is None:
            raise PromotionError(f"model {name!r} has no champion; nothing to roll back")
        if previous is None or previous == champion:
            raise PromotionError(f"model {name!r}: champion v{champion} has no previous champion to roll back to")
        servable_model(ws, client.get_model_version(name, previous), "champion again")  # before anything moves
        when = iso_now()
        reason = f"rolled back at {when}: champion v{champion} replaced by the previous champion v{previous}"
        for key, value in {
            registry.TAG_ROLLED_BACK: "true",
            registry.TAG_ROLLED_BACK_AT: when,
            registry.TAG_DECISION: ROLLED_BACK,
            registry.TAG_REASON: reason,
        }.items():
            client.set_model_version_tag(name, champion, key, value)
        client.set_registered_model_alias(name, registry.CHAMPION, previous)
        client.set_model_version_tag(name, previous, registry.TAG_PROMOTED_AT, when)
        before = client.get_model_version(name, previous).tags.get(registry.TAG_REPLACED)
        usable = before if before and before != champion and _not_rolled_back(client, name, before) else None
        if usable:
            client.set_registered_model_alias(name, registry.PREVIOUS, usable)
        else:
            client.delete_registered_model_alias(name, registry.PREVIOUS)
        record = {"rolled_back": champion, "restored": previous, "at": when}
        client.set_registered_model_tag(name, registry.TAG_LAST_ROLLBACK, json.dumps(record))
    return RollbackResult(ws.name, champion, previous, usable, reason)


def _not_rolled_back(client: MlflowClient, name: str, version: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, version).tags.get(registry.TAG_ROLLED_BACK) != "true"
    except MlflowException:
        return False


# --------------------------------------------------------------------------------------------- listing
def list_versions(ws: Workspace) -> list[dict[str, Any]]:
    """Versions newest first with aliases, the gate's primary metric, fairness gap, decision and reason."""
    client = tracking.configure(ws.settings)
    name = registry.model_name(ws.name)
    aliases = {registry.CHAMPION: alias_version(client, ws.name, registry.CHAMPION)}
    aliases[registry.PREVIOUS] = alias_version(client, ws.name, registry.PREVIOUS)
    metric = ws.project.gate.metric
    rows = []
    for mv in sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: -int(v.version)):
        tags = mv.tags
        rows.append(
            {
                "version": str(mv.version),
                "aliases": [a for a, v in aliases.items() if v == str(mv.version)],
                "trained_at": tags.get(registry.TAG_TRAINED_AT, ""),
                metric: tags.get(f"{registry.TAG_GATE_PREFIX}challenger.{metric}", ""),
                "fairness_gap": "not audited"
                if tags.get(registry.TAG_FAIRNESS, "").startswith("not audited")
                else tags.get(f"{registry.TAG_GATE_PREFIX}fairness_gap", ""),
                "decision": tags.get(registry.TAG_DECISION, "pending"),
                "rolled_back": tags.get(registry.TAG_ROLLED_BACK) == "true",
                "reason": tags.get(registry.TAG_REASON, ""),
            }
        )
    return rows
