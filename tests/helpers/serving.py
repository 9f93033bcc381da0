"""Serving test helpers: an MLOPS_HOME with a registry holding real champions, and ``mlops serve`` for real.

A server is ``mlops serve`` in a subprocess on 127.0.0.1 (BentoML for real), called over HTTP with httpx.
Versions are trained by the platform's own training code (a real MLflow run on SQLite) and given the
``champion`` alias. ``tests/serving/conftest.py`` builds its fixtures from these.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml

from pipelines.training import train
from projects.inference_log import record_columns
from projects.settings import Settings
from projects.workspace import Workspace
from tests.helpers.champions import churn_frame, promote
from tests.helpers.system import REPO, free_port

if TYPE_CHECKING:
    import pandas as pd

START_TIMEOUT_S = 180.0


@dataclass
class Home:
    """An MLOPS_HOME with the churn project's data and registry."""

    path: Path
    versions: list[str] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        uri = f"sqlite:///{self.path / 'mlflow.db'}"  # both explicit: MLflow exports URIs to os.environ
        return Settings(home=self.path, data_root=None, tracking_uri=uri, registry_uri=uri)

    @property
    def ws(self) -> Workspace:
        return Workspace.open("churn", self.settings)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a subprocess that must see this home and nothing of the developer's."""
        clean = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MLOPS_", "BENTOML_")) and k not in {"MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"}
        }
        return {**clean, "MLOPS_HOME": str(self.path), "BENTOML_HOME": str(self.path / "bentoml"), **extra}

    def copy(self, target: Path) -> Home:
        """The registry and the data, without what earlier servers left (inference log, logs, BentoML home)."""
        shutil.copytree(self.path, target, ignore=shutil.ignore_patterns("inference", "serve-*.log", "bentoml"))
        return Home(target, list(self.versions))


def write_validated(ws: Workspace, first: dt.date, batches: int, scenario: str, rows: int = 400) -> None:
    """Validated batches as the data gate would leave them (generator -> CSV -> coerce_types -> Parquet)."""
    for offset in range(batches):
        day = first + dt.timedelta(days=offset)
        frame = churn_frame(ws.project, rows, day, scenario)
        ws.store.write_parquet("validated", f"{day.isoformat()}_{scenario}.parquet", frame=frame)


def train_version(home: Home, first: dt.date, scenario: str, alias: bool = True) -> str:
    """One more registered version, trained by the platform's own training code on a fresh window."""
    ws = home.ws
    write_validated(ws, first, ws.project.training.window_batches, scenario)
    version = train(ws).version
    if alias:
        promote(ws.project, home.settings, version)
    home.versions.append(version)
    return version


def records(project: Any, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as the JSON records the service takes (NaN and NA -> null, numpy/pandas scalars -> Python)."""
    import pandas as pd

    def plain(value: Any) -> Any:
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return None
        return value.item() if hasattr(value, "item") else value

    return [{k: plain(v) for k, v in row.items()} for row in frame[record_columns(project)].to_dict(orient="records")]


class Server:
    """``mlops serve`` in a subprocess; stopped with SIGTERM (graceful) so the inference log is flushed."""

    def __init__(self, home: Home, workers: int = 1, env: dict[str, str] | None = None, project: str = "churn") -> None:
        self.home, self.workers, self.project = home, workers, project
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home.path / f"serve-{self.port}.log"
        self.env = env or home.env()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready: bool = True) -> Server:
        self.launch()
        self.wait_for("/livez")
        if ready:
            self.wait_for("/readyz")
        return self

    def launch(self) -> Server:
        """Start the process without waiting (so several servers can boot at once)."""
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mlops", "serve", "--project", self.project, "--port", str(self.port),
                 "--workers", str(self.workers)],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        return self

    def wait_for(self, path: str, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise AssertionError(f"{self.url}{path} not 200 after {timeout}s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM, wait for the graceful shutdown; SIGKILL the group only if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            raise AssertionError(f"server ignored SIGTERM for {timeout}s:\n{self.log()[-3000:]}") from None

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def projects_with(folder: Path, change: dict[str, dict[str, object]]) -> Path:
    """A projects folder (under ``folder``) whose churn project.yaml has ``change`` merged into its sections."""
    target = folder / "projects"
    shutil.copytree(REPO / "projects" / "churn", target / "churn")
    path = target / "churn" / "project.yaml"
    contract = yaml.safe_load(path.read_text())
    for section, values in change.items():
        contract[section] = {**contract.get(section, {}), **values}
    path.write_text(yaml.safe_dump(contract, sort_keys=False))
    return target


def raw_http(port: int, data: bytes, timeout: float = 30.0) -> bytes:
    """Send bytes as they are on a new connection; everything the server sends back until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        out = b""
        while chunk := conn.recv(65536):
            out += chunk
    return out


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP answer (``raw_http``)."""
    return int(answer.split(b" ", 2)[1])


class MlflowServer:
    """``mlflow server`` on 127.0.0.1 over a home's SQLite registry (artifacts stay where the home keeps them)."""

    def __init__(self, home: Home) -> None:
        self.home, self.port = home, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> MlflowServer:
        store = self.home.settings.tracking_url
        command = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", store,
                   "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]  # fmt: skip
        env = {**self.home.env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with (self.home.path / "mlflow-server.log").open("wb") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"mlflow server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"mlflow server did not answer /health in {START_TIMEOUT_S}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)

    def __exit__(self, *exc: object) -> None:
        self.stop()
