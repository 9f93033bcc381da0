"""The first champion, fetched by a second process while the server imports its libraries.

A cold start used to be serial: import BentoML and the service, then import MLflow (~1 s of CPU) and download
the champion, then import scikit-learn and unpickle. ``serving.server`` starts ``python -m serving.fetch`` as
its first act; that process imports MLflow, resolves ``models:/<project>@champion`` and downloads the version's
files while the server imports everything else on the other core. The server's model holder then loads the
files without importing MLflow (``load_sklearn_dir``: the sklearn flavor's pickle, read as MLflow writes it)
and applies the same checks as every later load. MLflow is imported in the server later, for polling.

What the fetch leaves under ``<into>/`` (``MLOPS_HOME/models/<project>``, a declared volume in the image):

- ``<version>/``: the model version's files (``MLmodel``, ``model.pkl``, ...), removed once loaded,
- ``fetched.json``: ``{"version", "run_id", "tags", "path"}`` or ``{"error"}``, written last and atomically.

Exit status 0 when the files are there, 3 when there is nothing to load (no champion, registry unreachable);
the reason is in ``fetched.json`` and on stderr, and the holder reports it as its readiness reason.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from projects.contract import Project
    from projects.settings import Settings

MANIFEST = "fetched.json"
EXIT_NOTHING_TO_LOAD = 3


@dataclass(frozen=True)
class Fetched:
    """What a fetch found: a downloaded version with its registry record, or why there is none."""

    version: str | None = None
    run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    path: str | None = None
    error: str | None = None

    @classmethod
    def read(cls, into: Path) -> Fetched:
        try:
            data = json.loads((into / MANIFEST).read_text())
        except FileNotFoundError:
            return cls(error=f"the champion fetch wrote no {into / MANIFEST}")
        except ValueError as exc:
            return cls(error=f"{into / MANIFEST} is not JSON: {exc}")
        return cls(**{k: data.get(k) for k in ("version", "run_id", "path", "error")}, tags=data.get("tags") or {})

    def write(self, into: Path) -> None:
        into.mkdir(parents=True, exist_ok=True)
        partial = into / f".{MANIFEST}.tmp"
        partial.write_text(json.dumps(self.__dict__, indent=2))
        partial.replace(into / MANIFEST)  # a reader sees the old file or the whole new one


def fetch(project: Project, settings: Settings, into: Path) -> Fetched:
    """Resolve the champion and download its files under ``into``; errors become ``Fetched(error=...)``."""
    import mlflow

    from projects.registry import champion_version, model_name
    from serving.model_holder import registry_client

    name = model_name(project.name)
    try:
        client = registry_client(settings)
        version = champion_version(client, project.name)
        if version is None:
            return Fetched(error=f"no champion: models:/{name}@champion is not set in the registry at "
                           f"{settings.tracking_url} (train a model and promote it first)")  # fmt: skip
        record = client.get_model_version(name, version)
        target = into / version
        target.mkdir(parents=True, exist_ok=True)
        path = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(target))
    except Exception as exc:
        text = str(exc).strip().splitlines()
        return Fetched(error=f"tracking server unreachable at {settings.tracking_url}: "
                       f"{type(exc).__name__}: {text[0][:300] if text else ''}")  # fmt: skip
    return Fetched(version=str(version), run_id=record.run_id, tags=dict(record.tags or {}), path=path)


def load_sklearn_dir(path: Path) -> Any:
    """Unpickle an MLflow sklearn-flavor model directory without importing MLflow.

    Reads what ``mlflow.sklearn.save_model`` writes: ``MLmodel``'s ``flavors.sklearn`` names the pickle
    (``pickled_model``) and its ``serialization_format`` (cloudpickle or pickle). Anything else is refused, so
    a model saved another way goes through ``mlflow.sklearn.load_model`` instead (the holder's normal path).
    """
    import yaml

    spec = path / "MLmodel"
    try:
        flavors = yaml.safe_load(spec.read_text())["flavors"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise ValueError(f"{spec}: not an MLflow model description ({type(exc).__name__}: {exc})") from exc
    sklearn = flavors.get("sklearn") if isinstance(flavors, dict) else None
    if not isinstance(sklearn, dict) or "pickled_model" not in sklearn:
        raise ValueError(f"{spec}: no sklearn flavor with a pickled_model (flavors: {sorted(flavors or {})})")
    form = sklearn.get("serialization_format", "cloudpickle")
    if form not in {"cloudpickle", "pickle"}:
        raise ValueError(f"{spec}: sklearn serialization_format {form!r} is neither cloudpickle nor pickle")
    with (path / sklearn["pickled_model"]).open("rb") as handle:
        if form == "cloudpickle":
            import cloudpickle

            return cloudpickle.load(handle)
        import pickle

        return pickle.load(handle)  # noqa: S301 - a registered model of our own registry, as MLflow loads it


class Prefetch:
    """A running ``python -m serving.fetch`` and where its files land; the holder's first load waits on it."""

    def __init__(self, process: subprocess.Popen[bytes], into: Path) -> None:
        self.process, self.into = process, into

    @classmethod
    def start(cls, project: str, into: Path) -> Prefetch:
        (into / MANIFEST).unlink(missing_ok=True)  # never read an earlier start's result
        command = [sys.executable, "-m", "serving.fetch", "--project", project, "--into", str(into)]
        return cls(subprocess.Popen(command), into)

    def result(self, timeout: float) -> Fetched:
        """Wait for the fetch (at most ``timeout`` seconds) and read what it found."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return Fetched(error=f"the champion fetch took more than {timeout:.0f}s and was stopped")
        return Fetched.read(self.into)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


_PENDING: list[Prefetch] = []


def hand_over(prefetch: Prefetch) -> None:
    """Leave a started fetch for the first model holder this process creates (``take``)."""
    _PENDING.append(prefetch)


def take() -> Prefetch | None:
    """The fetch started for this process, once: later holders resolve the champion themselves."""
    return _PENDING.pop() if _PENDING else None


def main(argv: list[str] | None = None) -> int:
    import gc

    gc.disable()  # a short-lived process: no cyclic collection while MLflow's ~10^5 objects are imported
    parser = argparse.ArgumentParser(prog="python -m serving.fetch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--into", required=True, type=Path)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    from projects.contract import load_project
    from projects.settings import TELEMETRY_OFF, load_settings

    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
    settings = load_settings()
    try:
        project = load_project(args.project, settings.projects_dir)
    except Exception as exc:  # the server reports the same error itself; say it once here too
        fetched = Fetched(error=f"project {args.project!r}: {exc}")
    else:
        fetched = fetch(project, settings, args.into)
    fetched.write(args.into)
    if fetched.error:
        sys.stderr.write(f"serving.fetch: {fetched.error}\n")
        return EXIT_NOTHING_TO_LOAD
    sys.stderr.write(f"serving.fetch: version {fetched.version} fetched in {time.perf_counter() - started:.2f}s\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
