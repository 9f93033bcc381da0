"""The `files` data source: batches copied from any fsspec folder into landing, once, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from projects.contract import ContractError, FilesSource
from projects.settings import Settings
from projects.sources import generate_batches, ingest_files
from projects.workspace import Workspace
from tests.helpers.system import REPO


def files_workspace(settings: Settings, url: str) -> Workspace:
    ws = Workspace.open("churn", settings)
    project = ws.project.model_copy(update={"source": FilesSource(kind="files", url=url)})
    return Workspace(settings=ws.settings, project=project, store=ws.store)


def test_ingest_copies_new_batches_once(settings: Settings, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "2026-02-01_export.csv").write_text("customer_id\nC1\n")
    (drop / "2026-02-02_export.parquet").write_bytes(b"PAR1")
    (drop / "notes.txt").write_text("not a batch")
    ws = files_workspace(settings, f"file://{drop}")

    first = ingest_files(ws.project, ws.store)
    (drop / "2026-02-03_export.csv").write_text("customer_id\nC2\n")
    second = ingest_files(ws.project, ws.store)

    assert [b.name for b in first] == ["2026-02-01_export.csv", "2026-02-02_export.parquet"]
    assert [b.name for b in second] == ["2026-02-03_export.csv"], "already-landed batches are not copied again"
    assert ws.store.read_text("landing", "2026-02-01_export.csv") == "customer_id\nC1\n"


def test_missing_source_folder_is_named(settings: Settings, tmp_path: Path) -> None:
    ws = files_workspace(settings, f"file://{tmp_path / 'nowhere'}")
    with pytest.raises(ContractError, match=r"source.url .*nowhere.* does not exist"):
        ingest_files(ws.project, ws.store)


def test_wrong_source_kind_is_named(settings: Settings, tmp_path: Path) -> None:
    ws = Workspace.open("churn", settings)
    with pytest.raises(ContractError, match=r"source.kind is 'generator', not 'files'"):
        ingest_files(ws.project, ws.store)
    files = files_workspace(settings, f"file://{tmp_path}")
    with pytest.raises(ContractError, match=r"source.kind is 'files', not 'generator'"):
        generate_batches(files.project, files.store, "baseline", 1)


def test_unknown_scenario_and_unimportable_generator(settings: Settings, tmp_path: Path) -> None:
    ws = Workspace.open("churn", settings)
    with pytest.raises(ContractError, match="unknown scenario 'tsunami'; expected one of baseline"):
        generate_batches(ws.project, ws.store, "tsunami", 1)
    data = yaml.safe_load((REPO / "projects/churn/project.yaml").read_text())
    data["source"]["generator"] = "projects.churn.generator:Missing"
    (tmp_path / "churn").mkdir()
    (tmp_path / "churn" / "project.yaml").write_text(yaml.safe_dump(data))
    from projects.contract import load_project

    broken = load_project("churn", tmp_path)
    with pytest.raises(ContractError, match=r"source.generator 'projects.churn.generator:Missing' cannot be imported"):
        generate_batches(broken, ws.store, "baseline", 1)


def test_land_next_dispatches_on_the_source_kind(settings: Settings, tmp_path: Path) -> None:
    from projects.sources import generator_scenarios, land_next

    generated = Workspace.open("churn", settings)
    landed = land_next(generated.project, generated.store, scenario="market_shift", batches=2)
    fallback = land_next(generated.project, generated.store, scenario="no-such-scenario")
    assert [b.name for b in landed] == ["2026-01-01_market_shift.csv", "2026-01-02_market_shift.csv"]
    assert [b.name for b in fallback] == ["2026-01-03_baseline.csv"], "unknown scenario: the generator's first"

    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "2026-04-01_x.csv").write_text("customer_id\nC9\n")
    files = files_workspace(settings, f"file://{drop}")
    assert [b.name for b in land_next(files.project, files.store, scenario="baseline")] == ["2026-04-01_x.csv"]
    assert generator_scenarios(files.project) == ()
    assert "market_shift" in generator_scenarios(generated.project)
