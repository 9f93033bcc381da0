"""Schema-driven fuzzing of the served OpenAPI: positive and negative requests, no 5xx, every 4xx names the field."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.helpers.champions import churn_frame
from tests.helpers.serving import Home, Server, records

pytestmark = [pytest.mark.integration, pytest.mark.slow]
POSITIVE_EXAMPLES = 450
NEGATIVE_EXAMPLES = 650


def _check_4xx(response: httpx.Response) -> None:
    """A client error says what was wrong: every listed problem names its field (and record index)."""
    body = response.json()
    error = body["error"] if isinstance(body, dict) else body[0]["error"]
    assert isinstance(error, str), f"4xx without an error message: {response.text[:500]}"
    assert error, f"4xx without an error message: {response.text[:500]}"
    for detail in (body.get("detail") or [])[:20] if isinstance(body, dict) else []:
        assert detail["field"] in error, f"{detail['field']} missing from {error!r}"
        loc = detail["loc"]
        if len(loc) > 2 and loc[0] == "records" and isinstance(loc[1], int):
            assert f"records[{loc[1]}]" in detail["field"], detail


def test_fuzzing_the_openapi_finds_no_server_error(served: Server, champion_home: Home) -> None:
    """>= 1,000 generated requests against /predict (schema-valid and schema-violating): 2xx or a clear 4xx."""
    import schemathesis
    from schemathesis.generation.modes import GenerationMode

    schema = schemathesis.openapi.from_url(f"{served.url}/docs.json")
    predict = schema["/predict"]["POST"]
    seen: Counter[str] = Counter()
    client = httpx.Client(base_url=served.url, timeout=30)

    def send(case: Any, positive: bool) -> None:
        response = case.call(base_url=served.url)
        kind = "positive" if positive else "negative"
        seen[f"{kind} {response.status_code}"] += 1
        assert response.status_code < 500, f"{case.body!r:.500} -> {response.status_code} {response.text[:500]}"
        if positive:
            assert response.status_code in {200, 413}, f"valid body refused: {case.body!r:.500} {response.text[:500]}"
        else:
            assert 400 <= response.status_code < 500, f"invalid body accepted: {case.body!r:.500}"
        if 400 <= response.status_code < 500:
            _check_4xx(httpx.Response(response.status_code, content=response.content))

    common: dict[str, Any] = {
        "deadline": None,
        "database": None,
        "phases": [Phase.generate],
        "suppress_health_check": list(HealthCheck),
    }

    @settings(max_examples=POSITIVE_EXAMPLES, **common)
    @given(case=predict.as_strategy(GenerationMode.POSITIVE))
    def positive(case: Any) -> None:
        send(case, positive=True)

    @settings(max_examples=NEGATIVE_EXAMPLES, **common)
    @given(case=predict.as_strategy(GenerationMode.NEGATIVE))
    def negative(case: Any) -> None:
        send(case, positive=False)

    @settings(max_examples=5, **common)
    @given(case=st.sampled_from(["/metadata", "/livez", "/readyz"]))
    def reads(case: str) -> None:
        assert client.get(case).status_code == 200

    positive()
    negative()
    reads()
    total = sum(seen.values())
    print(f"fuzzing: {total} requests, by outcome: {dict(sorted(seen.items()))}")
    assert total >= 1000, f"only {total} requests were sent: {dict(seen)}"
    assert seen["positive 200"] >= 100, seen
    assert sum(v for k, v in seen.items() if k.startswith("negative 4")) >= 300, seen

    project = champion_home.ws.project
    after = records(project, churn_frame(project, rows=2, day=dt.date(2026, 6, 5)))
    assert client.post("/predict", json={"records": after}).status_code == 200, "the service answers afterwards"
