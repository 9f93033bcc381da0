"""Platform settings: embedded defaults, environment overrides, clear errors, telemetry off unless opted in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from projects.settings import TELEMETRY_OFF, Mode, Settings, disable_telemetry


def test_defaults_live_under_mlops_home(mlops_home: Path) -> None:
    settings = Settings()
    assert settings.home == mlops_home
    assert settings.data_root_url == f"file://{mlops_home / 'data'}"
    assert settings.tracking_url == f"sqlite:///{mlops_home / 'mlflow.db'}"
    assert settings.mode is Mode.local
    assert settings.storage_options() == {}


def test_environment_overrides(mlops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_DATA_ROOT", "s3://bucket/prefix/")
    monkeypatch.setenv("MLOPS_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("MLOPS_MODE", "kubernetes")
    monkeypatch.setenv("MLOPS_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    settings = Settings()
    assert settings.data_root_url == "s3://bucket/prefix"
    assert settings.tracking_url == "http://127.0.0.1:5000"
    assert settings.mode is Mode.kubernetes
    assert settings.storage_options() == {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}


def test_mlflow_tracking_uri_is_honoured_when_ours_is_unset(mlops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5001")
    assert Settings().tracking_url == "http://127.0.0.1:5001"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MLOPS_DATA_ROOT", "ftp://host/data", "unsupported scheme 'ftp'"),
        ("MLOPS_DATA_ROOT", "/just/a/path", "unsupported scheme '\\(none\\)'"),
        ("MLOPS_TRACKING_URI", "mlruns", "expected http\\(s\\)://host:port"),
        ("MLOPS_MODE", "cloud", "mode"),
    ],
)
def test_bad_values_name_the_variable(
    mlops_home: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=expected):
        Settings()


def test_telemetry_off_by_default_but_user_choice_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TELEMETRY_OFF:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DO_NOT_TRACK", "0")  # an explicit user choice
    monkeypatch.delenv("MLOPS_TELEMETRY", raising=False)
    disable_telemetry()
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert os.environ["BENTOML_DO_NOT_TRACK"] == "true"
    assert os.environ["GX_ANALYTICS_ENABLED"] == "false"
    assert os.environ["DO_NOT_TRACK"] == "0", "a variable the user set must not be overwritten"


def test_telemetry_opt_in_leaves_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TELEMETRY_OFF:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLOPS_TELEMETRY", "true")
    disable_telemetry()
    assert not any(name in os.environ for name in TELEMETRY_OFF)
