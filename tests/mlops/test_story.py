"""`make run` in a fresh MLOPS_HOME, exactly as a user runs it, and its summary checked against the real state.

The summary's values must come from the registry, the data store and the service, so this test reads each of
them back independently: MLflow's SQLite database, the data root, the inference log the service wrote, and the
metadata endpoint of a service started afresh on the same state.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from projects.inference_log import log_frame, read_part
from tests.helpers.system import REPO, free_port
from tests.test_readme_commands import WALKTHROUGH_PREFIXES, readme_commands


def make(*args: str, home: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_"))} | {"MLOPS_HOME": str(home)}
    return subprocess.run(
        ["make", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_make_help_lists_every_target(tmp_path: Path) -> None:
    result = make("help", home=tmp_path)
    assert result.returncode == 0, result.stderr
    targets = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert {"run", "test", "lint", "fmt", "clean", "clean-state", "bench"} <= targets


def registry_champion(home: Path) -> str:
    from mlflow import MlflowClient

    uri = f"sqlite:///{home / 'mlflow.db'}"  # both explicit: an earlier test may have set MLflow's registry URI
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return str(client.get_model_version_by_alias("churn", "champion").version)


def service_metadata(home: Path) -> dict[str, object]:
    """Start the service on the state make run left, and ask it which model it serves."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_"))} | {"MLOPS_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlops", "serve", "--project", "churn", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    return dict(httpx.get(f"http://127.0.0.1:{port}/metadata", timeout=5).json())
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise AssertionError("the service did not become ready within 120 s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> int:
    """Poll until ``url`` answers 200 (a service answers 503 until its model is loaded); the last status."""
    deadline, status = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{proc.args} exited with {proc.returncode}"
        try:
            status = httpx.get(url, timeout=2).status_code
        except httpx.TransportError:
            status = 0
        if status == 200:
            return status
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer 200 within {timeout:.0f} s (last status {status})")


def run_readme_walkthrough(workdir: Path) -> list[str]:
    """Run the README's `.venv/bin/mlops|mlflow` commands literally, in order, from a folder whose .mlops is
    the state make run left. Servers (serve, mlflow ui) are started, called over HTTP and stopped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_"))} | {
        "MLOPS_HOME": str(workdir / ".mlops")
    }
    ran = []
    for command, need in readme_commands():
        if need or not command.startswith(WALKTHROUGH_PREFIXES):
            continue
        argv = shlex.split(command)
        argv[0] = str(REPO / argv[0])
        if "--port" in argv:  # the README's port may be taken on this machine: same command, a free port
            port = free_port()
            argv[argv.index("--port") + 1] = str(port)
            proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                path = "/readyz" if "serve" in argv else "/"
                assert wait_http(f"http://127.0.0.1:{port}{path}", proc) == 200, command
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        else:
            done = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False)
            assert done.returncode == 0, (
                f"README command failed: {command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        ran.append(command)
    return ran


@pytest.mark.e2e
@pytest.mark.slow
def test_make_run_closes_the_loop_and_reruns(tmp_path: Path) -> None:
    import pandas as pd

    home = tmp_path / ".mlops"
    result = make("run", "PROJECT=churn", home=home)
    assert result.returncode == 0, f"make run failed:\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}"
    summary = json.loads((home / "data" / "churn" / "reports" / "run-summary.json").read_text())
    data = home / "data" / "churn"

    # the data gate: every landed batch is either validated or quarantined, and the corrupt one is quarantined
    landed = sorted(p.stem for p in (data / "landing").iterdir() if p.is_file())  # _meta/ holds landing records
    validated = sorted(p.stem for p in (data / "validated").glob("*.parquet"))
    quarantined = sorted(p.name for p in (data / "quarantine").iterdir() if p.is_dir() and p.name not in validated)
    assert summary["validated_batches"] == validated
    assert summary["quarantined_batches"] == quarantined
    assert sorted(validated + quarantined) == landed, "landing = validated + quarantined"
    assert any("breakage" in q for q in quarantined), "the corrupt batch was stopped"

    # the story: drift seen after the shift (not before), a retrain triggered and judged by the gate
    assert summary["drift_detected_on_normal_traffic"] is False
    assert summary["drift_detected"] is True
    assert summary["retrain_triggered"] is True
    assert summary["retrained_version"] is not None

    # the registry and the service agree with the summary
    champion = registry_champion(home)
    assert summary["champion_after"] == champion
    assert summary["promoted"] is (champion == summary["retrained_version"])
    assert summary["served_version"] == champion, "the service ended on the registry's champion"
    parts = sorted((data / "inference").rglob("*.parquet"))
    log = pd.concat(log_frame(read_part(p.read_bytes(), str(p))) for p in parts)
    newest = log.sort_values("served_at").tail(50)["model_version"].unique().tolist()
    assert newest == [champion], f"the last rows the service logged carry the champion's version, got {newest}"
    assert service_metadata(home)["model_version"] == champion

    for kind in ("validation", "model_card", "drift"):
        assert summary["reports"][kind], f"no {kind} report linked"
        path = Path(summary["reports"][kind][-1].removeprefix("file://"))
        assert path.is_file(), f"{kind} report missing or empty: {path}"
        assert path.stat().st_size > 1000, f"{kind} report missing or empty: {path}"
    assert summary["duration_s"] > 0
    assert set(summary["timings"]) >= {"normal traffic", "monitor after the shift"}

    # one page tells it: the last line printed is the overview, which links every version's card
    last = result.stdout.strip().splitlines()[-1]
    assert last.endswith(f"file://{data}/reports/index.html"), last
    page = (data / "reports" / "index.html").read_text()
    for version in {"1", summary["retrained_version"]}:
        assert f'href="model_cards/v{version}.html"' in page, f"the overview links v{version}'s card"
        assert f"model_cards/v{version}.html" in result.stdout, f"v{version}'s card path is printed"
    assert "breakage" in page, "the quarantined batch is on the overview"
    first_card = (data / "reports" / "model_cards" / "v1.html").read_text()
    if summary["promoted"]:
        assert 'Now: <span class="badge previous">' in first_card, "v1's card says it is the previous champion now"

    # the README's commands, exactly as written, on this state
    scored_input = tmp_path / "scored-me.csv"
    scored_input.write_text((data / "landing" / "2026-01-12_market_shift.csv").read_text())
    ran = run_readme_walkthrough(tmp_path)
    assert any(" rollback " in c for c in ran), ran
    assert any(" serve " in c for c in ran), ran
    assert (tmp_path / "scored.parquet").is_file(), "mlops predict wrote its output"

    # re-running on existing state continues the story instead of crashing
    again = make("run", home=home)
    assert again.returncode == 0, f"second make run failed:\n{again.stdout[-6000:]}\n{again.stderr[-4000:]}"
    second = json.loads((home / "data" / "churn" / "reports" / "run-summary.json").read_text())
    assert second["champion_before"] is not None
    assert len(second["validated_batches"]) > len(validated), "the story continued with new batches"

    cleaned = make("clean-state", home=home)
    assert cleaned.returncode == 0, "clean-state removes MLOPS_HOME"
    assert not home.exists(), "clean-state removes MLOPS_HOME"


@pytest.mark.e2e
@pytest.mark.slow
def test_make_bench_writes_its_tables(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    done = make("bench", f"BENCH_ARGS=--quick --output {out} validation", home=tmp_path / "home")
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert "# Benchmarks" in text, text[:2000]
    assert "| rows |" in text, text[:2000]


@pytest.mark.e2e
@pytest.mark.slow
def test_make_run_runs_a_project_fed_by_files(tmp_path: Path) -> None:
    """`make run PROJECT=name` on a project whose batches arrive as CSV files (no generator, no shift story)."""
    import datetime as dt

    import yaml

    from projects.churn.generator import ChurnGenerator
    from projects.contract import load_project

    churn = load_project("churn", REPO / "projects")
    drop = tmp_path / "drop"
    drop.mkdir()
    generator = ChurnGenerator(churn, seed=7)
    for day in range(1, 7):
        date = dt.date(2026, 5, day)
        (drop / f"{date}_export.csv").write_bytes(generator.to_csv(generator.batch(date, "baseline", 800)))
    contract = yaml.safe_load((REPO / "projects/churn/project.yaml").read_text())
    contract["name"] = "telco"
    contract["source"] = {"kind": "files", "url": f"file://{drop}", "pattern": "*.csv"}
    (tmp_path / "projects" / "telco").mkdir(parents=True)
    (tmp_path / "projects" / "telco" / "project.yaml").write_text(yaml.safe_dump(contract))

    home = tmp_path / ".mlops"
    env_projects = {"MLOPS_PROJECTS_DIR": str(tmp_path / "projects")}
    env = (
        {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "MLFLOW_"))}
        | {"MLOPS_HOME": str(home)}
        | env_projects
    )
    done = subprocess.run(
        ["make", "run", "PROJECT=telco"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, f"{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    summary = json.loads((home / "data" / "telco" / "reports" / "run-summary.json").read_text())
    assert len(summary["validated_batches"]) == 6
    assert summary["quarantined_batches"] == []
    assert summary["champion_after"] == "1"
    assert summary["served_version"] == "1"
    assert summary["drift_detected_on_normal_traffic"] is False
    assert summary["retrain_triggered"] is False, "same world, no drift: no retraining"


@pytest.mark.e2e
@pytest.mark.slow
def test_make_run_closes_the_loop_of_the_regression_example(tmp_path: Path) -> None:
    """The second example (no id, no sensitive attribute, rmse): drift, retrain, gate and rollout, as for churn."""
    home = tmp_path / ".mlops"
    result = make("run", "PROJECT=demand", home=home)
    assert result.returncode == 0, f"make run failed:\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}"
    summary = json.loads((home / "data" / "demand" / "reports" / "run-summary.json").read_text())
    assert summary["drift_detected_on_normal_traffic"] is False
    assert summary["drift_detected"] is True, "the price war is seen in the served traffic"
    assert summary["retrain_triggered"] is True
    assert summary["promoted"] is True, summary["promotion_reason"]
    assert summary["champion_after"] == "2"
    assert summary["served_version"] == "2", "the service answers with the retrained model without a restart"
    assert "fairness not audited" in summary["promotion_reason"], "what was not checked is said"
    assert "bh correction" in result.stdout, "the monitor says which correction decided"
