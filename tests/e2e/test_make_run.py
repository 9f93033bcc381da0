"""`make run` in a fresh MLOPS_HOME: the command the README promises, run exactly as a user runs it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def make(*args: str, home: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")} | {"MLOPS_HOME": str(home)}
    return subprocess.run(
        ["make", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_make_help_lists_every_target(tmp_path: Path) -> None:
    result = make("help", home=tmp_path)
    assert result.returncode == 0, result.stderr
    targets = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert {"run", "test", "lint", "fmt", "clean", "clean-state", "bench"} <= targets


@pytest.mark.e2e
@pytest.mark.slow
def test_make_run_then_clean_state(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = make("run", "PROJECT=churn", home=home)
    assert result.returncode == 0, f"make run failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    landing = home / "data" / "churn" / "landing"
    assert len(list(landing.glob("*_baseline.csv"))) >= 10, "baseline batches were generated"

    cleaned = make("clean-state", home=home)
    assert cleaned.returncode == 0 and not home.exists(), "clean-state removes MLOPS_HOME"
