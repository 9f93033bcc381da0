"""The dependency direction of docs/architecture.md, enforced: import-linter's contracts in pyproject.toml, and
the module table of that page kept complete."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from tests.helpers.system import REPO


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint_imports)], cwd=REPO, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


PACKAGES = ("mlops", "serving", "monitoring", "pipelines", "projects")
PROJECT_OWN_API = {"projects.contract", "projects.sources", "projects.errors"}  # what a project's code may use


def platform_modules(package: str) -> set[str]:
    """The modules of one package, as files (a project's own folder under projects/ is not a platform module)."""
    return {f"{package}.{path.stem}" for path in (REPO / package).glob("*.py") if path.stem != "__init__"}


def test_every_module_is_in_the_architecture_table() -> None:
    # Given the module table of docs/architecture.md
    text = (REPO / "docs" / "architecture.md").read_text()
    # Then every module of the five packages has its row, in its own layer
    missing = sorted(
        name
        for package in PACKAGES
        for name in platform_modules(package)
        if f"| `{name.replace('.', '/')}.py` | {package} |" not in text
    )
    assert not missing, f"modules without a row in docs/architecture.md's module table: {missing}"


def test_the_protected_contract_lists_every_platform_module_of_projects() -> None:
    # Given the contract that keeps a project's own code to the contract, the sources and the errors
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (protected,) = [c for c in contracts if c["type"] == "protected"]
    platform = platform_modules("projects")
    # Then each platform module of projects/ may import what it needs, and all but those three are protected
    assert platform <= set(protected["allowed_importers"]), sorted(platform - set(protected["allowed_importers"]))
    hidden = platform - PROJECT_OWN_API
    assert hidden <= set(protected["protected_modules"]), sorted(hidden - set(protected["protected_modules"]))
