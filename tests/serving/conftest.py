"""Serving fixtures: a registry with a real champion (trained by pipelines.training), and a real server.

The champion home is made once per session: validated batches from the generator, ``pipelines.training.train``
(a real MLflow run on SQLite), alias ``champion``. Tests that move the alias get their own copy of the home.
Helpers (Home, Server, records, train_version) live in tests/helpers/serving.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from tests.helpers.serving import Home, Server, train_version


@pytest.fixture(scope="session")
def champion_home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """A home whose registry holds version 1 of churn as champion."""
    home = Home(tmp_path_factory.mktemp("serving") / "home")
    home.path.mkdir()
    train_version(home, dt.date(2026, 1, 1), "baseline")
    return home


@pytest.fixture(scope="module")
def served(champion_home: Home) -> Iterator[Server]:
    """One worker serving the session's champion, shared by the read-only tests of a module."""
    server = Server(champion_home).start()
    yield server
    server.stop()
