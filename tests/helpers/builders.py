"""Tiny validated data and project variants for the model and registry suites.

Validated batches are made the way the data gate makes them (generator -> CSV -> read_frame -> coerce_types ->
validated/<batch>.parquet), so these suites do not depend on the data-gate code. Project variants are modified
copies of the churn contract (``model_copy``): a worse estimator, the sensitive attribute as an input, an extra
invariance; and a small regression project whose contract is written here.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np

from pipelines.datasets import coerce_types, validated_name
from projects.contract import Invariance, ModelSpec, Project, parse_project
from projects.sources import batch_name, load_generator, read_frame

if TYPE_CHECKING:
    import pandas as pd

    from projects.storage import ProjectStore

START = dt.date(2026, 1, 1)
ROWS = 300
BATCHES = 8  # 6 trained on, the newest 2 held out (churn's training.holdout_batches)

Batches = list[tuple[str, "pd.DataFrame"]]


def churn_batches(project: Project, batches: int = BATCHES, rows: int = ROWS, scenario: str = "baseline") -> Batches:
    """(validated file name, frame) for consecutive daily generator batches, typed like the validated store."""
    generator = load_generator(project)
    out = []
    for offset in range(batches):
        day = START + dt.timedelta(days=offset)
        raw = generator.batch(day, scenario, rows)
        frame = coerce_types(project, read_frame(generator.to_csv(raw), "batch.csv"))
        out.append((validated_name(batch_name(day, scenario)), frame))
    return out


def gender_biased(batches: Batches, extra_rate: float = 0.25) -> Batches:
    """Labels correlated with the sensitive attribute: extra churn among women, so using gender pays off."""
    import pandas as pd

    out = []
    for index, (name, frame) in enumerate(batches):
        rng = np.random.default_rng(1000 + index)
        women = (frame["gender"] == "female").to_numpy(dtype=bool)
        churned = frame["churned"].to_numpy(dtype=bool) | (women & (rng.random(len(frame)) < extra_rate))
        out.append((name, frame.assign(churned=pd.array(churned, dtype="boolean"))))
    return out


def write_validated(store: ProjectStore, batches: Batches) -> None:
    for name, frame in batches:
        store.write_parquet("validated", name, frame=frame)


def concat(batches: Batches) -> pd.DataFrame:
    import pandas as pd

    return pd.concat([frame for _, frame in batches], ignore_index=True)


# --------------------------------------------------------------------------------------------- variants
def with_estimator(project: Project, estimator: str, params: dict[str, Any] | None = None) -> Project:
    spec = project.model.model_copy(update={"estimator": estimator, "params": params or {}})
    return project.model_copy(update={"model": spec})


def with_gate(project: Project, **changes: Any) -> Project:
    return project.model_copy(update={"gate": project.gate.model_copy(update=changes)})


def with_sensitive_input(project: Project) -> Project:
    """The sensitive attribute fed to the model, and the gender invariance dropped: only fairness can stop it."""
    sensitive = project.schema.sensitive.model_copy(update={"model_input": True})
    schema = project.schema.model_copy(update={"sensitive": sensitive})
    behaviour = tuple(b for b in project.gate.behaviour if getattr(b, "column", None) != sensitive.name)
    changed = project.model_copy(update={"schema_": schema})
    return with_gate(changed, behaviour=behaviour)


def with_region_invariance(project: Project, tolerance: float = 0.01) -> Project:
    """Declares that region must not move the score; a model trained with region as a feature breaks it."""
    test = Invariance(
        kind="invariance",
        name="region does not change the score",
        column="region",
        values=("north", "south", "east", "west"),
        tolerance=tolerance,
    )
    return with_gate(project, behaviour=(*project.gate.behaviour, test))


def dummy(project: Project) -> Project:
    """A deliberately worse challenger: predicts the base rate for everyone."""
    return project.model_copy(
        update={"model": ModelSpec(estimator="sklearn.dummy.DummyClassifier", params={"strategy": "prior"})}
    )


# --------------------------------------------------------------------------------------------- regression
REGRESSION_NAME = "energy"


def regression_contract() -> dict[str, Any]:
    """A small regression project: daily energy use of a building from weather and calendar."""
    return {
        "name": REGRESSION_NAME,
        "description": "Daily energy use of a building (test project for regression support).",
        "task": "regression",
        "source": {"kind": "files", "url": "file:///nonexistent/energy", "pattern": "*.csv"},
        "schema": {
            "id": {"name": "reading_id"},
            "timestamp": {"name": "read_at"},
            "target": {"name": "kwh", "type": "numeric", "positive": None},
            "sensitive": {"name": "district", "values": ["old-town", "new-town"], "model_input": False},
            "features": [
                {"name": "temperature", "type": "numeric", "min": -30, "max": 45, "outliers": "clip"},
                {"name": "occupants", "type": "numeric", "min": 0, "max": 500, "max_null_fraction": 0.1},
                {"name": "building", "type": "categorical", "values": ["office", "school", "shop"]},
                {"name": "holiday", "type": "boolean"},
            ],
        },
        "model": {"estimator": "sklearn.linear_model.Ridge", "params": {"alpha": 1.0}},
        "training": {"window_batches": 6, "holdout_batches": 1, "reference_rows": 500, "min_rows": 100},
        "gate": {
            "metric": "rmse",
            "min_improvement": 0.0,
            "floor": 40.0,
            "fairness": {"metric": "group_error_gap", "max_gap": 10.0},
            "behaviour": [
                {
                    "kind": "directional",
                    "name": "more occupants use more energy",
                    "column": "occupants",
                    "delta": 20,
                    "direction": "increase",
                    "min_share": 0.95,
                },
                {
                    "kind": "minimum_functionality",
                    "name": "schools are predicted well",
                    "where": "building == 'school'",
                    "metric": "mae",
                    "min": 40.0,
                },
            ],
        },
    }


def regression_project() -> Project:
    return parse_project(regression_contract(), "tests/model/builders.py:regression_contract")


def regression_batches(project: Project, batches: int = 6, rows: int = 200, seed: int = 7) -> Batches:
    """Energy readings with a known linear mechanism plus noise; typed like the validated store."""
    import pandas as pd

    out = []
    for offset in range(batches):
        rng = np.random.default_rng(seed + offset)
        day = START + dt.timedelta(days=offset)
        temperature = rng.normal(12, 9, rows).clip(-30, 45)
        occupants = rng.integers(5, 400, rows).astype(float)
        building = rng.choice(["office", "school", "shop"], rows)
        holiday = rng.random(rows) < 0.1
        kwh = 80 + 2.5 * np.abs(temperature - 18) + 0.6 * occupants - 40 * holiday
        kwh += np.where(building == "shop", 30, 0) + rng.normal(0, 10, rows)
        frame = pd.DataFrame(
            {
                "reading_id": [f"R{day:%Y%m%d}-{i:04d}" for i in range(rows)],
                "read_at": [
                    dt.datetime.combine(day, dt.time(0), dt.UTC) + dt.timedelta(minutes=i) for i in range(rows)
                ],
                "temperature": temperature,
                "occupants": np.where(rng.random(rows) < 0.05, np.nan, occupants),
                "building": building,
                "holiday": holiday,
                "district": rng.choice(["old-town", "new-town"], rows),
                "kwh": kwh,
            }
        )
        frame["read_at"] = frame["read_at"].astype(str)
        out.append((validated_name(f"{day.isoformat()}_readings.csv"), coerce_types(project, frame)))
    return out


def write_regression_project(projects_dir: Any) -> None:
    """Write the regression contract as projects/<name>/project.yaml (for commands that load by name)."""
    import yaml

    folder = projects_dir / REGRESSION_NAME
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "project.yaml").write_text(yaml.safe_dump(regression_contract(), sort_keys=False), encoding="utf-8")
