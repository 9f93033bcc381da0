"""Every rendered object against the Kubernetes API schemas of the pinned kind node's version, strictly:
unknown fields are errors, and a warning (kubernetes-validate's answer to an unknown apiVersion or kind, with
exit status 0) counts as a failure too."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes_validate.utils import all_versions, major_minor

from tests.helpers.kube import Rendered, kubernetes_validate, kubernetes_version

pytestmark = pytest.mark.k8s


def problems(output: str) -> list[str]:
    """Every line that is not a pass: kubernetes-validate prints INFO for a pass, WARN or ERROR otherwise."""
    return [line for line in output.splitlines() if line.strip() and not line.startswith("INFO")]


def test_the_validator_knows_the_pinned_kubernetes_version() -> None:
    # kubernetes-validate silently falls back to the newest schema it has at or below the version asked for.
    version = major_minor(kubernetes_version())
    assert version in {major_minor(v) for v in all_versions()}, (
        f"kubernetes-validate has no {version} schemas (has {all_versions()[-1]} at most): upgrade it in uv.lock"
    )


def test_every_rendered_object_is_valid_for_the_pinned_version(
    rendered: dict[str, Rendered], rendered_files: dict[str, Path]
) -> None:
    for overlay, path in rendered_files.items():
        done = kubernetes_validate(path)
        found = problems(done.stdout + done.stderr)
        assert done.returncode == 0, f"{overlay}:\n" + "\n".join(found or [done.stderr])
        assert not found, f"{overlay}:\n" + "\n".join(found or [done.stderr])
        passed = [line for line in done.stdout.splitlines() if " passed for resource " in line]
        expected = len(rendered[overlay].objects)
        assert len(passed) == expected, f"{overlay}: {len(passed)} objects validated, {expected} rendered"
        assert all(f"against version {major_minor(kubernetes_version())}" in line for line in passed), passed[:3]


@pytest.mark.parametrize(
    ("document", "kind_of_problem"),
    [
        ("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {portz: []}\n", "ERROR"),
        ("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x}\n", "WARN"),
    ],
)
def test_the_check_catches_an_unknown_field_and_an_unknown_api(
    tmp_path: Path, document: str, kind_of_problem: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(document, encoding="utf-8")
    done = kubernetes_validate(path)
    found = problems(done.stdout + done.stderr)
    assert found, f"expected {kind_of_problem}, got {done.stdout}{done.stderr}"
    assert found[0].startswith(kind_of_problem), f"expected {kind_of_problem}, got {done.stdout}{done.stderr}"
