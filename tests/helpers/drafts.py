"""Sample batches unlike churn, as a user would bring them, for `mlops project init-from-data` and the template.

- ``fraud``: binary; a text id, an ISO timestamp, yes/no labels, a coded category (1-4), a lower-case category,
  missing amounts, and a free-text column the draft must leave out (``schema.ignore``);
- ``harvest``: regression; no id, no timestamp (the batch time comes from the file name), an integer count and
  a coded soil class;
- ``parcels``: multiclass (four routes); an integer id, a timestamp written "YYYY-MM-DD HH:MM:SS" without a zone,
  Y/N flags, a coded zone (1-5), an integer distance; no sensitive attribute.

Each has a learnable signal (the gate's drafted floor is met) and ``drift=True`` shifts the later batches.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

START = dt.date(2026, 5, 1)


def fraud_batch(day: dt.date, rows: int, seed: int, drift: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = np.round(rng.gamma(2.0, 60.0 if drift else 40.0, rows), 2)
    channel = rng.choice(["web", "app", "pos"], rows, p=[0.6, 0.3, 0.1] if drift else [0.3, 0.3, 0.4])
    shelf = rng.integers(1, 5, rows)
    items = rng.integers(1, 30, rows)
    score = -3.0 + 0.012 * amount + 1.2 * (channel == "web") + 0.3 * shelf
    fraud = rng.random(rows) < 1 / (1 + np.exp(-score))
    minutes = rng.integers(0, 24 * 60, rows)
    frame = pd.DataFrame(
        {
            "txn_id": [f"T{day:%Y%m%d}-{i:05d}" for i in range(rows)],
            "created_at": [
                (dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=int(m))).isoformat() + "Z" for m in minutes
            ],
            "amount": amount,
            "channel": channel,
            "shelf": shelf,
            "items": items,
            "note": [f"customer said {rng.integers(0, 10**6)}" for _ in range(rows)],
            "is_fraud": np.where(fraud, "yes", "no"),
        }
    )
    frame.loc[rng.random(rows) < 0.02, "amount"] = np.nan
    return frame


def harvest_batch(day: dt.date, rows: int, seed: int, drift: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rain = rng.gamma(2.0, 30.0 if drift else 20.0, rows)
    temp = rng.normal(24.0 if drift else 18.0, 4.0, rows)
    soil = rng.integers(1, 4, rows)
    workers = rng.integers(2, 20, rows)
    harvest = 2.0 + 0.04 * rain - 0.05 * (temp - 18) ** 2 + 0.8 * soil + 0.1 * workers + rng.normal(0, 0.5, rows)
    return pd.DataFrame(
        {
            "rain_mm": np.round(rain, 1),
            "temp_c": np.round(temp, 1),
            "soil_class": soil,
            "workers": workers,
            "yield_t": np.round(harvest, 2),
        }
    )


ROUTES = ("air", "courier", "rail", "road")


def parcels_batch(day: dt.date, rows: int, seed: int, drift: bool = False) -> pd.DataFrame:
    """Each route's score rests on other inputs (road: short trips; rail: long and heavy; air: long, light or
    fragile; courier: short, light, in the inner zone), so the route is learnable; later, trips are longer and
    parcels heavier (covariate drift, and the route mix moves with it)."""
    rng = np.random.default_rng(seed)
    distance = rng.integers(5, 1800 if drift else 1200, rows)
    weight = np.round(rng.gamma(2.0, 6.0 if drift else 3.0, rows), 2)
    zone = rng.integers(1, 6, rows)
    fragile = rng.random(rows) < 0.25
    scores = np.column_stack(
        [
            -2.0 + distance / 300 - 0.25 * weight + 2.0 * fragile,  # air
            3.5 - distance / 150 - 0.2 * weight + 1.5 * (zone == 1),  # courier
            -3.0 + distance / 400 + 0.3 * weight,  # rail
            1.5 - distance / 500,  # road
        ]
    )
    route = np.array(ROUTES)[np.argmax(scores + rng.gumbel(0, 0.5, scores.shape), axis=1)]
    seconds = rng.integers(0, 24 * 3600, rows)
    return pd.DataFrame(
        {
            "parcel_id": [int(f"{day:%Y%m%d}{i:05d}") for i in range(rows)],
            "scanned_at": [
                (dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=int(s))).strftime("%Y-%m-%d %H:%M:%S")
                for s in seconds
            ],
            "distance_km": distance,
            "weight_kg": weight,
            "zone": zone,
            "fragile": np.where(fragile, "Y", "N"),
            "route": route,
        }
    )


DATASETS = {
    "fraud": (fraud_batch, "is_fraud", "transactions"),
    "harvest": (harvest_batch, "yield_t", "fields"),
    "parcels": (parcels_batch, "route", "scans"),
}


def write_batches(kind: str, folder: Path, batches: int = 7, rows: int = 400, drift_from: int | None = 5) -> Path:
    """``batches`` daily CSV files named <date>_<what>.csv; from batch ``drift_from`` on, the world has moved."""
    make, _, what = DATASETS[kind]
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(batches):
        day = START + dt.timedelta(days=index)
        drifted = drift_from is not None and index >= drift_from
        make(day, rows, seed=100 + index, drift=drifted).to_csv(folder / f"{day}_{what}.csv", index=False)
    return folder
