"""`mlops validate` and `mlops quarantine list|show|replay`: a summary, report URLs, exit 0 on a quarantine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from mlops.cli import app
from tests.helpers.examples import needs_example
from tests.helpers.system import REPO

pytestmark = needs_example("churn")  # the commands on the churn example's generated batches
runner = CliRunner()


def mlops(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})  # tables unwrapped: one batch per line
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


def test_data_list_shows_each_batch_in_time_order_and_retire_takes_one_out(mlops_home: Path) -> None:
    mlops("data", "generate", "--project", "churn", "--batches", "4", "--rows", "120", "--start", "2026-03-01")
    mlops("validate", "--project", "churn")
    listed = mlops("data", "list", "--project", "churn")
    lines = [line for line in listed.splitlines() if "2026-03-0" in line]
    assert [line.split()[1] for line in lines] == ["2026-03-01_baseline.csv", "2026-03-02_baseline.csv",
                                                   "2026-03-03_baseline.csv", "2026-03-04_baseline.csv"]  # fmt: skip
    assert "holdout" in lines[-1], "the newest by time is the holdout of the next training"
    assert "train" in lines[0]
    retired = mlops("data", "retire", "2026-03-02_baseline", "--project", "churn", "--reason", "wrong extract")
    assert "retired 2026-03-02_baseline: retired by `mlops data retire`: wrong extract" in retired
    after = mlops("data", "list", "--project", "churn")
    row = next(line for line in after.splitlines() if "2026-03-02" in line)
    assert "retired" in row, "the window view shows it"
    assert "retired" in mlops("quarantine", "list", "--project", "churn"), "and so does the quarantine view"
