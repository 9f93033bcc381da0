"""Not ready until a model is loaded, and the reason says why: no champion yet, tracking server down."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

import httpx
import pytest

from projects.registry import CHAMPION
from tests.helpers.champions import churn_frame, promote
from tests.helpers.serving import Home, Server, records
from tests.helpers.system import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def servers(champion_home: Home, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """Two servers booted side by side: one whose registry has no champion, one whose tracking server is down."""
    from mlflow import MlflowClient

    empty = champion_home.copy(tmp_path_factory.mktemp("no-champion") / "home")
    uri = empty.settings.tracking_url
    MlflowClient(tracking_uri=uri, registry_uri=uri).delete_registered_model_alias("churn", CHAMPION)
    down = champion_home.copy(tmp_path_factory.mktemp("tracking-down") / "home")
    dead = f"http://127.0.0.1:{free_port()}"
    started = {
        "no_champion": Server(empty).launch(),
        "tracking_down": Server(down, env=down.env(MLOPS_TRACKING_URI=dead)).launch(),
    }
    started["tracking_down"].dead_uri = dead  # type: ignore[attr-defined]
    try:
        for server in started.values():
            server.wait_for("/livez")
        yield started
    finally:
        for server in started.values():
            server.stop()


def _reason(server: Server, fragment: str, timeout: float = 60) -> str:
    """The /readyz reason once it mentions ``fragment`` (the first poll happens off the startup path)."""
    deadline = time.monotonic() + timeout
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        response = httpx.get(f"{server.url}/readyz")
        body = response.json()
        if fragment in str(body.get("reason")):
            assert response.status_code == 503, "not ready must be a 503"
            return str(body["reason"])
        time.sleep(0.25)
    raise AssertionError(f"/readyz never said {fragment!r}: {body}")


def test_no_champion_is_not_ready_and_says_why(servers: dict[str, Server]) -> None:
    server = servers["no_champion"]
    reason = _reason(server, "no champion")
    assert "models:/churn@champion" in reason
    assert httpx.get(f"{server.url}/readyz").status_code == 503, "the Kubernetes probe agrees"
    project = server.home.ws.project
    body = {"records": records(project, churn_frame(project, rows=1, day=dt.date(2026, 6, 6)))}
    response = httpx.post(f"{server.url}/predict", json=body)
    assert response.status_code == 503, response.text
    assert "no champion" in response.json()["error"], response.text


def test_a_champion_promoted_later_is_picked_up(servers: dict[str, Server]) -> None:
    """Given a worker with nothing to serve, when a champion appears, it becomes ready within a poll or two."""
    server = servers["no_champion"]
    _reason(server, "no champion")
    promote(server.home.ws.project, server.home.settings, "1")
    server.wait_for("/readyz", timeout=30)
    assert httpx.get(f"{server.url}/metadata").json()["model_version"] == "1"


def test_tracking_server_down_is_not_ready_with_a_clear_log_line(servers: dict[str, Server]) -> None:
    server = servers["tracking_down"]
    dead = server.dead_uri  # type: ignore[attr-defined]
    reason = _reason(server, "tracking server unreachable")
    assert dead in reason, reason
    assert f"model holder: not ready: tracking server unreachable at {dead}" in server.log(), server.log()[-2000:]
    assert httpx.get(f"{server.url}/livez").status_code == 200, "alive (do not restart it), just not ready"
