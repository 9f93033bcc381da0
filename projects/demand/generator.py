"""Synthetic store demand: how many units a store sells in a day, from price, promotion, weekday and weather.

A regression project from another domain than churn, declared the way much real data arrives: no id column
(rows are keyed by their values), no sensitive attribute (fairness is recorded as not audited), and the shelf
level coded as numbers 1-4 (1, 1.0 and "1" are the same category).

- ``baseline``: a steady market; demand falls with price, rises with promotions, eye-level shelves and warm days.
- ``price_war``: a competitor undercuts: prices and the competitor's prices fall, promotions are everywhere
  (drift a monitor can see), and shoppers become far more price-sensitive while promotions lose their pull
  (the old model's sense of price goes stale, so a model retrained on the new weeks wins).
- ``breakage``: inconsistent formats (casing, whitespace, shelf levels written as "3.0"), missing prices beyond
  the declared share, impossible outliers, duplicate rows.

Every batch is a pure function of (seed, date, scenario, rows).
"""

from __future__ import annotations

import datetime as dt
import zlib
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from projects.contract import Project

SIZES = ("small", "medium", "large")
REGIONS = ("north", "south", "east", "west")
BASE_UNITS = {"small": 40.0, "medium": 90.0, "large": 160.0}


def expected_units(frame: pd.DataFrame, price_war: bool) -> np.ndarray:
    """The demand mechanism: expected units sold. ``price_war`` is the changed market."""
    import numpy as np

    base = frame["store_size"].map(BASE_UNITS).to_numpy(float)
    price = frame["price"].fillna(10.0).to_numpy(float)
    rival = frame["competitor_price"].to_numpy(float)
    promo = frame["promo"].to_numpy(float)
    eye_level = (frame["shelf_level"].astype(float) == 1).to_numpy(float)
    warmth = frame["temperature"].to_numpy(float) - 15.0
    elasticity, promo_lift, shelf_lift = (2.2, 1.05, 1.1) if price_war else (0.6, 1.35, 1.3)
    price_effect = np.exp(-elasticity * (price - 10.0) / 10.0)
    undercut = np.clip(1.0 + (0.08 if price_war else 0.03) * (rival - price), 0.3, 2.0)
    lifts = np.where(promo > 0, promo_lift, 1.0) * np.where(eye_level > 0, shelf_lift, 1.0)
    return base * price_effect * undercut * lifts * (1.0 + 0.012 * warmth)


class DemandGenerator:
    """Seeded generator of daily demand batches (see the module docstring for the scenarios)."""

    scenarios: ClassVar[tuple[str, ...]] = ("baseline", "price_war", "breakage")
    shift_scenario: ClassVar[str | None] = "price_war"  # what `make run` lands as the market changing

    def __init__(self, project: Project, seed: int) -> None:
        self.project = project
        self.seed = seed

    def _rng(self, date: dt.date, scenario: str) -> np.random.Generator:
        import numpy as np

        return np.random.default_rng(zlib.crc32(f"{self.seed}|{date.isoformat()}|{scenario}".encode()))

    def batch(self, date: dt.date, scenario: str, rows: int) -> pd.DataFrame:
        import numpy as np

        if scenario not in self.scenarios:
            raise ValueError(f"unknown scenario {scenario!r}; expected one of {self.scenarios}")
        rng = self._rng(date, scenario)
        war = scenario == "price_war"
        frame = self._sales(rng, date, rows, war)
        mean = expected_units(frame, war)
        frame["units_sold"] = np.clip(rng.normal(mean, 4.0 + 0.12 * mean), 0, 5000).round()
        if scenario == "breakage":
            frame = self._break(frame, rng)
        return frame

    def _sales(self, rng: np.random.Generator, date: dt.date, n: int, war: bool) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        start = dt.datetime.combine(date, dt.time(0, 0), tzinfo=dt.UTC)
        seconds = np.sort(rng.integers(0, 86_400, n))
        price = np.clip(rng.normal(8.0 if war else 11.0, 2.5, n), 1.0, 30.0).round(2)
        rival = np.clip(price + rng.normal(-1.5 if war else 0.5, 1.5, n), 1.0, 30.0).round(2)
        frame = pd.DataFrame(
            {
                "sold_at": [(start + dt.timedelta(seconds=int(s))).isoformat() for s in seconds],
                "price": price,
                "competitor_price": rival,
                "promo": rng.random(n) < (0.45 if war else 0.15),
                "shelf_level": rng.choice([1, 2, 3, 4], n, p=(0.25, 0.35, 0.25, 0.15)),
                "temperature": np.clip(rng.normal(15.0, 6.0, n), -20, 45).round(1),
                "store_size": rng.choice(SIZES, n, p=(0.5, 0.35, 0.15)),
                "region": rng.choice(REGIONS, n),
            }
        )
        frame.loc[rng.random(n) < 0.005, "price"] = np.nan  # well within the declared 2 % share
        return frame

    def _break(self, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """The data-quality problems: cleaning fixes formats and duplicates, the suite stops the rest."""
        import numpy as np
        import pandas as pd

        n = len(frame)
        out = frame.astype({"store_size": object, "region": object, "shelf_level": object})
        pick = rng.random(n) < 0.2
        out.loc[pick, "store_size"] = out.loc[pick, "store_size"].str.upper()
        pick = rng.random(n) < 0.2
        out.loc[pick, "region"] = "  " + out.loc[pick, "region"].str.title() + " "
        pick = rng.random(n) < 0.3
        out.loc[pick, "shelf_level"] = [f"{float(v):.1f}" for v in out.loc[pick, "shelf_level"]]  # coded: same value
        out.loc[rng.random(n) < 0.2, "price"] = np.nan
        slip = rng.choice(n, size=max(1, n // 100), replace=False)
        out.loc[out.index[slip], "competitor_price"] = out.loc[out.index[slip], "competitor_price"] * 100
        dupes = out.sample(n=max(1, n // 20), random_state=int(rng.integers(1 << 31)))
        return pd.concat([out, dupes], ignore_index=True)

    def to_csv(self, frame: pd.DataFrame) -> bytes:
        """Landing format: CSV, booleans as true/false, missing as empty fields."""
        out = frame.copy()
        for column in out.columns:
            if out[column].dtype == bool:
                out[column] = out[column].map({True: "true", False: "false"})
        return out.to_csv(index=False).encode()
