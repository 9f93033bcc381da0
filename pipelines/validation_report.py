"""The human-readable page of a validation report: one self-contained HTML file (inline CSS, no scripts).

It is rendered from the JSON report (the record machines read), so the two never disagree. The page leads with
the decision and the reasons, then each failed expectation with its column, unexpected count and examples,
then what cleaning changed, then how to fix and replay the batch. Values from the batch are escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2
    from rich.console import Console

    from pipelines.quarantine import QuarantineEntry
    from pipelines.validate import BatchResult, ValidationRun

TEMPLATE = "templates/validation_report.html"  # next to this module; HTML lives in an .html file


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    from importlib.resources import files

    import jinja2

    from pipelines.expectations import short

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["short"] = short
    return env.from_string(files("pipelines").joinpath(TEMPLATE).read_text(encoding="utf-8"))


def render_html(report: dict[str, Any]) -> str:
    """The report page; ``report`` is the JSON record written next to it."""
    return _template().render(r=report)


# ------------------------------------------------------------------------------------------------ terminal
STATUS_STYLE = {"validated": "green", "released": "green", "quarantined": "red"}


def _e(value: Any) -> str:
    """Text from data or reports is shown as written: square brackets are not rich markup."""
    from rich.markup import escape

    return escape(str(value))


def _cleaning_summary(counts: dict[str, int]) -> str:
    changed = {rule: n for rule, n in counts.items() if n}
    return ", ".join(f"{rule} {n}" for rule, n in changed.items()) or "-"


def print_results(results: Sequence[BatchResult], console: Console, title: str) -> None:
    """One row per batch: status, rows in and out, what cleaning changed, the main reason, the report URL."""
    from rich.table import Table

    if not results:
        console.print(f"{title}: nothing to do")
        return
    table = Table(title=title, show_lines=True)
    for column in ("batch", "status", "rows in -> out", "cleaning", "reasons"):
        table.add_column(column, overflow="fold")
    for r in results:
        rows = f"{r.rows_in if r.rows_in is not None else '?'} -> {r.rows_out if r.rows_out is not None else '?'}"
        reasons = "\n".join(r.reasons[:3]) + (f"\n(+{len(r.reasons) - 3} more)" if len(r.reasons) > 3 else "")
        status = f"[{STATUS_STYLE[r.status]}]{r.status}[/]"
        table.add_row(_e(r.batch), status, rows, _cleaning_summary(r.cleaning), _e(reasons or "-"))
    console.print(table)
    for r in results:  # outside the table, so a URL is never wrapped and can be opened or copied whole
        console.print(f"report {_e(r.batch)}: {r.report_urls['html']}", highlight=False)


def print_run(run: ValidationRun, console: Console) -> None:
    print_results(run.results, console, title=f"{run.project}: data gate")
    t = run.totals
    console.print(
        f"landing {t['landing']} = validated {t['validated']} + quarantined {t['quarantined']} "
        f"({len(run.results)} decided now, {len(run.already_decided)} already decided)",
        highlight=False,
    )
    for name in run.conflicts:
        console.print(
            f"[yellow]skipped[/] landing/{name}: another landing file has the same name stem", highlight=False
        )
    if run.quarantined:
        console.print(f"see the reports above; after a fix: mlops quarantine replay --project {run.project} BATCH")


def print_quarantine(entries: Sequence[QuarantineEntry], console: Console) -> None:
    from rich.table import Table

    if not entries:
        console.print("quarantine is empty")
        return
    table = Table(title="quarantine", show_lines=True)
    for column in ("batch", "status", "since", "replays", "reasons"):
        table.add_column(column, overflow="fold")
    for e in entries:
        status = f"[{STATUS_STYLE.get(e.status, 'white')}]{e.status}[/]"
        table.add_row(_e(e.stem), status, e.decided_at[:19], str(e.replays), _e("\n".join(e.reasons[:3])))
    console.print(table)
    for e in entries:
        console.print(f"report {_e(e.stem)}: {e.report_url}", highlight=False)


def _failure_cells(f: dict[str, Any]) -> tuple[str, ...]:
    from pipelines.expectations import short

    count = f"observed {short(f['observed_value'])}" if f["unexpected_count"] is None else str(f["unexpected_count"])
    if f["consequence_of"]:
        examples = f"follows from: {f['consequence_of']}"
    elif f["exception"]:
        examples = f["exception"]
    elif f["examples"]:
        examples = ", ".join(short(v) for v in f["examples"][:5])
    else:
        examples = f"ids {', '.join(short(v) for v in f['example_ids'][:5])}" if f["example_ids"] else ""
    return f["expectation"], f["column"] or "(table)", count, examples, f["source"]


def print_report(report: dict[str, Any], console: Console) -> None:
    """The terminal version of the HTML page: reasons, then each failed expectation."""
    from rich.table import Table

    status = report["status"]
    style = STATUS_STYLE.get(status, "white")
    when = f"{report['run']} at {report['decided_at'][:19]}"
    console.print(f"[bold {style}]{status.upper()}[/] {_e(report['batch'])} ({when})", highlight=False)
    for reason in report["reasons"]:
        console.print(f"  - {_e(reason)}", highlight=False)
    if report["failures"]:
        table = Table(show_lines=False)
        for column in ("expectation", "column", "unexpected", "examples", "declared in"):
            table.add_column(column, overflow="fold")
        for f in report["failures"]:
            table.add_row(*(_e(cell) for cell in _failure_cells(f)))
        console.print(table)
    console.print(f"cleaning: {_cleaning_summary(report['cleaning'])}", highlight=False)
    for label, url in {**report["outputs"], **{f"report ({k})": v for k, v in report["report_urls"].items()}}.items():
        console.print(f"{label}: {url}", highlight=False)
    console.print(f"history: {len(report['history'])} report(s)", highlight=False)
