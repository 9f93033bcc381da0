"""The drift page of one monitoring run: what was compared and decided, every column drifted first, Evidently beside.

Evidently's own report pages its table ten columns at a time and says nothing of the project, the champion,
the window or what the trigger did. This page frames it: a header with those facts (from the run's JSON summary,
the record machines read, so the two never disagree), every monitored column on one page with the drifted ones
first, and Evidently's report embedded and linked (``<stamp>.evidently.html`` beside it). It is written by the
monitor and written again once the trigger has acted (``monitoring.trigger.record_in_summary``).
"""

from __future__ import annotations

import math
import posixpath
from functools import lru_cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from projects.clock import readable

if TYPE_CHECKING:
    import jinja2

TEMPLATE = "templates/drift_page.html"
EVIDENTLY_SUFFIX = ".evidently.html"


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = readable
    return env.from_string(files("monitoring").joinpath(TEMPLATE).read_text(encoding="utf-8"))


def evidently_name(stamp: str) -> str:
    return f"{stamp}{EVIDENTLY_SUFFIX}"


def ordered_columns(columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drifted first, then by p-value (strongest evidence first), each with a bar length in percent."""
    strengths = [_strength(c.get("score")) for c in columns]
    top = max(strengths, default=0.0) or 1.0
    rows = [{**c, "strength": round(100 * s / top, 1)} for c, s in zip(columns, strengths, strict=True)]
    return sorted(rows, key=lambda c: (not c.get("drifted"), c.get("score") if c.get("score") is not None else 1.0))


def _strength(score: float | None) -> float:
    if score is None or math.isnan(score):
        return 0.0
    return -math.log10(max(score, 1e-300))


def performance_line(perf: dict[str, Any] | None) -> str:
    if not perf:
        return ""
    if perf.get("value") is None:
        return str(perf.get("note", ""))
    line = f"{perf['metric']} {perf['value']:.4f} on {perf.get('labelled_rows', 0)} labelled rows"
    if perf.get("at_gate") is not None:
        line += f" (at the gate: {perf['at_gate']:.4f}; floor {perf.get('floor')})"
    return line


def render_page(summary: dict[str, Any], evidently_href: str | None) -> str:
    """The page for one run's JSON summary; ``evidently_href`` is relative to the page (None: no report)."""
    return _template().render(
        s=summary,
        columns=ordered_columns(list(summary.get("columns") or [])),
        performance=performance_line(summary.get("performance")),
        evidently=evidently_href,
    )


def page_for(summary: dict[str, Any]) -> tuple[str, str]:
    """(file name of the page, href of Evidently's report beside it) for a summary with a ``summary_url``."""
    stamp = posixpath.basename(str(summary["summary_url"])).removesuffix(".json")
    return f"{stamp}.html", evidently_name(stamp)
