"""The ``mlops`` command line: the composition root.

It wires the projects, pipelines, serving and monitoring packages together; nothing imports it. Every command
imports its heavy libraries (MLflow, Great Expectations, Evidently, BentoML, pandas) inside its body, so
``mlops --help`` answers at once.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
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


# ------------------------------------------------------------------------------------------- the loop
@app.command("run")
def run(project: ProjectOpt = "churn") -> None:
    """Run the whole loop for a project on this machine (what `make run` calls)."""
    from pipelines.loop import run_loop

    run_loop(project)


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
