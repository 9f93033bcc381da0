"""Every page a person opens after a loop renders in a real browser, offline: headless Chromium (Debian's)
driven by Playwright, each page from its file:// URL. No console error, no failed request, no request that
leaves the machine; the drift page's embedded Evidently report loads as a frame."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.overview import publish_overview
from projects.workspace import Workspace
from tests.helpers.browser import check_pages, chromium_path

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.browser]


def pages(ws: Workspace) -> dict[str, str]:
    """The overview and every report it can link, by what they are."""
    store = ws.store
    drift = max(n for n in store.list("reports", "drift", suffixes=(".html",)) if not n.endswith(".evidently.html"))
    quarantined = store.list_dirs("quarantine")[0]
    return {
        "overview": publish_overview(ws),
        "card v1": store.url("reports", "model_cards", "v1.html"),
        "card v2": store.url("reports", "model_cards", "v2.html"),
        "drift page": store.url("reports", "drift", drift),
        "evidently": store.url("reports", "drift", drift.replace(".html", ".evidently.html")),
        "quarantine report": store.url("quarantine", quarantined, "report.html"),
    }


def test_every_page_renders_offline_without_errors(looped: Workspace, tmp_path: Path) -> None:
    if chromium_path() is None:
        pytest.skip("no system Chromium (Debian: apt-get install chromium; .ci/run installs it)")
    urls = pages(looped)
    shots = {urls["overview"]: tmp_path / "overview.png"}
    checks = {c.url: c for c in check_pages(list(urls.values()), shots)}
    for what, url in urls.items():
        check = checks[url]
        assert not check.problems, f"{what} ({url}): {check.problems}"
        if what != "evidently":  # Evidently's own page has no <title>; ours all have one
            assert check.title, f"{what} ({url}) rendered without a title"
    assert checks[urls["drift page"]].frames == 2, "Evidently's report loads inside the drift page"
    assert (tmp_path / "overview.png").stat().st_size > 20_000, "a screenshot of the rendered overview"
