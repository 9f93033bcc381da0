"""Plain helpers around the docker CLI, shared by the container tests and the images benchmark.

Everything goes through the real ``docker`` command (no SDK, nothing mocked). Every container, network and
volume made here carries the session's prefix and is removed by id by whoever made it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.system import REPO, free_port_on

DEFAULT_BASE = "python:3.11-slim"
OFFLINE_BASE = os.environ.get("OFFLINE_BASE_IMAGE", "mlops-base:bookworm-python3.11")
IMAGES = {"jobs": "pipelines/Dockerfile", "mlflow": "infra/mlflow/Dockerfile", "serving": "serving/Dockerfile"}
PREFIX = f"mlops-ct-{os.getpid()}"


class DockerError(RuntimeError):
    """A docker command failed; the message holds the command and its output."""


def docker(*args: str, timeout: float = 600, check: bool = True, env: dict[str, str] | None = None) -> str:
    """Run ``docker ARGS`` and return stdout; raise DockerError with the output when it fails."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if check and proc.returncode != 0:
        raise DockerError(
            f"docker {' '.join(args)} -> exit {proc.returncode}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    return proc.stdout.strip()


def engine_problem() -> str | None:
    """None when a Docker engine answers, else why not (a sentence a person can act on)."""
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    try:
        proc = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "docker info did not answer within 20 s"
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "docker info failed"
        return f"no Docker engine answers ({detail})"
    return None


def image_exists(ref: str) -> bool:
    proc = subprocess.run(["docker", "image", "inspect", ref], capture_output=True, timeout=30, check=False)
    return proc.returncode == 0


def resolve_base_image() -> str | None:
    """BASE_IMAGE if set; else python:3.11-slim if present or pullable; else the offline Debian base if built."""
    wanted = os.environ.get("BASE_IMAGE")
    if wanted:
        return wanted if image_exists(wanted) or _pull(wanted) else None
    if image_exists(DEFAULT_BASE):
        return DEFAULT_BASE
    if image_exists(OFFLINE_BASE):
        return OFFLINE_BASE
    return DEFAULT_BASE if _pull(DEFAULT_BASE) else None


def _pull(ref: str) -> bool:
    try:
        return (
            subprocess.run(["docker", "pull", "-q", ref], capture_output=True, timeout=120, check=False).returncode == 0
        )
    except subprocess.TimeoutExpired:
        return False


def git_tag() -> str:
    """The tag build-images.sh gives: git describe --always --dirty --abbrev=12."""
    out = subprocess.run(
        ["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=REPO, capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or "dev"


@dataclass(frozen=True)
class BuiltImages:
    tag: str
    base: str
    seconds: float

    def ref(self, name: str) -> str:
        return f"mlops-{name}:{self.tag}"


def build_images(base: str, names: tuple[str, ...] = tuple(IMAGES)) -> BuiltImages:
    """Build through infra/scripts/build-images.sh (what `make images` runs), so the script itself is tested."""
    env = {**os.environ, "BASE_IMAGE": base}
    env.pop("IMAGE_TAG", None)
    env.pop("IMAGE_PREFIX", None)
    started = time.perf_counter()
    proc = subprocess.run(
        ["bash", str(REPO / "infra/scripts/build-images.sh"), *names],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0:
        raise DockerError(
            f"build-images.sh failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}"
        )
    return BuiltImages(tag=git_tag(), base=base, seconds=time.perf_counter() - started)


def image_size_mb(ref: str) -> float:
    return int(docker("image", "inspect", ref, "--format", "{{.Size}}")) / 1e6


def inspect(ref: str) -> dict[str, Any]:
    return json.loads(docker("inspect", ref))[0]


@contextmanager
def network() -> Iterator[tuple[str, str]]:
    """A user-defined bridge network: (name, gateway IP). Host services bound to the gateway are reachable."""
    name = f"{PREFIX}-net"
    docker("network", "create", name)
    try:
        gateway = docker("network", "inspect", name, "--format", "{{(index .IPAM.Config 0).Gateway}}")
        yield name, gateway
    finally:
        docker("network", "rm", name, check=False)


@contextmanager
def container(image: str, *args: str, options: tuple[str, ...] = ()) -> Iterator[str]:
    """``docker run -d OPTIONS IMAGE ARGS``; yields the id; removes the container (and anonymous volumes)."""
    cid = docker("run", "-d", *options, image, *args)
    try:
        yield cid
    finally:
        docker("rm", "-f", "-v", cid, check=False)


def logs(cid: str, tail: int = 60) -> str:
    proc = subprocess.run(["docker", "logs", "--tail", str(tail), cid], capture_output=True, text=True, check=False)
    return proc.stdout + proc.stderr


def published_url(cid: str, port: int) -> str:
    binding = docker("port", cid, f"{port}/tcp").splitlines()[0]  # e.g. 127.0.0.1:49153
    return f"http://{binding}"


def wait_for(url: str, timeout: float, cid: str | None = None, method: str = "GET", body: Any = None) -> float:
    """Seconds until ``url`` answers 200; raises with the container's logs when it never does."""
    started = time.perf_counter()
    last = "no answer"
    while time.perf_counter() - started < timeout:
        try:
            response = httpx.request(method, url, json=body, timeout=5)
            if response.status_code == 200:
                return time.perf_counter() - started
            last = f"HTTP {response.status_code}: {response.text[:300]}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if cid and docker("inspect", "-f", "{{.State.Running}}", cid, check=False) != "true":
            break
        time.sleep(0.2)
    raise TimeoutError(f"{method} {url} not 200 after {timeout:.0f}s ({last})" + (f"\n{logs(cid)}" if cid else ""))


def postgres_bin() -> Path | None:
    """Folder of initdb/pg_ctl: on PATH, or Debian's /usr/lib/postgresql/<v>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


@dataclass(frozen=True)
class HostPostgres:
    host: str
    port: int
    user: str
    password: str
    database: str

    @property
    def sqlalchemy_url(self) -> str:
        # SQLAlchemy 2.1 maps postgresql:// to psycopg 3; the images ship psycopg2, so say so explicitly.
        return f"postgresql+psycopg2://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"


@contextmanager
def host_postgres(address: str, database: str = "mlflow") -> Iterator[HostPostgres]:
    """Debian's PostgreSQL run by initdb/pg_ctl, listening on ``address`` only, password auth."""
    bindir = postgres_bin()
    if bindir is None:
        raise FileNotFoundError("initdb not found (Debian: apt-get install postgresql)")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-pg-"))
    password = "container-test"
    (root / "pw").write_text(password)
    if as_user:
        shutil.chown(root, "postgres")
        shutil.chown(root / "pw", "postgres")
    port = free_port_on(address)
    data = root / "data"

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "mlflow", "--auth=scram-sha-256", f"--pwfile={root / 'pw'}")
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write("host all all all scram-sha-256\n")
    run(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-w",
        "-l",
        str(root / "log"),
        "-o",
        f"-h {address} -p {port} -k {root}",
        "start",
    )
    try:
        env = {**os.environ, "PGPASSWORD": password}
        subprocess.run(
            [
                *as_user,
                "env",
                f"PGPASSWORD={password}",
                str(bindir / "createdb"),
                "-h",
                address,
                "-p",
                str(port),
                "-U",
                "mlflow",
                database,
            ],
            check=True,
            capture_output=True,
            env=env,
            timeout=60,
        )
        yield HostPostgres(address, port, "mlflow", password, database)
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            capture_output=True,
            check=False,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def moto_s3(address: str) -> Iterator[str]:
    """moto's S3 server (a real HTTP server) on ``address``; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port_on(address)
    server = ThreadedMotoServer(ip_address=address, port=port, verbose=False)
    server.start()
    try:
        yield f"http://{address}:{port}"
    finally:
        server.stop()


# --------------------------------------------------------------------------------------------- the suite's facts
ALLOWED_HOSTS = "mlflow,mlflow:5000,localhost,localhost:*,127.0.0.1,127.0.0.1:*"
S3_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
ARTIFACT_BUCKET = "mlflow-artifacts"


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run should have provisioned it)")
    pytest.skip(reason)


def env_options(values: dict[str, str]) -> tuple[str, ...]:
    return tuple(item for key, value in values.items() for item in ("-e", f"{key}={value}"))


@dataclass
class Running:
    cid: str
    url: str
    facts: dict[str, Any] = field(default_factory=dict)
