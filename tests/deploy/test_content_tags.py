"""Images are tagged by the content of what they are built from: a second deploy with nothing changed finds its
images and builds nothing; any change to an input gives a new tag, so a tag never names two different builds
(as `git describe --dirty` does: one `-dirty` tag for every uncommitted state)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.k8s


@pytest.fixture
def tiny(deploy: ModuleType, fresh_repo: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setattr(deploy, "REPO", fresh_repo)
    monkeypatch.setattr(deploy, "IMAGES", {"app": "Dockerfile"})
    return deploy


def test_the_same_inputs_give_the_same_tag(tiny: ModuleType) -> None:
    first = tiny.content_tag("app", "python:3.11-slim", "sha256:aaa")
    assert first == tiny.content_tag("app", "python:3.11-slim", "sha256:aaa")
    assert first.startswith("src-")
    assert len(first) == 16
    assert first != "latest"


@pytest.mark.parametrize("change", ["app/main.py", "lib/util.py", "uv.lock", "Dockerfile", "app/new.py"])
def test_any_input_that_changes_gives_a_new_tag(tiny: ModuleType, fresh_repo: Path, change: str) -> None:
    before = tiny.content_tag("app", "python:3.11-slim", "sha256:aaa")
    path = fresh_repo / change
    path.write_text((path.read_text() if path.exists() else "") + "# changed\n")
    assert tiny.content_tag("app", "python:3.11-slim", "sha256:aaa") != before, f"{change} is an input"


def test_a_new_base_image_gives_a_new_tag(tiny: ModuleType) -> None:
    assert tiny.content_tag("app", "python:3.11-slim", "sha256:aaa") != tiny.content_tag(
        "app", "python:3.11-slim", "sha256:bbb"
    )


@pytest.mark.parametrize("noise", ["docs/notes.md", "app/__pycache__/main.cpython-311.pyc", "lib/x.pyc", "app/.env"])
def test_what_never_reaches_the_image_does_not_change_the_tag(tiny: ModuleType, fresh_repo: Path, noise: str) -> None:
    before = tiny.content_tag("app", "python:3.11-slim", "sha256:aaa")
    path = fresh_repo / noise
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("noise\n")
    assert tiny.content_tag("app", "python:3.11-slim", "sha256:aaa") == before, f"{noise} is not in the image"


def test_a_moved_file_changes_the_tag(tiny: ModuleType, fresh_repo: Path) -> None:
    before = tiny.content_tag("app", "python:3.11-slim", "sha256:aaa")
    shutil.move(fresh_repo / "lib" / "util.py", fresh_repo / "app" / "util.py")
    assert tiny.content_tag("app", "python:3.11-slim", "sha256:aaa") != before


def test_the_real_dockerfiles_inputs(deploy: ModuleType) -> None:
    serving = deploy.dockerfile_sources(deploy.REPO / "serving" / "Dockerfile")
    jobs = deploy.dockerfile_sources(deploy.REPO / "pipelines" / "Dockerfile")
    assert {"uv.lock", "pyproject.toml", "serving/", "projects/"} <= set(serving), serving
    assert "monitoring/" not in serving, "a monitoring change does not rebuild (or reload) the serving image"
    assert {"monitoring/", "mlops/", "pipelines/"} <= set(jobs), jobs
    tags = {name: deploy.content_tag(name, "python:3.11-slim", "") for name in deploy.IMAGES}
    assert len(set(tags.values())) == 3, "each image has its own tag"
