"""The README's "Start your own project" section, run as written: its first block's commands, with only the
project's name and the data folder replaced (a fresh name, so nobody's projects/fraud is touched, and fixture
batches unlike churn), take a user from their own batches to a served model and a drift report, and change
nothing outside projects/<name>/."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.helpers.drafts import write_batches
from tests.helpers.system import REPO
from tests.mlops.test_new_project import fresh_name  # noqa: F401 - the fixture: a fresh name, removed afterwards

SECTION = "## Start your own project"


def section_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    block = re.search(r"```bash\n(.*?)```", text[start : end if end > 0 else None], re.DOTALL)
    assert block, f"README.md {SECTION!r}: no bash block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_the_section_shows_new_project_then_run() -> None:
    commands = section_commands()
    assert commands[0].startswith("make new-project NAME=fraud DATA=./my-batches"), commands
    assert commands[-1] == "make run PROJECT=fraud", commands


@pytest.mark.e2e
@pytest.mark.slow
def test_readme_start_your_own_project_runs_as_written(fresh_name: str, tmp_path: Path) -> None:  # noqa: F811
    """A binary project with its own id, timestamp, coded categories and free text, whose newest batches drift."""
    batches = write_batches("fraud", tmp_path / "my-batches")
    home = tmp_path / ".mlops"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_"))} | {"MLOPS_HOME": str(home)}
    outputs = []
    for command in section_commands():
        argv = [
            arg.replace("NAME=fraud", f"NAME={fresh_name}")
            .replace("PROJECT=fraud", f"PROJECT={fresh_name}")
            .replace("DATA=./my-batches", f"DATA={batches}")
            for arg in shlex.split(command)
        ]
        done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200, check=False)
        assert done.returncode == 0, f"{command}:\n{done.stdout[-5000:]}\n{done.stderr[-3000:]}"
        outputs.append(done.stdout)
    assert "every sample batch passes the data gate under this draft" in outputs[0]
    summary = json.loads((home / "data" / fresh_name / "reports" / "run-summary.json").read_text())
    assert summary["champion_after"] is not None, "a served model"
    assert summary["served_version"] == summary["champion_after"]
    assert len(summary["validated_batches"]) == 7, "every batch of the user's own arrived, in its chapter"
    assert summary["drift_detected"] is True, "the newest batches drifted: the monitor saw it"
    assert summary["retrain_triggered"] is True
    assert set(summary["chapters"]) >= {"monitor normal traffic", "monitor after the later batches"}
    assert summary["reports"]["drift"], "a drift report"
    assert Path(summary["reports"]["drift"][-1].removeprefix("file://")).is_file()
