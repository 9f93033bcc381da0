"""Every command the README shows is run by a test or by CI, or is marked as needing Docker or kind.

The README is the product's front door; a command in it that nobody runs rots. Each shell block line is a command;
a trailing `# needs: docker` or `# needs: kind` marks one that this machine cannot run (CI on a user's fork does).
"""

from __future__ import annotations

import re

import pytest

from tests.helpers.system import REPO

BLOCK = re.compile(r"```(?:bash|sh|shell|console)\n(.*?)```", re.DOTALL)
NEEDS = re.compile(r"#\s*needs:\s*(docker|kind)\s*$")

# command as written in the README -> the file that runs it (that file must contain the command's key words)
EXERCISED: dict[str, tuple[str, str]] = {
    "make run": ("tests/mlops/test_story.py", 'make("run"'),
    "make test": (".ci/run", "make test"),
    "make help": ("tests/mlops/test_story.py", 'make("help"'),
    "make run PROJECT=churn": ("tests/mlops/test_story.py", "PROJECT="),
    "make run PROJECT=demand": ("tests/mlops/test_story.py", "PROJECT=demand"),
    "make clean-state": ("tests/mlops/test_story.py", '"clean-state"'),
    "make bench": ("tests/mlops/test_story.py", 'make("bench"'),
    "make new-project NAME=fraud DATA=./my-batches TARGET=is_fraud": (
        "tests/mlops/test_readme_new_project.py",
        "section_commands()",
    ),
    "make run PROJECT=fraud": ("tests/mlops/test_readme_new_project.py", "section_commands()"),
    "rm -rf projects/churn projects/demand": ("tests/mlops/test_without_examples.py", "demand"),
}
# Commands run literally, in README order, on the state `make run` leaves (tests/mlops/test_story.py).
WALKTHROUGH_PREFIXES = (".venv/bin/mlops ", ".venv/bin/mlflow ")


def readme_commands() -> list[tuple[str, str | None]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in BLOCK.findall(text):
        for raw in block.splitlines():
            line = raw.strip().removeprefix("$ ")
            if not line or line.startswith("#"):
                continue
            need = NEEDS.search(line)
            command = NEEDS.sub("", line).split("  #")[0].strip()
            commands.append((command, need.group(1) if need else None))
    return commands


def test_readme_has_commands() -> None:
    commands = [c for c, _ in readme_commands()]
    assert "make run" in commands, "the two commands come first in the README"
    assert "make test" in commands, "the two commands come first in the README"


@pytest.mark.parametrize(("command", "need"), readme_commands(), ids=str)
def test_readme_command_is_exercised(command: str, need: str | None) -> None:
    if need:
        assert need in {"docker", "kind"}
        return
    if command.startswith(WALKTHROUGH_PREFIXES):
        source = (REPO / "tests/mlops/test_story.py").read_text(encoding="utf-8")
        assert "run_readme_walkthrough(" in source, "the e2e test no longer runs the README walkthrough"
        return
    assert command in EXERCISED, (
        f"README command {command!r} is not run by any test: add a test and list it in EXERCISED, "
        "or mark the line '# needs: docker' / '# needs: kind'"
    )
    path, evidence = EXERCISED[command]
    source = (REPO / path).read_text(encoding="utf-8")
    assert evidence in source, f"{path} was expected to run {command!r} (looked for {evidence!r})"
