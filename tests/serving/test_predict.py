"""``mlops predict``: offline scoring of a CSV/Parquet file with the champion, errors naming file and column."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mlops.cli import app
from tests.helpers.champions import churn_frame

if TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers.serving import Home

pytestmark = pytest.mark.integration


@pytest.fixture
def cli_env(champion_home: Home, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    uri = champion_home.settings.tracking_url
    return {"MLOPS_HOME": str(champion_home.path), "MLOPS_TRACKING_URI": uri, "MLOPS_REGISTRY_URI": uri}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_scores_a_file_like_the_model_does(
    champion_home: Home, cli_env: dict[str, str], tmp_path: Path, suffix: str
) -> None:
    import mlflow.sklearn

    ws = champion_home.ws
    frame = churn_frame(ws.project, rows=120, day=dt.date(2026, 7, 1))
    source = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        frame.to_csv(source, index=False)
    else:
        frame.to_parquet(source, index=False)
    target = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["predict", "--input", str(source), "--output", str(target)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "scored 120 rows with churn version 1" in result.output
    out = pd.read_csv(target)
    assert list(out.columns) == ["customer_id", "prediction", "probability", "model_version"]
    assert out["customer_id"].tolist() == frame["customer_id"].tolist()
    assert set(out["model_version"]) == {1}
    mlflow.set_tracking_uri(cli_env["MLOPS_TRACKING_URI"])
    model = mlflow.sklearn.load_model("models:/churn/1")
    np.testing.assert_allclose(
        out["probability"], model.predict_proba(frame[ws.project.schema.model_inputs])[:, 1], atol=1e-12
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["contract"]), "missing column(s) ['contract']"),
        (
            lambda f: f.assign(tenure_months=f["tenure_months"].where(f.index != 4, 99)),
            "'tenure_months': values outside",
        ),
        (lambda f: f.assign(region=f["region"].where(f.index != 2, "mars")), "'region': values ['mars'] not in"),
        (lambda f: f.assign(support_calls=f["support_calls"].astype(object).where(f.index != 1, "many")), "a number"),
    ],
)
def test_bad_input_names_the_file_and_column(
    champion_home: Home, cli_env: dict[str, str], tmp_path: Path, change: object, message: str
) -> None:
    frame = change(churn_frame(champion_home.ws.project, rows=10, day=dt.date(2026, 7, 2)))  # type: ignore[operator]
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    result = CliRunner().invoke(
        app, ["predict", "--input", str(source), "--output", str(tmp_path / "o.csv")], env=cli_env
    )
    assert result.exit_code == 2, result.output
    assert str(source) in result.output, result.output
    assert message in result.output, result.output
    assert not (tmp_path / "o.csv").exists()
