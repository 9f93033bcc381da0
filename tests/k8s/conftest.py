"""Fixtures of the manifest suite (helpers: tests/helpers/kube.py): every overlay rendered once per session for
the projects in one namespace, the strict schema validation of those renders, and checkov's scan of them.

The projects are the real churn folder and a throwaway copy under another name with its own deploy.yaml (the
commented example, k8s/deploy.example.yaml), in a temporary projects folder that render.py is pointed at with
--projects-dir. Tools that may be missing (kubectl; checkov's own environment, created on first use) skip
their tests with the reason, and fail them under CI=true.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.kube import (
    FILES_SOURCE,
    K8S,
    REPO,
    SECOND_PROJECT,
    Rendered,
    checkov_scan,
    index_problem,
    render_overlays,
    unavailable,
    write_rendered,
)


@pytest.fixture(scope="session")
def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        unavailable("kubectl is not installed: it renders the manifests (its built-in kustomize)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def projects_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two examples as they are in the repository, plus a copy of churn fed by files."""
    root = tmp_path_factory.mktemp("projects")
    for example in ("churn", "demand"):  # linked, so their own deploy.yaml counts
        (root / example).symlink_to(REPO / "projects" / example, target_is_directory=True)
    second = root / SECOND_PROJECT
    shutil.copytree(REPO / "projects" / "churn", second, ignore=shutil.ignore_patterns("__pycache__", "deploy.yaml"))
    contract = second / "project.yaml"
    text, count = re.subn(r"(?m)^name: churn$", f"name: {SECOND_PROJECT}", contract.read_text(encoding="utf-8"))
    assert count == 1, "projects/churn/project.yaml no longer has a top-level `name: churn` line to rename"
    # Fed by files rather than churn's generator, so both source kinds are rendered.
    text, count = re.subn(r"(?m)^source:\n(?:  .*\n)+", FILES_SOURCE, text)
    assert count == 1, "projects/churn/project.yaml no longer has a top-level source: block to replace"
    contract.write_text(text, encoding="utf-8")
    shutil.copy(K8S / "deploy.example.yaml", second / "deploy.yaml")
    return root


@pytest.fixture(scope="session")
def rendered(kubectl: str, projects_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    """Every overlay, both projects, one namespace: `render.py --stdout`, as a user runs it."""
    return render_overlays(tmp_path_factory.mktemp("build-k8s"), "--projects-dir", str(projects_dir))


@pytest.fixture(scope="session")
def rendered_files(rendered: dict[str, Rendered], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_rendered(rendered, tmp_path_factory.mktemp("rendered"))


@pytest.fixture(scope="session")
def checkov() -> str:
    """checkov from its own pinned environment (infra/scripts/k8s-tools.sh creates it on first use)."""
    done = subprocess.run(
        ["bash", str(REPO / "infra" / "scripts" / "k8s-tools.sh"), "checkov"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        problem = index_problem()
        if problem:
            unavailable(f"checkov's environment could not be created: the package index is unreachable ({problem})")
        pytest.fail(f"infra/scripts/k8s-tools.sh checkov failed:\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def checkov_results(checkov: str, rendered_files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """One scan of every overlay's render; results split per overlay (by file)."""
    return checkov_scan(checkov, rendered_files)
