"""The workflows in .github/workflows are valid GitHub Actions workflows and run what they promise.

Validated with check-jsonschema's bundled schema of GitHub workflows (`--builtin-schema vendor.github-workflows`,
SchemaStore's, shipped in the wheel: nothing is downloaded at check time). actionlint's PyPI package downloads its
binary from GitHub while it builds and fails where GitHub is unreachable, so it is not used. check-jsonschema
lives in its own environment, `.venv-tools/check-jsonschema`, installed from the hash-locked
tests/deploy/check-jsonschema-requirements.txt on first use (kept out of uv.lock, like checkov).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.kube import index_problem, unavailable
from tests.helpers.system import REPO

pytestmark = pytest.mark.k8s

WORKFLOWS = REPO / ".github" / "workflows"
LOCK = Path(__file__).with_name("check-jsonschema-requirements.txt")
ENV = REPO / ".venv-tools" / "check-jsonschema"


@pytest.fixture(scope="session")
def check_jsonschema() -> Path:
    executable, stamp = ENV / "bin" / "check-jsonschema", ENV / ".lock-sha256"
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if executable.exists() and stamp.is_file() and stamp.read_text() == digest:
        return executable
    uv = REPO / ".venv" / "bin" / "uv"
    shutil.rmtree(ENV, ignore_errors=True)
    steps = [
        [str(uv), "venv", "--quiet", "--python", str(REPO / ".venv" / "bin" / "python"), str(ENV)],
        [str(uv), "pip", "install", "--quiet", "--python", str(ENV / "bin" / "python"), "--require-hashes",
         "-r", str(LOCK)],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False, timeout=600)
        if done.returncode != 0:
            problem = index_problem()
            if problem:
                unavailable(
                    f"check-jsonschema's environment could not be created: the index is unreachable ({problem})"
                )
            pytest.fail(f"{' '.join(step)} failed:\n{done.stderr}")
    stamp.write_text(digest)
    return executable


def workflow(name: str) -> dict[Any, Any]:
    return dict(yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8")))


def run_steps(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in job["steps"])


def test_every_workflow_passes_the_github_workflow_schema(check_jsonschema: Path) -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert {Path(f).name for f in files} >= {"ci.yml", "kind-e2e.yml"}
    done = subprocess.run([str(check_jsonschema), "--builtin-schema", "vendor.github-workflows", *files],
                          capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok -- validation done" in done.stdout, done.stdout


def test_the_schema_check_catches_a_broken_workflow(check_jsonschema: Path, tmp_path: Path) -> None:
    """Negative control: a job without runs-on and a step with an unknown key are refused."""
    broken = tmp_path / "broken.yml"
    broken.write_text("name: x\non: push\njobs:\n  a:\n    steps:\n      - runn: echo hi\n")
    done = subprocess.run([str(check_jsonschema), "--builtin-schema", "vendor.github-workflows", str(broken)],
                          capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    assert done.returncode != 0, done.stdout


def test_ci_keeps_make_lint_and_make_test_and_finds_a_browser() -> None:
    test = workflow("ci.yml")["jobs"]["test"]
    commands = run_steps(test)
    assert "make lint" in commands
    assert "make test" in commands
    assert "google-chrome" in commands, "the page tests need chromium, chromium-browser or google-chrome on PATH"


def test_the_newest_major_job_lifts_every_cap_in_pyproject() -> None:
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    dependencies = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    capped = set(re.findall(r'"([A-Za-z0-9_.-]+)>=[^,"]+,<[^"]+"', dependencies))
    assert {"bentoml", "evidently", "mlflow"} <= capped, capped
    job = workflow("ci.yml")["jobs"]["newest-major"]
    assert set(job["strategy"]["matrix"]["package"]) == capped, "one job per cap, reported separately"
    assert job["continue-on-error"] is True, "a break past a cap is a report, not a failed run"
    assert "newest" in workflow("ci.yml")["jobs"], "the newest releases within the caps are still tried"


def test_kind_e2e_deploys_closes_the_loop_and_keeps_what_failed() -> None:
    flow = workflow("kind-e2e.yml")
    job = flow["jobs"]["e2e"]
    runners = {entry["runner"] for entry in job["strategy"]["matrix"]["include"]}
    assert runners == {"ubuntu-24.04", "ubuntu-24.04-arm"}, "amd64 and GitHub's arm64 runners"
    commands = run_steps(job)
    for needed in ("make deploy-plan", "make deploy PROJECT", "make drift-demo", "make cluster-down",
                   "kind export logs", "get events", "-retrain-", "GITHUB_STEP_SUMMARY"):  # fmt: skip
        assert needed in commands, needed
    cluster = yaml.safe_load((REPO / "infra" / "kind" / "cluster.yaml").read_text())
    assert "v0.33.0" in flow["env"]["KIND_VERSION"], "the kind release cluster.yaml's node image is pinned for"
    assert cluster["nodes"][0]["image"].startswith(f"kindest/node:{flow['env']['KUBECTL_VERSION']}@sha256:")
    uploads = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert uploads, "logs, events and the summary are uploaded"
    assert all(s.get("if") == "failure()" for s in uploads)
    assert flow["defaults"]["run"]["shell"] == "bash", "pipefail, so `make deploy | tee` fails when make does"


def test_no_run_step_hides_a_failure_behind_a_leading_bang() -> None:
    """bash -e does not stop at a `!`-inverted command unless it is the last of the script: `! grep -q x log`
    mid-step passes whatever grep finds. The workflows use `if grep ...; then exit 1; fi` instead."""
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job in workflow(path.name)["jobs"].values():
            for step in job["steps"]:
                lines = str(step.get("run", "")).splitlines()
                assert not [line for line in lines if line.strip().startswith("! ")], (path.name, step.get("name"))


def test_the_newest_major_report_says_the_version_and_the_outcome() -> None:
    job = workflow("ci.yml")["jobs"]["newest-major"]
    report = next(step for step in job["steps"] if step.get("name") == "Report")
    assert report["if"] == "always()"
    assert "steps.lift.outputs.version" in report["run"]
    assert "steps.test.outcome" in report["run"]
    assert any(step.get("id") == "test" for step in job["steps"])
