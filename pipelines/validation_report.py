"""The human-readable page of a validation report: one self-contained HTML file (inline CSS, no scripts).

It is rendered from the JSON report (the record machines read), so the two never disagree. The page leads with
the decision and the reasons, then each failed expectation with its column, unexpected count and examples,
then what cleaning changed, then how to fix and replay the batch. Values from the batch are escaped. The
terminal form of the same report is ``mlops.render.print_report``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from pipelines.expectations import short

if TYPE_CHECKING:
    import jinja2

TEMPLATE = "templates/validation_report.html"  # next to this module; HTML lives in an .html file


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["short"] = short
    return env.from_string(files("pipelines").joinpath(TEMPLATE).read_text(encoding="utf-8"))


def render_html(report: dict[str, Any]) -> str:
    """The report page; ``report`` is the JSON record written next to it."""
    return _template().render(r=report)
