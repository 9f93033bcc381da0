"""The production path with real parts: `mlflow server` on PostgreSQL with artifacts on S3 (moto), 127.0.0.1.

A PostgreSQL server is started by a fixture from Debian's postgresql package (initdb / pg_ctl under
/usr/lib/postgresql/*/bin; .ci/run installs it), `mlflow server --workers 1` runs against it with
``--artifacts-destination s3://...`` on the moto S3 server, and the data root is on the same S3. Each test uses
its own project name, so the module-scoped servers are shared without one test seeing another's registry.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mlops.jobs import train_and_gate
from pipelines.promotion import PROMOTED
from pipelines.training import train
from projects import registry, tracking
from projects.registry import alias_version
from projects.settings import REPO_ROOT, Settings
from projects.workspace import Workspace
from tests.helpers import builders
from tests.helpers.system import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BIN = Path(sys.executable).parent
ARTIFACTS = "s3://mlops/mlflow-artifacts"


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root: drop to the 'postgres' account the Debian package creates."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as the 'postgres' user")
    return ["runuser", "-u", "postgres", "--"]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL on 127.0.0.1 with a database 'mlflow' (fsync off: test data only)."""
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install -y postgresql; .ci/run installs it)")
    prefix = _as_postgres_user()
    base = Path(tempfile.mkdtemp(prefix="mlops-pg-"))
    if prefix:
        shutil.chown(base, user="postgres", group="postgres")
    data, port = base / "data", free_port()
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-h 127.0.0.1 -p {port} -k {base} -F"
    subprocess.run(
        [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        connection.autocommit = True
        connection.cursor().execute("CREATE DATABASE mlflow")
        connection.close()
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow"  # SQLAlchemy 2.1 defaults to psycopg 3
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def mlflow_server(postgres_url: str, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` as production runs it: PostgreSQL backend, proxied artifacts on S3, one worker."""
    import httpx

    port = free_port()
    log = tmp_path_factory.mktemp("mlflow-server") / "server.log"
    env = os.environ | {"MLFLOW_S3_ENDPOINT_URL": s3_endpoint, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    command = [
        str(BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        postgres_url,
        "--artifacts-destination",
        ARTIFACTS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with log.open("w") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                pytest.fail(f"mlflow server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not answer /health in 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


@pytest.fixture
def server_ws(
    mlflow_server: str,
    s3_endpoint: str,
    mlops_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Workspace:
    """A churn copy under its own name, registry on the server, data root on S3, 8 validated batches."""
    # a project name is [a-z][a-z0-9]* (a package and a Kubernetes name): the test's name, letters and digits only
    name = "churn" + "".join(c for c in request.node.name.removeprefix("test_")[:20] if c.isalnum())
    contract = yaml.safe_load((REPO_ROOT / "projects" / "churn" / "project.yaml").read_text())
    (tmp_path / "projects" / name).mkdir(parents=True)
    (tmp_path / "projects" / name / "project.yaml").write_text(yaml.safe_dump(contract | {"name": name}))
    for key, value in {
        "MLOPS_PROJECTS_DIR": str(tmp_path / "projects"),
        "MLOPS_TRACKING_URI": mlflow_server,
        "MLOPS_DATA_ROOT": f"s3://mlops/{name}-data",
        "MLOPS_S3_ENDPOINT_URL": s3_endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    ws = Workspace.open(name, Settings())
    builders.write_validated(ws.store, builders.churn_batches(ws.project))
    return ws


def _objects(s3_endpoint: str, prefix: str) -> list[str]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="mlops", Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def test_train_and_promote_through_a_tracking_server_on_postgresql_and_s3(
    server_ws: Workspace, s3_endpoint: str, postgres_url: str
):
    import mlflow.sklearn
    import psycopg2

    result = train_and_gate(server_ws)
    assert result.decision.decision == PROMOTED, result.decision.reason
    client = tracking.configure(server_ws.settings)
    assert alias_version(client, server_ws.name, registry.CHAMPION) == "1"
    # The registry lives in PostgreSQL
    with psycopg2.connect(postgres_url.replace("+psycopg2", "")) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT name FROM registered_models")
        assert server_ws.name in {row[0] for row in cursor.fetchall()}
    # Artifacts went through the server's proxy to S3: model, reference sample, model card
    experiment = client.get_experiment_by_name(server_ws.name)
    assert experiment.artifact_location.startswith("mlflow-artifacts:"), experiment.artifact_location
    keys = _objects(s3_endpoint, "mlflow-artifacts/")
    for suffix in ("model.pkl", "reference/reference.parquet", registry.ARTIFACT_MODEL_CARD):
        assert any(k.endswith(suffix) for k in keys), f"no S3 object ending in {suffix}"
    # The model card is also in the data root's reports on S3, and the champion loads through the server
    assert "Permutation importance" in server_ws.store.read_text("reports", "model_cards", "v1.html")
    model = mlflow.sklearn.load_model(registry.model_uri(server_ws.name))
    holdout = builders.churn_batches(server_ws.project, batches=1)[0][1]
    assert model.predict_proba(holdout[server_ws.project.schema.model_inputs]).shape == (builders.ROWS, 2)


def test_two_racing_promotions_through_the_server_leave_one_champion_and_a_correct_previous(server_ws: Workspace):
    train_and_gate(server_ws)
    for _ in range(2):
        train(server_ws)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    procs = [
        subprocess.Popen(
            [str(BIN / "mlops"), "promote", "--project", server_ws.name, "--version", v],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for v in ("2", "3")
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    client = tracking.configure(server_ws.settings)
    champion = alias_version(client, server_ws.name, registry.CHAMPION)
    previous = alias_version(client, server_ws.name, registry.PREVIOUS)
    assert {champion, previous} == {"2", "3"}, outputs
    name = registry.model_name(server_ws.name)
    assert client.get_model_version(name, champion).tags[registry.TAG_REPLACED] == previous
    assert client.get_model_version(name, previous).tags[registry.TAG_REPLACED] == "1"
