"""A project declared the way much real data arrives: no id, no timestamp, no sensitive attribute, fed by files.

It is the demand example's contract with its timestamp removed and a ``files`` source on a folder the test
fills with CSV batches (from the demand generator, without the timestamp column), named and dated as the test
says: by a date in the name, or by the file's modification time only.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import yaml

from projects.contract import Project, parse_project
from projects.settings import Settings
from projects.storage import DataRoot
from projects.workspace import Workspace
from tests.helpers.system import REPO

ROWS = 300


def bare_contract(drop: Path, **source: Any) -> dict[str, Any]:
    contract = yaml.safe_load((REPO / "projects/demand/project.yaml").read_text())
    contract["name"] = "bare"
    contract["source"] = {"kind": "files", "url": f"file://{drop}", "pattern": "*.csv", **source}
    del contract["schema"]["timestamp"]
    assert "id" not in contract["schema"]
    assert "sensitive" not in contract["schema"]
    contract["training"]["min_rows"] = 100
    return contract


def bare_workspace(settings: Settings, drop: Path, projects_dir: Path | None = None, **source: Any) -> Workspace:
    """The bare project opened against ``settings``; written under ``projects_dir`` too when given (for servers)."""
    contract = bare_contract(drop, **source)
    if projects_dir is not None:
        (projects_dir / "bare").mkdir(parents=True, exist_ok=True)
        (projects_dir / "bare" / "project.yaml").write_text(yaml.safe_dump(contract, sort_keys=False))
    project = parse_project(contract)
    return Workspace(settings=settings, project=project, store=DataRoot.from_settings(settings).project("bare"))


def sales_csv(project: Project, day: dt.date, scenario: str = "baseline", rows: int = ROWS) -> bytes:
    """One day's sales as a CSV without the timestamp column (the data has none)."""
    from projects.demand.generator import DemandGenerator  # the example: absent once a user drops it

    generator = DemandGenerator(project, seed=11)
    frame = generator.batch(day, scenario, rows).drop(columns=["sold_at"])
    return generator.to_csv(frame)


def drop_batch(drop: Path, name: str, data: bytes, modified: dt.datetime | None = None) -> Path:
    """A file in the source folder, with its modification time set when ``modified`` is given."""
    path = drop / name
    path.write_bytes(data)
    if modified is not None:
        stamp = modified.timestamp()
        os.utime(path, (stamp, stamp))
    return path
