"""A worked multiclass project for the tests: support tickets routed to one of four teams.

The contract is written here (a ``files`` project, so its batches are CSV files the test writes), and the
batches come from a known mechanism: each team's logit depends on different inputs (hardware on the number of
devices, network on the phone channel, billing on business customers, account on long messages), so a
multinomial logistic regression learns it well and a behaviour test can name the class whose probability must
move. ``language`` is the audit-only sensitive attribute and has no effect on the label.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from projects.contract import Project, parse_project

if TYPE_CHECKING:
    import pandas as pd

NAME = "tickets"
CLASSES = ("billing", "network", "hardware", "account")
START = dt.date(2026, 3, 1)


def contract(source_url: str = "file:///nonexistent/tickets") -> dict[str, Any]:
    return {
        "name": NAME,
        "description": "Support tickets routed to a team (test project for multiclass support).",
        "task": "classification",
        "source": {"kind": "files", "url": source_url, "pattern": "*.csv"},
        "schema": {
            "id": {"name": "ticket_id"},
            "timestamp": {"name": "opened_at"},
            "target": {"name": "team", "type": "categorical", "classes": list(CLASSES)},
            "sensitive": {"name": "language", "values": ["en", "fr"], "model_input": False},
            "features": [
                {"name": "words", "type": "numeric", "min": 0, "max": 2000},
                {"name": "devices", "type": "numeric", "min": 0, "max": 20, "integer": True},
                {"name": "channel", "type": "categorical", "values": ["email", "phone", "chat"]},
                {"name": "business", "type": "boolean"},
            ],
        },
        "model": {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 1000}},
        "training": {"window_batches": 5, "holdout_batches": 1, "reference_rows": 1000, "min_rows": 200},
        "gate": {
            "metric": "roc_auc",
            "floor": 0.75,
            "fairness": {"metric": "demographic_parity_difference", "max_gap": 0.15},
            "behaviour": [
                {
                    "kind": "invariance",
                    "name": "language does not change the team",
                    "column": "language",
                    "values": ["en", "fr"],
                    "tolerance": 0.0,
                },
                {
                    "kind": "directional",
                    "name": "more devices make hardware likelier",
                    "column": "devices",
                    "delta": 3,
                    "direction": "increase",
                    "target_class": "hardware",
                    "min_share": 0.95,
                },
                {
                    "kind": "minimum_functionality",
                    "name": "phone tickets routed well",
                    "where": "channel == 'phone'",
                    "metric": "accuracy",
                    "min": 0.5,
                    "min_rows": 30,
                },
            ],
        },
        "drift": {"min_rows": 50, "sample_rows": 2000},
        "serving": {"poll_seconds": 1, "log_flush_rows": 100, "log_flush_seconds": 1},
    }


def project(source_url: str = "file:///nonexistent/tickets") -> Project:
    return parse_project(contract(source_url), "tests/helpers/multiclass.py:contract")


def write_project(projects_dir: Path, source: Path) -> Path:
    """projects/<name>/project.yaml for commands that load the project by name; returns the file."""
    folder = projects_dir / NAME
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "project.yaml"
    path.write_text(yaml.safe_dump(contract(source.as_uri()), sort_keys=False), encoding="utf-8")
    return path


def batch(day: dt.date, rows: int = 300, seed: int = 0, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    """One day of tickets as they arrive (text columns, booleans as words); ``drop``: classes never drawn."""
    import pandas as pd

    rng = np.random.default_rng(seed + day.toordinal())
    words = rng.gamma(2.0, 90.0, rows).clip(0, 2000).round(1)
    devices = rng.poisson(2.0, rows).clip(0, 20)
    channel = rng.choice(["email", "phone", "chat"], rows, p=[0.4, 0.35, 0.25])
    business = rng.random(rows) < 0.4
    logits = np.column_stack(
        [
            1.8 * business - 0.5,  # billing
            2.2 * (channel == "phone") - 0.6,  # network
            0.9 * devices - 1.8,  # hardware
            words / 120.0 - 1.2,  # account
        ]
    )
    for name in drop:
        logits[:, CLASSES.index(name)] = -np.inf
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    team = [CLASSES[rng.choice(len(CLASSES), p=p)] for p in proba]
    start = dt.datetime.combine(day, dt.time(8), dt.UTC)
    return pd.DataFrame(
        {
            "ticket_id": [f"T{day:%Y%m%d}-{i:04d}" for i in range(rows)],
            "opened_at": [(start + dt.timedelta(minutes=i)).isoformat() for i in range(rows)],
            "words": words,
            "devices": devices,
            "channel": channel,
            "business": np.where(business, "true", "false"),
            "language": rng.choice(["en", "fr"], rows),
            "team": team,
        }
    )


def write_batches(folder: Path, first: dt.date, count: int, rows: int = 300) -> list[Path]:
    """``count`` daily CSV batches named by their date (the files source orders them by it)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for offset in range(count):
        day = first + dt.timedelta(days=offset)
        path = folder / f"{day.isoformat()}_tickets.csv"
        batch(day, rows).to_csv(path, index=False)
        paths.append(path)
    return paths
