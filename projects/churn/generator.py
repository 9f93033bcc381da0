"""Synthetic customer churn: mixed features, dated batches, a known label mechanism, and four scenarios.

- ``baseline``: the reference world.
- ``covariate_drift``: customers change (higher charges, more month-to-month contracts, more fibre, heavier
  usage); the label mechanism is unchanged.
- ``concept_drift``: customers look the same but the reasons they churn change (support calls and price
  sensitivity matter much more, long tenure protects less).
- ``market_shift``: both at once, the story `make run` tells: prices rise and the customer mix moves (feature
  drift a monitor can see) while customers become far more price- and service-sensitive (the old model's
  reasons go stale, so a retrained model wins on the new data).
- ``breakage``: the seed's four data-quality problems at once: inconsistent formats (casing, whitespace,
  data usage written with units), missing values beyond the declared share, impossible outliers, duplicate rows.

Every batch is a pure function of (seed, date, scenario, rows), so tests and workshops get the same data.
"""

from __future__ import annotations

import datetime as dt
import zlib
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from projects.contract import Project

CONTRACTS = ("month-to-month", "one-year", "two-year")
INTERNET = ("dsl", "fiber", "none")
PAYMENT = ("bank-transfer", "credit-card", "electronic-check", "mailed-check")
REGIONS = ("north", "south", "east", "west")
GENDERS = ("female", "male")


def _logit(frame: pd.DataFrame, concept: bool) -> np.ndarray:
    """The label mechanism. ``concept=True`` is the changed world of the concept-drift scenario."""
    month_to_month = (frame["contract"] == "month-to-month").to_numpy(float)
    two_year = (frame["contract"] == "two-year").to_numpy(float)
    fiber = (frame["internet_service"] == "fiber").to_numpy(float)
    echeck = (frame["payment_method"] == "electronic-check").to_numpy(float)
    tenure = frame["tenure_months"].fillna(24).to_numpy(float)
    charges = frame["monthly_charges"].fillna(70).to_numpy(float)
    calls = frame["support_calls"].to_numpy(float)
    partner = frame["has_partner"].to_numpy(float)
    if not concept:
        return (
            -1.2
            + 1.3 * month_to_month
            - 0.8 * two_year
            - 0.035 * tenure
            + 0.018 * (charges - 70)
            + 0.28 * calls
            + 0.45 * fiber
            + 0.35 * echeck
            - 0.35 * partner
        )
    return (
        -1.6
        + 0.3 * month_to_month
        - 0.2 * two_year
        - 0.005 * tenure
        + 0.045 * (charges - 70)
        + 0.75 * calls
        - 0.4 * fiber
        + 0.1 * echeck
        + 0.3 * partner
    )


class ChurnGenerator:
    """Seeded generator of daily churn batches (see the module docstring for the scenarios)."""

    scenarios: ClassVar[tuple[str, ...]] = ("baseline", "covariate_drift", "concept_drift", "market_shift", "breakage")
    shift_scenario: ClassVar[str | None] = "market_shift"  # what `make run` lands as the market changing

    def __init__(self, project: Project, seed: int) -> None:
        self.project = project
        self.seed = seed

    def _rng(self, date: dt.date, scenario: str) -> np.random.Generator:
        import numpy as np

        key = zlib.crc32(f"{self.seed}|{date.isoformat()}|{scenario}".encode())
        return np.random.default_rng(key)

    def batch(self, date: dt.date, scenario: str, rows: int) -> pd.DataFrame:
        import numpy as np

        if scenario not in self.scenarios:
            raise ValueError(f"unknown scenario {scenario!r}; expected one of {self.scenarios}")
        rng = self._rng(date, scenario)
        frame = self._customers(rng, date, rows, drifted=scenario in {"covariate_drift", "market_shift"})
        probability = 1 / (1 + np.exp(-_logit(frame, concept=scenario in {"concept_drift", "market_shift"})))
        frame["churned"] = rng.random(rows) < probability
        if scenario == "breakage":
            frame = self._break(frame, rng)
        return frame

    def _customers(self, rng: np.random.Generator, date: dt.date, n: int, drifted: bool) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        start = dt.datetime.combine(date, dt.time(0, 0), tzinfo=dt.UTC)
        seconds = np.sort(rng.integers(0, 86_400, n))
        contract_p = (0.7, 0.2, 0.1) if drifted else (0.45, 0.3, 0.25)
        internet_p = (0.2, 0.7, 0.1) if drifted else (0.4, 0.4, 0.2)
        tenure = np.clip(rng.gamma(2.0, 6.0 if drifted else 12.0, n), 0, 72).round()
        charges = np.clip(rng.normal(100 if drifted else 65, 22, n), 15, 200).round(2)
        usage = np.clip(rng.lognormal(5.6 if drifted else 4.8, 0.6, n), 0, 5000).round(1)
        frame = pd.DataFrame(
            {
                "customer_id": [f"C{date:%Y%m%d}-{i:05d}" for i in range(n)],
                "event_time": [(start + dt.timedelta(seconds=int(s))).isoformat() for s in seconds],
                "tenure_months": tenure,
                "monthly_charges": charges,
                "data_usage_gb": usage,
                "support_calls": rng.poisson(2.5 if drifted else 1.5, n),
                "contract": rng.choice(CONTRACTS, n, p=contract_p),
                "internet_service": rng.choice(INTERNET, n, p=internet_p),
                "payment_method": rng.choice(PAYMENT, n),
                "region": rng.choice(REGIONS, n),
                "senior_citizen": rng.random(n) < 0.16,
                "has_partner": rng.random(n) < 0.48,
                "paperless_billing": rng.random(n) < 0.6,
                "gender": rng.choice(GENDERS, n),
            }
        )
        missing = rng.random(n) < 0.01  # within the declared 5 % share for data usage
        frame.loc[missing, "data_usage_gb"] = np.nan
        return frame

    def _break(self, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """Apply the four data-quality problems; cleaning fixes the first and last, the suite stops the rest."""
        import numpy as np
        import pandas as pd

        n = len(frame)
        out = frame.astype({"data_usage_gb": object, "contract": object, "internet_service": object})
        # 1. inconsistent formats: casing, stray whitespace, data usage written in MB with a unit
        pick = rng.random(n) < 0.2
        out.loc[pick, "contract"] = out.loc[pick, "contract"].str.upper()
        pick = rng.random(n) < 0.2
        out.loc[pick, "internet_service"] = "  " + out.loc[pick, "internet_service"].str.title() + " "
        pick = (rng.random(n) < 0.2) & out["data_usage_gb"].notna()
        out.loc[pick, "data_usage_gb"] = [f"{float(v) * 1000:.0f} MB" for v in out.loc[pick, "data_usage_gb"]]
        # 2. missing values far beyond the declared share
        out.loc[rng.random(n) < 0.25, "tenure_months"] = np.nan
        # 3. impossible outliers (a decimal-point slip)
        slip = rng.choice(n, size=max(1, n // 100), replace=False)
        out.loc[out.index[slip], "monthly_charges"] = out.loc[out.index[slip], "monthly_charges"] * 1000
        # 4. exact duplicate rows (a re-sent extract)
        dupes = out.sample(n=max(1, n // 20), random_state=int(rng.integers(1 << 31)))
        return pd.concat([out, dupes], ignore_index=True)

    def to_csv(self, frame: pd.DataFrame) -> bytes:
        """Landing format: CSV, booleans as true/false, missing as empty fields."""
        out = frame.copy()
        for column in out.columns:
            if out[column].dtype == bool:
                out[column] = out[column].map({True: "true", False: "false"})
        return out.to_csv(index=False).encode("utf-8")
