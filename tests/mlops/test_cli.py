"""The CLI: every command answers --help, heavy libraries stay unimported until used, errors are one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from mlops.cli import app
from tests.helpers.examples import needs_example
from tests.helpers.system import REPO

# The same list ruff enforces (banned at module level): one place says which libraries are heavy.
HEAVY = tuple(
    tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]["flake8-tidy-imports"][
        "banned-module-level-imports"
    ]
)
runner = CliRunner()


def command_paths() -> list[list[str]]:
    """Every command and sub-command, found by walking the command tree (new commands are covered too)."""
    paths: list[list[str]] = []

    def walk(command: Any, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "mlops")
def test_every_command_has_help(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_help_imports_no_heavy_library() -> None:
    """`mlops --help` must answer at once: no ML library may be imported to build the command tree."""
    code = (
        "import sys; from mlops.cli import app; import typer.main; typer.main.get_command(app); "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]", f"imported at CLI start: {out.stdout}"


@needs_example("churn")
def test_project_schema_and_show(mlops_home: Path) -> None:
    schema = json.loads(runner.invoke(app, ["project", "schema"]).output)
    assert schema["title"] == "Project"
    shown = json.loads(runner.invoke(app, ["project", "show", "churn"]).output)
    assert shown["name"] == "churn"
    assert len(shown["contract_hash"]) == 16
    assert shown["drift"]["num_method"] == "ks", "defaults and values are resolved"


def test_unknown_project_is_one_clear_line(mlops_home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlops", "project", "show", "ghost"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={"MLOPS_HOME": str(mlops_home), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "project 'ghost' not found; known projects: " in result.stderr, "it names what there is instead"
    assert "Traceback" not in result.stderr


@needs_example("churn")
def test_ui_on_a_tracking_server_prints_its_links_without_the_password(
    mlops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a tracking server URI with a password (nothing is started for a server: its links are printed)
    monkeypatch.setenv("MLOPS_TRACKING_URI", "http://mlflow:s3cret-ui@127.0.0.1:5999")
    # When `mlops ui` runs
    result = runner.invoke(app, ["ui", "--project", "churn"])
    # Then the links name the server and the user, never the password
    assert result.exit_code == 0, result.output
    assert "http://mlflow:***@127.0.0.1:5999/#/models/" in result.output, result.output
    assert "s3cret-ui" not in result.output, result.output


@needs_example("churn")
def test_data_generate_writes_landing(mlops_home: Path) -> None:
    result = runner.invoke(
        app,
        [
            "data",
            "generate",
            "--project",
            "churn",
            "--batches",
            "2",
            "--rows",
            "20",
            "--start",
            "2026-02-01",
            "--scenario",
            "breakage",
        ],
    )
    assert result.exit_code == 0, result.output
    landing = mlops_home / "data" / "churn" / "landing"
    assert sorted(p.name for p in landing.iterdir() if p.is_file()) == [
        "2026-02-01_breakage.csv",
        "2026-02-02_breakage.csv",
    ]


@needs_example("churn")
def test_bad_start_date_is_named(mlops_home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlops", "data", "generate", "--start", "01/02/2026"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={"MLOPS_HOME": str(mlops_home), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "--start '01/02/2026': expected a date as YYYY-MM-DD" in result.stderr
