"""The manifests of a project made by the template (`make new-project`), checked as the examples' are: every
overlay rendered by k8s/render.py, each object valid for the pinned Kubernetes version (strictly: a warning is a
failure), checkov clean with every skip annotated, and the platform's own pod rules (tests/k8s/test_security.py).

The project is rendered into the repository's projects/ (where render.py finds a user's) under a fresh name and
removed afterwards, whatever the test did. The checks are the suite's own test functions (test_schema,
test_policy, test_security), run on this render: one rule, one place.
"""

from __future__ import annotations

import inspect
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops import jobs
from tests.helpers.kube import OVERLAYS, REPO, WORKLOADS, Rendered, checkov_scan, render_overlays, write_rendered
from tests.k8s import test_policy, test_schema, test_security

pytestmark = pytest.mark.k8s

RENDER_FIXTURES = {"rendered", "rendered_files", "checkov_results"}


def render_checks() -> list[Callable[..., None]]:
    """Every check of those modules that takes nothing but the render (and its files and scan)."""
    found = []
    for module in (test_schema, test_policy, test_security):
        for name, check in inspect.getmembers(module, inspect.isfunction):
            wants = set(inspect.signature(check).parameters)
            if name.startswith("test_") and check.__module__ == module.__name__ and wants and wants <= RENDER_FIXTURES:
                found.append(check)
    return found


@pytest.fixture(scope="module")
def template_project() -> Iterator[str]:
    name = f"tmpl{uuid.uuid4().hex[:8]}"
    try:
        jobs.new_project(name, description="a project of the template, for its manifests")
        yield name
    finally:
        shutil.rmtree(REPO / "projects" / name, ignore_errors=True)


# The suite's fixtures of the same names (tests/k8s/conftest.py), for this project alone.
@pytest.fixture(scope="module")
def rendered(kubectl: str, template_project: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    return render_overlays(tmp_path_factory.mktemp("build-k8s-template"), "--project", template_project)


@pytest.fixture(scope="module")
def rendered_files(rendered: dict[str, Rendered], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_rendered(rendered, tmp_path_factory.mktemp("rendered-template"))


@pytest.fixture(scope="module")
def checkov_results(checkov: str, rendered_files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return checkov_scan(checkov, rendered_files)


def test_every_overlay_renders_the_template_project(rendered: dict[str, Rendered], template_project: str) -> None:
    assert set(rendered) == set(OVERLAYS)
    for overlay, result in rendered.items():
        for kind, suffix in [("Deployment", "serving"), ("CronJob", "monitor"), ("CronJob", "retrain"),
                             ("Job", "train"), ("CronJob", "compact"), ("CronJob", "intake")]:  # fmt: skip
            result.named(kind, f"{template_project}-{suffix}")
        mine = [o for o in result.of_kind(*WORKLOADS) if o["metadata"]["name"].startswith(f"{template_project}-")]
        assert all(o["metadata"]["labels"]["mlops/project"] == template_project for o in mine), overlay
        others = {o["metadata"].get("labels", {}).get("mlops/project") for o in result.objects} - {None}
        assert others == {template_project}, f"{overlay}: only the project asked for is rendered, found {others}"


def check_id(check: Callable[..., None]) -> str:
    return f"{check.__module__.rsplit('.', 1)[-1]}.{check.__name__}"


@pytest.mark.parametrize("check", render_checks(), ids=check_id)
def test_the_manifest_checks_hold_for_the_template_project(
    check: Callable[..., None], request: pytest.FixtureRequest
) -> None:
    check(**{name: request.getfixturevalue(name) for name in inspect.signature(check).parameters})


def test_the_checks_reused_are_the_render_ones() -> None:
    names = {check.__name__ for check in render_checks()}
    assert "test_every_rendered_object_is_valid_for_the_pinned_version" in names, "the strict schema validation"
    assert "test_checkov_scanned_every_overlay_and_nothing_failed" in names, "checkov's scan"
    assert "test_every_container_runs_restricted" in names, "the platform's own pod rules"
    assert len(names) >= 12, sorted(names)
