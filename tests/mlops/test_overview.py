"""The run overview, the drift page and the model cards' status line, on a loop run with the real libraries:
data gate (one batch quarantined) -> v1 -> shifted traffic -> monitor -> trigger -> retrain -> gate -> rollback.

The pages are checked the way a reader relies on them: every link resolves to a file under the data root, no
asset is remote, and every number shown is the one the registry or the monitoring summary holds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops import jobs
from mlops.cli import app
from mlops.overview import publish_overview
from projects import registry
from projects.workspace import Workspace
from tests.helpers.registry import tags_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]
LINK = re.compile(r'(?:href|src)="([^"#]+)"')


def local(url: str) -> Path:
    return Path(url.removeprefix("file://"))


def links(page: Path) -> list[str]:
    return LINK.findall(page.read_text(encoding="utf-8"))


def assert_self_contained(page: Path) -> None:
    """Every link and asset of the page is a file beside it, relative, and exists: it opens offline, anywhere."""
    found = links(page)
    assert found, f"{page}: no link at all"
    for href in found:
        assert "://" not in href, f"{page}: {href} is not relative to the page"
        assert (page.parent / href).resolve().is_file(), f"{page}: {href} does not resolve to a file"


def test_the_overview_tells_the_loop_from_the_registry_and_the_data_root(looped: Workspace) -> None:
    ws = looped
    page = local(publish_overview(ws))
    assert page == local(ws.store.url("reports", "index.html"))
    assert_self_contained(page)
    html = page.read_text(encoding="utf-8")
    hrefs = links(page)
    for version in ("1", "2"):
        assert f"model_cards/v{version}.html" in hrefs, f"v{version}'s card is linked"
    assert any(h.startswith("../quarantine/") for h in hrefs), "the quarantined batch's report is linked"
    assert any(h.startswith("drift/") and h.endswith(".html") for h in hrefs), "the drift page is linked"

    tags, metric = tags_of(ws, "2"), ws.project.gate.metric
    challenger = f"{float(tags[f'{registry.TAG_GATE_PREFIX}challenger.{metric}']):.4f}"
    champion = f"{float(tags[f'{registry.TAG_GATE_PREFIX}champion.{metric}']):.4f}"
    gate = html[html.index("The gate: why") : html.index("Every version")]
    assert "<b>v2</b>" in gate, "the newest version the gate compared with a champion"
    assert challenger in gate, "v2 on the holdout, as the gate tagged it"
    assert champion in gate, "v1 on the same holdout, as the gate tagged it"
    assert "same out-of-time holdout" in gate
    assert "breakage" in html, "the quarantined batch with its reasons"
    names = ws.store.list("reports", "drift", suffixes=(".json",))
    summaries = [json.loads(ws.store.read_text("reports", "drift", n)) for n in names]
    newest = max(summaries, key=lambda s: s["evaluated_at"])
    assert f"{100 * newest['share_drifted']:.0f}% of the monitored columns drifted" in html
    assert "<svg" in html, "the drift share of every run, plotted inline"


def test_the_drift_page_frames_evidently_with_the_decision_and_the_trigger(looped: Workspace) -> None:
    ws = looped
    name = max(ws.store.list("reports", "drift", suffixes=(".json",)))
    summary = json.loads(ws.store.read_text("reports", "drift", name))
    publish_overview(ws)  # the page links back to it
    page = local(summary["report_url"])
    assert_self_contained(page)
    html = page.read_text(encoding="utf-8")
    assert f"champion v{summary['champion_version']}" in html
    assert "retrained: v2" in html, "what the trigger did, written after it acted"
    assert f'src="{Path(summary["evidently_url"]).name}"' in html, "Evidently's report embedded from beside it"
    assert local(summary["evidently_url"]).is_file()
    shown = re.findall(r"<tr(?: class=\"drifted\")?><td>([a-z_]+)</td><td>(?:numerical|categorical)", html)
    drifted = [c["column"] for c in summary["columns"] if c["drifted"]]
    assert set(shown) == {c["column"] for c in summary["columns"]}, "every monitored column, on one page"
    assert set(shown[: len(drifted)]) == set(drifted), "the drifted ones first"


def test_a_card_says_which_alias_its_version_holds_now(looped: Workspace) -> None:
    ws = looped
    tags = tags_of(ws, "2")
    assert tags[registry.TAG_DECISION] == "promoted", f"seeded data, v2 wins on it: {tags[registry.TAG_REASON]}"

    def now_line(version: str) -> str:
        html = ws.store.read_text("reports", "model_cards", f"v{version}.html")
        return re.search(r'Now: <span class="badge (\w+)">', html).group(1)  # type: ignore[union-attr]

    assert (now_line("1"), now_line("2")) == ("previous", "champion"), "marked when v2 took the alias"
    jobs.rollback_champion(ws)
    assert (now_line("1"), now_line("2")) == ("champion", "rolled_back"), "and again when it was rolled back"
    run_card = ws.store.read_text("reports", "model_cards", "v2.html")
    assert "never promoted again" in run_card

    rebuilt = CliRunner().invoke(app, ["report", "--project", "churn"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert rebuilt.output.strip().endswith("reports/index.html"), rebuilt.output
    facts = local(ws.store.url("reports", "index.html")).read_text(encoding="utf-8")
    assert re.search(r"champion<b>v1</b>", facts), "the overview follows the rollback"
