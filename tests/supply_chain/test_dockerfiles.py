"""Policy of the three Dockerfiles, read without Docker: multi-stage on a BASE_IMAGE argument, no BuildKit-only
syntax, uv with no managed Python, install tools and the build CA in the build stage only, a numeric non-root
USER and declared volumes in the final stage. (The container suite checks the built images at run time.)"""

from __future__ import annotations

import re

import pytest

from tests.helpers.system import REPO

DOCKERFILES = ["serving/Dockerfile", "pipelines/Dockerfile", "infra/mlflow/Dockerfile"]


def instructions(path: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / path).read_text(encoding="utf-8"))
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def stages(path: str) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = [[]]
    for item in instructions(path):
        if item[0] == "FROM":
            found.append([])
        found[-1].append(item)
    return found  # found[0]: ARGs before the first FROM


@pytest.mark.parametrize("path", DOCKERFILES)
def test_multi_stage_on_a_base_image_argument(path: str) -> None:
    preamble, *built = stages(path)
    assert ("ARG", "BASE_IMAGE=python:3.11-slim") in preamble, f"{path}: ARG BASE_IMAGE=python:3.11-slim first"
    assert len(built) >= 2, f"{path}: needs a build stage and a final stage"
    for stage in built:
        assert stage[0][1].startswith("${BASE_IMAGE}"), f"{path}: FROM {stage[0][1]} (use the BASE_IMAGE argument)"


@pytest.mark.parametrize("path", DOCKERFILES)
def test_legacy_builder_compatible_and_no_managed_python(path: str) -> None:
    text = (REPO / path).read_text(encoding="utf-8")
    runs = [args for keyword, args in instructions(path) if keyword == "RUN"]
    assert not any(args.startswith("--") for args in runs), f"{path}: RUN --mount/--network need BuildKit"
    assert not text.lstrip().lower().startswith("# syntax="), f"{path}: a syntax directive needs BuildKit"
    envs = " ".join(args for keyword, args in instructions(path) if keyword == "ENV")
    assert "UV_PYTHON_DOWNLOADS=never" in envs, f"{path}: uv must use the base image's Python"


@pytest.mark.parametrize("path", DOCKERFILES)
def test_final_stage_is_non_root_with_declared_volumes_and_no_installers(path: str) -> None:
    final = stages(path)[-1]
    users = [args for keyword, args in final if keyword == "USER"]
    assert users, f"{path}: the final stage sets no USER (it would run as root)"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), f"{path}: USER {users[-1]} must be a numeric non-root uid"
    assert int(uid) != 0, f"{path}: USER {users[-1]} must be a numeric non-root uid"
    assert any(keyword == "VOLUME" for keyword, _ in final), f"{path}: declare the writable paths as VOLUMEs"
    runs = " ".join(args for keyword, args in final if keyword == "RUN")
    assert not re.search(r"\b(pip|uv) (pip )?install\b|apt-get install", runs), f"{path}: install in the build stage"
    copies = [args for keyword, args in final if keyword == "COPY"]
    assert not any("infra/certs" in c for c in copies), f"{path}: the build CA must not reach the final image"
    assert any("--from=builder /opt/venv" in c for c in copies), f"{path}: copy the venv from the build stage"
