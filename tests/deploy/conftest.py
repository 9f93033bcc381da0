"""Fixtures of the deploy suite: the deploy script imported as a module, and its plan for both examples.

No cluster can run on these machines (no kind, k3s or kube-apiserver installs here), so `make deploy` itself is
run here only as far as its prerequisite check, for real; everything after that is proven from the plan
(`--dry-run`: the same code path, printing every command instead of running it) and from the functions the plan
is made of. The real run is the kind-e2e workflow (.github/workflows/kind-e2e.yml) on a user's fork.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers.examples import example_dir
from tests.helpers.kube import unavailable
from tests.helpers.system import REPO

SCRIPT = REPO / "infra" / "scripts" / "deploy.py"


@pytest.fixture(scope="session")
def deploy() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_script", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_script"] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        unavailable("kubectl is not installed: the plan renders the manifests with its built-in kustomize")
    assert path is not None
    return path


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False, timeout=300, env=env
    )


@pytest.fixture(scope="session")
def plans(kubectl: str) -> dict[str, list[str]]:
    """`deploy.py deploy --dry-run` for both examples: the printed lines."""
    result = {}
    for project in ("churn", "demand"):
        example_dir(project)
        done = run_script("deploy", "--project", project, "--dry-run")
        assert done.returncode == 0, f"the plan for {project} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stdout + done.stderr
        result[project] = done.stdout.splitlines()
    return result


def commands(lines: list[str]) -> list[str]:
    """The shell commands of a plan ("$ ..."), without their trailing notes."""
    return [line.strip()[2:].split("    # ")[0] for line in lines if line.strip().startswith("$ ")]


@pytest.fixture
def fresh_repo(tmp_path: Path) -> Path:
    """A tiny build context: one Dockerfile copying two folders and a lock, as the real ones do."""
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / "lib").mkdir()
    (root / "docs").mkdir()
    (root / "app" / "main.py").write_text("print('hello')\n")
    (root / "lib" / "util.py").write_text("X = 1\n")
    (root / "uv.lock").write_text("lock 1\n")
    (root / "docs" / "notes.md").write_text("not in the image\n")
    (root / "Dockerfile").write_text(
        "ARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE} AS builder\nCOPY uv.lock /src/\n"
        "FROM ${BASE_IMAGE}\nCOPY --from=builder /opt/venv /opt/venv\nCOPY app/ \\\n  /app/app/\nCOPY lib/ /app/lib/\n"
    )
    return root
