"""The three images, built and run for real: MLflow on PostgreSQL + S3, the jobs image registering a champion,
the serving container answering over HTTP on a user-defined network, non-root and read-only root filesystems."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.helpers import containers
from tests.helpers.containers import ARTIFACT_BUCKET, S3_KEYS, BuiltImages, HostPostgres, Running

pytestmark = [pytest.mark.container, pytest.mark.slow]


def run_in(image: str, *command: str, entrypoint: str = "sh") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "run", "--rm", "--read-only", "--entrypoint", entrypoint, image, *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# ------------------------------------------------------------------------------------------ the images
def test_images_are_tagged_and_labelled_with_the_git_revision(images: BuiltImages) -> None:
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=containers.REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    for name in containers.IMAGES:
        labels = containers.inspect(images.ref(name))["Config"]["Labels"] or {}
        assert labels.get("org.opencontainers.image.revision") == head, f"mlops-{name} label vs HEAD {head}"
        assert containers.image_exists(f"mlops-{name}:latest"), f"mlops-{name}:latest tag"


@pytest.mark.parametrize("name", list(containers.IMAGES))
def test_image_runs_as_a_numeric_non_root_user(images: BuiltImages, name: str) -> None:
    user = containers.inspect(images.ref(name))["Config"]["User"]
    assert user == "10001:10001", f"mlops-{name}: USER {user!r} (Kubernetes runAsNonRoot needs a numeric uid)"
    proc = run_in(images.ref(name), "-u", entrypoint="id")
    assert proc.stdout.strip() == "10001", f"mlops-{name} runs as uid {proc.stdout.strip()!r}: {proc.stderr}"


@pytest.mark.parametrize("name", list(containers.IMAGES))
def test_final_stage_has_no_build_tools(images: BuiltImages, name: str) -> None:
    proc = run_in(
        images.ref(name),
        "-c",
        "for t in uv gcc cc make /opt/venv/bin/pip /opt/uv; do "
        "command -v $t >/dev/null 2>&1 || [ -e $t ] && echo $t; done; true",
    )
    assert proc.stdout.strip() == "", f"mlops-{name} still holds build tools: {proc.stdout.split()}"


def test_serving_image_has_neither_great_expectations_nor_evidently(images: BuiltImages) -> None:
    probe = "import importlib.util as u; print([m for m in ('great_expectations', 'evidently') if u.find_spec(m)])"
    serving = run_in(images.ref("serving"), "-c", probe, entrypoint="python3")
    jobs = run_in(images.ref("jobs"), "-c", probe, entrypoint="python3")
    assert serving.stdout.strip() == "[]", f"serving image ships {serving.stdout.strip()} {serving.stderr[-500:]}"
    assert jobs.stdout.strip() == "['great_expectations', 'evidently']", (
        "the jobs image needs both: " + jobs.stderr[-500:]
    )


def test_only_declared_volumes_are_writable(serving: Running) -> None:
    """Read-only rootfs: code and libraries can't be written, MLOPS_HOME and /tmp (declared volumes) can."""
    probe = "for d in /app /opt/venv /etc /var/lib/mlops /tmp; do touch $d/.probe 2>/dev/null && echo $d; done"
    writable = containers.docker("exec", serving.cid, "sh", "-c", probe).split()
    assert writable == ["/var/lib/mlops", "/tmp"], f"writable paths in the read-only serving container: {writable}"


# ------------------------------------------------------------------------------------------ MLflow server
def test_mlflow_rejects_unknown_host_headers(mlflow_server: Running) -> None:
    path = "/api/2.0/mlflow/experiments/search?max_results=1"
    assert httpx.get(mlflow_server.url + path).status_code == 200, "127.0.0.1 is an allowed host"
    response = httpx.get(mlflow_server.url + path, headers={"Host": "attacker.example"})
    assert response.status_code == 403, f"a foreign Host header got {response.status_code} (--allowed-hosts unset?)"


def test_mlflow_runs_no_job_runner(mlflow_server: Running) -> None:
    """One server worker and nothing else: MLflow 3's job runner (huey workers) would quadruple its memory."""
    top = containers.docker("top", mlflow_server.cid, "-o", "pid,rss,args")
    processes = [line for line in top.splitlines()[1:] if line.strip()]
    assert not any("huey" in line for line in processes), top
    assert len(processes) <= 3, f"expected the server and its one worker, got:\n{top}"


def test_mlflow_keeps_the_registry_in_postgresql(champion: dict[str, str], postgres: HostPostgres | None) -> None:
    if postgres is None:
        from tests.helpers.containers import unavailable

        unavailable("PostgreSQL's initdb is not installed (Debian: apt-get install postgresql; .ci/run does)")
    import psycopg2

    with (
        psycopg2.connect(
            host=postgres.host,
            port=postgres.port,
            user=postgres.user,  # type: ignore[union-attr]
            password=postgres.password,
            dbname=postgres.database,
        ) as conn,
        conn.cursor() as cur,
    ):  # type: ignore[union-attr]
        cur.execute("SELECT name FROM registered_models")
        names = [row[0] for row in cur.fetchall()]
        cur.execute("SELECT alias, version FROM registered_model_aliases WHERE name = 'churn'")
        aliases = dict(cur.fetchall())
    assert names == ["churn"], f"registered models in PostgreSQL: {names}"
    assert aliases.get("champion") == 1, f"aliases in PostgreSQL: {aliases}"


def test_mlflow_stores_artifacts_in_s3(champion: dict[str, str], s3: str) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3,
        region_name="us-east-1",
        aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"],
    )
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=ARTIFACT_BUCKET).get("Contents", [])]
    assert any(k.endswith("/MLmodel") for k in keys), f"no MLmodel in s3://{ARTIFACT_BUCKET}: {keys[:10]}"


# ------------------------------------------------------------------------------------------ jobs image
def test_jobs_image_validates_and_registers_a_champion(champion: dict[str, str]) -> None:
    assert "landing 5 = validated 5 + quarantined 0" in champion["validate"], champion["validate"][-1500:]
    assert "champion: v1" in champion["train"], champion["train"][-1500:]


def test_jobs_image_quarantines_a_broken_sample_batch(jobs: Callable[..., str], champion: dict[str, str]) -> None:
    jobs("data", "generate", "--project", "churn", "--scenario", "breakage", "--rows", "200")
    out = jobs("validate", "--project", "churn")
    assert "+ quarantined 1" in out, f"the breakage batch was not quarantined:\n{out[-1500:]}"


def test_compose_bucket_init_runs_in_the_jobs_image(images: BuiltImages, net: tuple[str, str], s3: str) -> None:
    """infra/compose's create-buckets service, run the same way: idempotent bucket creation."""
    script = Path(containers.REPO / "k8s/base/object-store/create_buckets.py")
    bucket = f"{containers.PREFIX}-data"  # moto's state is per process: other suites may have made "mlops" already
    command = [
        "docker",
        "run",
        "--rm",
        "--network",
        net[0],
        "--read-only",
        "-v",
        f"{script}:/opt/create_buckets.py:ro",
        "-e",
        f"MLOPS_S3_ENDPOINT_URL={s3}",
        *[f"-e{k}={v}" for k, v in S3_KEYS.items()],
        "--entrypoint",
        "python3",
        images.ref("jobs"),
        "/opt/create_buckets.py",
        bucket,
        ARTIFACT_BUCKET,
    ]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    second = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"bucket {bucket!r} created" in first.stdout
    assert f"bucket {ARTIFACT_BUCKET!r} exists" in first.stdout
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"bucket {bucket!r} exists" in second.stdout, second.stdout + second.stderr


# ------------------------------------------------------------------------------------------ serving
def test_prediction_over_http_names_the_champion(serving: Running) -> None:
    record = {**serving.facts["record"], "customer_id": "c-42"}
    response = httpx.post(f"{serving.url}/predict", json={"records": [record]}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == {"name": "churn", "version": "1"}, body
    (prediction,) = body["predictions"]
    assert prediction["customer_id"] == "c-42", prediction
    assert 0.0 <= prediction["probability"] <= 1.0, prediction


def test_bad_request_gets_a_4xx_naming_the_field(serving: Running) -> None:
    record = {**serving.facts["record"], "tenure_months": "many"}
    response = httpx.post(f"{serving.url}/predict", json={"records": [record]}, timeout=30)
    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    assert "tenure_months" in response.text, response.text[:500]


def test_one_process_fetched_the_champion_and_metrics_name_it(serving: Running) -> None:
    """The image runs serving.server: the champion came through the parallel fetch, and /metrics answers."""
    logs = containers.logs(serving.cid, tail=200)
    assert "serving.fetch: version 1 fetched in" in logs, logs
    metrics = httpx.get(f"{serving.url}/metrics", timeout=30)
    assert metrics.status_code == 200, metrics.text[:800]
    assert 'mlops_model_info{model_version="1"' in metrics.text, metrics.text[:800]
    processes = containers.docker("top", serving.cid, "-o", "pid,args").splitlines()[1:]
    assert len(processes) == 1, processes
    assert "serving.server" in processes[0], processes
