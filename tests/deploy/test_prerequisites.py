"""`make deploy` stops at the prerequisite check, naming what is missing with its install hint, and does nothing.

Run for real, through make, with a PATH that has no kind (kind cannot be installed on these machines anyway), so
`make deploy` here meets exactly what a user without kind meets. The other cases use a PATH without the tools, or
a stand-in `kind` that only prints a version (a stand-in for the command's version line only: no cluster can run
here).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.deploy.conftest import run_script
from tests.helpers.examples import needs_example
from tests.helpers.system import REPO

pytestmark = pytest.mark.k8s


def path_without(tool: str) -> str:
    """The PATH of this run, minus every folder holding `tool`: what a user without it has."""
    folders = os.environ["PATH"].split(os.pathsep)
    return os.pathsep.join(f for f in folders if f and not os.access(Path(f) / tool, os.X_OK))


@needs_example("churn")
def test_make_deploy_without_kind_stops_at_the_prerequisites_with_the_hint() -> None:
    """Through make, as a user runs it, with a PATH that has no kind (here none is installed at all)."""
    env = {**os.environ, "PATH": path_without("kind")}
    assert shutil.which("kind", path=env["PATH"]) is None
    out = REPO / "build" / "deploy"
    before = sorted(p.as_posix() for p in out.rglob("*")) if out.exists() else None
    done = subprocess.run(["make", "deploy", "PROJECT=churn"], cwd=REPO, env=env, capture_output=True, text=True,
                          check=False, timeout=300)  # fmt: skip
    text = done.stdout + done.stderr
    assert done.returncode != 0, text
    assert "prerequisites missing, nothing was done" in text, text
    assert "[MISSING] kind: not installed" in text
    assert "  - kind: not installed\n    install/fix: kind v0.33.0: " in text
    assert "https://kind.sigs.k8s.io/dl/v0.33.0/" in text, "the hint names the pinned release"
    assert "Traceback" not in text
    after = sorted(p.as_posix() for p in out.rglob("*")) if out.exists() else None
    assert before == after, "nothing half-done: the deploy wrote nothing before stopping"
    for later in ("==> [2/9]", "kind create cluster", "build-images.sh", "kubectl --context"):
        assert later not in text, f"{later!r} ran or was announced before the prerequisites passed"


@needs_example("churn")
def test_make_deploy_plan_without_kind_names_the_gap_and_still_prints_the_whole_plan() -> None:
    """`make deploy-plan` touches nothing, so it needs no kind: it says a deploy would stop, then plans on."""
    env = {**os.environ, "PATH": path_without("kind")}
    done = subprocess.run(["make", "deploy-plan", "PROJECT=churn"], cwd=REPO, env=env, capture_output=True,
                          text=True, check=False, timeout=300)  # fmt: skip
    text = done.stdout + done.stderr
    assert done.returncode == 0, text
    assert "deploy.py deploy --project churn --dry-run" in text, "the same script as make deploy, dry-run switch"
    assert "[MISSING] kind: not installed" in text
    assert "a deploy would stop here; the plan goes on to show what it would run" in text
    assert "$ kind create cluster --name mlops" in text
    assert re.search(r"^PLAN: \d+ commands and requests$", done.stdout, re.M), text[-1000:]
    assert "Traceback" not in text


@needs_example("churn")
def test_every_missing_tool_is_named_at_once(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    done = run_script("deploy", "--project", "churn", env={**os.environ, "PATH": str(empty)})
    assert done.returncode == 1, done.stdout
    for tool in ("docker", "kind", "kubectl"):
        assert f"  - {tool}: not installed\n    install/fix: " in done.stdout, done.stdout
    assert "Colima" in done.stdout
    assert "Rancher Desktop" in done.stdout
    assert "Podman" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_an_old_kind_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    fake = folder / "kind"  # a stand-in that prints a version line only: no cluster can run here
    fake.write_text("#!/bin/sh\n[ \"$1\" = version ] && echo 'kind v0.20.0 go1.20.4 linux/amd64'\nexit 0\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, str(REPO / "infra/scripts/deploy.py"), "cluster-down"], env=env,
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert "kind v0.20.0 go1.20.4 linux/amd64: v0.33.0 or newer is needed" in done.stdout, done.stdout
    assert "kind delete cluster" not in done.stdout


def test_hints_cover_linux_and_macos(deploy: ModuleType) -> None:
    for tool, hints in deploy.HINTS.items():
        assert set(hints) == {"linux", "macos"}, tool
        assert all(len(text) > 40 for text in hints.values()), tool
    assert "colima start --cpu 4 --memory 8" in deploy.HINTS["docker"]["macos"]
    assert "KIND_EXPERIMENTAL_PROVIDER=podman" in deploy.ENGINE_NOTES


def test_too_small_a_docker_is_named_with_what_to_give_it(deploy: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    info = '{"NCPU": 1, "MemTotal": 2147483648, "OperatingSystem": "Docker Desktop"}'
    monkeypatch.setattr(deploy, "have", lambda tool: True)
    monkeypatch.setattr(deploy.subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 0, info, ""))  # fmt: skip
    checks = deploy.check_docker()
    resources = next(c for c in checks if c.name == "docker resources")
    assert not resources.ok
    assert "1 CPUs and 2.0 GiB" in resources.detail
    assert "at least 2 CPUs and 4 GiB" in resources.detail
    assert "Resources" in resources.fix
