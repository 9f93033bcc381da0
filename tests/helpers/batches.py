"""The data suite's tiny batches: the churn contract, its suite at a fixed clock, batches from the generator.

Batches are made in memory from the seeded generator (or hand-made frames) and go through the real cleaning,
typing and Great Expectations code; nothing is mocked. ``tests/data/conftest.py`` registers the fixtures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from pipelines.expectations import ExpectationSpec, derive_specs
from pipelines.validate import Verdict, check_batch
from projects.contract import Project
from projects.sources import read_frame
from tests.helpers.examples import load_example

if TYPE_CHECKING:
    from projects.churn.generator import ChurnGenerator

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)  # the suite's clock: batches of 2026-03 are in the past
DAY = dt.date(2026, 3, 1)
ROWS = 200


@pytest.fixture(scope="session")
def project() -> Project:
    return load_example("churn")


@pytest.fixture(scope="session")
def specs(project: Project) -> list[ExpectationSpec]:
    return derive_specs(project, NOW)


@pytest.fixture(scope="session")
def generator(project: Project) -> ChurnGenerator:
    from projects.churn.generator import ChurnGenerator

    return ChurnGenerator(project, seed=7)


def landing_csv(generator: ChurnGenerator, scenario: str = "baseline", rows: int = ROWS, day: dt.date = DAY) -> bytes:
    """A batch exactly as it lands: the generator's CSV bytes."""
    return generator.to_csv(generator.batch(day, scenario, rows))


@pytest.fixture(scope="session")
def good_csv(generator: ChurnGenerator) -> bytes:
    return landing_csv(generator)


@pytest.fixture
def good_frame(good_csv: bytes) -> pd.DataFrame:
    """A fresh copy of a good landing batch as read from CSV (all text), for a test to corrupt."""
    return read_frame(good_csv, "batch.csv")


@pytest.fixture(scope="session")
def check(project: Project, specs: list[ExpectationSpec]) -> Callable[..., Verdict]:
    """Run bytes or a frame (written as CSV) through reading, cleaning, typing and the real suite."""

    def run(batch: bytes | pd.DataFrame, name: str = "2026-03-01_test.csv") -> Verdict:
        data = batch.to_csv(index=False).encode() if isinstance(batch, pd.DataFrame) else batch
        return check_batch(project, specs, data, name)

    return run


def primary(verdict: Verdict) -> set[tuple[str, str | None]]:
    """(expectation, column) of the failures a report leads with."""
    return {(f["expectation"], f["column"]) for f in verdict.failures if f["consequence_of"] is None}
