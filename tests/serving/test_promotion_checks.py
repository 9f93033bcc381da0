"""Promotion and rollback check what they move with serving's own checks (projects/servable.py): a version whose
artifacts do not load, whose contract hash differs or which cannot score a record is refused with the reason,
the alias untouched, exit code 2, no traceback. Real MLflow on SQLite, the real ``mlops`` command.

(These are serving's checks made by pipelines/promotion.py; they live with the serving tests that define them.)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from projects.registry import CHAMPION, PREVIOUS, TAG_CONTRACT_HASH, alias_version, model_name
from tests.helpers.champions import churn_frame, fit, register
from tests.helpers.serving import Home
from tests.helpers.system import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _mlops(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops", *args, "--project", "churn"],
        cwd=REPO, env=home.env(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _client(home: Home):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    uri = home.settings.tracking_url
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _break_artifacts(home: Home, version: str) -> None:
    """Delete a version's model files from the artifact store (a lost or half-copied store).

    Only versions a test registered itself: a copied home's registry still points at the session's artifacts.
    """
    assert version != "1", "v1 is the session's champion, shared by every serving test"
    location = _client(home).get_model_version_download_uri(model_name("churn"), version)
    path = Path(urlparse(location).path)
    assert path.is_dir(), location
    shutil.rmtree(path)


def _refused(done: subprocess.CompletedProcess[str], words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    shown = " ".join((done.stdout + done.stderr).split())  # the CLI wraps long lines
    assert words in shown, shown
    assert "Traceback" not in done.stderr, done.stderr


@pytest.fixture
def home(champion_home: Home, tmp_path: Path) -> Home:
    """The session's registry (v1 champion) plus a servable v2 registered without an alias."""
    copy = champion_home.copy(tmp_path / "home")
    project = copy.ws.project
    copy.versions.append(register(project, copy.settings, fit(project, churn_frame(project, 600)), promote=False))
    return copy


def test_promote_refuses_a_version_whose_artifacts_do_not_load(home: Home) -> None:
    _break_artifacts(home, "2")
    _refused(_mlops(home, "promote", "--version", "2"), "v2 cannot become the champion: its artifacts do not load")
    assert alias_version(_client(home), "churn", CHAMPION) == "1", "the alias did not move"


def test_promote_refuses_a_version_of_another_contract(home: Home) -> None:
    _client(home).set_model_version_tag(model_name("churn"), "2", TAG_CONTRACT_HASH, "0123456789abcdef")
    _refused(_mlops(home, "promote", "--version", "2"), "contract mismatch: version 2 was trained under contract 0123")
    assert alias_version(_client(home), "churn", CHAMPION) == "1"


def test_promote_refuses_a_version_that_cannot_score_a_record(home: Home) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    project = home.ws.project
    frame = churn_frame(project, 300).assign(legacy_score=1.0)
    other = Pipeline([("pick", ColumnTransformer([("x", "passthrough", ["legacy_score", "tenure_months"])])),
                      ("clf", LogisticRegression())])  # fmt: skip
    other.fit(frame, frame[project.schema.target.name].astype(bool))
    version = register(project, home.settings, other, promote=False)
    _refused(_mlops(home, "promote", "--version", version), f"version {version} cannot score a record of this contract")
    assert alias_version(_client(home), "churn", CHAMPION) == "1"


def test_rollback_refuses_a_previous_champion_that_does_not_load(home: Home) -> None:
    project = home.ws.project
    previous = register(project, home.settings, fit(project, churn_frame(project, 600)), promote=False)
    client = _client(home)
    client.set_registered_model_alias(model_name("churn"), PREVIOUS, previous)
    client.set_registered_model_alias(model_name("churn"), CHAMPION, "2")
    _break_artifacts(home, previous)
    _refused(_mlops(home, "rollback"), f"v{previous} cannot become the champion again: its artifacts do not load")
    assert alias_version(client, "churn", CHAMPION) == "2", "the alias did not move"
    assert client.get_model_version(model_name("churn"), "2").tags.get("mlops.rolled_back") is None, "nor was v2 tagged"


def test_rollback_to_a_servable_previous_champion_still_works(home: Home) -> None:
    client = _client(home)
    client.set_registered_model_alias(model_name("churn"), PREVIOUS, "1")
    client.set_registered_model_alias(model_name("churn"), CHAMPION, "2")
    done = _mlops(home, "rollback")
    assert done.returncode == 0, done.stdout + done.stderr
    assert alias_version(client, "churn", CHAMPION) == "1"
