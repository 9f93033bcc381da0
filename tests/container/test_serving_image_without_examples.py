"""The serving image built from a repository that dropped the examples (README: `rm -rf projects/churn
projects/demand`) and holds one project of the user's own, made by `make new-project`: the build itself imports
everything the service needs for that project (serving/Dockerfile runs import_everything), and the container
serves it by default: it starts, names it in /metadata, and its readiness says what it waits for.

Built through infra/scripts/build-images.sh as `make images` does, under a name of its own (never the shared
mlops-serving tags), and removed afterwards. No champion is served: that needs the MLflow and jobs images
(tests/container/test_images.py does it for churn); this is about the image not needing the examples.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import containers
from tests.helpers.checkout import checkout_without_examples

pytestmark = [pytest.mark.container, pytest.mark.slow]

NAME = "fraud"
PREFIX = "noexamples-"  # build-images.sh also tags :latest; under this prefix it is nobody else's


@pytest.fixture(scope="module")
def image(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = containers.resolve_base_image()
    if base is None:
        containers.unavailable(f"no base image: neither {containers.DEFAULT_BASE} nor {containers.OFFLINE_BASE}")
    assert base is not None
    root = tmp_path_factory.mktemp("own-repo")
    checkout = checkout_without_examples(root / "repo")
    made = checkout.run("make", "new-project", f"NAME={NAME}", home=root / "home")
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    tag = f"t{os.getpid()}"
    ref = f"{PREFIX}mlops-serving:{tag}"
    try:
        built = checkout.run(
            "bash", "infra/scripts/build-images.sh", "serving", home=root / "home", timeout=1800,
            BASE_IMAGE=base, IMAGE_TAG=tag, IMAGE_PREFIX=PREFIX,
        )  # fmt: skip
        assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
        assert containers.image_exists(ref), built.stdout[-2000:]
        yield ref
    finally:
        containers.docker("rmi", ref, f"{PREFIX}mlops-serving:latest", check=False)


def test_the_image_holds_the_users_project_only_and_defaults_to_it(image: str) -> None:
    listing = (
        "import os; from projects.contract import default_project; from projects.settings import load_settings; "
        "d = load_settings().projects_dir; "
        "print(*sorted(p for p in os.listdir(d) if os.path.isfile(os.path.join(d, p, 'project.yaml'))), '|', "
        "default_project(d))"
    )
    done = subprocess.run(
        ["docker", "run", "--rm", "--read-only", image, "python", "-c", listing],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    projects, default = done.stdout.split("|")
    assert projects.split() == [NAME], f"the examples stay out of the image: {projects}"
    assert default.strip() == NAME


def test_the_container_serves_the_only_project_and_says_what_it_waits_for(image: str) -> None:
    options = ("--read-only", "-p", "127.0.0.1::3000", "-e", "MLOPS_TRACKING_URI=http://127.0.0.1:9")  # no MLflow
    with containers.container(image, options=options) as cid:
        url = containers.published_url(cid, 3000)
        containers.wait_for(f"{url}/livez", timeout=120, cid=cid)
        metadata = httpx.get(f"{url}/metadata", timeout=10).json()
        assert metadata["project"] == NAME, metadata
        assert metadata["model_version"] is None, "no registry here: nothing is served yet"
        deadline = time.monotonic() + 60
        ready = httpx.get(f"{url}/readyz", timeout=10)
        while ready.json()["reason"].startswith("starting") and time.monotonic() < deadline:  # its first lookup
            time.sleep(0.5)
            ready = httpx.get(f"{url}/readyz", timeout=10)
    assert ready.status_code == 503, ready.text
    assert "tracking server unreachable" in ready.json()["reason"], ready.text
    assert f"{NAME}" in ready.json()["reason"], f"it looks for the project's own champion: {ready.text}"
