"""A repository started from this one, as the README tells a user to: a copy with the worked examples dropped.

The copy holds the tracked files as they are in the working tree, under a git history of its own (a clone has
one; the secret scan and `git describe` need it), and then runs the README's command that drops the examples.
It shares this checkout's virtualenv: ``.venv`` in the copy links each part of ours except the sync stamp, which
is fresh, so make never re-syncs the shared environment; ``PYTHONPATH`` puts the copy first, so its
``projects`` package (without churn and demand) is the one every command imports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.system import REPO

DROP_EXAMPLES = "rm -rf projects/churn projects/demand"  # README.md, "Start your own project"
GIT_USER = ("-c", "user.name=mlops tests", "-c", "user.email=tests@example.invalid", "-c", "commit.gpgsign=false")


@dataclass(frozen=True)
class Checkout:
    root: Path

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        """This machine's environment without the developer's platform settings; the copy first on the path."""
        mine = ("MLOPS_", "MLFLOW_", "BENTOML_", "PYTHONPATH", "VIRTUAL_ENV", "COV_", "COVERAGE_")
        clean = {k: v for k, v in os.environ.items() if not k.startswith(mine)}
        return {**clean, "PYTHONPATH": str(self.root), "MLOPS_HOME": str(home), **extra}

    def run(self, *args: str, home: Path, timeout: float = 600, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), cwd=self.root, env=self.env(home, **extra), capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip

    def python(self, *args: str, home: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, *args, home=home, timeout=timeout)


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *GIT_USER, *args], cwd=root, capture_output=True, text=True, check=True, timeout=120)


def working_files() -> list[str]:
    """The working tree's files that git does not ignore, but no project folder that git does not track: the
    tests render throwaway projects into projects/ (tests/mlops/test_new_project.py), which are no one's."""

    def listed(*args: str) -> list[str]:
        done = subprocess.run(["git", "ls-files", "-z", *args], cwd=REPO, capture_output=True, check=True, timeout=60)
        return [name for name in done.stdout.decode().split("\0") if name]

    tracked = listed()
    projects = {name.split("/")[1] for name in tracked if name.startswith("projects/") and name.count("/") > 1}
    others = [
        name
        for name in listed("--others", "--exclude-standard")
        if not (name.startswith("projects/") and name.count("/") > 1 and name.split("/")[1] not in projects)
    ]
    return tracked + others


def link_virtualenv(root: Path) -> None:
    venv = REPO / ".venv"
    (root / ".venv").mkdir()
    for part in venv.iterdir():
        if part.name != ".synced":
            (root / ".venv" / part.name).symlink_to(part, target_is_directory=part.is_dir())
    (root / ".venv" / ".synced").touch()  # newer than the copied pyproject.toml and uv.lock: nothing to sync


def checkout_without_examples(root: Path) -> Checkout:
    """``root``: this working tree's files, committed, then the examples dropped and that committed too."""
    root.mkdir(parents=True)
    for name in working_files():
        source = REPO / name
        if source.is_file():  # a file deleted in the working tree is not part of it
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "started from the MLOps reference platform")
    subprocess.run(["bash", "-c", DROP_EXAMPLES], cwd=root, check=True, timeout=60)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "drop the worked examples")
    link_virtualenv(root)
    return Checkout(root)
