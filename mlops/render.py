"""What the terminal shows: rich tables and lines for every result the commands and the story print.

The step libraries return data (``ValidationRun``, ``GateDecision``, ``MonitorResult``, ...); only this module
turns it into text for a person. HTML reports (validation, model card, drift) are rendered by the libraries
themselves, because they are written under the data root and opened from there or from MLflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlops.jobs import BatchRow
from monitoring.monitor import EXPERIMENT, MonitorResult, Performance
from monitoring.trigger import TriggerDecision
from pipelines.drafting import Draft
from pipelines.expectations import short
from pipelines.promotion import GateDecision, RollbackResult
from pipelines.quarantine import QuarantineEntry
from pipelines.validate import BatchResult, ValidationRun
from projects.inference_log import Compaction

STATUS_STYLE = {"validated": "green", "released": "green", "quarantined": "red", "retired": "yellow"}
DECISION_STYLE = {"promoted": "green", "unchanged": "blue"}


def _e(value: Any) -> str:
    """Text from data or reports is shown as written: square brackets are not rich markup."""
    return escape(str(value))


# ------------------------------------------------------------------------------------------------ the data gate
def _cleaning_summary(counts: dict[str, int]) -> str:
    changed = {rule: n for rule, n in counts.items() if n}
    return ", ".join(f"{rule} {n}" for rule, n in changed.items()) or "-"


def print_results(results: Sequence[BatchResult], console: Console, title: str) -> None:
    """One row per batch: status, rows in and out, what cleaning changed, the main reason, the report URL."""
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
    """The terminal version of a quarantine report's HTML page: reasons, then each failed expectation."""
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


def print_batches(project: str, rows: Sequence[BatchRow], console: Console) -> None:
    """``mlops data list``: the window view."""
    if not rows:
        console.print(f"{project}: no batch has landed yet")
        return
    table = Table(title=f"{project}: batches, oldest first", show_lines=False)
    for column in ("batch", "status", "role", "time (UTC)", "time from", "rows", "note"):
        table.add_column(column, overflow="fold")
    for r in rows:
        style = STATUS_STYLE.get(r.status, "white")
        rows_text = str(r.rows) if r.rows is not None else ""
        table.add_row(_e(r.batch), f"[{style}]{r.status}[/]", r.role, r.time, r.time_source, rows_text, _e(r.note))
    console.print(table)


def print_draft(contract: Path, draft: Draft, console: Console) -> None:
    """What init-from-data wrote and what to do next."""
    schema = draft.project.schema
    roles = [f"target {schema.target.name} ({draft.project.task.value})"]
    roles += [f"id {schema.id.name}"] if schema.id else []
    roles += [f"timestamp {schema.timestamp.name}"] if schema.timestamp else []
    console.print(f"drafted {contract}: {', '.join(roles)}, {len(schema.features)} feature(s)", highlight=False)
    for note in draft.notes:
        console.print(f"  {note}", highlight=False)
    console.print("every sample batch passes the data gate under this draft", highlight=False)
    name = draft.project.name
    console.print(
        f"next: review each line marked 'guessed', then `make run PROJECT={name}` (it lands the batches itself, "
        "holding the newest back as what arrives later)",
        highlight=False,
    )


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def print_compactions(project: str, results: Sequence[Compaction], console: Console) -> None:
    """``mlops log compact``: what each closed day held before and after."""
    merged = [r for r in results if r.merged or r.removed]
    if not merged:
        console.print(f"{project}: nothing to compact ({len(results)} closed day(s), each already one part per layout)")
        return
    table = Table(title=f"{project}: inference log compacted", show_lines=False)
    for column in ("day", "parts", "rows", "size", "removed"):
        table.add_column(column)
    for r in merged:
        parts = f"{r.parts_before} -> {r.parts_after}"
        size = f"{_size(r.bytes_before)} -> {_size(r.bytes_after)}"
        table.add_row(r.day.isoformat(), parts, f"{r.rows:,}", size, str(r.removed))
    console.print(table)
    console.print(f"{len(results) - len(merged)} other closed day(s) already compact", highlight=False)


# ------------------------------------------------------------------------------------------------ the registry
def print_decision(decision: GateDecision, console: Console) -> None:
    """The gate's decision: every check with its numbers, then who is champion and why."""
    colour = DECISION_STYLE.get(decision.decision, "red")
    console.print(f"gate: v{decision.version} [bold {colour}]{decision.decision}[/]", highlight=False)
    marks = {"pass": "[green]pass[/]", "fail": "[red]FAIL[/]", "not evaluated": "[dim]n/a [/]"}
    for check in decision.checks:
        console.print(f"  {marks[check.status]} {check.name}: {check.detail}", highlight=False)
    champion = f"v{decision.champion_after}" if decision.champion_after else "none"
    console.print(f"champion: [bold]{champion}[/] ({decision.reason})", highlight=False)
    if decision.model_card_url:
        console.print(f"model card: {decision.model_card_url}", highlight=False)


def print_rollback(result: RollbackResult, console: Console) -> None:
    console.print(f"champion: [bold]v{result.restored}[/] ({result.reason})", highlight=False)
    console.print(f"previous: {'v' + result.previous_now if result.previous_now else 'none'}", highlight=False)


def print_versions(project: str, metric: str, rows: list[dict[str, Any]], console: Console) -> None:
    """``mlops models``: versions newest first with aliases, the gate metric, fairness gap, decision, reason."""
    if not rows:
        console.print(f"model {project!r} has no versions yet; run `mlops train --project {project}`")
        return
    table = Table(title=f"{project}: model versions", show_lines=False)
    for column in ("version", "aliases", "trained at", metric, "fairness gap", "decision", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        rolled = row["rolled_back"] and row["decision"] != "rolled_back"
        decision = row["decision"] + (" (rolled back)" if rolled else "")
        cells = (row["version"], ", ".join(row["aliases"]), row["trained_at"], row[metric], row["fairness_gap"])
        table.add_row(*cells, decision, row["reason"])
    console.print(table)


# ------------------------------------------------------------------------------------------------ monitoring
def print_monitor(result: MonitorResult, console: Console, all_columns: bool = False) -> None:
    """The drifted columns as a table, the decision in one line, performance and where the report is."""
    console.print(
        f"champion v{result.champion_version} of [bold]{result.project}[/], window {result.window}: "
        f"{result.window_start:%Y-%m-%d %H:%M:%S} .. {result.window_end:%Y-%m-%d %H:%M:%S} UTC, "
        f"{result.window_rows} rows served"
    )
    if result.drift_detected is None:
        console.print(f"[yellow]insufficient data[/]: fewer than {result.min_rows} rows; no drift decision")
    else:
        shown = result.columns if all_columns else tuple(c for c in result.columns if c.drifted)
        title = "monitored columns" if all_columns else "drifted columns"
        table = Table(title=f"{title} ({result.sample_rows} sampled rows vs {result.reference_rows} reference rows)")
        for header in ("column", "kind", "method", "score", "threshold", "drifted"):
            table.add_column(header, no_wrap=header in {"column", "score"})  # a name cut short is useless
        for c in shown:
            flag = "[red]yes[/]" if c.drifted else "no"
            table.add_row(c.column, c.kind, c.method, f"{c.score:.3g}", f"{c.threshold:g}", flag)
        if shown:
            console.print(table)
        verdict = "[red]DRIFT[/]" if result.drift_detected else "[green]no drift[/]"
        share = result.share_drifted if result.share_drifted is not None else 0.0
        correction = f", {result.correction} correction" if result.correction not in {"", "none"} else ""
        console.print(
            f"dataset: {verdict}: {result.drifted_count} of {len(result.columns)} columns drifted "
            f"(share {share:.4g}; dataset drift at a share >= {result.drift_share:g}{correction})"
        )
    _print_performance(result.performance, console)
    for note in result.warnings:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if result.report_url:
        console.print(f"report: {result.report_url}")
    console.print(f"summary: {result.summary_url}")
    console.print(f"mlflow run: {result.mlflow_run_id} (experiment {EXPERIMENT!r})")


def performance_line(perf: Performance) -> str:
    """The champion on its labelled traffic, in words that are right whichever way the metric runs: "worse"
    means worse (an rmse that rose, an AUC that fell), and the floor is passed or failed, not above or below."""
    if perf.value is None:
        return f"performance ({perf.metric}): no value yet; {perf.note}"
    line = f"performance on {perf.labelled_rows} labelled rows: {perf.metric} {perf.value:.4f}"
    if perf.at_gate is not None and perf.drop is not None:
        change = perf.value - perf.at_gate
        moved = "rose" if change > 0 else "fell" if change < 0 else "did not move"
        verdict = "worse" if perf.drop > 0 else "better" if perf.drop < 0 else "the same"
        line += f", {verdict} than at the gate ({perf.at_gate:.4f}: {moved} by {abs(change):.4f})"
    bound = ">=" if perf.higher_is_better else "<="
    if perf.below_floor:
        line += f"; [red]fails the floor[/] ({perf.metric} must be {bound} {perf.floor:g})"
    else:
        line += f"; meets the floor ({perf.metric} {bound} {perf.floor:g})"
    return line


def _print_performance(perf: Performance | None, console: Console) -> None:
    if perf is not None:
        console.print(performance_line(perf), highlight=False)


def print_trigger(decision: TriggerDecision, console: Console) -> None:
    """What the trigger decided, and what it did: the retraining's outcome when it ran here, or what it started
    elsewhere and where to follow it."""
    console.print(f"trigger: [bold]{decision.action}[/] - {decision.reason}", highlight=False)
    outcome = decision.outcome
    if outcome.get("version") is not None:
        console.print(
            f"retrained: version {outcome['version']} {outcome.get('decision')}: {outcome.get('reason')}",
            highlight=False,
        )
    if outcome.get("started"):
        console.print(f"started: {outcome['started']}; follow it with: {outcome.get('follow', '')}", highlight=False)


# ------------------------------------------------------------------------------------------------ the story
def print_run_summary(summary: dict[str, Any], path: str, overview: str, console: Console) -> None:
    """The last thing `make run` prints: what happened and why, the steps in order, every report, the overview."""
    table = Table(title=f"make run: {summary['project']}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key in (
        "champion_before",
        "drift_detected",
        "retrain_triggered",
        "retrained_version",
        "promoted",
        "champion_after",
        "served_version",
    ):
        table.add_row(key.replace("_", " "), str(summary[key]))
    table.add_row("duration", f"{summary['duration_s']:.1f} s")
    table.add_row(
        "validated / quarantined", f"{len(summary['validated_batches'])} / {len(summary['quarantined_batches'])}"
    )
    table.add_row("why", str(summary["promotion_reason"] or summary["trigger_reason"]))
    console.print(table)
    for chapter, finding in (summary.get("chapters") or {}).items():
        console.print(f"{chapter}: {finding}", highlight=False)
    steps = summary["timings"].items()  # in step order: the story as it happened
    console.print("steps: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in steps), highlight=False)
    latest = {"validation": 1, "drift": 1}  # the newest of these; every model card (one per version)
    for kind, urls in summary["reports"].items():
        for url in urls[-latest.get(kind, len(urls)) :]:
            console.print(f"{kind.replace('_', ' ')}: {url}", highlight=False)
    console.print(f"run summary: {path}", highlight=False)
    console.print(f"overview (every report, the whole story): {overview}", highlight=False)
