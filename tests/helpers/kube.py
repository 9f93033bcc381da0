"""Reading rendered manifests: pods and containers of every workload, their environment resolved as the kubelet
would (ConfigMaps, Secrets, the downward API, $(VAR) references), and a few quantities.

No cluster runs here, so these helpers stand in for what the API server and the kubelet would derive from the
objects; the tests then check the derived facts (who talks to whom, what each process reads).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.system import REPO

K8S = REPO / "k8s"
RENDER = K8S / "render.py"
WORKLOADS = ("Deployment", "StatefulSet", "Job", "CronJob")
VAR_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@dataclass(frozen=True)
class Rendered:
    """One `render.py --stdout` of an overlay: where it was written and the objects kustomize produced."""

    overlay: str
    folder: Path
    text: str
    objects: list[dict[str, Any]]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.overlay}: expected one {kind} {name}, found {len(found)}"
        return found[0]

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] in kinds]

    def generated(self, kind: str, base_name: str) -> dict[str, Any]:
        """A ConfigMap or Secret from a generator, whose name carries a hash suffix."""
        found = [
            o
            for o in self.of_kind(kind)
            if re.fullmatch(rf"{re.escape(base_name)}-[a-z0-9]{{10}}", o["metadata"]["name"])
        ]
        assert len(found) == 1, f"{self.overlay}: expected one generated {kind} {base_name}-<hash>, found {len(found)}"
        return found[0]


def load_objects(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


@dataclass(frozen=True)
class Pod:
    """A pod template as the workload that owns it would create it."""

    workload: dict[str, Any]
    spec: dict[str, Any]
    labels: dict[str, str]
    annotations: dict[str, str]
    namespace: str

    @property
    def name(self) -> str:
        return f"{self.workload['kind']}/{self.workload['metadata']['name']}"

    @property
    def component(self) -> str:
        return self.labels.get("app.kubernetes.io/component", "")

    def containers(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for container in self.spec.get("initContainers", []):
            yield "init", container
        for container in self.spec["containers"]:
            yield "main", container

    def volume(self, name: str) -> dict[str, Any]:
        return next(v for v in self.spec.get("volumes", []) if v["name"] == name)


def pod_template(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    return spec["jobTemplate"]["spec"]["template"] if workload["kind"] == "CronJob" else spec["template"]


def pods(rendered: Rendered) -> list[Pod]:
    out = []
    for workload in rendered.of_kind(*WORKLOADS):
        template = pod_template(workload)
        out.append(
            Pod(
                workload=workload,
                spec=template["spec"],
                labels=template["metadata"].get("labels", {}),
                annotations=template["metadata"].get("annotations", {}),
                namespace=workload["metadata"]["namespace"],
            )
        )
    return out


@dataclass
class Environment:
    """A container's environment: values as the process sees them, and where each came from."""

    values: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    references: set[str] = field(default_factory=set)  # variables named by $(VAR) in env values, command or args


def secret_value(rendered: Rendered, name: str, key: str) -> str | None:
    secret = next((s for s in rendered.of_kind("Secret") if s["metadata"]["name"] == name), None)
    if secret is None:
        return None  # a Secret the operator creates (production)
    if key in secret.get("stringData", {}):
        return secret["stringData"][key]
    return base64.b64decode(secret["data"][key]).decode()


def config_map(rendered: Rendered, name: str) -> dict[str, str]:
    found = next((c for c in rendered.of_kind("ConfigMap") if c["metadata"]["name"] == name), None)
    assert found is not None, f"{rendered.overlay}: ConfigMap {name} is referenced but not rendered"
    return found.get("data", {})


def environment(rendered: Rendered, pod: Pod, container: dict[str, Any]) -> Environment:
    env = Environment()
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            for key, value in config_map(rendered, name).items():
                env.values[key], env.sources[key] = value, f"ConfigMap {name}"
        else:
            raise AssertionError(f"{pod.name}: envFrom {source} (only ConfigMaps are expected there)")
    for item in container.get("env", []):
        name = item["name"]
        if "value" in item:
            env.references |= set(VAR_REFERENCE.findall(item["value"]))
            value = VAR_REFERENCE.sub(lambda m: env.values.get(m.group(1), m.group(0)), item["value"])
            env.values[name], env.sources[name] = value, "value"
            continue
        ref = item["valueFrom"]
        if "configMapKeyRef" in ref:
            data = config_map(rendered, ref["configMapKeyRef"]["name"])
            key = ref["configMapKeyRef"]["key"]
            if key not in data:
                assert ref["configMapKeyRef"].get("optional"), f"{pod.name}: {name} needs missing key {key}"
                continue
            env.values[name], env.sources[name] = data[key], f"ConfigMap {ref['configMapKeyRef']['name']}"
        elif "secretKeyRef" in ref:
            value = secret_value(rendered, ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"])
            env.values[name] = value if value is not None else f"<Secret {ref['secretKeyRef']['name']}>"
            env.sources[name] = f"Secret {ref['secretKeyRef']['name']}"
        elif "fieldRef" in ref:
            path = ref["fieldRef"]["fieldPath"]
            label = re.fullmatch(r"metadata\.labels\['(.+)'\]", path)
            if label:
                assert label.group(1) in pod.labels, f"{pod.name}: {name} reads a label the pod lacks: {path}"
                env.values[name] = pod.labels[label.group(1)]
            elif path == "metadata.namespace":
                env.values[name] = pod.namespace
            else:
                raise AssertionError(f"{pod.name}: unexpected fieldRef {path}")
            env.sources[name] = f"downward API {path}"
        else:
            raise AssertionError(f"{pod.name}: unexpected valueFrom {ref}")
    for word in [*container.get("command", []), *container.get("args", [])]:
        env.references |= set(VAR_REFERENCE.findall(word))
    return env


def expanded(words: list[str], env: Environment) -> list[str]:
    return [VAR_REFERENCE.sub(lambda m: env.values.get(m.group(1), m.group(0)), word) for word in words]


UNITS = {"m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30}


def quantity(value: str | int | float) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", str(value))
    assert match, f"not a quantity: {value!r}"
    return float(match.group(1)) * UNITS[match.group(2)]


# --------------------------------------------------------------------------------------------- rendering
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if (p / "render.yaml").is_file())
SECOND_PROJECT = "fraudalerts"
PROJECTS = ("churn", "demand", SECOND_PROJECT)  # both examples as they are, and a files-fed copy of churn
IMAGE_TAG = "0123456789ab"
IMAGE_PREFIX = "registry.example.com/mlops/"
DIGESTS = {
    "mlops-serving": "sha256:" + "1" * 64,
    "mlops-jobs": "sha256:" + "2" * 64,
    "mlops-mlflow": "sha256:" + "3" * 64,
}
CLUSTER_CONFIG = K8S.parent / "infra" / "kind" / "cluster.yaml"
FILES_SOURCE = f"source:\n  kind: files\n  url: s3://mlops/drop/{SECOND_PROJECT}/\n"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip with the reason on a developer's machine; under CI a missing tool is a failure."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the manifest checks must run)")
    pytest.skip(reason)


def run_render(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RENDER), *args], capture_output=True, text=True, check=False, env=env, timeout=120
    )


def overlay_args(overlay: str) -> list[str]:
    """What a release passes: the tag always; a registry and digests where the overlay requires them."""
    args = ["--overlay", overlay, "--image-tag", IMAGE_TAG]
    render_config = yaml.safe_load((K8S / "overlays" / overlay / "render.yaml").read_text(encoding="utf-8"))
    if render_config["require_image_digests"]:
        args += ["--image-prefix", IMAGE_PREFIX]
        for name, digest in DIGESTS.items():
            args += ["--digest", f"{name}={digest}"]
    return args


def kubernetes_version() -> str:
    """The Kubernetes version of the kind node image the kind overlay pins (cluster.yaml)."""
    config = yaml.safe_load(CLUSTER_CONFIG.read_text(encoding="utf-8"))
    image = config["nodes"][0]["image"]
    match = re.fullmatch(r"kindest/node:v(\d+\.\d+\.\d+)@sha256:[0-9a-f]{64}", image)
    assert match, f"{CLUSTER_CONFIG}: the node image {image!r} is not kindest/node:vX.Y.Z@sha256:<digest>"
    return match.group(1)


def kubernetes_validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).with_name("kubernetes-validate")
    return subprocess.run(
        [str(binary), "--strict", "--kubernetes-version", kubernetes_version(), *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def index_problem() -> str | None:
    """Why the package index cannot be reached, or None."""
    url = os.environ.get("UV_DEFAULT_INDEX") or os.environ.get("UV_INDEX_URL") or "https://pypi.org/simple/"
    try:
        with urllib.request.urlopen(url, timeout=10):
            return None
    except OSError as exc:
        return f"{url}: {exc}"


def render_overlays(out: Path, *args: str) -> dict[str, Rendered]:
    """Every overlay rendered into ``out`` by `render.py --stdout ARGS` (the projects: --projects-dir or
    --project in ARGS), as a user runs it."""
    result = {}
    for overlay in OVERLAYS:
        done = run_render(*overlay_args(overlay), *args, "--out", str(out), "--stdout")
        assert done.returncode == 0, f"render.py --overlay {overlay} failed:\n{done.stderr}"
        result[overlay] = Rendered(overlay, out / overlay, done.stdout, load_objects(done.stdout))
    return result


def write_rendered(rendered: dict[str, Rendered], folder: Path) -> dict[str, Path]:
    """Each overlay's render as one file, <folder>/<overlay>.yaml (what the validator and checkov read)."""
    files = {}
    for overlay, result in rendered.items():
        files[overlay] = folder / f"{overlay}.yaml"
        files[overlay].write_text(result.text, encoding="utf-8")
    return files


def checkov_scan(checkov: str, rendered_files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """One checkov scan of the folder holding the renders; its results split per overlay (by file)."""
    folder = next(iter(rendered_files.values())).parent
    done = subprocess.run(
        [checkov, "--framework", "kubernetes", "--skip-download", "--directory", str(folder), "--output", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    kubernetes = [r for r in reports if r.get("check_type") == "kubernetes"]
    assert len(kubernetes) == 1, f"expected one kubernetes report from checkov, got {reports!r:.500}\n{done.stderr}"
    results = kubernetes[0]["results"]
    per_overlay: dict[str, dict[str, Any]] = {}
    for overlay in rendered_files:
        name = f"/{overlay}.yaml"
        per_overlay[overlay] = {
            kind: [c for c in results.get(kind, []) if c["file_path"].endswith(name)]
            for kind in ("passed_checks", "failed_checks", "skipped_checks")
        }
        per_overlay[overlay]["parsing_errors"] = [p for p in results.get("parsing_errors", []) if p.endswith(name)]
    return per_overlay
