"""The first champion, fetched by a second process while the server imports its libraries.

A cold start used to be serial: import BentoML and the service, then import MLflow (~1 s of CPU) and download
the champion, then import scikit-learn and unpickle. ``serving.server`` starts ``python -m serving.fetch`` as
its first act; that process imports MLflow, resolves ``models:/<project>@champion`` and downloads the version's
files while the server imports everything else on the other core. The server's model holder then loads the
files without importing MLflow (``load_sklearn_dir``: the sklearn flavor's pickle, read as MLflow writes it)
and applies the same checks as every later load. MLflow is imported in the server later, for polling.

What the fetch leaves in its directory (``MLOPS_HOME/models/<project>/fetch-*``, on a declared volume in the
image; the holder removes it once the model is loaded or refused):

- ``<version>/``: the model version's files (``MLmodel``, ``model.pkl``, ...),
- ``fetched.json``: ``{"version", "run_id", "tags", "path"}`` or ``{"error"}``, written last and atomically.

Exit status 0 when the files are there, 3 when there is nothing to load (no champion, registry unreachable);
the reason is in ``fetched.json`` and on stderr, and the holder reports it as its readiness reason.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from projects.registry import champion_version, model_name, model_uri
from serving.lookup import no_champion_reason, registry_client, short_error, unreachable_reason

if TYPE_CHECKING:
    # Types only: the server imports this module before it starts the fetch, and every import here would delay
    # that start; the fetch process imports the contract and the settings in main() (see the staged imports).
    from projects.contract import Project
    from projects.settings import Settings

MANIFEST = "fetched.json"
EXIT_NOTHING_TO_LOAD = 3
STALE_AFTER_S = 3600.0  # a fetch directory this old belongs to no running start


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

    name = model_name(project.name)
    try:
        client = registry_client(settings)
        version = champion_version(client, project.name)
        record = client.get_model_version(name, version) if version is not None else None
    except Exception as exc:
        return Fetched(error=unreachable_reason(settings.tracking_url, exc))
    if version is None or record is None:
        return Fetched(error=no_champion_reason(model_uri(project.name), settings.tracking_url))
    target = into / version
    try:
        target.mkdir(parents=True, exist_ok=True)
        path = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(target))
    except Exception as exc:
        return Fetched(error=f"version {version} of {name} could not be downloaded: {short_error(exc)}")
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
        return pickle.load(handle)  # noqa: S301 - a registered model of our own registry, as MLflow loads it


class Prefetch:
    """A running ``python -m serving.fetch`` and the directory of its own it downloads into.

    Each start gets a fresh ``fetch-*`` directory under ``MLOPS_HOME/models/<project>/``, so two servers sharing
    an MLOPS_HOME never read or delete each other's files; ``cleanup`` removes it, and a start sweeps the
    directories that starts killed before their cleanup left behind (older than ``STALE_AFTER_S``).
    """

    def __init__(self, process: subprocess.Popen[bytes], into: Path) -> None:
        self.process, self.into = process, into

    @classmethod
    def start(cls, project: str, parent: Path) -> Prefetch:
        parent.mkdir(parents=True, exist_ok=True)
        for stale in parent.glob("fetch-*"):
            if time.time() - stale.stat().st_mtime > STALE_AFTER_S:
                shutil.rmtree(stale, ignore_errors=True)
        into = Path(tempfile.mkdtemp(prefix="fetch-", dir=parent))
        command = [sys.executable, "-m", "serving.fetch", "--project", project, "--into", str(into)]
        return cls(subprocess.Popen(command), into)

    def poll(self) -> Fetched | None:
        """What the fetch found once it has exited; None while it runs."""
        return None if self.process.poll() is None else Fetched.read(self.into)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def cleanup(self) -> None:
        """Stop the fetch if it still runs and remove its directory (the loaded model lives in memory)."""
        self.stop()
        shutil.rmtree(self.into, ignore_errors=True)


_PENDING: list[Prefetch] = []


def hand_over(prefetch: Prefetch) -> None:
    """Leave a started fetch for the first model holder this process creates (``take``)."""
    _PENDING.append(prefetch)


def take() -> Prefetch | None:
    """The fetch started for this process, once: later holders resolve the champion themselves."""
    return _PENDING.pop() if _PENDING else None


def main(argv: list[str] | None = None) -> int:
    gc.disable()  # a short-lived process: no cyclic collection while MLflow's ~10^5 objects are imported
    parser = argparse.ArgumentParser(prog="python -m serving.fetch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--into", required=True, type=Path)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    import logging

    from projects.contract import load_project
    from projects.redaction import redact_handlers
    from projects.settings import disable_telemetry, load_settings

    # This process writes to the server's stderr: its log lines and warnings are redacted like the server's.
    logging.basicConfig(level=logging.WARNING, format="serving.fetch: [%(levelname)s] [%(name)s] %(message)s")
    logging.captureWarnings(True)
    redact_handlers()

    settings = load_settings()
    disable_telemetry(settings)
    try:
        project = load_project(args.project, settings.projects_dir)
    except Exception as exc:  # the server reports the same error itself; say it once here too
        fetched = Fetched(error=f"project {args.project!r}: {short_error(exc)}")
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
