"""The whole loop (`mlops run`, what `make run` runs) timed step by step, once the environment exists.

Goal: the loop in <= 60 s on 2 cores. Runs in a fresh temporary MLOPS_HOME in a subprocess (imports counted,
as a user pays them) and reads the step timings from the run summary the loop writes itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.helpers.system import REPO


def run_once() -> tuple[float, dict[str, object]]:
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")} | {"MLOPS_HOME": home}
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "mlops", "run", "--project", "churn"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
            timeout=900,
        )
        wall = time.perf_counter() - started
        summary = json.loads((Path(home) / "data" / "churn" / "reports" / "run-summary.json").read_text())
    return wall, summary


def run(quick: bool = False) -> str:
    load = os.getloadavg()[0]
    wall, summary = run_once()
    timings: dict[str, float] = summary["timings"]  # type: ignore[assignment]
    lines = [
        "## The whole loop (`make run`)",
        "",
        f"`mlops run --project churn` in a fresh MLOPS_HOME, the environment already synced; load average "
        f"{load:.1f} at the start. Goal: <= 60 s.",
        "",
        f"**{wall:.1f} s wall** for the process ({summary['duration_s']} s inside the loop; the rest is start-up "
        "imports). Outcome: drift detected after the shift "
        f"= {summary['drift_detected']}, retrain triggered = {summary['retrain_triggered']}, "
        f"promoted = {summary['promoted']}, champion {summary['champion_before']} -> {summary['champion_after']}, "
        f"served {summary['served_version']}.",
        "",
        "| step | seconds |",
        "|---|---:|",
        *(f"| {name} | {seconds:.1f} |" for name, seconds in timings.items()),
    ]
    return "\n".join(lines) + "\n"
