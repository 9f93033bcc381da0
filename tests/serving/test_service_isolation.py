"""What one service keeps to itself: credentials never leave it, and its metrics are its own on a shared host.

Real servers on 127.0.0.1: ``mlflow server`` over a copy of the session's registry, reached through a tracking
URI with a password; a PostgreSQL URL with a password that cannot connect; two services sharing one MLOPS_HOME
and BENTOML_HOME, one of them ``bentoml serve`` with two workers.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.champions import churn_frame
from tests.helpers.serving import Home, MlflowServer, Server, raw_http, records, status_of
from tests.helpers.system import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SECRET = "Sw33p-s3cret-Pa55"


def _everything(server: Server, home: Home) -> dict[str, str]:
    """Every endpoint's answer (good and bad requests), keyed by what was asked."""
    project = home.ws.project
    good = {"records": records(project, churn_frame(project, rows=2, day=dt.date(2026, 6, 7)))}
    bad = {"records": [{**good["records"][0], "tenure_months": -5, "surname": "x"}]}
    seen: dict[str, str] = {}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for path in ("/", "/docs", "/docs.json", "/docs/assets/init.js", "/metadata", "/readyz", "/livez",
                     "/healthz", "/metrics", "/schema.json", "/no-such-page"):  # fmt: skip
            response = client.get(path)
            seen[f"GET {path}"] = f"{response.status_code} {response.headers} {response.text}"
        for name, body in {"good": good, "bad": bad}.items():
            response = client.post("/predict", json=body)
            seen[f"POST /predict {name}"] = f"{response.status_code} {response.headers} {response.text}"
        response = client.post("/predict", content=b"{}", headers={"content-type": "text/plain"})
        seen["POST /predict text"] = f"{response.status_code} {response.text}"
    return seen


def _reason_mentions(server: Server, fragment: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    status: dict[str, object] = {}
    while time.monotonic() < deadline:
        status = httpx.get(f"{server.url}/readyz", timeout=5).json()
        text = f"{status.get('reason')} {status.get('last_error')}"
        if fragment in text:
            return text
        time.sleep(0.5)
    raise AssertionError(f"/readyz never mentioned {fragment!r}: {status}")


def _swept(server: Server, home: Home, files: list[Path]) -> None:
    for asked, answer in _everything(server, home).items():
        assert SECRET not in answer, f"{asked} shows the password: {answer[:500]}"
    for path in files:
        assert SECRET not in path.read_text(errors="replace"), f"{path} shows the password"


def test_a_password_in_the_tracking_uri_appears_nowhere(champion_home: Home, tmp_path: Path) -> None:
    """Given http://user:password@... to a live MLflow, then the same server down, no answer or log line has it."""
    home = champion_home.copy(tmp_path / "home")
    with MlflowServer(home) as mlflow_server:
        uri = mlflow_server.url.replace("http://", f"http://sweeper:{SECRET}@")
        env = home.env(MLOPS_TRACKING_URI=uri, MLOPS_REGISTRY_URI=uri)
        with Server(home, env=env).start() as server:
            assert httpx.get(f"{server.url}/readyz").json()["reason"] == "serving version 1", "served through it"
            _swept(server, home, [server.log_path])
            mlflow_server.stop()  # now every poll fails, and the reason names the tracking server
            reason = _reason_mentions(server, "unreachable")
            assert "sweeper:***@127.0.0.1" in reason, f"redacted, not dropped: {reason}"
            _swept(server, home, [server.log_path, *home.path.glob("models/churn/**/*.json")])
        assert SECRET not in server.log(), "nor in what it logged while stopping"


def test_a_password_in_a_postgresql_uri_appears_nowhere(champion_home: Home, tmp_path: Path) -> None:
    home = champion_home.copy(tmp_path / "home")
    uri = f"postgresql://mlops:{SECRET}@127.0.0.1:{free_port()}/mlflow"
    with Server(home, env=home.env(MLOPS_TRACKING_URI=uri, MLOPS_REGISTRY_URI=uri)).start(ready=False) as server:
        reason = _reason_mentions(server, "postgresql://")
        assert "mlops:***@127.0.0.1" in reason, reason
        _swept(server, home, [server.log_path])


# --------------------------------------------------------------------------------------------- two services
def _predictions(server: Server) -> float:
    scrape = httpx.get(f"{server.url}/metrics", timeout=10).text
    found = re.findall(r'^mlops_predictions_total\{model_version="1",project="churn"\} ([0-9.]+)$', scrape, re.M)
    return sum(float(v) for v in found)


def test_two_services_on_one_host_keep_their_own_metrics(champion_home: Home, tmp_path: Path) -> None:
    """Given one MLOPS_HOME and BENTOML_HOME for two services (one process, and bentoml serve with 2 workers),
    neither start wipes the other's series, neither shows the other's, and one instance's workers add up."""
    home = champion_home.copy(tmp_path / "home")
    project = home.ws.project

    def score(server: Server, rows: int) -> None:
        body = {"records": records(project, churn_frame(project, rows=rows, day=dt.date(2026, 6, 8)))}
        assert httpx.post(f"{server.url}/predict", json=body, timeout=30).status_code == 200

    with Server(home).start() as single:
        score(single, 7)
        assert _predictions(single) == 7
        with Server(home, workers=2).start() as pair:
            assert _predictions(single) == 7, "the second start wiped the first service's counters"
            assert _predictions(pair) == 0, "the second service shows the first one's series"
            for _ in range(6):
                score(pair, 3)  # spread over its two workers
            scrapes = {_predictions(pair) for _ in range(6)}
            assert scrapes == {18}, f"every worker's scrape adds up the instance: {scrapes}"
            assert _predictions(single) == 7, "the first service shows the second one's series"
            folders = sorted(p.name for p in (home.path / "metrics").iterdir())
            assert len(folders) == 2, folders
            shared = home.path / "bentoml" / "prometheus_multiproc_dir"
            assert not shared.exists() or not any(shared.iterdir()), "nothing is written to BentoML's shared folder"
            silent = raw_http(pair.port, b"", timeout=60)  # bentoml serve's workers bound request heads too
            assert status_of(silent) == 408, silent[:200]
    assert not any((home.path / "metrics").glob(f"churn-{single.proc.pid if single.proc else 0}-*")), (
        "the single-process server removes its folder when it stops"
    )
