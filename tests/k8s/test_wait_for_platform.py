"""k8s/base/project/wait_for_platform.py, the initial training's first init container, against a real S3
server (moto on 127.0.0.1) and a real HTTP server standing in for MLflow's /health."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType

import pytest

from tests.helpers.kube import K8S

pytestmark = pytest.mark.k8s


@pytest.fixture(scope="module")
def wait() -> ModuleType:
    path = K8S / "base" / "project" / "wait_for_platform.py"
    spec = importlib.util.spec_from_file_location("wait_for_platform", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def mlflow() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_it_waits_for_mlflow_the_bucket_and_a_landed_batch(
    wait: ModuleType, mlflow: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    project = "wait-test"
    monkeypatch.setenv("MLOPS_TRACKING_URI", mlflow)
    monkeypatch.setenv("MLOPS_DATA_ROOT", "s3://mlops/wait-data")
    monkeypatch.setenv("MLOPS_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("MLOPS_PROJECT", project)
    monkeypatch.setattr(wait, "DEADLINE_SECONDS", 0)
    monkeypatch.setattr(wait, "PAUSE_SECONDS", 0)
    assert wait.tracking_problem(mlflow) is None
    assert "Connection refused" in (wait.tracking_problem("http://127.0.0.1:9") or "")
    assert wait.bucket_problem("s3://mlops/wait-data", s3_endpoint) is None
    assert "no-such-bucket" in (wait.bucket_problem("s3://no-such-bucket/data", s3_endpoint) or "")
    assert wait.main([]) == 0, "MLflow answers and the bucket exists"
    assert wait.main(["--landing"]) == 1, "no batch has landed yet: the deadline passes"
    landing = wait.Landing()
    assert "no batch in s3://mlops/wait-data/wait-test/landing/" in (
        landing.problem("s3://mlops/wait-data", s3_endpoint, project) or ""
    )
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.put_object(Bucket="mlops", Key=f"wait-data/{project}/landing/2026-01-01_baseline.csv", Body=b"a\n1\n")
    assert "1 batch(es)" in (landing.problem("s3://mlops/wait-data", s3_endpoint, project) or ""), "still arriving?"
    client.put_object(Bucket="mlops", Key=f"wait-data/{project}/landing/2026-01-02_baseline.csv", Body=b"a\n1\n")
    assert "2 batch(es)" in (landing.problem("s3://mlops/wait-data", s3_endpoint, project) or "")
    assert landing.problem("s3://mlops/wait-data", s3_endpoint, project) is None, "nothing new since the last look"
    monkeypatch.setattr(wait, "DEADLINE_SECONDS", 30)  # two looks: the batches are there and stay
    assert wait.main(["--landing"]) == 0
