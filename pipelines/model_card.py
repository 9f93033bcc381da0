"""A model card per version: one self-contained HTML page a person can open, logged and kept with the reports.

It shows the data window, the metrics beside the champion's on the same holdout, the diagnostic plots
(confusion matrix, ROC and precision-recall for binary classification; for a multiclass target the N x N
confusion matrix with class names, one-vs-rest ROC curves per class beside the champion's, and a per-class
metrics table; predicted-vs-actual and residuals for regression), global feature importance (permutation
importance on the holdout, so it speaks in the contract's columns, not one-hot columns), the fairness table by
group, the behavioural tests and the gate's checks. Plots are PNGs embedded as base64, so the page has no
external files and opens from MLflow or the data root.
"""

from __future__ import annotations

import base64
import io
import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from pipelines.evaluation import THRESHOLD, class_auc, metric, per_class_metrics
from pipelines.features import project_scores
from pipelines.promotion import Evidence, GateDecision, Scorecard
from projects import registry
from projects.clock import iso_now, readable
from projects.contract import FairnessMetric, Project, Task
from projects.workspace import Workspace

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure
    from mlflow import MlflowClient
    from mlflow.entities import Run

FAIRNESS_VALUES = {  # what each group's number is, per fairness metric (pipelines.evaluation.fairness)
    FairnessMetric.demographic_parity: "positive-prediction rate",
    FairnessMetric.equal_opportunity: "true-positive rate",
    FairnessMetric.group_error_gap: "mean absolute error",
}
MULTICLASS_FAIRNESS_VALUES = {  # multiclass (pipelines.evaluation.multiclass_fairness): of the largest-gap class
    FairnessMetric.demographic_parity: "rate of predicting {cls}",
    FairnessMetric.equal_opportunity: "recall of {cls}",
    FairnessMetric.group_error_gap: "error rate",
}
IMPORTANCE_REPEATS = 3
IMPORTANCE_MAX_ROWS = 2000
SCORING = {
    "roc_auc": "roc_auc",
    "average_precision": "average_precision",
    "f1": "f1",
    "accuracy": "accuracy",
    "rmse": "neg_root_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "r2": "r2",
}


# --------------------------------------------------------------------------------------------- plots
def _figure(width: float = 4.2, height: float = 3.4) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="tight")


def to_png(fig: Figure) -> str:
    """Base64 PNG of a figure; the pyplot-free Figure API keeps this thread-safe and backend-free."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def classification_plots(challenger: Scorecard, champion: Scorecard | None) -> dict[str, str]:
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

    plots = {}
    fig = _figure()
    labels = (challenger.scores >= THRESHOLD).astype(int)
    ConfusionMatrixDisplay.from_predictions(challenger.y_true, labels, ax=fig.subplots(), colorbar=False)
    fig.axes[0].set_title(f"Confusion matrix (threshold {THRESHOLD})")
    plots["Confusion matrix"] = to_png(fig)
    for title, display in (("ROC curve", RocCurveDisplay), ("Precision-recall curve", PrecisionRecallDisplay)):
        if len(set(challenger.y_true)) < 2:
            continue
        fig = _figure()
        ax = fig.subplots()
        display.from_predictions(challenger.y_true, challenger.scores, ax=ax, name=f"v{challenger.version}")
        if champion is not None:
            display.from_predictions(
                champion.y_true,
                champion.scores,
                ax=ax,
                name=f"champion v{champion.version}",
                curve_kwargs={"linestyle": "--"},
            )
        ax.set_title(title)
        plots[title] = to_png(fig)
    return plots


def multiclass_plots(challenger: Scorecard, champion: Scorecard | None, classes: tuple[str, ...]) -> dict[str, str]:
    """The N x N confusion matrix with class names, and one-vs-rest ROC curves per class (champion dashed)."""
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    size = max(4.2, 0.6 * len(classes) + 2.4)
    fig = _figure(size, size - 0.6)
    ConfusionMatrixDisplay.from_predictions(
        challenger.y_true,
        challenger.scores.argmax(axis=1),
        labels=list(range(len(classes))),
        display_labels=list(classes),
        ax=fig.subplots(),
        colorbar=False,
        xticks_rotation=45,
    )
    fig.axes[0].set_title("Confusion matrix (most probable class)")
    plots = {"Confusion matrix": to_png(fig)}
    fig = _figure(5.4, 4.2)
    ax = fig.subplots()
    for index, name in enumerate(classes):
        color = f"C{index % 10}"
        for card, style in ((challenger, "-"), (champion, "--")):
            if card is None or math.isnan(class_auc(card.y_true, card.scores, index)):
                continue  # a class absent from the holdout (or all of it) has no curve
            label = f"{name} (v{card.version})" if card is challenger else f"{name} (champion v{card.version})"
            RocCurveDisplay.from_predictions(
                card.y_true == index,
                card.scores[:, index],
                ax=ax,
                name=label,
                curve_kwargs={"linestyle": style, "color": color},
            )
    ax.set_title("ROC curves, one class vs the rest")
    ax.legend(fontsize="x-small")
    plots["ROC curves (one vs rest)"] = to_png(fig)
    return plots


def regression_plots(challenger: Scorecard) -> dict[str, str]:
    y, pred = challenger.y_true, challenger.scores
    fig = _figure()
    ax = fig.subplots()
    ax.scatter(y, pred, s=6, alpha=0.5)
    low, high = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    ax.plot([low, high], [low, high], color="grey", linewidth=1)
    ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual")
    plots = {"Predicted vs actual": to_png(fig)}
    fig = _figure()
    ax = fig.subplots()
    ax.hist(y - pred, bins=30)
    ax.set(xlabel="residual (actual - predicted)", ylabel="rows", title="Residuals")
    plots["Residuals"] = to_png(fig)
    return plots


def importance(project: Project, model: Any, holdout: pd.DataFrame, y_true: np.ndarray) -> list[dict[str, Any]]:
    """Permutation importance of each model input on the holdout, measured with the gate's metric."""
    from sklearn.inspection import permutation_importance

    inputs = holdout[project.schema.model_inputs]
    if len(inputs) > IMPORTANCE_MAX_ROWS:
        keep = inputs.sample(n=IMPORTANCE_MAX_ROWS, random_state=0).index
        inputs, y_true = inputs.loc[keep], y_true[holdout.index.get_indexer(keep)]
    scoring: Any = SCORING.get(project.gate.metric)
    if project.schema.target.multiclass:  # the gate's own metric on the aligned probability matrix
        sign = 1.0 if project.gate.higher_is_better else -1.0

        def scoring(estimator: Any, frame: pd.DataFrame, labels: np.ndarray) -> float:
            scores = project_scores(project, estimator, frame)
            return sign * metric(project.gate.metric, project.task, labels, scores)

    result = permutation_importance(
        model, inputs, y_true, scoring=scoring, n_repeats=IMPORTANCE_REPEATS, random_state=0
    )
    rows = [
        {"feature": name, "mean": float(mean), "std": float(std)}
        for name, mean, std in zip(inputs.columns, result.importances_mean, result.importances_std, strict=True)
    ]
    return sorted(rows, key=lambda r: -r["mean"])


def importance_plot(rows: list[dict[str, Any]]) -> str:
    top = rows[:15][::-1]
    fig = _figure(5.0, 0.3 * len(top) + 1.2)
    ax = fig.subplots()
    ax.barh([r["feature"] for r in top], [r["mean"] for r in top], xerr=[r["std"] for r in top])
    ax.set(xlabel="drop in the gate metric when shuffled", title="Permutation importance (holdout)")
    return to_png(fig)


# --------------------------------------------------------------------------------------------- page
TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Model card: {{ name }} v{{ version }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f4f4f4}.pass{color:#0a7a28;font-weight:600}.fail{color:#b00020;font-weight:600}
.na,.na td{color:#888}
.badge{display:inline-block;padding:.2em .7em;border-radius:1em;color:#fff}
.promoted,.champion{background:#0a7a28}.rejected,.aborted{background:#b00020}.unchanged,.pending,.none{background:#777}
.previous{background:#57606a}.rolled_back{background:#9a6700}.status{font-size:1.1em}
.plots img{margin:.3em;border:1px solid #eee}
</style></head><body>
<h1>Model card: {{ name }} <small>v{{ version }}</small></h1>
{{ status }}
<p>The gate's decision: <span class="badge {{ decision }}">{{ decision }}</span> {{ reason }}</p>
<p>{{ description }}</p>
<h2>Model</h2>
<table>
<tr><th>Task</th><td>{{ task }}</td></tr><tr><th>Estimator</th><td>{{ estimator }} {{ params }}</td></tr>
<tr><th>MLflow run</th><td>{{ run_id }}</td></tr><tr><th>Trained at</th><td>{{ trained_at }}</td></tr>
<tr><th>Contract hash</th><td>{{ contract_hash }}</td></tr><tr><th>Libraries</th><td>{{ libraries }}</td></tr>
</table>
<h2>Data window</h2>
<table>
<tr><th>Training batches</th><td>{{ window.train_first_batch }} … {{ window.train_last_batch }}
 ({{ window.train_batches_used }} batches, {{ window.train_rows }} rows)</td></tr>
<tr><th>Watermark (newest event trained on)</th><td>{{ watermark }}</td></tr>
<tr><th>Out-of-time holdout</th><td>{{ holdout_batches }} ({{ holdout_rows }} rows)</td></tr>
</table>
<h2>Metrics on the holdout</h2>
<table><tr><th>Metric</th><th>v{{ version }}</th><th>{{ champion_label }}</th></tr>
{% for m in metrics %}<tr><td>{{ m.name }}{% if m.primary %} (gate){% endif %}</td><td>{{ m.challenger }}</td>
<td>{{ m.champion }}</td></tr>{% endfor %}</table>
<div class="plots">{% for title, png in plots.items() %}
<img alt="{{ title }}" title="{{ title }}" src="data:image/png;base64,{{ png }}">{% endfor %}</div>
{% if per_class %}<h2>Per class (holdout)</h2>
<p>Each class against the rest; the gate's macro metrics are the plain averages of these rows.</p>
<table><tr><th>Class</th><th>Rows</th><th>Predicted</th><th>Precision</th><th>Recall</th><th>F1</th>
<th>ROC AUC (one vs rest)</th><th>{{ champion_label }}: ROC AUC</th></tr>
{% for c in per_class %}<tr><td>{{ c.name }}</td><td>{{ c.support }}</td><td>{{ c.predicted }}</td>
<td>{{ c.precision }}</td><td>{{ c.recall }}</td><td>{{ c.f1 }}</td><td>{{ c.roc_auc }}</td>
<td>{{ c.champion_roc_auc }}</td></tr>{% endfor %}</table>{% endif %}
<h2>Feature importance</h2>
<img alt="Permutation importance" src="data:image/png;base64,{{ importance_png }}">
<table><tr><th>Input</th><th>Mean drop</th><th>Std</th></tr>
{% for r in importance %}<tr><td>{{ r.feature }}</td><td>{{ '%.4f'|format(r.mean) }}</td>
<td>{{ '%.4f'|format(r.std) }}</td></tr>{% endfor %}</table>
{% if fairness_audited %}<h2>Fairness across {{ sensitive }}: {{ fairness_value }} per group</h2>
<p>Each cell is the group's {{ fairness_value }} on the holdout; the gap is the largest difference between two
groups ({{ fairness_metric }}), which the gate compares with <code>gate.fairness.max_gap</code>.</p>
<table><tr><th>Group</th><th>Rows</th><th>v{{ version }}: {{ fairness_value }}</th>
<th>{{ champion_label }}: {{ fairness_value }}</th></tr>
{% for g in fairness %}<tr><td>{{ g.group }}</td><td>{{ g.rows }}</td><td>{{ g.value }}</td>
<td>{{ g.champion }}</td></tr>{% endfor %}
<tr><th>Gap ({{ fairness_metric }})</th><td></td><td>{{ fairness_gap }}</td><td>{{ champion_gap }}</td></tr></table>
{% else %}<h2 class="na">Fairness: not audited</h2>
<p class="na">{{ fairness_note }}. Nothing was checked, so nothing passed: declare <code>schema.sensitive</code> and
<code>gate.fairness</code> in project.yaml to audit it.</p>{% endif %}
<h2>Behavioural tests</h2>
<table><tr><th>Test</th><th>Kind</th><th>Result</th><th>Detail</th></tr>
{% for b in behaviour %}<tr{% if not b.evaluated %} class="na"{% endif %}><td>{{ b.name }}</td><td>{{ b.kind }}</td>
<td class="{{ {'pass': 'pass', 'fail': 'fail'}.get(b.status, 'na') }}">{{ b.status }}</td><td>{{ b.detail }}</td></tr>
{% else %}<tr><td colspan="4">none declared in project.yaml</td></tr>{% endfor %}</table>
<h2>Gate checks</h2>
<table><tr><th>Check</th><th>Result</th><th>Detail</th></tr>
{% for c in checks %}<tr{% if not c.evaluated %} class="na"{% endif %}><td>{{ c.name }}</td>
<td class="{{ {'pass': 'pass', 'fail': 'fail'}.get(c.status, 'na') }}">{{ c.status }}</td>
<td>{{ c.detail }}</td></tr>{% endfor %}</table>
</body></html>
"""


def _num(value: float | None) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def card_context(ws: Workspace, run: Run | None, decision: GateDecision, evidence: Evidence) -> dict[str, Any]:
    """Everything the template shows, as plain values (so the page is testable without MLflow)."""
    project, mv = ws.project, evidence.version
    challenger, champion, holdout = evidence.challenger, evidence.champion, evidence.holdout
    rows = importance(project, evidence.model, holdout, challenger.y_true)
    champ_groups = {g["group"]: g["value"] for g in champion.fairness.by_group} if champion else {}
    classes = project.schema.target.classes or ()
    multiclass = project.schema.target.multiclass
    if multiclass:
        plots = multiclass_plots(challenger, champion, classes)
    elif project.task is Task.classification:
        plots = classification_plots(challenger, champion)
    else:
        plots = regression_plots(challenger)
    return {
        "name": ws.name,
        "version": decision.version,
        "decision": decision.decision,
        "reason": decision.reason,
        "description": project.description,
        "task": project.task.value,
        "estimator": project.model.estimator,
        "params": project.model.params,
        "run_id": mv.run_id,
        "trained_at": mv.tags.get(registry.TAG_TRAINED_AT, ""),
        "contract_hash": mv.tags.get(registry.TAG_CONTRACT_HASH, ""),
        "libraries": mv.tags.get(registry.TAG_LIBRARIES, ""),
        "window": run.data.params if run is not None else {},
        "watermark": mv.tags.get(registry.TAG_WATERMARK, ""),
        "holdout_batches": ", ".join(decision.holdout_batches),
        "holdout_rows": len(holdout),
        "champion_label": f"champion v{champion.version}" if champion else "champion (none)",
        "metrics": [
            {
                "name": k,
                "primary": k == project.gate.metric,
                "challenger": _num(v),
                "champion": _num(champion.metrics.get(k)) if champion else "",
            }
            for k, v in challenger.metrics.items()
        ],
        "plots": plots,
        "per_class": per_class_rows(challenger, champion, classes) if multiclass else [],
        "importance": rows,
        "importance_png": importance_plot(rows),
        "sensitive": project.schema.sensitive_name,
        "fairness_audited": challenger.fairness.audited,
        "fairness_note": challenger.fairness.note,
        "fairness_metric": challenger.fairness.metric.value if challenger.fairness.metric else "",
        "fairness_value": fairness_value(challenger),
        "fairness": [
            {
                "group": g["group"],
                "rows": g["rows"],
                "value": _num(g["value"]),
                "champion": _num(champ_groups.get(g["group"])),
            }
            for g in challenger.fairness.by_group
        ],
        "fairness_gap": _num(challenger.fairness.gap),
        "champion_gap": _num(champion.fairness.gap) if champion else "",
        "behaviour": challenger.behaviour,
        "checks": decision.checks,
    }


def fairness_value(challenger: Scorecard) -> str:
    """What each group's number is: per fairness metric, and for multiclass of which class."""
    fair = challenger.fairness
    if fair.metric is None:
        return ""
    if fair.worst_class is not None:
        return MULTICLASS_FAIRNESS_VALUES[fair.metric].format(cls=fair.worst_class)
    return FAIRNESS_VALUES.get(fair.metric, "value")


def per_class_rows(challenger: Scorecard, champion: Scorecard | None, classes: tuple[str, ...]) -> list[dict[str, Any]]:
    """The per-class table: the challenger's precision, recall, f1, one-vs-rest AUC, and the champion's AUC."""
    rows = per_class_metrics(challenger.y_true, challenger.scores, classes)
    theirs = per_class_metrics(champion.y_true, champion.scores, classes) if champion is not None else []
    return [
        {
            "name": row["class"],
            "support": row["support"],
            "predicted": row["predicted"],
            **{k: _num(row[k]) for k in ("precision", "recall", "f1", "roc_auc")},
            "champion_roc_auc": _num(theirs[i]["roc_auc"]) if theirs else "",
        }
        for i, row in enumerate(rows)
    ]


def render(values: dict[str, Any]) -> str:
    from jinja2 import Environment

    status = Markup(values.get("status_html", ""))  # noqa: S704 - status_block() escapes everything it holds
    return Environment(autoescape=True).from_string(TEMPLATE).render(**values, status=status)


# --------------------------------------------------------------------------------------------- status
STATUS_START, STATUS_END = "<!-- mlops:status -->", "<!-- /mlops:status -->"


def card_status(client: MlflowClient, project: str, version: str) -> tuple[str, str]:
    """(status, sentence): what the version is now in the registry, which a card published earlier cannot know."""
    name = registry.model_name(project)
    mv = client.get_model_version(name, version)
    tags = dict(mv.tags or {})
    aliases = {registry.alias_version(client, project, a): a for a in (registry.PREVIOUS, registry.CHAMPION)}
    if tags.get(registry.TAG_ROLLED_BACK) == "true":
        when = readable(tags.get(registry.TAG_ROLLED_BACK_AT)) or "?"
        return "rolled_back", f"rolled back at {when}; never promoted again"
    alias = aliases.get(version)
    if alias == registry.CHAMPION:
        return alias, f"the champion, serving since {readable(tags.get(registry.TAG_PROMOTED_AT)) or '?'}"
    if alias == registry.PREVIOUS:
        return alias, "the previous champion: `mlops rollback` would restore it"
    if tags.get(registry.TAG_DECISION) == "promoted":
        return "none", "was champion; replaced since (see the run overview for the current one)"
    return "none", "never champion"


def status_block(status: str, sentence: str) -> str:
    return (
        f'{STATUS_START}<p class="status">Now: <span class="badge {escape(status)}">{escape(status.replace("_", " "))}'
        f"</span> {escape(sentence)} <small>(as of {escape(readable(iso_now()))})</small></p>{STATUS_END}"
    )


def mark_status(ws: Workspace, client: MlflowClient, version: str) -> bool:
    """Rewrite the status line of a published card to what the version is now; False if already right or absent.

    Called whenever an alias moves (promotion, rollback): the card under the data root and its copy on the run.
    """
    name = f"v{version}.html"
    if not ws.store.exists("reports", "model_cards", name):
        return False
    html = ws.store.read_text("reports", "model_cards", name)
    start, end = html.find(STATUS_START), html.find(STATUS_END)
    status, sentence = card_status(client, ws.name, version)
    current = html[start:end] if start >= 0 and end > start else ""
    if f'class="badge {status}"' in current and sentence in current:
        return False
    block = status_block(status, sentence)
    if current:
        html = html[:start] + block + html[end + len(STATUS_END) :]
    else:  # a card published before status lines existed
        html = html.replace("</h1>", "</h1>\n" + block, 1)
    ws.store.write_text("reports", "model_cards", name, text=html)
    run_id = client.get_model_version(registry.model_name(ws.name), version).run_id
    if run_id:
        _log_card(client, run_id, html)
    return True


def mark_all(ws: Workspace, client: MlflowClient) -> list[str]:
    """Bring every published card's status line up to date; returns the versions rewritten."""
    names = ws.store.list("reports", "model_cards", suffixes=(".html",))
    versions = [n.removeprefix("v").removesuffix(".html") for n in names]
    return [v for v in versions if v.isdigit() and mark_status(ws, client, v)]


def _log_card(client: MlflowClient, run_id: str, html: str) -> None:
    folder, filename = registry.ARTIFACT_MODEL_CARD.rsplit("/", 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        path.write_text(html, encoding="utf-8")
        client.log_artifact(run_id, str(path), artifact_path=folder)


def publish_model_card(ws: Workspace, client: MlflowClient, decision: GateDecision, evidence: Evidence) -> str:
    """Render the card, save it under ``reports/model_cards/v<version>.html`` and log it on the version's run."""
    mv = evidence.version
    run = client.get_run(mv.run_id) if mv.run_id else None
    values = card_context(ws, run, decision, evidence)
    values["status_html"] = status_block(*card_status(client, ws.name, decision.version))
    html = render(values)
    url = ws.store.write_text("reports", "model_cards", f"v{decision.version}.html", text=html)
    if mv.run_id:
        _log_card(client, mv.run_id, html)
    return url
