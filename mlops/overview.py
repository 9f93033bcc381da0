"""The run overview: one self-contained page per project that tells the whole story, ``reports/index.html``.

It is drawn from what the platform keeps, never from the terminal: the registry (every version, its aliases and
the gate's numbers on the holdout it was judged on), the data root (quarantined batches and their reasons, every
monitoring summary, every report) and, when ``make run`` wrote one, the run summary beside the page
(``reports/run-summary.json``: the story's steps and their times, the version the service answered with). So it
exists wherever the data root is (the cluster too), and ``mlops report`` rebuilds it at any time.

Links are relative to the page (model cards, drift pages, validation and quarantine reports sit under the same
data root), so the page works opened from disk or served over HTTP. No script, no remote asset: the drift plot
is inline SVG. It prints.
"""

from __future__ import annotations

import json
import math
import posixpath
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from pipelines.quarantine import list_quarantine
from projects import registry, tracking
from projects.clock import iso_now, readable
from projects.workspace import Workspace

if TYPE_CHECKING:
    import jinja2

TEMPLATE = "templates/overview.html"
PAGE = "index.html"
SUMMARY = "run-summary.json"


@dataclass(frozen=True)
class VersionRow:
    """One registered version as the page shows it."""

    version: str
    aliases: list[str]
    decision: str
    reason: str
    trained_at: str
    metric: str  # the gate's metric on the holdout the version was judged on
    champion_metric: str  # the champion it was compared with, on the same holdout
    champion_version: str
    holdout: str
    card: str | None  # href relative to the page
    checks: list[dict[str, str]] = field(default_factory=list)  # name, status, detail (the gate's JSON tag)


@dataclass(frozen=True)
class DriftRun:
    """One monitoring run (its JSON summary)."""

    at: str
    champion: str
    rows: int
    share: float | None
    threshold: float
    detected: bool | None
    status: str
    trigger: str
    page: str | None
    columns: list[dict[str, Any]] = field(default_factory=list)
    performance: str = ""


@dataclass
class Overview:
    project: str
    description: str
    generated_at: str
    metric: str
    champion: str | None
    previous: str | None
    served: str | None
    duration: float | None
    steps: list[tuple[str, float]]
    versions: list[VersionRow]
    gate: VersionRow | None  # the newest version the gate compared against a champion, else the newest decided
    quarantined: list[dict[str, Any]]
    drift: list[DriftRun]
    links: dict[str, list[tuple[str, str]]]

    @property
    def latest_drift(self) -> DriftRun | None:
        return self.drift[-1] if self.drift else None


# --------------------------------------------------------------------------------------------- gathering
def relative(ws: Workspace, url: str | None) -> str | None:
    """A URL under the project's data root, relative to the page (``reports/``); other URLs as they are."""
    if not url:
        return None
    root = ws.store.url("reports")
    prefix = root.rsplit("/", 1)[0] + "/"
    if not url.startswith(prefix):
        return url
    return posixpath.relpath(url[len(prefix) :], "reports")


def _fmt(value: str | None) -> str:
    try:
        number = float(value) if value not in {None, ""} else math.nan
    except ValueError:
        return str(value)
    return "" if math.isnan(number) else f"{number:.4f}"


def versions(ws: Workspace) -> tuple[list[VersionRow], str | None, str | None]:
    """Every version newest first, with the champion and previous versions."""
    client = tracking.configure(ws.settings)
    name, metric = registry.model_name(ws.name), ws.project.gate.metric
    champion = registry.alias_version(client, ws.name, registry.CHAMPION)
    previous = registry.alias_version(client, ws.name, registry.PREVIOUS)
    cards = set(ws.store.list("reports", "model_cards", suffixes=(".html",)))
    rows = []
    for mv in sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: -int(v.version)):
        tags, version = dict(mv.tags or {}), str(mv.version)
        gate = registry.TAG_GATE_PREFIX
        card = f"v{version}.html"
        rows.append(
            VersionRow(
                version=version,
                aliases=[a for a, v in ((registry.CHAMPION, champion), (registry.PREVIOUS, previous)) if v == version],
                decision="rolled back"
                if tags.get(registry.TAG_ROLLED_BACK) == "true"
                else tags.get(registry.TAG_DECISION, "pending"),
                reason=tags.get(registry.TAG_REASON, ""),
                trained_at=tags.get(registry.TAG_TRAINED_AT, ""),
                metric=_fmt(tags.get(f"{gate}challenger.{metric}")),
                champion_metric=_fmt(tags.get(f"{gate}champion.{metric}")),
                champion_version=_fmt(tags.get(f"{gate}champion.version")).split(".")[0],
                holdout=tags.get(f"{gate}holdout_batches", "").replace(",", ", "),
                card=f"model_cards/{card}" if card in cards else None,
                checks=gate_checks(tags),
            )
        )
    return rows, champion, previous


def gate_checks(tags: dict[str, str]) -> list[dict[str, str]]:
    """The gate's checks as it recorded them (``mlops.gate``); a version gated before that tag: from its reason."""
    try:
        checks = json.loads(tags[registry.TAG_GATE])["checks"]
    except (KeyError, ValueError, TypeError):
        reason = tags.get(registry.TAG_REASON, "")
        return [{"name": "", "status": "", "detail": part} for part in reason.split(": ", 1)[-1].split("; ") if part]
    return [{"name": c.get("name", ""), "status": c.get("status", ""), "detail": c.get("detail", "")} for c in checks]


def drift_runs(ws: Workspace) -> list[DriftRun]:
    """Every monitoring summary, oldest first."""
    runs = []
    for name in ws.store.list("reports", "drift", suffixes=(".json",)):
        summary = json.loads(ws.store.read_text("reports", "drift", name))
        columns = sorted(summary.get("columns", []), key=lambda c: (not c.get("drifted"), c.get("score") or 0))
        trigger = summary.get("trigger") or {}
        runs.append(
            DriftRun(
                at=summary.get("evaluated_at", ""),
                champion=str(summary.get("champion_version", "")),
                rows=int(summary.get("window_rows") or 0),
                share=summary.get("share_drifted"),
                threshold=float(summary.get("drift_share") or 0.0),
                detected=summary.get("drift_detected"),
                status=summary.get("status", ""),
                trigger=trigger_text(trigger),
                page=relative(ws, summary.get("report_url")),
                columns=columns,
                performance=performance_text(summary.get("performance")),
            )
        )
    return sorted(runs, key=lambda r: r.at)


def trigger_text(trigger: dict[str, Any]) -> str:
    """What the trigger decided and, when it acted, what came of it."""
    text = " - ".join(filter(None, [str(trigger.get("action") or "").replace("_", " "), trigger.get("reason")]))
    outcome = trigger.get("outcome") or {}
    if outcome.get("version"):
        text += f"; retrained: v{outcome['version']} {outcome.get('decision', '')}"
    elif outcome.get("started"):
        text += f"; {outcome['started']}"
    return text


def performance_text(perf: dict[str, Any] | None) -> str:
    if not perf or perf.get("value") is None:
        return (perf or {}).get("note", "")
    rows = perf.get("labelled_rows", 0)
    return f"{perf['metric']} {perf['value']:.4f} on {rows} labelled rows (at the gate: {perf.get('at_gate')})"


def report_links(ws: Workspace) -> dict[str, list[tuple[str, str]]]:
    """Every report under the data root, by kind: (label, href relative to the page)."""
    store = ws.store

    def listed(*parts: str) -> list[tuple[str, str]]:
        return [
            (n.removesuffix(".html"), "/".join((*parts, n))) for n in store.list("reports", *parts, suffixes=(".html",))
        ]

    drift = [(label, href) for label, href in listed("drift") if not label.endswith(".evidently")]
    quarantine = [
        (stem, f"../quarantine/{stem}/report.html")
        for stem in store.list_dirs("quarantine")
        if store.exists("quarantine", stem, "report.html")
    ]
    return {
        "model cards": sorted(listed("model_cards"), key=lambda item: int(item[0].lstrip("v") or 0)),
        "drift": drift,
        "quarantine": quarantine,
        "validation": listed("validation"),
    }


def read_summary(ws: Workspace) -> dict[str, Any] | None:
    if not ws.store.exists("reports", SUMMARY):
        return None
    summary: dict[str, Any] = json.loads(ws.store.read_text("reports", SUMMARY))
    return summary


def gather(ws: Workspace, summary: dict[str, Any] | None = None) -> Overview:
    summary = summary if summary is not None else read_summary(ws)
    rows, champion, previous = versions(ws)
    compared = [r for r in rows if r.champion_metric]
    decided = [r for r in rows if r.decision != "pending"]
    quarantined = [
        {"batch": e.batch, "status": e.status, "reasons": e.reasons, "report": relative(ws, e.report_url)}
        for e in list_quarantine(ws.store, include_released=True)
    ]
    return Overview(
        project=ws.name,
        description=ws.project.description,
        generated_at=iso_now(),
        metric=ws.project.gate.metric,
        champion=champion,
        previous=previous,
        served=(summary or {}).get("served_version"),
        duration=(summary or {}).get("duration_s"),
        steps=list(((summary or {}).get("timings") or {}).items()),
        versions=rows,
        gate=next(iter(compared or decided), None),
        quarantined=quarantined,
        drift=drift_runs(ws),
        links=report_links(ws),
    )


# --------------------------------------------------------------------------------------------- the plot
def share_plot(runs: list[DriftRun], width: int = 640, height: int = 180) -> str:
    """Drift share per monitoring run as inline SVG: the threshold dashed, drifted runs red."""
    points = [(i, r) for i, r in enumerate(runs) if r.share is not None]
    if not points:
        return ""
    left, right, top, bottom = 44, 12, 12, 28
    span = max(len(runs) - 1, 1)

    def x(i: int) -> float:
        return left + (width - left - right) * (i / span if len(runs) > 1 else 0.5)

    def y(share: float) -> float:
        return top + (height - top - bottom) * (1 - share)

    line = " ".join(f"{x(i):.1f},{y(float(r.share or 0)):.1f}" for i, r in points)
    threshold = runs[-1].threshold
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'role="img" aria-label="share of drifted columns per monitoring run">',
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}" class="axis"/>',
        f'<line x1="{left}" y1="{y(1):.1f}" x2="{left}" y2="{y(0):.1f}" class="axis"/>',
        *(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.0%}</text>' for v in (0, 0.5, 1)),
        f'<line x1="{left}" y1="{y(threshold):.1f}" x2="{width - right}" y2="{y(threshold):.1f}" class="threshold"/>',
        f'<text x="{width - right}" y="{y(threshold) - 4:.1f}" text-anchor="end" class="dim">'
        f"drift at a share &#8805; {threshold:.0%}</text>",
        f'<polyline points="{line}" class="share"/>',
    ]
    for i, r in points:
        kind = "drifted" if r.detected else "clean"
        label = escape(f"{r.at[:19]} v{r.champion}: {float(r.share or 0):.0%} drifted")
        dot = f'<circle cx="{x(i):.1f}" cy="{y(float(r.share or 0)):.1f}" r="4" class="{kind}">'
        parts.append(f"{dot}<title>{label}</title></circle>")
        parts.append(f'<text x="{x(i):.1f}" y="{height - 10}" text-anchor="middle">v{escape(r.champion)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------- the page
@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(files("mlops").joinpath(TEMPLATE).read_text(encoding="utf-8"))


def render_page(overview: Overview) -> str:
    plot = Markup(share_plot(overview.drift))  # noqa: S704 - built here from numbers, every text in it escaped
    return _template().render(o=overview, plot=plot, since=readable)


def publish_overview(ws: Workspace, summary: dict[str, Any] | None = None) -> str:
    """Write ``reports/index.html`` (and the run summary beside it, when given); returns the page's URL."""
    if summary is not None:
        ws.store.write_text("reports", SUMMARY, text=json.dumps(summary, indent=2, default=str))
    return ws.store.write_text("reports", PAGE, text=render_page(gather(ws, summary)))
