"""The whole loop on one machine, as ``make run`` shows it.

    generate baseline -> validate -> train -> gate -> promote -> serve -> normal traffic -> monitor (no drift)
    -> a market shift: shifted traffic + shifted labelled batches (and one corrupt batch, quarantined)
    -> validate -> monitor detects drift -> retrain -> gate -> promote -> the service reloads -> summary

Each step is a named function; the facts in the summary are read back from the registry, the data store and the
service (never assumed by this script), and ``timings`` shows where the seconds go. Re-running continues the
story from the state it finds (a champion already there is kept and challenged again).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Console

from mlops import jobs, render
from mlops.overview import SUMMARY, publish_overview
from pipelines.datasets import coerce_types, list_validated, validated_name
from pipelines.validate import decided_stems, gate_totals
from projects import tracking
from projects.contract import FilesSource
from projects.errors import PlatformError
from projects.registry import champion_version
from projects.sources import (
    generator_scenarios,
    held_back,
    ingest_files,
    land_next,
    pending_files,
    read_frame,
    shift_scenario,
)
from projects.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

console = Console(soft_wrap=True)

BASELINE_BATCHES = 10
SHIFT_BATCHES = 4
TRAFFIC_BATCH_ROWS = 100


class LoopError(PlatformError, RuntimeError):
    """A step of the loop could not go on; the message says which and what to do. ``make run`` exits 1."""

    exit_code: ClassVar[int] = 1
    headline: ClassVar[str] = "make run stopped"


@dataclass
class LoopState:
    ws: Workspace
    verbose: bool = False  # one line per batch instead of one per chapter
    port: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    reports: dict[str, list[str]] = field(default_factory=lambda: {"validation": [], "model_card": [], "drift": []})
    held: HeldBack | None = None  # a files project's plan of which batches arrive in which chapter
    service: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the step; an expected failure inside it stops the story, naming the step."""
        console.rule(f"[bold]{name}")
        started = time.perf_counter()
        try:
            with console.status(f"{name} ...", spinner="dots"):  # a live line while the step works (a TTY only)
                yield
        except LoopError:
            raise
        except PlatformError as exc:
            raise LoopError(f"step {name!r}: {exc}", where=exc.where, key=exc.key, column=exc.column) from exc
        finally:
            self.timings[name] = round(time.perf_counter() - started, 2)


# --------------------------------------------------------------------------------------------- data
def scenarios(state: LoopState) -> tuple[str, ...]:
    return generator_scenarios(state.ws.project)


def land(state: LoopState, scenario: str, batches: int) -> list[str]:
    """New batches in landing, whatever the source's kind: generated (this scenario) or ingested files."""

    ws = state.ws
    if isinstance(ws.project.source, FilesSource):  # the oldest files not landed yet, as they would arrive
        landed = ingest_files(ws.project, ws.store, ws.settings.storage_options(), limit=batches) if batches else []
    else:
        landed = land_next(
            ws.project, ws.store, scenario=scenario, batches=batches, storage_options=ws.settings.storage_options()
        )
    if not landed:
        console.print(f"no new batch from the {state.ws.project.source.kind} source")
    elif state.verbose:
        for batch in landed:
            console.print(f"landed {batch.name}" + (f" ({batch.rows} rows)" if batch.rows else ""))
    else:
        rows = sum(b.rows or 0 for b in landed)
        span = landed[0].name if len(landed) == 1 else f"{landed[0].name} .. {landed[-1].name}"
        console.print(f"landed {len(landed)} batch(es): {span}" + (f" ({rows:,} rows)" if rows else ""))
    return [b.name for b in landed]


def newest_batches(state: LoopState, landed: list[str], count: int) -> list[str]:
    """What to serve as traffic: the batches just landed, else (a files project with nothing new) the newest
    validated ones."""

    return landed[:count] or list_validated(state.ws.store, state.ws.project)[-count:]


def validate(state: LoopState) -> None:
    run = jobs.validate(state.ws)
    for result in run.results:
        if "json" in result.report_urls:
            state.reports["validation"].append(result.report_urls.get("html") or result.report_urls["json"])
        if result.status != "quarantined" and not state.verbose:
            continue
        colour = "green" if result.status == "validated" else "yellow"
        reasons = f": {'; '.join(result.reasons)[:160]}" if result.reasons else ""
        console.print(f"[{colour}]{result.status:<11}[/] {result.batch}{reasons}", highlight=False)
        if result.status == "quarantined":
            console.print(f"            report: {result.report_urls.get('html', '')}", highlight=False)
    counts = {status: sum(r.status == status for r in run.results) for status in ("validated", "quarantined")}
    totals = ", ".join(f"{n} {name}" for name, n in run.totals.items())
    console.print(
        f"data gate: {len(run.results)} new batch(es), {counts['validated']} validated, "
        f"{counts['quarantined']} quarantined (all batches: {totals})",
        highlight=False,
    )


def train_and_gate(state: LoopState) -> None:
    result = jobs.train_and_gate(state.ws)
    decision = result.decision
    if decision.model_card_url:
        state.reports["model_card"].append(decision.model_card_url)
    colour = "green" if decision.promoted else "yellow"
    state.facts["first_decision"] = f"v{result.version} {decision.decision}"
    console.print(f"version {result.version}: [{colour}]{decision.decision}[/] - {decision.reason}")
    console.print(f"model card: {decision.model_card_url}")


def traffic_records(state: LoopState, batch_name: str) -> pd.DataFrame:
    """A batch's records as the service is asked about them: id, features, sensitive attribute (the declared ones;
    without an id the service gives each record its request id).

    Read from the validated store when the batch already passed the gate (cleaned and typed), else from landing.
    """
    store, schema = state.ws.store, state.ws.project.schema
    if store.exists("validated", validated_name(batch_name)):
        frame = store.read_parquet("validated", validated_name(batch_name))
    else:
        frame = coerce_types(state.ws.project, read_frame(store.read_bytes("landing", batch_name), batch_name))
    ids = [schema.id.name] if schema.id is not None else []
    audit = [schema.sensitive.name] if schema.sensitive is not None else []
    return frame[[*ids, *schema.feature_names, *audit]]


# --------------------------------------------------------------------------------------------- service
def start_service(state: LoopState) -> None:
    if champion_version(tracking.configure(state.ws.settings), state.ws.name) is None:
        raise LoopError("no champion to serve: the first model did not pass the gate (see its model card)")
    state.port = _free_port()
    log = state.ws.settings.home / "logs" / f"serve-{state.ws.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "mlops", "serve", "--project", state.ws.name, "--port", str(state.port)]
    with log.open("ab") as sink:
        state.service = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=os.environ.copy())
    console.print(f"service starting on {state.url} (log: {log})")
    try:
        wait_until(
            lambda: _get(state, "/readyz") is not None, timeout=120, what="the service to become ready", state=state
        )
    except LoopError as exc:
        raise LoopError(f"{exc}; its readiness says: {readiness_reason(state)} (log: {log})") from None
    console.print(
        f"ready, serving version {served_version(state)}  (Swagger UI: {state.url}/, OpenAPI: {state.url}/docs.json)"
    )


def stop_service(state: LoopState) -> None:
    if state.service and state.service.poll() is None:
        state.service.terminate()  # graceful: the inference log flushes its buffer on shutdown
        try:
            state.service.wait(timeout=30)
        except subprocess.TimeoutExpired:
            state.service.kill()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(state: LoopState, path: str) -> dict[str, Any] | None:
    import httpx

    try:
        response = httpx.get(state.url + path, timeout=5)
    except httpx.TransportError:
        return None
    return response.json() if response.status_code == 200 else None


def readiness_reason(state: LoopState) -> str:
    """Why the service is not ready (no champion, tracking server down, contract mismatch), from /readyz itself."""
    import httpx

    try:
        return str(httpx.get(state.url + "/readyz", timeout=5).json().get("reason", "no reason given"))
    except (httpx.HTTPError, ValueError):
        return "the service does not answer"


def served_version(state: LoopState) -> str | None:
    meta = _get(state, "/metadata") or {}
    version = meta.get("model_version")
    return str(version) if version is not None else None


def wait_until(check: Callable[[], bool], timeout: float, what: str, state: LoopState) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state.service is not None and state.service.poll() is not None:
            raise LoopError(f"the service exited (code {state.service.returncode}) while waiting for {what}")
        if check():
            return
        time.sleep(0.25)
    raise LoopError(f"timed out after {timeout:.0f}s waiting for {what}")


def send_traffic(state: LoopState, frame: pd.DataFrame) -> int:
    """POST the rows in requests of TRAFFIC_BATCH_ROWS records; returns how many rows were answered."""
    import httpx

    records = json.loads(frame.to_json(orient="records", date_format="iso"))
    served = 0
    with httpx.Client(base_url=state.url, timeout=30) as client:
        for start in range(0, len(records), TRAFFIC_BATCH_ROWS):
            chunk = records[start : start + TRAFFIC_BATCH_ROWS]
            response = client.post("/predict", json={"records": chunk})
            if response.status_code != 200:
                raise LoopError(f"the service answered {response.status_code} to sample traffic: {response.text[:300]}")
            served += len(chunk)
    console.print(f"sent {served} rows in {-(-served // TRAFFIC_BATCH_ROWS)} requests to {state.url}/predict")
    return served


# --------------------------------------------------------------------------------------------- monitor
def monitor_and_act(state: LoopState, label: str) -> dict[str, Any]:
    wait_for_log_flush(state)
    result, decision = jobs.monitor_and_trigger(state.ws)
    render.print_monitor(result, console)
    if result.report_url:
        state.reports["drift"].append(result.report_url)
    colour = "green" if decision.triggered else "cyan"
    console.print(f"trigger: [{colour}]{decision.action}[/] - {decision.reason}")
    if decision.outcome:
        outcome = decision.outcome
        console.print(f"retrained: version {outcome['version']} {outcome['decision']}: {outcome['reason']}")
        if outcome.get("model_card"):
            state.reports["model_card"].append(outcome["model_card"])
            console.print(f"model card: {outcome['model_card']}", highlight=False)
    facts = {
        "drift_detected": result.drift_detected,
        "trigger": decision.to_dict(),
        "champion": result.champion_version,
        "summary": result.summary_url,
    }
    state.facts[label] = facts
    return facts


def wait_for_log_flush(state: LoopState) -> None:
    """The service flushes its inference log every few seconds: wait one interval so the window is complete."""
    time.sleep(state.ws.project.serving.log_flush_seconds + 0.5)


# --------------------------------------------------------------------------------------------- the story
@dataclass(frozen=True)
class HeldBack:
    """How a files project's own batches are told as a story: the oldest train the first champion, the newest
    arrive later (first one normal day, then the rest), each served as traffic before its labels land."""

    first: int
    normal: int
    later: int


def hold_back(state: LoopState) -> HeldBack:
    """Up to three of the newest files held back, never so many that the first champion has no training batch."""
    ws = state.ws
    pending = len(pending_files(ws.project, ws.store, ws.settings.storage_options()))
    held = held_back(pending, ws.project.training.holdout_batches)
    normal = 1 if held else 0
    return HeldBack(first=pending - held, normal=normal, later=held - normal)


def files_project(state: LoopState) -> bool:
    return isinstance(state.ws.project.source, FilesSource)


def step_first_champion(state: LoopState) -> None:
    """Baseline batches, the data gate, and a first model through the gate (skipped when a champion exists).

    A files project lands its oldest batches here and holds the newest back for the later chapters."""
    if files_project(state):
        state.held = hold_back(state)
        console.print(
            f"{state.held.first} batch(es) to train on; {state.held.normal + state.held.later} of the newest held "
            "back: they arrive later, served as traffic before their labels land",
            highlight=False,
        )
    existing = champion_version(tracking.configure(state.ws.settings), state.ws.name)
    state.facts["champion_at_start"] = existing
    if existing is not None:
        console.print(
            f"champion version {existing} already exists: continuing the story (make clean-state restarts it)"
        )
        return
    land(state, "baseline", state.held.first if state.held else BASELINE_BATCHES)
    validate(state)
    train_and_gate(state)


def step_normal_traffic(state: LoopState) -> None:
    """A normal day: the service answers that day's customers, whose labels land later in the same batch."""
    for name in newest_batches(state, land(state, "baseline", state.held.normal if state.held else 1), 1):
        send_traffic(state, traffic_records(state, name))
    validate(state)


def step_later_batches(state: LoopState) -> None:
    """A files project's newest batches: served as traffic, then their labels land (what the data holds)."""
    names = land(state, "", state.held.later if state.held else 0)
    if not names:
        console.print("no batch held back for this chapter: the monitor looks at what was served so far")
    for name in names[:2]:
        send_traffic(state, traffic_records(state, name))
    validate(state)


def step_market_shift(state: LoopState) -> None:
    """The world changes (the generator's ``shift_scenario``: prices rise and customers change for churn): shifted
    traffic is served, its labels land, one extract arrives broken."""
    if files_project(state):
        step_later_batches(state)
        return
    shift = shift_scenario(state.ws.project)
    if shift is None:
        console.print(f"project {state.ws.name!r} declares no shift scenario: the story goes on with its own data")
        return
    names = land(state, shift, SHIFT_BATCHES)
    if "breakage" in scenarios(state):
        land(state, "breakage", 1)
    for name in names[:2]:
        send_traffic(state, traffic_records(state, name))
    validate(state)


def step_rollout(state: LoopState) -> None:
    """Wait until the service answers with the registry's champion (it polls the alias), then serve a little."""

    champion = champion_version(tracking.configure(state.ws.settings), state.ws.name)
    poll = state.ws.project.serving.poll_seconds
    wait_until(
        lambda: served_version(state) == champion, timeout=poll * 3 + 60, what=f"version {champion}", state=state
    )
    console.print(f"the service now answers with version {served_version(state)} (registry champion: {champion})")

    frame = traffic_records(state, list_validated(state.ws.store, state.ws.project)[-1])
    send_traffic(state, frame.head(200))


STEPS: list[tuple[str, Callable[[LoopState], object]]] = [
    ("first champion: generate, validate, train, gate", step_first_champion),
    ("serve the champion", start_service),
    ("normal traffic", step_normal_traffic),
    ("monitor normal traffic", lambda state: monitor_and_act(state, "monitor_normal")),
    ("market shift: shifted traffic and batches", step_market_shift),
    ("monitor after the shift", lambda state: monitor_and_act(state, "monitor_shift")),
    ("rollout of the champion", step_rollout),
]
FILES_STEP_NAMES = (  # the same steps told for a project's own files (a generator's names say what it simulates)
    "first champion: the oldest batches, validated, trained, gated",
    "serve the champion",
    "normal traffic: the next batch served, then its labels",
    "monitor normal traffic",
    "later batches: the newest served, then their labels",
    "monitor after the later batches",
    "rollout of the champion",
)


def story_steps(ws: Workspace) -> list[tuple[str, Callable[[LoopState], object]]]:
    if isinstance(ws.project.source, FilesSource):
        return [(name, fn) for name, (_, fn) in zip(FILES_STEP_NAMES, STEPS, strict=True)]
    return STEPS


# --------------------------------------------------------------------------------------------- summary
def build_summary(state: LoopState, duration: float) -> dict[str, Any]:
    """Every value read back from the registry, the data store and the running service."""

    client = tracking.configure(state.ws.settings)
    store = state.ws.store
    validated, quarantined = decided_stems(store)  # a batch a replay released counts as validated only
    shift = state.facts.get("monitor_shift", {})
    trigger = shift.get("trigger", {})
    outcome = trigger.get("outcome") or {}
    return {
        "project": state.ws.name,
        "validated_batches": sorted(validated),
        "quarantined_batches": sorted(quarantined),
        "gate_totals": gate_totals(store),
        "champion_before": shift.get("champion"),
        "champion_after": champion_version(client, state.ws.name),
        "drift_detected": shift.get("drift_detected"),
        "drift_detected_on_normal_traffic": state.facts.get("monitor_normal", {}).get("drift_detected"),
        "retrain_triggered": bool(trigger.get("triggered")),
        "trigger_reason": trigger.get("reason"),
        "retrained_version": outcome.get("version"),
        "promoted": outcome.get("decision") == "promoted",
        "promotion_reason": outcome.get("reason"),
        "served_version": served_version(state),
        "chapters": chapters(state),
        "reports": state.reports,
        "duration_s": round(duration, 2),
        "timings": state.timings,
    }


def chapters(state: LoopState) -> dict[str, str]:
    """What each chapter found, in a sentence (the summary's and the terminal's last word on the story)."""
    steps = [name for name, _ in story_steps(state.ws)]
    found = {}
    first = state.facts.get("first_decision")
    if first:
        found[steps[0]] = first
    elif state.facts.get("champion_at_start"):
        found[steps[0]] = f"v{state.facts['champion_at_start']} was already champion"
    for key, step in (("monitor_normal", steps[3]), ("monitor_shift", steps[5])):
        if state.facts.get(key):
            found[step] = monitor_sentence(state.facts[key])
    return found


def monitor_sentence(facts: dict[str, Any]) -> str:
    drift = facts.get("drift_detected")
    seen = {True: "drift", False: "no drift", None: "too little traffic to decide"}[drift]
    trigger = facts.get("trigger") or {}
    outcome = trigger.get("outcome") or {}
    text = f"{seen} (champion v{facts.get('champion')}); trigger: {trigger.get('action')}"
    if outcome.get("version"):
        text += f"; retrained v{outcome['version']}: {outcome.get('decision')}"
    return text


def run_story(project: str, verbose: bool = False) -> dict[str, Any]:
    """The whole loop; the run summary and the overview page are written under the data root's reports/."""
    state = LoopState(ws=Workspace.open(project), verbose=verbose)
    started = time.perf_counter()
    try:
        for name, fn in story_steps(state.ws):
            with state.step(name):
                fn(state)
        summary = build_summary(state, time.perf_counter() - started)
    finally:
        stop_service(state)
    overview = publish_overview(state.ws, summary)
    summary["overview"] = overview
    render.print_run_summary(summary, state.ws.store.url("reports", SUMMARY), overview, console)
    return summary
