"""The ``mlops`` command line: thin commands over the jobs and the step libraries.

Each command opens the project's workspace, calls one job (``mlops.jobs``), one step or the story
(``mlops.story``), and hands the result to ``mlops.render``. Errors have one boundary, ``ErrorBoundary``: every
expected failure is a ``PlatformError`` and prints as one line, without a traceback; anything else is a bug and
keeps it.

Exit codes (documented in the README): 0 success (``validate`` exits 0 whatever the gate decided: a quarantine
is a result, not an error); 1 ``promote`` aborted because the champion moved meanwhile (run it again), and
``run`` when the story stopped; 2 an expected error (bad project.yaml, MLflow unreachable, too little data, a bad
option). Heavy libraries are imported by the steps that use them, so ``mlops --help`` answers at once.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from typer.core import TyperGroup

from mlops import jobs, render
from mlops.overview import publish_overview
from mlops.story import run_story
from monitoring.monitor import WindowSpec, monitor
from pipelines.promotion import ABORTED, list_versions
from pipelines.quarantine import list_quarantine, read_report, replay, retire
from pipelines.training import train
from projects import registry
from projects.contract import ContractError, default_project, json_schema, list_projects
from projects.errors import PlatformError
from projects.redaction import redact
from projects.settings import REPO_ROOT, disable_telemetry, load_settings, quiet_vendor_logs
from projects.sources import generate_batches, ingest_files
from projects.workspace import Workspace
from serving.predict import predict_file

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


class ErrorBoundary(TyperGroup):
    """The one place expected failures are caught: one line on stderr, the error's exit code, no traceback.

    Every command runs inside the root group's ``invoke``, so this covers them all (and ``CliRunner`` in the
    tests sees exactly what a user sees). Anything that is not a ``PlatformError`` is a bug: its traceback stays.
    """

    def invoke(self, ctx: typer.Context) -> object:  # type: ignore[override] # typer hands its own Context
        try:
            return super().invoke(ctx)
        except PlatformError as exc:
            err_console.print(f"[red]{exc.headline}:[/] {exc}", highlight=False)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    name="mlops",
    cls=ErrorBoundary,
    help="The MLOps reference platform: data gate, training, gated registry, serving, drift monitoring.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rendering it with rich imports markdown-it, pygments and attrs (~70 ms)
)
project_app = typer.Typer(help="Inspect project contracts (project.yaml).", no_args_is_help=True, rich_markup_mode=None)
data_app = typer.Typer(help="Put batches into a project's landing area.", no_args_is_help=True, rich_markup_mode=None)
quarantine_app = typer.Typer(
    help="Batches the data gate stopped: list, show, replay.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(project_app, name="project")
app.add_typer(data_app, name="data")
log_app = typer.Typer(help="The inference log serving writes: compact it.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(log_app, name="log")


def _project_or_default(value: str) -> str:
    """No --project (nor MLOPS_PROJECT): the only project, else churn while the example is there."""
    return value or default_project(load_settings().projects_dir)


ProjectOpt = Annotated[
    str,
    typer.Option(
        "--project",
        "-p",
        envvar="MLOPS_PROJECT",
        callback=_project_or_default,
        help="Project name (a folder under projects/); default: the only project, else churn.",
    ),
]


@app.callback()
def _root() -> None:
    disable_telemetry()
    quiet_vendor_logs()


# ------------------------------------------------------------------------------------------- log
@log_app.command("compact", short_help="Merge each closed day's inference-log parts.")
def log_compact(project: ProjectOpt = "") -> None:
    """Merge each closed day's inference-log parts into one (per column layout): nothing lost, nothing read twice.

    A day is closed an hour after it ends (UTC). Readers skip the parts a compacted part replaces, so the
    monitor and serving can run meanwhile. Exit 0 also when there is nothing to merge.
    """
    render.print_compactions(project, jobs.compact_log(Workspace.open(project)), console)


# ------------------------------------------------------------------------------------------- project
@project_app.command("schema", short_help="Print the JSON schema of project.yaml.")
def project_schema() -> None:
    """Print the JSON schema of project.yaml."""
    typer.echo(json.dumps(json_schema(), indent=2))


@project_app.command("show", short_help="Print a project's resolved contract and hash.")
def project_show(name: Annotated[str, typer.Argument(help="Project name.")]) -> None:
    """Print a project's resolved contract (defaults filled in) and its hash."""
    ws = Workspace.open(name)
    resolved = ws.project.model_dump(mode="json", by_alias=True)
    typer.echo(json.dumps({"contract_hash": ws.project.contract_hash(), **resolved}, indent=2))


@project_app.command("init-from-data", short_help="Draft a project.yaml from sample batches.")
def project_init_from_data(
    project: Annotated[str, typer.Option("--project", "-p", help="Name of the project (new or a placeholder).")],
    path: Annotated[str, typer.Option("--path", help="Folder or fsspec URL of sample CSV/Parquet batches.")],
    target: Annotated[str | None, typer.Option(help="The column to predict (default: target, label, y, ...).")] = None,
    task: Annotated[str | None, typer.Option(help="classification or regression (default: from the target).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite a project.yaml edited since it was drafted.")] = False,
) -> None:
    """Draft projects/<name>/project.yaml from sample batches: roles, types, ranges, sets, missing values.

    Every guessed line says what it was guessed from; the draft is run through the data gate against every sample
    before it is written (a draft that would quarantine one of your own batches is refused, naming it).
    """
    if task is not None and task not in {"classification", "regression"}:
        raise typer.BadParameter(f"{task!r}: expected classification or regression", param_hint="--task")
    contract, draft = jobs.init_from_data(project, path, target=target, task=task, force=force)
    render.print_draft(contract, draft, console)


@project_app.command("new", short_help="A new project from the template (make new-project).")
def project_new(
    name: Annotated[str, typer.Argument(help="Project name: lowercase letters and digits, e.g. fraud.")],
    task: Annotated[
        str | None, typer.Option(help="classification or regression (with --data: guessed from the target if unset).")
    ] = None,
    data: Annotated[str | None, typer.Option(help="Sample batches to draft the contract from.")] = None,
    target: Annotated[str | None, typer.Option(help="The column to predict.")] = None,
    description: Annotated[str, typer.Option(help="One line: what the project predicts.")] = "",
) -> None:
    """Render projects/<name>/ from infra/project-template (contract, source, feature code, its own tests,
    deploy.yaml) and, with --data, draft its contract from those batches."""
    if task is not None and task not in {"classification", "regression"}:
        raise typer.BadParameter(f"{task!r}: expected classification or regression", param_hint="--task")
    folder, draft = jobs.new_project(name, task=task, data=data, target=target, description=description)
    console.print(f"created {folder}", highlight=False)
    if draft is not None:
        render.print_draft(folder / "project.yaml", draft, console)
    else:
        console.print(
            f"next: put sample batches in a folder and run `mlops project init-from-data --project {name} "
            "--path <folder>`, or edit project.yaml by hand",
            highlight=False,
        )


@project_app.command("default", short_help="Print the project a command uses when none is named.")
def project_default() -> None:
    """Print the project commands use without --project: the only one, else churn while it is there."""
    typer.echo(default_project(load_settings().projects_dir))


@project_app.command("list", short_help="List the projects under projects/.")
def project_list() -> None:
    """List the projects found under the projects folder."""
    for name in list_projects(load_settings().projects_dir):
        typer.echo(name)


# ------------------------------------------------------------------------------------------- data
@data_app.command("generate", short_help="Write synthetic batches to landing.")
def data_generate(
    project: ProjectOpt = "",
    scenario: Annotated[str, typer.Option(help="baseline, covariate_drift, concept_drift or breakage.")] = "baseline",
    batches: Annotated[int, typer.Option(min=1, help="Number of daily batches.")] = 1,
    start: Annotated[
        str | None, typer.Option(help="Date of the first batch (YYYY-MM-DD); default: after the newest.")
    ] = None,
    rows: Annotated[int | None, typer.Option(min=1, help="Rows per batch (default from project.yaml).")] = None,
) -> None:
    """Write synthetic batches of a scenario to landing (generator projects)."""
    ws = Workspace.open(project)
    try:
        first = dt.date.fromisoformat(start) if start else None
    except ValueError:
        raise ContractError(f"--start {start!r}: expected a date as YYYY-MM-DD", key="--start", value=start) from None
    for batch in generate_batches(ws.project, ws.store, scenario, batches, start=first, rows=rows):
        console.print(f"landed [bold]{batch.name}[/] ({batch.rows} rows) -> {batch.url}")


@data_app.command("ingest", short_help="Copy new files from the source into landing.")
def data_ingest(project: ProjectOpt = "") -> None:
    """Copy new CSV/Parquet batches from the project's source folder into landing (files projects)."""
    ws = Workspace.open(project)
    landed = ingest_files(ws.project, ws.store, ws.settings.storage_options())
    for batch in landed:
        console.print(f"landed [bold]{batch.name}[/] -> {batch.url}")
    console.print(f"{len(landed)} new batch(es)")


@data_app.command("list", short_help="Every batch: status, time, role in the window.")
def data_list(project: ProjectOpt = "") -> None:
    """Every landing batch in time order: validated (train, holdout, or outside the window), quarantined, retired."""
    render.print_batches(project, jobs.batches_view(Workspace.open(project)), console)


@data_app.command("retire", short_help="Take a validated batch out of training (kept).")
def data_retire(
    batch: Annotated[str, typer.Argument(help="Batch name or stem, e.g. 2026-01-03_baseline.")],
    project: ProjectOpt = "",
    reason: Annotated[str, typer.Option(help="Why, for the report and its history.")] = "",
) -> None:
    """Move a validated batch out of every training window: kept under quarantine/ with its history, never deleted.

    `mlops quarantine replay BATCH` brings it back through the data gate.
    """
    entry = retire(Workspace.open(project), batch, reason)
    console.print(f"retired [bold]{entry.stem}[/]: {entry.reasons[0]}", highlight=False)
    console.print(f"report: {entry.report_url}", highlight=False)


# ------------------------------------------------------------------------------------------- the data gate
@app.command("validate", short_help="New landing batches -> validated or quarantine.")
def validate_command(project: ProjectOpt = "") -> None:
    """Run every new landing batch through cleaning and the suite: validated store or quarantine.

    Exit 0 when the gate ran, whatever it decided (a quarantine is a result, not an error); 2 on a real error.
    """
    render.print_run(jobs.validate(Workspace.open(project)), console)


@quarantine_app.command("list", short_help="List quarantined batches and their reasons.")
def quarantine_list(
    project: ProjectOpt = "",
    include_released: Annotated[bool, typer.Option("--all", help="Also list batches a replay released.")] = False,
) -> None:
    """List quarantined batches with their reasons and report links."""
    render.print_quarantine(list_quarantine(Workspace.open(project).store, include_released), console)


@quarantine_app.command("show", short_help="Show a quarantined batch's report.")
def quarantine_show(
    batch: Annotated[str, typer.Argument(help="Batch name or stem, e.g. 2026-01-03_breakage.")],
    project: ProjectOpt = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON report.")] = False,
) -> None:
    """Show a quarantined batch's latest report: each failed expectation, its column, counts and examples."""
    report = read_report(Workspace.open(project).store, batch)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        render.print_report(report, console)


@quarantine_app.command("replay", short_help="Run quarantined batches through the gate again.")
def quarantine_replay(
    batch: Annotated[str | None, typer.Argument(help="Batch name or stem (default: every quarantined batch).")] = None,
    project: ProjectOpt = "",
) -> None:
    """Run quarantined batches through cleaning and the current suite again, after a fix to the file or the contract.

    A batch that passes goes to the validated store; one that fails stays quarantined. Both reports are kept.
    """
    results = replay(Workspace.open(project), [batch] if batch else None)
    render.print_results(results, console, title=f"{project}: replay")


# ------------------------------------------------------------------------------------------- training, registry
@app.command("train", short_help="Train, register and gate a challenger.")
def train_command(
    project: ProjectOpt = "",
    promote: Annotated[bool, typer.Option("--promote/--no-promote", help="Run the gate on the new version.")] = True,
) -> None:
    """Train a challenger on the validated window, log it to MLflow, register it and (by default) gate it."""
    ws = Workspace.open(project)
    if promote:
        gated = jobs.train_and_gate(ws)
        result, decision = gated.training, gated.decision
    else:
        result, decision = train(ws), None
    metric = ws.project.gate.metric
    console.print(
        f"registered [bold]{result.project}[/] v{result.version} (run {result.run_id}): holdout {metric} "
        f"{result.holdout_metrics.get(metric, float('nan')):.4f}; fit {result.fit_seconds:.2f}s, "
        f"tracking {result.tracking_seconds:.2f}s",
        highlight=False,
    )
    if decision is not None:
        render.print_decision(decision, console)


@app.command("promote", short_help="Gate a version against the champion.")
def promote_command(
    project: ProjectOpt = "",
    version: Annotated[str | None, typer.Option(help="Version to gate (default: the newest).")] = None,
) -> None:
    """Gate a version against the champion on the out-of-time holdout; promote it if it passes.

    Exit 0 when the gate ran (promoted, rejected or already champion); 1 when it aborted because the champion
    moved meanwhile (run it again).
    """
    decision = jobs.gate(Workspace.open(project), version)
    render.print_decision(decision, console)
    if decision.decision == ABORTED:
        raise typer.Exit(1)


@app.command("rollback", short_help="Make the previous champion the champion again.")
def rollback_command(project: ProjectOpt = "") -> None:
    """Make the previous champion the champion again; the demoted version is never auto-promoted again."""
    render.print_rollback(jobs.rollback_champion(Workspace.open(project)), console)


@app.command("models", short_help="List model versions, aliases and decisions.")
def models_command(project: ProjectOpt = "") -> None:
    """List the project's model versions: aliases, gate metric, fairness gap, decision and reason."""
    ws = Workspace.open(project)
    render.print_versions(project, ws.project.gate.metric, list_versions(ws), console)


# ------------------------------------------------------------------------------------------- monitoring
@app.command("monitor", short_help="Drift and performance of the champion, then trigger.")
def monitor_command(
    project: ProjectOpt = "",
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
    try:
        spec = WindowSpec.parse(window)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--window") from None
    ws = Workspace.open(project)
    result, decision = jobs.monitor_and_trigger(ws, spec) if trigger else (monitor(ws, spec), None)
    if as_json:
        summary = result.to_dict() | ({"trigger": decision.to_dict()} if decision is not None else {})
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    render.print_monitor(result, console, all_columns=all_columns)
    if decision is not None:
        render.print_trigger(decision, console)


@app.command("retrain", short_help="Validate new batches, then train and gate.")
def retrain_command(project: ProjectOpt = "") -> None:
    """Retrain now: new landing batches through the data gate, then train and gate (what a trigger runs)."""
    outcome = jobs.retrain(Workspace.open(project))
    for key in ("validated_batches", "quarantined_batches"):
        console.print(f"{key.replace('_', ' ')}: {', '.join(outcome[key]) or 'none'}", highlight=False)
    console.print(f"version {outcome['version']}: {outcome['decision']} - {outcome['reason']}", highlight=False)


# ------------------------------------------------------------------------------------------- serving
@app.command("serve", short_help="Serve the champion on 127.0.0.1.")
def serve_command(
    project: ProjectOpt = "",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 3000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (each loads the champion).")] = 1,
) -> None:
    """Serve the project's champion with BentoML on 127.0.0.1 (hot-reloads when the alias moves).

    One worker runs in this process (serving/server.py, as in the serving image); more run under `bentoml serve`.
    """
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


@app.command("ui", short_help="MLflow's UI on this project's registry (answers in seconds).")
def ui_command(
    project: ProjectOpt = "",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 5000,
) -> None:
    """Open MLflow's UI on the tracking store the platform uses, and say where the project's pages are.

    One worker and no job runner (`mlflow ui` alone starts four workers and a job runner: ~35 s before it
    answers). With a tracking server (MLOPS_TRACKING_URI=http...) nothing is started: its address is printed.
    """
    ws = Workspace.open(project)
    store = ws.settings.tracking_url
    # a server URI may carry a password: the printed links never do (the browser asks for it)
    base = redact(store.rstrip("/")) if store.startswith(("http://", "https://")) else f"http://127.0.0.1:{port}"
    console.print(
        f"the registered model: {base}/#/models/{registry.model_name(project)}\n"
        f"its training runs (tick two, Compare): {base}/#/experiments (experiment {project!r})\n"
        "MLflow 3 opens in its GenAI view: the registry and the runs are under 'Model training'",
        highlight=False,
    )
    if store.startswith(("http://", "https://")):
        return
    args = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store, "--workers", "1"]
    args += ["--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    sys.stdout.flush()
    os.execve(sys.executable, args, env)  # noqa: S606 - the server takes this process, so Ctrl-C reaches it


@app.command("predict", short_help="Score a file offline with the champion.")
def predict_command(
    input_file: Annotated[str, typer.Option("--input", help="CSV or Parquet file (path or fsspec URL) to score.")],
    output_file: Annotated[str, typer.Option("--output", help="Where to write id, prediction, probability.")],
    project: ProjectOpt = "",
) -> None:
    """Score a file offline with the champion: the service's checks and model, no server."""
    ws = Workspace.open(project)
    summary = predict_file(ws, input_file, output_file)
    console.print(
        f"scored {summary.rows} rows with {ws.name} version {summary.model_version} "
        f"in {summary.seconds:.2f}s -> {summary.output}"
    )


# ------------------------------------------------------------------------------------------- the loop
@app.command("run", short_help="Run the whole loop (what `make run` calls).")
def run(
    project: ProjectOpt = "",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="One line per batch, not one per chapter.")] = False,
) -> None:
    """Run the whole loop for a project on this machine (what `make run` calls); exit 1 if it stops.

    The last line printed is the run overview (reports/index.html under the data root).
    """
    run_story(project, verbose=verbose)


@app.command("report", short_help="Rebuild the run overview page (reports/index.html).")
def report(project: ProjectOpt = "") -> None:
    """Rebuild the project's overview page from the registry and the data root, and bring every model card's
    status line up to date (which alias the version holds now)."""
    ws = Workspace.open(project)
    marked = jobs.mark_cards(ws)
    if marked:
        console.print(f"model cards brought up to date: {', '.join('v' + v for v in marked)}", highlight=False)
    console.print(f"overview: {publish_overview(ws)}", highlight=False)


def main() -> None:
    """The console script (``mlops``); errors are handled by ``ErrorBoundary``."""
    app()


if __name__ == "__main__":
    main()
