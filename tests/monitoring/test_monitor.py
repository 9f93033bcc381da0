"""`monitor()` and `mlops monitor` end to end: real champion in MLflow (SQLite), real inference log, real Evidently.

Given traffic served by the champion since its promotion, when monitoring runs, then the decision, the reports
under the data root and the MLflow "monitoring" run all agree.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from monitoring.monitor import EXPERIMENT, STATUS_INSUFFICIENT, MonitorResult, WindowSpec, monitor
from tests.helpers.monitoring import Trained, generated, label, serve

pytestmark = pytest.mark.integration

SHIFTED = {"tenure_months", "monthly_charges", "data_usage_gb", "support_calls", "contract", "internet_service"}
TRAFFIC_DAY = dt.date(2026, 2, 1)


def _since_promotion(trained: Trained) -> tuple[dt.datetime, dt.datetime]:
    return trained.promoted_at, dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def drifted(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> tuple[Trained, MonitorResult]:
    """Covariate-drift traffic served by the champion, monitored once (several tests read the same run)."""
    ws = trained.traffic_workspace(tmp_path_factory.mktemp("drifted"))
    frame = generated(ws.project, "covariate_drift", TRAFFIC_DAY, 3000)
    serve(ws, trained.model, trained.version, frame, *_since_promotion(trained))
    return trained, monitor(ws)


def test_covariate_drift_flags_the_shifted_columns(drifted: tuple[Trained, MonitorResult]) -> None:
    _, result = drifted
    assert result.drift_detected is True, result.to_json()
    assert set(result.drifted_columns) >= SHIFTED, f"flagged {result.drifted_columns}, expected at least {SHIFTED}"
    assert result.window_rows == 3000
    assert result.sample_rows == 3000
    assert result.reference_rows > 0
    assert all(c.method == ("ks" if c.kind == "numerical" else "chi2_contingency") for c in result.columns)
    assert all(c.threshold == 0.05 for c in result.columns)


def test_json_summary_matches_the_html_report(drifted: tuple[Trained, MonitorResult]) -> None:
    _trained, result = drifted
    assert result.report_url
    assert result.summary_url
    summary = json.loads(Path(result.summary_url.removeprefix("file://")).read_text())
    assert result.evidently_url
    html = Path(result.evidently_url.removeprefix("file://")).read_text()
    in_html = _html_columns(html)
    assert set(in_html) == {c["column"] for c in summary["columns"]}, sorted(in_html)
    for column in summary["columns"]:
        flag, score = in_html[column["column"]]
        assert flag == ("Detected" if column["drifted"] else "Not Detected"), column
        assert score == pytest.approx(column["score"], abs=1e-6), column  # the HTML rounds to 6 decimals
    counters = {label: value for value, label in re.findall(r'\{"value": "([^"]+)", "label": "([^"]+)"\}', html)}
    assert int(counters["Drifted Columns"]) == summary["drifted_count"]
    assert float(counters["Share of Drifted Columns"]) == pytest.approx(summary["share_drifted"], abs=1e-3)
    assert ("Dataset Drift is detected" in html) is summary["drift_detected"]


def _html_columns(html: str) -> dict[str, tuple[str, float]]:
    """Per-column verdict and score from Evidently's drift table embedded in the HTML."""
    pattern = re.compile(
        r'"column_name": "(?P<col>[^"]+)", "column_type": "\w+", "stattest_name": "[^"]+".*?'
        r'"data_drift": "(?P<flag>[^"]+)", "drift_score": (?P<score>[-0-9.e]+)',
        re.DOTALL,
    )
    found: dict[str, tuple[str, float]] = {}
    for match in pattern.finditer(html):
        found.setdefault(match["col"], (match["flag"], float(match["score"])))
    return found


def test_metrics_and_reports_are_logged_to_the_monitoring_experiment(drifted: tuple[Trained, MonitorResult]) -> None:
    from projects import tracking

    trained, result = drifted
    client = tracking.configure(trained.ws.settings)
    run = client.get_run(result.mlflow_run_id)
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    assert run.info.status == "FINISHED"
    assert run.data.metrics["drift.share"] == pytest.approx(result.share_drifted)
    assert run.data.metrics["drift.dataset"] == 1.0
    assert run.data.metrics["window.rows"] == result.window_rows
    for column in result.columns:
        assert run.data.metrics[f"drift.score.{column.column}"] == pytest.approx(column.score)
    artifacts = {a.path for a in client.list_artifacts(result.mlflow_run_id, "drift")}
    stamp = Path(result.summary_url).stem
    assert {f"drift/{stamp}.html", f"drift/{stamp}.evidently.html", f"drift/{stamp}.json"} <= artifacts, artifacts


def test_baseline_traffic_is_no_dataset_drift(trained: Trained, tmp_path: Path) -> None:
    ws = trained.traffic_workspace(tmp_path)
    frame = generated(ws.project, "baseline", TRAFFIC_DAY, 3000)
    serve(ws, trained.model, trained.version, frame, *_since_promotion(trained))
    result = monitor(ws)
    assert result.drift_detected is False, result.to_json()
    assert result.share_drifted is not None
    assert result.share_drifted < ws.project.drift.drift_share
    assert not SHIFTED & set(result.drifted_columns), result.drifted_columns


def test_too_few_rows_is_insufficient_data_with_no_decision(trained: Trained, tmp_path: Path) -> None:
    ws = trained.traffic_workspace(tmp_path)
    rows = ws.project.drift.min_rows - 1
    frame = generated(ws.project, "covariate_drift", TRAFFIC_DAY, rows)
    serve(ws, trained.model, trained.version, frame, *_since_promotion(trained))
    result = monitor(ws)
    assert result.status == STATUS_INSUFFICIENT
    assert result.drift_detected is None, "no decision below drift.min_rows"
    assert result.window_rows == rows
    assert result.columns == ()
    assert result.report_url is None
    summary = json.loads(ws.store.read_text("reports", "drift", Path(result.summary_url).name))
    assert summary["drift_detected"] is None
    assert summary["status"] == STATUS_INSUFFICIENT
    assert any("insufficient data" in note for note in summary["warnings"])


def test_window_is_only_the_champions_traffic_since_promotion(trained: Trained, tmp_path: Path) -> None:
    """Drifted rows served before the promotion, or by another version, must not count (nor re-trigger)."""
    ws = trained.traffic_workspace(tmp_path)
    drifted = generated(ws.project, "covariate_drift", TRAFFIC_DAY, 1000)
    before = trained.promoted_at - dt.timedelta(hours=2)
    serve(ws, trained.model, trained.version, drifted, before, before + dt.timedelta(minutes=30))
    serve(ws, trained.model, "999", drifted, *_since_promotion(trained))
    baseline = generated(ws.project, "baseline", TRAFFIC_DAY, 1500)
    serve(ws, trained.model, trained.version, baseline, *_since_promotion(trained))
    result = monitor(ws)
    assert result.window_rows == 1500, "only the champion's rows since its promotion are in the window"
    assert result.window_start == trained.promoted_at
    assert result.drift_detected is False, result.drifted_columns
    bounded = monitor(ws, WindowSpec.parse("500rows"))
    assert bounded.window_rows == 500


def test_concept_drift_shows_in_performance_not_in_features(trained: Trained, tmp_path: Path) -> None:
    ws = trained.traffic_workspace(tmp_path)
    frame = generated(ws.project, "concept_drift", TRAFFIC_DAY, 3000)
    serve(ws, trained.model, trained.version, frame, *_since_promotion(trained))
    label(ws, frame, TRAFFIC_DAY, "concept_drift")
    result = monitor(ws)
    perf = result.performance
    assert perf is not None, perf
    assert perf.value is not None, perf
    assert perf.metric == "roc_auc"
    assert perf.labelled_rows == 3000
    assert perf.at_gate is not None
    assert perf.drop is not None
    assert perf.drop > 0.05, f"roc_auc {perf.value:.3f} vs {perf.at_gate:.3f} at the gate: expected a clear drop"
    assert result.drift_detected is False, "concept drift leaves the features' distribution unchanged"


def test_baseline_labels_show_no_performance_drop(trained: Trained, tmp_path: Path) -> None:
    ws = trained.traffic_workspace(tmp_path)
    frame = generated(ws.project, "baseline", TRAFFIC_DAY, 3000)
    serve(ws, trained.model, trained.version, frame, *_since_promotion(trained))
    label(ws, frame.iloc[:2000], TRAFFIC_DAY, "baseline")
    perf = monitor(ws).performance
    assert perf is not None
    assert perf.value is not None
    assert perf.labelled_rows == 2000
    assert perf.drop is not None, perf
    assert abs(perf.drop) < 0.05, perf
    assert perf.below_floor is False


def test_result_json_is_strict_and_complete(drifted: tuple[Trained, MonitorResult]) -> None:
    _, result = drifted
    data = json.loads(result.to_json())
    for key in ("drift_detected", "champion_version", "window_start", "window_end", "window_rows", "sample_rows"):
        assert key in data, key
    assert dt.datetime.fromisoformat(data["window_start"]) < dt.datetime.fromisoformat(data["window_end"])
    with pytest.raises(AttributeError):
        result.drift_detected = False  # type: ignore[misc]


# --------------------------------------------------------------------------------------------- the command
def test_cli_prints_the_drifted_columns_and_the_report_path(trained: Trained) -> None:
    from typer.testing import CliRunner

    from mlops.cli import app

    ws = trained.ws  # the data root of the module's MLOPS_HOME, which the command opens itself
    frame = generated(ws.project, "covariate_drift", TRAFFIC_DAY, 1000)
    serve(ws, trained.model, trained.version, frame, *_since_promotion(trained))
    result = CliRunner().invoke(app, ["monitor", "--project", "churn", "--no-trigger"])
    assert result.exit_code == 0, result.output
    assert "drifted columns" in result.output, result.output
    assert "monthly_charges" in result.output, result.output
    report = re.search(r"report: (file://\S+\.html)", result.output)
    assert report is not None, result.output
    assert Path(report.group(1).removeprefix("file://")).is_file()
    as_json = CliRunner().invoke(app, ["monitor", "--project", "churn", "--json", "--window", "24h", "--no-trigger"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["drift_detected"] is True


def test_cli_hands_the_decision_to_the_trigger(trained: Trained) -> None:
    from typer.testing import CliRunner

    from mlops.cli import app

    # a one-second window holds no traffic: no decision, so the trigger must not retrain
    result = CliRunner().invoke(app, ["monitor", "--project", "churn", "--window", "1s"])
    assert result.exit_code == 0, result.output
    assert "insufficient data" in result.output, result.output
    assert "trigger: insufficient_data" in result.output, result.output


def test_cli_rejects_a_bad_window_naming_the_option(trained: Trained) -> None:
    from typer.testing import CliRunner

    from mlops.cli import app

    result = CliRunner().invoke(app, ["monitor", "--project", "churn", "--window", "fortnight"])
    assert result.exit_code == 2
    assert "--window" in result.output, result.output
    assert "fortnight" in result.output, result.output


def test_cli_without_a_champion_says_what_to_do(trained: Trained, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mlops.cli import app

    # unset: mlflow.set_tracking_uri/set_registry_uri exported the module's stores into this process
    env = {"MLOPS_HOME": str(tmp_path), "MLFLOW_TRACKING_URI": None, "MLFLOW_REGISTRY_URI": None}
    result = CliRunner().invoke(app, ["monitor", "--project", "churn"], env=env)
    assert result.exit_code == 2, result.output
    assert "no champion" in result.output, result.output
    assert "mlops train" in result.output, result.output
