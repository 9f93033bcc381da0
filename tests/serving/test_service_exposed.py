"""The service as an attacker and a careless client meet it: real servers on 127.0.0.1, raw HTTP where it matters.

Each test is one probe of issue 14 (metrics cardinality, content types, oversized and lengthless bodies, slow
clients, the concurrency limit, the docs page); the secret sweep and two services on one host are in
test_service_isolation.py. ``served`` is the default configuration; ``strict`` the same champion with small limits
(one-second header timeout, two predict calls at once) so the bounds show in seconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from projects.registry import TAG_EXAMPLE, model_name
from projects.servable import contract_example, example_record
from serving.service import ROUTES, STATIC_PREFIXES
from tests.helpers.champions import churn_frame
from tests.helpers.serving import Home, Server, projects_with, raw_http, records, status_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MANY_PARTS = b"".join(b"--x\r\nContent-Disposition: form-data; name=p\r\n\r\n1\r\n" for _ in range(2000)) + b"--x--\r\n"
STRICT = {"header_timeout_seconds": 1, "body_timeout_seconds": 4, "keep_alive_seconds": 1, "max_concurrency": 2}


@pytest.fixture(scope="module")
def strict(champion_home: Home, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = projects_with(tmp_path_factory.mktemp("strict"), {"serving": STRICT})
    server = Server(champion_home, env=champion_home.env(MLOPS_PROJECTS_DIR=str(folder))).start()
    yield server
    server.stop()


def _body(home: Home, rows: int = 1) -> bytes:
    project = home.ws.project
    return json.dumps({"records": records(project, churn_frame(project, rows=rows, day=dt.date(2026, 6, 9)))}).encode()


def _post(port: int, body: bytes, headers: str, version: str = "1.1") -> bytes:
    head = f"POST /predict HTTP/{version}\r\nHost: t\r\nConnection: close\r\n{headers}"
    return raw_http(port, head.encode() + b"\r\n" + body)


def _error(answer: bytes) -> str:
    return str(json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"])


# --------------------------------------------------------------------------------------------- metrics
def test_random_paths_do_not_grow_the_metrics(served: Server) -> None:
    """Given 1,000 requests to random paths, /metrics counts them under one label and keeps its size."""
    with httpx.Client(base_url=served.url, timeout=10) as client:
        before = len(client.get("/metrics").content)
        for i in range(1000):
            assert client.get(f"/probe-{i}-{time.monotonic_ns()}").status_code == 404
        scrape = client.get("/metrics").text
    routes = set(re.findall(r'route="([^"]*)"', scrape))
    allowed = {*ROUTES, *(p + "*" for p in STATIC_PREFIXES), "unmatched"}
    assert routes <= allowed, routes - allowed
    assert "probe-" not in scrape, "a raw path became a label"
    unmatched = re.search(r'mlops_http_requests_total\{code="404",route="unmatched"\} ([0-9.]+)', scrape)
    assert unmatched, scrape[-2000:]
    assert float(unmatched.group(1)) >= 1000, unmatched.group(0)
    assert len(scrape) < before + 8000, f"/metrics grew from {before} to {len(scrape)} bytes"


# --------------------------------------------------------------------------------------------- strict HTTP
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (None, b'{"records": []}'),
        ("text/plain", b'{"records": []}'),
        ("application/x-www-form-urlencoded", b"records=1"),
        ("multipart/form-data", b"--x\r\n\r\nno boundary declared\r\n--x--\r\n"),
        ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--x--\r\n'),
        ("multipart/form-data; boundary=x", MANY_PARTS),
        ("application/json; charset=latin-1", b'{"records": []}'),
        ("application/jsonx", b'{"records": []}'),
    ],
    ids=["none", "text", "form", "multipart-no-boundary", "multipart-no-name", "multipart-2000", "latin-1", "jsonx"],
)  # fmt: skip
def test_only_json_is_accepted(served: Server, content_type: str | None, body: bytes) -> None:
    header = f"Content-Type: {content_type}\r\n" if content_type else ""
    answer = _post(served.port, body, f"{header}Content-Length: {len(body)}\r\n")
    assert status_of(answer) == 415, answer[:300]
    assert "send application/json" in _error(answer), answer[-300:]


def test_json_passes_by_its_parsed_media_type(served: Server, champion_home: Home) -> None:
    body = _body(champion_home)
    for content_type in ("application/json", "application/json; charset=utf-8", 'Application/JSON;charset="UTF-8"'):
        answer = _post(served.port, body, f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n")
        assert status_of(answer) == 200, (content_type, answer[-300:])


def test_compressed_bodies_are_refused_by_name(served: Server) -> None:
    answer = _post(
        served.port, b"x", "Content-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 1\r\n"
    )
    assert status_of(answer) == 415, answer[-300:]
    assert "Content-Encoding 'gzip'" in _error(answer)


@pytest.mark.parametrize(
    "body",
    [b'{"records": [', b"\xff\xfe{}", b"[" * 200_000 + b"]" * 200_000, b"null", b"[]", b'{"records": [1e999]}'],
    ids=["truncated", "not-utf8", "deep", "null", "array", "huge-number"],
)
def test_malformed_json_is_a_4xx(served: Server, body: bytes) -> None:
    answer = _post(served.port, body, f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n")
    assert 400 <= status_of(answer) < 500, answer[:300]


def test_an_oversized_body_gets_a_413_the_client_reads(served: Server, champion_home: Home) -> None:
    """Given 5 MB with Connection: close (the reset case), the client reads the 413 instead of a reset."""
    limit = champion_home.ws.project.serving.max_body_bytes
    body = b'{"records": [], "pad": "' + b"x" * (5 * limit) + b'"}'
    for _ in range(3):
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
        headers = {"Content-Type": "application/json", "Connection": "close"}
        connection.request("POST", "/predict", body=body, headers=headers)
        response = connection.getresponse()
        assert response.status == 413
        assert "serving.max_body_bytes" in json.loads(response.read())["error"]
        connection.close()


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_a_request_without_body_or_length_gets_a_411(served: Server, version: str) -> None:
    answer = _post(served.port, b"", "Content-Type: application/json\r\n", version=version)
    assert status_of(answer) == 411, answer[:300]
    assert "Content-Length" in _error(answer)
    empty = _post(served.port, b"", "Content-Type: application/json\r\nContent-Length: 0\r\n")
    assert status_of(empty) == 400
    assert "body: empty" in _error(empty)


# --------------------------------------------------------------------------------------------- slow clients
async def _slow_header_client(port: int, seconds: float) -> float:
    """Send a request head one byte every 0.2 s; how long until the server closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started, head = time.monotonic(), b"GET /livez HTTP/1.1\r\nHost: slow\r\nX-Pad: " + b"a" * 500
    try:
        for byte in head:
            if time.monotonic() - started > seconds:
                return seconds
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1), 0.2) == b"" or reader.at_eof():
                    return time.monotonic() - started
            except TimeoutError:
                continue
        return seconds
    except ConnectionError:
        return time.monotonic() - started
    finally:
        writer.close()


def test_slow_headers_are_cut_off_and_probes_still_answer(strict: Server) -> None:
    """Given 200 connections sending headers byte by byte, each is closed near the 1 s header timeout."""

    async def attack() -> tuple[list[float], list[int]]:
        clients = [asyncio.create_task(_slow_header_client(strict.port, 20)) for _ in range(200)]
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient(base_url=strict.url, timeout=3) as client:
            probes = [(await client.get(path)).status_code for path in ("/livez", "/readyz")]
        return await asyncio.gather(*clients), probes

    held, probes = asyncio.run(attack())
    assert probes == [200, 200], "probes answer while slow clients hold connections"
    assert max(held) < 10, f"a slow-header connection was held {max(held):.1f}s (header timeout 1 s)"


def test_a_body_shorter_than_its_length_gets_a_408(strict: Server) -> None:
    started = time.monotonic()
    answer = raw_http(strict.port, b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n{\"records\": [", timeout=60)  # fmt: skip
    assert status_of(answer) == 408, answer[:300]
    assert "serving.body_timeout_seconds" in _error(answer)
    assert time.monotonic() - started < 30, "held past the body timeout (4 s)"


def test_idle_connections_are_closed(strict: Server) -> None:
    started = time.monotonic()
    assert status_of(raw_http(strict.port, b"", timeout=60)) == 408, "a connection that sends nothing"
    assert time.monotonic() - started < 30
    kept = raw_http(strict.port, b"GET /livez HTTP/1.1\r\nHost: t\r\n\r\n", timeout=60)  # keep-alive, then idle
    assert status_of(kept) == 200, kept[:200]


def test_the_predict_limit_answers_503_and_probes_never_queue(strict: Server, champion_home: Home) -> None:
    """Given max_concurrency=2 held by two slow uploads, a third predict gets 503 + Retry-After at once."""
    body = _body(champion_home)

    async def scenario() -> tuple[httpx.Response, list[int]]:
        holders = []
        for _ in range(2):
            _, writer = await asyncio.open_connection("127.0.0.1", strict.port)
            writer.write(f"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])  # fmt: skip
            await writer.drain()
            holders.append(writer)
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient(base_url=strict.url, timeout=3) as client:
            busy = await client.post("/predict", content=body, headers={"content-type": "application/json"})
            probes = [(await client.get(path)).status_code for path in ("/readyz", "/livez", "/metadata")]
        for writer in holders:
            writer.close()
        return busy, probes

    busy, probes = asyncio.run(scenario())
    assert busy.status_code == 503, busy.text
    assert busy.headers["retry-after"] == "1"
    assert "serving.max_concurrency" in busy.json()["error"]
    assert probes == [200, 200, 200]
    time.sleep(0.5)
    after = httpx.post(f"{strict.url}/predict", content=body, headers={"content-type": "application/json"})
    assert after.status_code == 200, "slots are given back when the slow clients leave"


# --------------------------------------------------------------------------------------------- docs
def test_the_docs_page_is_ours_local_and_titled(served: Server, champion_home: Home) -> None:
    project = champion_home.ws.project
    for path in ("/", "/docs"):
        response = httpx.get(served.url + path)
        assert response.status_code == 200
        page = response.text
        title = re.search(r"<title>(.*)</title>", page)
        assert title, page
        assert title.group(1) == f"{project.name}: {project.description} (model version 1)"
        assert "googletagmanager" not in page.lower()
        assert "http" not in page, "no absolute URL: nothing of a third party"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        for asset in re.findall(r'(?:src|href)="([^"]+)"', page):
            assert asset.startswith("./docs/assets/"), asset
            assert httpx.get(f"{served.url}/{asset[2:]}").status_code == 200, asset
    for gone in ("/openapi.json", "/redoc", "/docs/assets/index.html"):
        assert httpx.get(served.url + gone).status_code == 404, f"{gone} must not be served"


def test_the_openapi_names_the_project_and_shows_a_realistic_example(served: Server, champion_home: Home) -> None:
    """The example is the training medians and modes the version recorded: no midpoint, no real row."""
    from mlflow import MlflowClient

    ws = champion_home.ws
    spec = httpx.get(f"{served.url}/docs.json").json()
    assert spec["info"]["title"] == "churn"
    assert spec["info"]["version"] == "1"
    assert "http" not in spec["info"]["description"], "no remote badge or link"
    assert spec["paths"]["/predict"]["post"]["requestBody"]["required"] is True
    assert {"400", "408", "411", "413", "415", "503"} <= set(spec["paths"]["/predict"]["post"]["responses"])
    example = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]["example"]
    uri = champion_home.settings.tracking_url
    tags = MlflowClient(uri, uri).get_model_version(model_name(ws.name), "1").tags
    assert example == {"records": [example_record(ws.project, tags[TAG_EXAMPLE])]}
    assert example["records"][0] != contract_example(ws.project), "not the contract's range midpoints"
    scored = httpx.post(f"{served.url}/predict", json=example).json()["predictions"][0]["probability"]
    assert 0.01 < scored < 0.99, f"a typical record, not an extreme one: P={scored}"


def test_readiness_has_one_documented_name(served: Server) -> None:
    spec = httpx.get(f"{served.url}/docs.json").json()
    assert "/readyz" in spec["paths"]
    assert "/ready" not in spec["paths"], "one readiness name"
    readyz, ready = httpx.get(f"{served.url}/readyz"), httpx.get(f"{served.url}/ready")
    assert readyz.json()["reason"] == "serving version 1"
    assert ready.status_code == 404, f"the old name /ready must be gone, not a second answer: {ready.status_code}"


def test_no_row_of_the_training_data_is_the_example(champion_home: Home) -> None:
    """The per-column statistics combine into a record no customer has (checked against every validated row)."""
    from mlflow import MlflowClient

    from pipelines.datasets import list_validated, read_validated

    ws = champion_home.ws
    uri = champion_home.settings.tracking_url
    recorded = json.loads(MlflowClient(uri, uri).get_model_version(model_name(ws.name), "1").tags[TAG_EXAMPLE])
    features = [f.name for f in ws.project.schema.features]
    assert set(features) <= set(recorded), f"every feature has a statistic: {recorded}"
    rows = read_validated(ws.store, list_validated(ws.store, ws.project))
    same = rows[features].astype(object).eq(pd_series(recorded, features)).all(axis=1)
    assert not same.any(), "the example equals a real record"


def pd_series(values: dict[str, object], names: list[str]) -> object:
    import pandas as pd

    return pd.Series({name: values[name] for name in names}, dtype=object)
