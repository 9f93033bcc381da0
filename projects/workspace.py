"""One project opened against the platform settings: its contract, its data and where its state lives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from projects.contract import Project, load_project
from projects.settings import Settings, disable_telemetry, load_settings
from projects.storage import DataRoot, ProjectStore

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    settings: Settings
    project: Project
    store: ProjectStore

    @classmethod
    def open(cls, project: str, settings: Settings | None = None) -> Workspace:
        settings = settings or load_settings()
        disable_telemetry(settings)
        contract = load_project(project, settings.projects_dir)
        store = DataRoot.from_settings(settings).project(contract.name)
        return cls(settings=settings, project=contract, store=store)

    @property
    def name(self) -> str:
        return self.project.name

    def lock_path(self, purpose: str) -> Path:
        """A local lock file (promotion, retraining) for this project under MLOPS_HOME."""
        self.settings.locks_dir.mkdir(parents=True, exist_ok=True)
        return self.settings.locks_dir / f"{self.name}.{purpose}.lock"
