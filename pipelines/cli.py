"""The ``mlops`` command line: the composition root.

It wires the projects, pipelines, serving and monitoring packages together; nothing imports it. Every command
imports its heavy libraries (MLflow, Great Expectations, Evidently, BentoML, pandas) inside its body, so
``mlops --help`` answers at once.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console

from projects.contract import ContractError
from projects.settings import disable_telemetry
from projects.storage import StorageError

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    name="mlops",
    help="The MLOps reference platform: data gate, training, gated registry, serving, drift monitoring.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
project_app = typer.Typer(help="Inspect project contracts (project.yaml).", no_args_is_help=True)
data_app = typer.Typer(help="Put batches into a project's landing area.", no_args_is_help=True)
app.add_typer(project_app, name="project")
app.add_typer(data_app, name="data")
quarantine_app = typer.Typer(help="Batches the data gate stopped: list, show, replay.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")

ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project name (a folder under projects/).")]


@app.callback()
def _root() -> None:
    disable_telemetry()


# ------------------------------------------------------------------------------------------- project
@project_app.command("schema")
def project_schema() -> None:
    """Print the JSON schema of project.yaml."""
    from projects.contract import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@project_app.command("show")
def project_show(name: Annotated[str, typer.Argument(help="Project name.")]) -> None:
    """Print a project's resolved contract (defaults filled in) and its hash."""
    from projects.workspace import Workspace

    ws = Workspace.open(name)
    resolved = ws.project.model_dump(mode="json", by_alias=True)
    typer.echo(json.dumps({"contract_hash": ws.project.contract_hash(), **resolved}, indent=2))


@project_app.command("list")
def project_list() -> None:
    """List the projects found under the projects folder."""
    from projects.contract import list_projects
    from projects.settings import load_settings

    for name in list_projects(load_settings().projects_dir):
        typer.echo(name)


# ------------------------------------------------------------------------------------------- data
@data_app.command("generate")
def data_generate(
    project: ProjectOpt = "churn",
    scenario: Annotated[str, typer.Option(help="baseline, covariate_drift, concept_drift or breakage.")] = "baseline",
    batches: Annotated[int, typer.Option(min=1, help="Number of daily batches.")] = 1,
    start: Annotated[
        str | None, typer.Option(help="Date of the first batch (YYYY-MM-DD); default: after the newest.")
    ] = None,
    rows: Annotated[int | None, typer.Option(min=1, help="Rows per batch (default from project.yaml).")] = None,
) -> None:
    """Write synthetic batches of a scenario to landing (generator projects)."""
    from projects.sources import generate_batches
    from projects.workspace import Workspace

    ws = Workspace.open(project)
    try:
        first = dt.date.fromisoformat(start) if start else None
    except ValueError:
        raise ContractError(f"--start {start!r}: expected a date as YYYY-MM-DD") from None
    for batch in generate_batches(ws.project, ws.store, scenario, batches, start=first, rows=rows):
        console.print(f"landed [bold]{batch.name}[/] ({batch.rows} rows) -> {batch.url}")


@data_app.command("ingest")
def data_ingest(project: ProjectOpt = "churn") -> None:
    """Copy new CSV/Parquet batches from the project's source folder into landing (files projects)."""
    from projects.sources import ingest_files
    from projects.workspace import Workspace

    ws = Workspace.open(project)
    landed = ingest_files(ws.project, ws.store, ws.settings.storage_options())
    for batch in landed:
        console.print(f"landed [bold]{batch.name}[/] -> {batch.url}")
    console.print(f"{len(landed)} new batch(es)")


# ------------------------------------------------------------------------------------------- the data gate
@app.command("validate")
def validate_command(project: ProjectOpt = "churn") -> None:
    """Run every new landing batch through cleaning and the suite: validated store or quarantine.

    Exit 0 when the gate ran, whatever it decided (a quarantine is a result, not an error); 2 on a real error.
    """
    from pipelines.validate import validate_landing
    from pipelines.validation_report import print_run
    from projects.workspace import Workspace

    print_run(validate_landing(Workspace.open(project)), console)


@quarantine_app.command("list")
def quarantine_list(
    project: ProjectOpt = "churn",
    include_released: Annotated[bool, typer.Option("--all", help="Also list batches a replay released.")] = False,
) -> None:
    """List quarantined batches with their reasons and report links."""
    from pipelines.quarantine import list_quarantine
    from pipelines.validation_report import print_quarantine
    from projects.workspace import Workspace

    print_quarantine(list_quarantine(Workspace.open(project).store, include_released), console)


@quarantine_app.command("show")
def quarantine_show(
    batch: Annotated[str, typer.Argument(help="Batch name or stem, e.g. 2026-01-03_breakage.")],
    project: ProjectOpt = "churn",
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON report.")] = False,
) -> None:
    """Show a quarantined batch's latest report: each failed expectation, its column, counts and examples."""
    from pipelines.quarantine import read_report
    from pipelines.validation_report import print_report
    from projects.workspace import Workspace

    report = read_report(Workspace.open(project).store, batch)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        print_report(report, console)


@quarantine_app.command("replay")
def quarantine_replay(
    batch: Annotated[str | None, typer.Argument(help="Batch name or stem (default: every quarantined batch).")] = None,
    project: ProjectOpt = "churn",
) -> None:
    """Run quarantined batches through cleaning and the current suite again, after a fix to the file or the contract.

    A batch that passes goes to the validated store; one that fails stays quarantined. Both reports are kept.
    """
    from pipelines.quarantine import replay
    from pipelines.validation_report import print_results
    from projects.workspace import Workspace

    results = replay(Workspace.open(project), [batch] if batch else None)
    print_results(results, console, title=f"{project}: replay")


# ------------------------------------------------------------------------------------------- training, registry
@contextmanager
def _registry_failures() -> Iterator[None]:
    """Expected failures of training and the gate (MLflow down, too little data): one line, exit 2."""
    from pipelines.evaluation import EvaluationError
    from pipelines.promotion import PromotionError
    from pipelines.tracking import TrackingError
    from pipelines.training import TrainingError

    try:
        yield
    except (TrackingError, TrainingError, PromotionError, EvaluationError) as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None


def _print_decision(decision: object) -> None:
    from pipelines.promotion import GateDecision

    assert isinstance(decision, GateDecision)
    colour = {"promoted": "green", "unchanged": "blue"}.get(decision.decision, "red")
    console.print(f"gate: v{decision.version} [bold {colour}]{decision.decision}[/]", highlight=False)
    for check in decision.checks:
        mark = "[green]pass[/]" if check.passed else "[red]FAIL[/]"
        console.print(f"  {mark} {check.name}: {check.detail}", highlight=False)
    champion = f"v{decision.champion_after}" if decision.champion_after else "none"
    console.print(f"champion: [bold]{champion}[/] ({decision.reason})", highlight=False)
    if decision.model_card_url:
        console.print(f"model card: {decision.model_card_url}", highlight=False)


@app.command("train")
def train_command(
    project: ProjectOpt = "churn",
    promote: Annotated[bool, typer.Option("--promote/--no-promote", help="Run the gate on the new version.")] = True,
) -> None:
    """Train a challenger on the validated window, log it to MLflow, register it and (by default) gate it."""
    from pipelines.training import train
    from projects.workspace import Workspace

    ws = Workspace.open(project)
    with _registry_failures():
        result = train(ws, promote=promote)
    metric = ws.project.gate.metric
    console.print(
        f"registered [bold]{result.project}[/] v{result.version} (run {result.run_id}): holdout {metric} "
        f"{result.holdout_metrics.get(metric, float('nan')):.4f}; fit {result.fit_seconds:.2f}s, "
        f"tracking {result.tracking_seconds:.2f}s",
        highlight=False,
    )
    if result.decision is not None:
        _print_decision(result.decision)


@app.command("promote")
def promote_command(
    project: ProjectOpt = "churn",
    version: Annotated[str | None, typer.Option(help="Version to gate (default: the newest).")] = None,
) -> None:
    """Gate a version against the champion on the out-of-time holdout; promote it if it passes.

    Exit 0 when the gate ran (promoted, rejected or already champion); 1 when it aborted because the champion
    moved meanwhile (run it again).
    """
    from pipelines.promotion import ABORTED, promote_if_better
    from projects.workspace import Workspace

    with _registry_failures():
        decision = promote_if_better(Workspace.open(project), version)
    _print_decision(decision)
    if decision.decision == ABORTED:
        raise typer.Exit(1)


@app.command("rollback")
def rollback_command(project: ProjectOpt = "churn") -> None:
    """Make the previous champion the champion again; the demoted version is never auto-promoted again."""
    from pipelines.promotion import rollback
    from projects.workspace import Workspace

    with _registry_failures():
        result = rollback(Workspace.open(project))
    console.print(f"champion: [bold]v{result.restored}[/] ({result.reason})", highlight=False)
    console.print(f"previous: {'v' + result.previous_now if result.previous_now else 'none'}", highlight=False)


@app.command("models")
def models_command(project: ProjectOpt = "churn") -> None:
    """List the project's model versions: aliases, gate metric, fairness gap, decision and reason."""
    from rich.table import Table

    from pipelines.promotion import list_versions
    from projects.workspace import Workspace

    ws = Workspace.open(project)
    with _registry_failures():
        rows = list_versions(ws)
    if not rows:
        console.print(f"model {project!r} has no versions yet; run `mlops train --project {project}`")
        return
    metric = ws.project.gate.metric
    table = Table(title=f"{project}: model versions", show_lines=False)
    for column in ("version", "aliases", "trained at", metric, "fairness gap", "decision", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        rolled = row["rolled_back"] and row["decision"] != "rolled_back"
        decision = row["decision"] + (" (rolled back)" if rolled else "")
        cells = (row["version"], ", ".join(row["aliases"]), row["trained_at"], row[metric], row["fairness_gap"])
        table.add_row(*cells, decision, row["reason"])
    console.print(table)


# ------------------------------------------------------------------------------------------- monitoring
@app.command("monitor")
def monitor_command(
    project: ProjectOpt = "churn",
    window: Annotated[
        str | None,
        typer.Option(help="Bound the window: 24h, 7d, 50000rows or both (24h,50000rows); never before the promotion."),
    ] = None,
    all_columns: Annotated[bool, typer.Option("--all", help="List every monitored column, not just drifted.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON summary instead of the table.")] = False,
    trigger: Annotated[
        bool, typer.Option("--trigger/--no-trigger", help="Let the retrain trigger act on the drift decision.")
    ] = True,
) -> None:
    """Drift and delayed-label performance of the champion on its traffic since promotion, then the trigger."""
    from monitoring.drift import DriftInputError
    from monitoring.inference_log import InferenceLogError
    from monitoring.monitor import MonitorError, WindowSpec, monitor, print_result
    from monitoring.trigger import monitor_and_trigger
    from pipelines.tracking import TrackingError
    from projects.workspace import Workspace

    try:
        spec = WindowSpec.parse(window)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--window") from None
    ws, decision = Workspace.open(project), None
    try:
        if trigger:
            result, decision = monitor_and_trigger(ws, window)
        else:
            result = monitor(ws, spec)
    except (MonitorError, TrackingError, InferenceLogError, DriftInputError) as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if as_json:
        summary = result.to_dict() | ({"trigger": decision.to_dict()} if decision is not None else {})
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    print_result(result, console, all_columns=all_columns)
    if decision is not None:
        console.print(f"trigger: [bold]{decision.action}[/] - {decision.reason}", highlight=False)


# ------------------------------------------------------------------------------------------- serving
@app.command("serve")
def serve_command(
    project: ProjectOpt = "churn",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 3000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (each loads the champion).")] = 1,
) -> None:
    """Serve the project's champion with BentoML on 127.0.0.1 (hot-reloads when the alias moves).

    One worker runs in this process (serving/server.py, as in the serving image); more run under `bentoml serve`.
    """
    import os

    from projects.settings import REPO_ROOT
    from projects.workspace import Workspace

    Workspace.open(project)  # a bad project name fails here, with the known projects listed
    env = {**os.environ, "MLOPS_PROJECT": project, "MLOPS_SERVING_WORKERS": str(workers)}
    if workers == 1:
        args = [sys.executable, "-m", "serving.server", "--project", project, "--host", "127.0.0.1"]
        args += ["--port", str(port)]
    else:
        args = [sys.executable, "-m", "bentoml", "serve", "serving.service:svc", "--host", "127.0.0.1"]
        args += ["--port", str(port), "--working-dir", str(REPO_ROOT)]
    console.print(f"serving [bold]{project}[/] on http://127.0.0.1:{port} with {workers} worker(s)")
    sys.stdout.flush()
    os.execve(sys.executable, args, env)  # noqa: S606 - BentoML takes this process, so signals reach it


@app.command("predict")
def predict_command(
    input_file: Annotated[str, typer.Option("--input", help="CSV or Parquet file (path or fsspec URL) to score.")],
    output_file: Annotated[str, typer.Option("--output", help="Where to write id, prediction, probability.")],
    project: ProjectOpt = "churn",
) -> None:
    """Score a file offline with the champion: the service's checks and model, no server."""
    from projects.workspace import Workspace
    from serving.predict import PredictError, predict_file

    ws = Workspace.open(project)
    try:
        summary = predict_file(ws, input_file, output_file)
    except PredictError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    console.print(
        f"scored {summary.rows} rows with {ws.name} version {summary.model_version} "
        f"in {summary.seconds:.2f}s -> {summary.output}"
    )


# ------------------------------------------------------------------------------------------- the loop
@app.command("run")
def run(project: ProjectOpt = "churn") -> None:
    """Run the whole loop for a project on this machine (what `make run` calls)."""
    from pipelines.loop import LoopError, run_loop

    try:
        run_loop(project)
    except LoopError as exc:
        err_console.print(f"[red]make run stopped:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None


def main() -> None:
    """Entry point: expected failures print one clear line and exit 2, never a traceback."""
    try:
        app()
    except (ContractError, StorageError) as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    except FileNotFoundError as exc:
        err_console.print(f"[red]error:[/] file not found: {exc.filename or exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
