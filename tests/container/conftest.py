"""Container fixtures: the three images built for real, the MLflow and serving containers on a user-defined
network, PostgreSQL (Debian's, on the host) and S3 (moto) as MLflow's backends, and a champion registered by
the jobs image itself (generate -> validate -> train), exactly as the initial training Job does in a cluster.

Built once per session. Without a Docker engine the suite is skipped with the reason; under CI=true it fails
instead, because .ci/run provisions the engine and a skip there would hide a broken build.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.helpers import containers
from tests.helpers.containers import (
    ALLOWED_HOSTS,
    ARTIFACT_BUCKET,
    S3_KEYS,
    BuiltImages,
    HostPostgres,
    Running,
    env_options,
    unavailable,
)

REPORT: dict[str, Any] = {}


@pytest.fixture(scope="session")
def engine() -> None:
    problem = containers.engine_problem()
    if problem:
        unavailable(
            f"container tests need Docker: {problem}. Start Docker; on a bare Debian machine "
            "infra/scripts/docker-engine.sh (run by .ci/run) provides one"
        )


@pytest.fixture(scope="session")
def images(engine: None) -> BuiltImages:
    base = containers.resolve_base_image()
    if base is None:
        unavailable(
            f"no base image: {os.environ.get('BASE_IMAGE', containers.DEFAULT_BASE)} cannot be pulled and "
            f"{containers.OFFLINE_BASE} does not exist; make it with infra/scripts/offline-base-image.sh"
        )
    reuse = os.environ.get("MLOPS_CONTAINER_IMAGE_TAG")
    if reuse and all(containers.image_exists(f"mlops-{n}:{reuse}") for n in containers.IMAGES):
        # Images built before (IMAGE_TAG=<tag> make images), e.g. while the working tree is mid-edit.
        built = BuiltImages(tag=reuse, base=base, seconds=0.0)  # type: ignore[arg-type]
    else:
        built = containers.build_images(base)  # type: ignore[arg-type]
    REPORT["build (3 images, through build-images.sh)"] = f"{built.seconds:.1f} s from {built.base}"
    for name in containers.IMAGES:
        REPORT[f"size mlops-{name}"] = f"{containers.image_size_mb(built.ref(name)):.0f} MB"
    return built


@pytest.fixture(scope="session")
def net(engine: None) -> Iterator[tuple[str, str]]:
    with containers.network() as (name, gateway):
        yield name, gateway


@pytest.fixture(scope="session")
def s3(net: tuple[str, str]) -> Iterator[str]:
    """moto S3 on the network's gateway, so containers reach it; holds MLflow's artifact bucket."""
    import boto3

    with containers.moto_s3(net[1]) as endpoint:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.create_bucket(Bucket=ARTIFACT_BUCKET)
        yield endpoint


@pytest.fixture(scope="session")
def postgres(net: tuple[str, str]) -> Iterator[HostPostgres | None]:
    """Debian's PostgreSQL on the gateway; None (MLflow then uses SQLite in its volume) when not installed."""
    if containers.postgres_bin() is None:
        yield None
        return
    with containers.host_postgres(net[1]) as pg:
        yield pg


@pytest.fixture(scope="session")
def mlflow_server(
    images: BuiltImages, net: tuple[str, str], s3: str, postgres: HostPostgres | None
) -> Iterator[Running]:
    env = {**S3_KEYS, "MLFLOW_S3_ENDPOINT_URL": s3, "MLFLOW_ARTIFACTS_DESTINATION": f"s3://{ARTIFACT_BUCKET}/artifacts"}
    if postgres is not None:
        env["MLFLOW_BACKEND_STORE_URI"] = postgres.sqlalchemy_url
    options = (
        "--name",
        f"{containers.PREFIX}-mlflow",
        "--network",
        net[0],
        "--network-alias",
        "mlflow",
        "--read-only",
        "-p",
        "127.0.0.1::5000",
        *env_options(env),
    )
    args = ("--host", "0.0.0.0", "--port", "5000", "--allowed-hosts", ALLOWED_HOSTS)
    with containers.container(images.ref("mlflow"), *args, options=options) as cid:
        url = containers.published_url(cid, 5000)
        seconds = containers.wait_for(f"{url}/health", timeout=300, cid=cid)
        backend = "PostgreSQL" if postgres else "SQLite"
        REPORT["mlflow container: start to /health 200"] = f"{seconds:.1f} s ({backend} backend, S3 artifacts)"
        yield Running(cid, url, {"backend": backend})


@pytest.fixture(scope="session")
def jobs(images: BuiltImages, net: tuple[str, str], mlflow_server: Running) -> Iterator[Callable[..., str]]:
    """Run a `mlops` command in the jobs image (read-only rootfs, a named volume as MLOPS_HOME)."""
    volume = containers.docker("volume", "create", f"{containers.PREFIX}-jobs-home")

    def run(*args: str, timeout: float = 300) -> str:
        proc = subprocess.run(
            [
                "docker",
                "run",
                "--rm",
                "--network",
                net[0],
                "--read-only",
                "-v",
                f"{volume}:/var/lib/mlops",
                "-e",
                "MLOPS_TRACKING_URI=http://mlflow:5000",
                "-e",
                "COLUMNS=160",
                images.ref("jobs"),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert proc.returncode == 0, (
            f"jobs image `mlops {' '.join(args)}` exit {proc.returncode}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
        return proc.stdout + proc.stderr

    yield run
    containers.docker("volume", "rm", "-f", volume, check=False)


@pytest.fixture(scope="session")
def champion(jobs: Callable[..., str]) -> dict[str, str]:
    """Landing batches, the data gate and a registered, gated champion: all done by the jobs image."""
    started = time.perf_counter()
    out = {
        "generate": jobs(
            "data", "generate", "--project", "churn", "--batches", "5", "--rows", "300", "--start", "2026-01-01"
        )
    }
    out["validate"] = jobs("validate", "--project", "churn")
    out["train"] = jobs("train", "--project", "churn")
    REPORT["jobs image: generate + validate + train"] = f"{time.perf_counter() - started:.1f} s"
    return out


@pytest.fixture(scope="session")
def serving(
    images: BuiltImages, net: tuple[str, str], champion: dict[str, str], mlflow_server: Running
) -> Iterator[Running]:
    """The serving container: read-only rootfs, no mounts (only the image's declared volumes are writable)."""
    from projects.contract import load_project
    from projects.settings import REPO_ROOT
    from serving.schema import example_record

    record = example_record(load_project("churn", REPO_ROOT / "projects"))
    options = (
        "--name",
        f"{containers.PREFIX}-serving",
        "--network",
        net[0],
        "--read-only",
        "-p",
        "127.0.0.1::3000",
        "-e",
        "MLOPS_TRACKING_URI=http://mlflow:5000",
        "-e",
        "MLOPS_PROJECT=churn",
    )
    started = time.perf_counter()
    with containers.container(images.ref("serving"), options=options) as cid:
        url = containers.published_url(cid, 3000)
        containers.wait_for(f"{url}/predict", timeout=300, cid=cid, method="POST", body={"records": [record]})
        seconds = time.perf_counter() - started
        REPORT["serving container: docker run to first 200 on POST /predict"] = f"{seconds:.1f} s"
        yield Running(cid, url, {"record": record, "first_200_s": seconds})


@pytest.fixture(scope="session")
def kind_images(images: BuiltImages) -> dict[str, str]:
    """Every image the kind overlay names -> the local image the harness runs: ours as built, the two upstream
    ones as substitutes built for the harness only (tests/container/substitutes/, each saying what differs)."""
    from tests.helpers.kube_docker import RUN_REPORT, build_substitutes

    built = build_substitutes(images.base)
    for upstream, (local, seconds) in built.items():
        RUN_REPORT[f"substitute {local} for {upstream}: build"] = f"{seconds:.1f} s"
    return {
        **{f"mlops-{n}:{images.tag}": images.ref(n) for n in containers.IMAGES},
        **{u: b[0] for u, b in built.items()},
    }


@pytest.fixture(scope="session")
def kind_objects(images: BuiltImages, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The kind overlay for churn, rendered by k8s/render.py with the tag of the images just built."""
    from tests.helpers.kube import load_objects, run_render

    out = tmp_path_factory.mktemp("kind-render")
    done = run_render(
        "--overlay", "kind", "--project", "churn", "--image-tag", images.tag, "--out", str(out), "--stdout"
    )
    if done.returncode != 0:
        unavailable(f"k8s/render.py could not render the kind overlay (kubectl's kustomize): {done.stderr[-500:]}")
    return load_objects(done.stdout)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.helpers.kube_docker import RUN_REPORT

    if REPORT:
        terminalreporter.section("container images and start-up (measured on this machine)")
        for key, value in REPORT.items():
            terminalreporter.write_line(f"{key}: {value}")
    if RUN_REPORT:
        terminalreporter.section("the kind overlay's pod specs in Docker (measured on this machine)")
        for key, value in RUN_REPORT.items():
            terminalreporter.write_line(f"{key}: {value}")
