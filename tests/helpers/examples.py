"""The worked examples (projects/churn, projects/demand) as the tests reach them, or a skip that says why.

The README tells a user who starts a repository from this one to drop the examples (`rm -rf projects/churn
projects/demand`); the platform's tests must still collect and run then. Many use an example as their fixture
project. Without it they are skipped naming the missing folder, three ways:

- a test or fixture that fails *because* the example is gone (its folder or contract missing, its module not
  importable) is skipped by the hook in tests/conftest.py (``dropped_example`` reads the error);
- a test that reaches the example only through a command it runs says so with ``@needs_example(...)``;
- a fixture may ask for it first with ``example_dir``.

With the examples present nothing is skipped, and no error is ever explained away.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers.system import REPO

if TYPE_CHECKING:
    from projects.contract import Project

EXAMPLES = ("churn", "demand")
PROJECTS = REPO / "projects"


def has_example(name: str) -> bool:
    return (PROJECTS / name / "project.yaml").is_file()


def why_skipped(*names: str) -> str:
    folders = " and ".join(f"projects/{name}" for name in names)
    return f"needs the worked example {folders}, which this checkout does not have (dropped)"


def example_dir(name: str) -> Path:
    """projects/<name> of a worked example; skips the test when this checkout has dropped it."""
    if not has_example(name):
        pytest.skip(why_skipped(name))
    return PROJECTS / name


def load_example(name: str) -> Project:
    from projects.contract import load_project

    return load_project(name, example_dir(name).parent)


def needs_example(*names: str) -> pytest.MarkDecorator:
    """For a test that reaches an example only through a command it runs (a subprocess's failure says nothing
    the hook can read): skipped when this checkout has dropped it."""
    missing = [name for name in names if not has_example(name)]
    return pytest.mark.skipif(bool(missing), reason=why_skipped(*missing))


def dropped_example(exc: BaseException) -> str | None:
    """The dropped example an error (or what caused it) is about, or None: a missing file or location under its
    folder (``OSError.filename``, ``PlatformError.where``), or its module not found."""
    absent = [name for name in EXAMPLES if not has_example(name)]
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen and absent:
        seen.add(id(error))
        for name in absent:
            if isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[:2] == ["projects", name]:
                return name
            for place in (getattr(error, "filename", None), getattr(error, "where", None)):
                if isinstance(place, str | Path) and Path(place).is_relative_to(PROJECTS / name):
                    return name
        error = error.__cause__ or error.__context__
    return None


def skip_if_about_a_dropped_example(exc: BaseException) -> None:
    name = dropped_example(exc)
    if name is not None:
        pytest.skip(why_skipped(name))
