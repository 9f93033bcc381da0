"""Where MLflow lives: locations from the settings, no URI left in the environment, errors without passwords."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from projects import tracking
from projects.settings import Settings
from tests.helpers.registry import with_registry
from tests.helpers.system import free_port


def test_tracking_locations_follow_the_settings(mlops_home: Path, monkeypatch: pytest.MonkeyPatch):
    local = tracking.resolve(Settings())
    assert local.tracking_uri == local.registry_uri == f"sqlite:///{mlops_home / 'mlflow.db'}"
    assert local.artifact_location("churn") == f"file://{mlops_home / 'artifacts'}/churn"
    monkeypatch.setenv("MLOPS_TRACKING_URI", "http://127.0.0.1:5000")
    served = tracking.resolve(Settings())
    assert served.registry_uri == "http://127.0.0.1:5000"
    assert served.artifact_location("churn") is None, "a tracking server decides where artifacts go"


def test_configure_leaves_no_mlflow_uri_in_the_environment(settings: Settings, migrated_db: Path):
    tracking.configure(with_registry(settings, migrated_db))
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert "MLFLOW_REGISTRY_URI" not in os.environ


def test_unreachable_database_is_named_without_its_password():
    port = free_port()
    with pytest.raises(tracking.TrackingError) as caught:
        tracking.check_reachable(f"postgresql+psycopg2://mlflow:s3cret@127.0.0.1:{port}/mlflow", timeout=1)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    ("credentials", "secret"),
    [("mlflow:s3cret-http@", "s3cret-http"), ("", "tok-s3cret"), ("s3cret-token@", "s3cret-token")],
    ids=["password", "query-token", "lone-token"],
)
def test_unreachable_server_is_named_without_its_credentials(credentials: str, secret: str):
    # Given a tracking server URI that carries a credential, on a port nothing listens on
    port = free_port()
    query = f"?token={secret}" if not credentials else ""
    uri = f"http://{credentials}127.0.0.1:{port}/{query}"
    # When the platform checks it
    with pytest.raises(tracking.TrackingError) as caught:
        tracking.check_reachable(uri, timeout=1)
    # Then the error names where it looked, and not the secret
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message, message
    assert secret not in message, f"the credential leaked into the error: {message}"
