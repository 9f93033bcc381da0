"""`mlops validate` and `mlops quarantine list|show|replay`: a summary, report URLs, exit 0 on a quarantine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from mlops.cli import app
from tests.helpers.system import REPO

runner = CliRunner()


def mlops(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (
        f"mlops {' '.join(args)} exited {result.exit_code}:\n{result.output}{result.exception!r}"
    )
    return result.output


def test_validate_then_quarantine_commands(mlops_home: Path) -> None:
    mlops("data", "generate", "--project", "churn", "--batches", "2", "--rows", "120", "--start", "2026-03-01")
    mlops("data", "generate", "--project", "churn", "--scenario", "breakage", "--rows", "120")
    out = mlops("validate", "--project", "churn")  # exit 0 although a batch is quarantined
    assert "landing 3 = validated 2 + quarantined 1" in out, out
    assert "quarantine/2026-03-03_breakage/report.html" in out
    assert "reports/validation/2026-03-01_baseline.html" in out
    assert "tenure_months" in out, out
    assert "0 decided now, 3 already decided" in mlops("validate", "--project", "churn")

    listed = mlops("quarantine", "list", "--project", "churn")
    assert "2026-03-03_breakage" in listed
    assert "quarantined" in listed
    shown = mlops("quarantine", "show", "2026-03-03_breakage", "--project", "churn")
    assert "expect_column_values_to_be_between" in shown
    assert "monthly_charges" in shown
    assert "allowed; e.g. ids" in shown, "not eaten as markup"
    assert "[expect_column_values_to_not_be_null]" in shown, "not eaten as markup"
    report = json.loads(mlops("quarantine", "show", "2026-03-03_breakage.csv", "--project", "churn", "--json"))
    assert report["status"] == "quarantined"
    assert report["cleaning"]["drop_exact_duplicates"] == 6

    replayed = mlops("quarantine", "replay", "--project", "churn")
    assert "2026-03-03_breakage.csv" in replayed
    assert "quarantined" in replayed
    assert "replays" in mlops("quarantine", "list", "--project", "churn")


def test_unknown_batch_is_one_clear_line_and_exit_2(mlops_home: Path) -> None:
    env = {**os.environ, "MLOPS_HOME": str(mlops_home)}
    command = [sys.executable, "-m", "mlops", "quarantine", "show", "nope", "--project", "churn"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == "error: no quarantined batch 'nope'; known: none", done.stderr
    assert "Traceback" not in done.stderr
