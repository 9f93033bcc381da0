"""Fixtures shared by every suite: an isolated MLOPS_HOME, the example workspace, and a real S3 server.

No test depends on an earlier run or on the developer's own ./.mlops: each gets a fresh temporary home.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from projects.settings import TELEMETRY_OFF, Settings
from projects.workspace import Workspace
from tests.helpers.examples import example_dir, skip_if_about_a_dropped_example
from tests.helpers.system import free_port

for _name, _value in TELEMETRY_OFF.items():
    os.environ.setdefault(_name, _value)
# Under `make test`, make's own variables would turn every `make ...` a test runs into a sub-make (MAKELEVEL > 0
# prints "make[1]: Entering directory" and inherits the outer flags): the tests run make as a user does.
for _name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
    os.environ.pop(_name, None)


# A repository started from this one may drop the worked examples (README); a test that fails only because the
# example it uses is gone (its folder, contract or module: tests/helpers/examples.py) is skipped saying so.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    except Exception as exc:
        skip_if_about_a_dropped_example(exc)
        raise


pytest_runtest_call = pytest_runtest_setup  # the test's own body, as its fixtures above


@pytest.fixture
def mlops_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh MLOPS_HOME; every other MLOPS_* / MLFLOW_TRACKING_URI variable is cleared."""
    for name in list(os.environ):
        if name.startswith("MLOPS_") or name in {"MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"}:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "mlops-home"
    monkeypatch.setenv("MLOPS_HOME", str(home))
    return home


@pytest.fixture
def settings(mlops_home: Path) -> Settings:
    return Settings()


@pytest.fixture
def churn(settings: Settings) -> Workspace:
    """The worked example opened against a temporary home (file:// data root, SQLite tracking)."""
    example_dir("churn")
    return Workspace.open("churn", settings)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (a real HTTP server speaking the S3 API), with a bucket 'mlops'."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    import boto3

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="mlops")
    yield endpoint
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.integration)])
def data_root_settings(request: pytest.FixtureRequest, mlops_home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose data root is file:// (under the temp home) or s3:// on the moto server: same tests, both roots.

    The s3 case starts a server, so it is an integration test (``make test-fast`` runs only the file:// case).
    """
    if request.param == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        prefix = f"s3://mlops/{request.node.name.replace('[', '-').replace(']', '')}"
        monkeypatch.setenv("MLOPS_DATA_ROOT", prefix)
        monkeypatch.setenv("MLOPS_S3_ENDPOINT_URL", endpoint)
    return Settings()
