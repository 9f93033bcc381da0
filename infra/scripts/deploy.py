#!/usr/bin/env python3
"""The platform on a local kind cluster: `make deploy`, `make undeploy`, `make cluster-down`, `make drift-demo`.

    .venv/bin/python infra/scripts/deploy.py deploy --project churn              # what `make deploy` runs
    .venv/bin/python infra/scripts/deploy.py deploy --project churn --dry-run    # `make deploy-plan`
    .venv/bin/python infra/scripts/deploy.py drift-demo --project churn [--dry-run]
    .venv/bin/python infra/scripts/deploy.py undeploy --project churn
    .venv/bin/python infra/scripts/deploy.py cluster-down

One code path for doing and for planning: every external command goes through `Runner`, which runs it, or with
--dry-run prints it and runs only what is local and read-only (hashing the image inputs, `docker image inspect`,
rendering the manifests into a temporary folder with `kubectl kustomize`, which needs no cluster). Questions put
to the cluster (is the Job there already?) are answered "not yet" in a plan, so the plan is what a first deploy
runs; every command that a later deploy skips says so on its line.

The order (docs/deploy.md says what each step shows and how long it takes):
  prerequisites -> cluster (kind, pinned config; metrics-server with --kubelet-insecure-tls) -> images (tagged by
  the content of their inputs, built only when that tag is missing) -> loaded into kind (bytes counted, skipped
  when the node has them) -> render (k8s/render.py, then a generated kustomization that sets each image's tag)
  -> apply in stages, each waited on: foundation, data services, MLflow, bucket + seed + training Jobs (created
  once, never re-applied: a Job's pod template is immutable), serving, CronJobs -> smoke prediction -> URLs.

Only the standard library and PyYAML: this is the host's side, and it imports nothing of the platform.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import hashlib
import ipaddress
import json
import os
import platform
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
KIND_CONFIG = REPO / "infra" / "kind" / "cluster.yaml"
RENDER = REPO / "k8s" / "render.py"
BUILD_IMAGES = REPO / "infra" / "scripts" / "build-images.sh"
OUT = REPO / "build" / "deploy"
NAMESPACE = "mlops"
OVERLAY = "kind"
KIND_VERSION = (0, 33, 0)  # the release that built the node image cluster.yaml pins
KUSTOMIZE_MIN = (5, 0, 0)  # Components, `labels` with includeTemplates, regex patch targets (k8s/README.md)
# metrics-server for the HPA. On kind the kubelets serve self-signed certificates, so it runs with
# --kubelet-insecure-tls (kind's own docs and metrics-server's README say the same).
METRICS_SERVER = "https://github.com/kubernetes-sigs/metrics-server/releases/download/v0.8.0/components.yaml"
# What a laptop's Docker must give the kind node. Requests of the platform, one project and its Jobs at once are
# about 1 CPU and 2.5 GiB; kind's own pods request about 1 CPU and 0.5 GiB; training uses up to its 2 GiB limit.
MIN_CPUS, MIN_MEMORY = 2, 4 * 2**30
GOOD_CPUS, GOOD_MEMORY = 4, 8 * 2**30
IMAGES = {"jobs": "pipelines/Dockerfile", "mlflow": "infra/mlflow/Dockerfile", "serving": "serving/Dockerfile"}
UPSTREAM_IMAGES = ("postgres:17.6-bookworm", "chrislusf/seaweedfs:4.48")  # as k8s/base pins them
CONTEXT_EXCLUDED = ("__pycache__", ".pyc", ".env")  # .dockerignore's exclusions inside the allowed folders
BUILD_ONLY = ("infra/certs/",)  # trusted by the build stage only, never in the image
SEED_BATCHES = 10  # the example's baseline batches, as `make run` lands them (mlops/story.py)
DRIFT_BATCHES, DRIFT_ROWS = 4, 600  # drifted labelled batches and traffic rows, as `make run` sends them
POLL = 5.0


class DeployError(Exception):
    """What the user reads: what failed, what to check, the command that shows it. Printed, exit 1."""


# --------------------------------------------------------------------------------------------- output
def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass
class Steps:
    """Numbered steps, each printed with what it does and how long it took."""

    total: int
    done: int = 0
    timings: list[tuple[str, float]] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.done += 1
        say(f"\n==> [{self.done}/{self.total}] {title}")
        started = time.monotonic()
        try:
            yield
        finally:
            seconds = time.monotonic() - started
            self.timings.append((title, seconds))
            say(f"    ({title}: {seconds:.1f} s)")


# --------------------------------------------------------------------------------------------- commands
@dataclass
class Runner:
    """Runs commands, or prints them (dry run). `local` commands run in both modes: they read or write nothing
    outside a folder of this run and need no cluster."""

    dry_run: bool
    log: list[str] = field(default_factory=list)

    def show(self, command: Sequence[str], note: str = "") -> None:
        line = "$ " + shlex.join(command) + (f"    # {note}" if note else "")
        self.log.append(line)
        say("    " + line)

    def note(self, text: str) -> None:
        self.log.append("# " + text)
        say("    # " + text)

    def run(
        self,
        command: Sequence[str],
        note: str = "",
        *,
        local: bool = False,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        input_text: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        self.show(command, note)
        if self.dry_run and not local:
            return subprocess.CompletedProcess(list(command), 0, "", "")
        try:
            done = subprocess.run(
                list(command),
                capture_output=True,
                text=True,
                check=False,
                timeout=timeout,
                input=input_text,
                env={**os.environ, **(env or {})},
            )
        except FileNotFoundError:
            raise DeployError(f"{command[0]} is not installed (run the prerequisite check: make deploy-plan)") from None
        except subprocess.TimeoutExpired:
            raise DeployError(f"timed out after {timeout:.0f} s: {shlex.join(command)}") from None
        return done

    def check(self, command: Sequence[str], what: str, hint: str, note: str = "", **kwargs: Any) -> str:
        done = self.run(command, note, **kwargs)
        if done.returncode != 0:
            raise DeployError(f"{what} failed:\n{tail(done.stderr or done.stdout)}\n  check: {hint}")
        return done.stdout

    def query(self, command: Sequence[str], note: str = "", *, local: bool = False) -> str | None:
        """A read-only question; None in a dry run unless it is local (the plan assumes a first deploy)."""
        if self.dry_run and not local:
            self.show(command, note or "asked of the cluster; a plan assumes the answer of a first deploy")
            return None
        done = self.run(command, note, local=True)
        return done.stdout if done.returncode == 0 else ""


def tail(text: str, lines: int = 12) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])


def kubectl(cluster: str, *args: str, namespace: str | None = NAMESPACE) -> list[str]:
    """kubectl against the kind cluster's context, whatever the current context is."""
    return ["kubectl", "--context", f"kind-{cluster}", *(["-n", namespace] if namespace else []), *args]


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


# --------------------------------------------------------------------------------------------- prerequisites
def os_name() -> str:
    return {"Darwin": "macos", "Linux": "linux"}.get(platform.system(), platform.system().lower())


HINTS = {
    "docker": {
        "linux": "Docker Engine: https://docs.docker.com/engine/install/ (Debian/Ubuntu: sudo apt-get install "
        "docker.io; then sudo usermod -aG docker $USER and log in again), and start it: sudo systemctl start docker",
        "macos": "Docker Desktop (Settings > Resources: 4 CPUs, 8 GB), or Colima: brew install colima docker && "
        "colima start --cpu 4 --memory 8; Rancher Desktop works with its dockerd (moby) engine, not containerd",
    },
    "kind": {
        "linux": "kind v0.33.0: curl -Lo kind https://kind.sigs.k8s.io/dl/v0.33.0/kind-linux-$(dpkg "
        "--print-architecture 2>/dev/null || echo amd64) && chmod +x kind && sudo mv kind /usr/local/bin/ "
        "(or: go install sigs.k8s.io/kind@v0.33.0)",
        "macos": "kind v0.33.0: brew install kind (check `kind version`), or curl -Lo kind "
        "https://kind.sigs.k8s.io/dl/v0.33.0/kind-darwin-$(uname -m | sed s/x86_64/amd64/) && chmod +x kind "
        "&& sudo mv kind /usr/local/bin/",
    },
    "kubectl": {
        "linux": "kubectl 1.35 to 1.37 (the cluster is 1.36): https://kubernetes.io/docs/tasks/tools/install-kubectl-"
        "linux/ (curl -LO https://dl.k8s.io/release/v1.36.4/bin/linux/amd64/kubectl; chmod +x; move onto PATH)",
        "macos": "kubectl 1.35 to 1.37 (the cluster is 1.36): brew install kubectl, or "
        "https://kubernetes.io/docs/tasks/tools/install-kubectl-macos/",
    },
}
ENGINE_NOTES = (
    "Colima: give the VM the CPUs and memory (colima start --cpu 4 --memory 8); kind runs in it as in Docker Desktop. "
    "Rancher Desktop: choose the dockerd (moby) engine. Podman: kind's podman provider is experimental "
    "(KIND_EXPERIMENTAL_PROVIDER=podman) and this script drives `docker`; use Docker, Colima or Rancher Desktop."
)


def hint(tool: str) -> str:
    system = os_name()
    hints = HINTS[tool]
    return hints.get(system) or f"linux: {hints['linux']}; macOS: {hints['macos']}"


def version_tuple(text: str) -> tuple[int, ...] | None:
    found = re.search(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(part or 0) for part in found.groups()) if found else None


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False  # shown, never stops the deploy


def check_docker() -> list[Check]:
    if not have("docker"):
        return [Check("docker", False, "not installed", hint("docker") + ". " + ENGINE_NOTES)]
    done = subprocess.run(["docker", "info", "--format", "{{json .}}"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no answer"])[-1]
        return [Check("docker", False, f"the engine does not answer ({reason})", "start it: " + hint("docker"))]
    info = json.loads(done.stdout or "{}")
    cpus, memory = int(info.get("NCPU", 0)), int(info.get("MemTotal", 0))
    engine = f"{info.get('OperatingSystem', 'Docker')}: {cpus} CPUs, {memory / 2**30:.1f} GiB"
    checks = [Check("docker", True, engine)]
    if cpus < MIN_CPUS or memory < MIN_MEMORY:
        checks.append(
            Check(
                "docker resources",
                False,
                f"{cpus} CPUs and {memory / 2**30:.1f} GiB; the kind overlay needs at least {MIN_CPUS} CPUs and "
                f"{MIN_MEMORY / 2**30:.0f} GiB ({GOOD_CPUS} and {GOOD_MEMORY / 2**30:.0f} GiB to run two projects)",
                "give the engine more: Docker Desktop Settings > Resources; colima start --cpu 4 --memory 8; "
                "Rancher Desktop Preferences > Virtual Machine",
            )
        )
    elif cpus < GOOD_CPUS or memory < GOOD_MEMORY * 0.9:
        checks.append(
            Check(
                "docker resources",
                True,
                f"{engine}: enough for one project; {GOOD_CPUS} CPUs and {GOOD_MEMORY / 2**30:.0f} GiB run two",
                warning=True,
            )
        )
    return checks


def check_kind() -> Check:
    if not have("kind"):
        return Check("kind", False, "not installed", hint("kind"))
    text = subprocess.run(["kind", "version"], capture_output=True, text=True, check=False).stdout
    found = version_tuple(text)
    if found is None or found < KIND_VERSION:
        return Check("kind", False, f"{text.strip() or 'unknown version'}: v0.33.0 or newer is needed", hint("kind"))
    if found[:2] != KIND_VERSION[:2]:
        return Check(
            "kind", True, f"{text.strip()} (the node image is pinned for v0.33; newer usually works)", warning=True
        )
    return Check("kind", True, text.strip())


def check_kubectl() -> list[Check]:
    if not have("kubectl"):
        return [Check("kubectl", False, "not installed", hint("kubectl"))]
    done = subprocess.run(["kubectl", "version", "--client", "-o", "json"], capture_output=True, text=True, check=False)
    info = json.loads(done.stdout or "{}")
    client = info.get("clientVersion", {}).get("gitVersion", "unknown")
    kustomize = info.get("kustomizeVersion", "")
    checks = [Check("kubectl", True, client)]
    found = version_tuple(kustomize)
    if found is None or found < KUSTOMIZE_MIN:
        checks.append(
            Check("kustomize (in kubectl)", False, f"{kustomize or 'none'}: v5 or newer is needed", hint("kubectl"))
        )
    else:
        checks.append(Check("kustomize (in kubectl)", True, kustomize))
    minor = version_tuple(client)
    if minor is not None and abs(minor[1] - 36) > 1:
        checks.append(
            Check(
                "kubectl version skew",
                True,
                f"{client} against a 1.36 cluster: outside the supported "
                f"skew of one minor version; it usually works, {hint('kubectl')}",
                warning=True,
            )
        )
    return checks


def check_port(cluster_exists: bool | None) -> Check | None:
    """cluster.yaml maps the MLflow UI to 127.0.0.1:5000; kind cannot create the cluster when it is taken."""
    if cluster_exists:
        return None
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", 5000))
        except OSError:
            return Check(
                "port 127.0.0.1:5000",
                False,
                "in use: cluster.yaml maps the MLflow UI there",
                "free it (macOS: System Settings > General > AirDrop & Handoff > AirPlay Receiver off; "
                "`lsof -i :5000` shows who holds it), or change hostPort in infra/kind/cluster.yaml",
            )
    return Check("port 127.0.0.1:5000", True, "free (the MLflow UI)")


def prerequisites(tools: Sequence[str], dry_run: bool, cluster: str) -> None:
    """Every prerequisite checked before anything is done; all that are missing are named together."""
    checks: list[Check] = []
    if "docker" in tools:
        checks += check_docker()
    if "kind" in tools:
        checks.append(check_kind())
    if "kubectl" in tools:
        checks += check_kubectl()
    if "port" in tools and have("kind"):
        clusters = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True, check=False).stdout
        port = check_port(cluster in clusters.split())
        checks += [port] if port else []
    for item in checks:
        mark = "ok " if item.ok and not item.warning else ("warn" if item.ok else "MISSING")
        say(f"    [{mark}] {item.name}: {item.detail}")
    missing = [c for c in checks if not c.ok]
    if not missing:
        return
    lines = [f"  - {c.name}: {c.detail}\n    install/fix: {c.fix}" for c in missing]
    message = "prerequisites missing, nothing was done:\n" + "\n".join(lines)
    if dry_run:
        say("\n    # a deploy would stop here; the plan goes on to show what it would run\n" + message)
        return
    raise DeployError(message)


# --------------------------------------------------------------------------------------------- image tags
def dockerfile_sources(dockerfile: Path) -> list[str]:
    """The context paths a Dockerfile's COPY/ADD instructions take (COPY --from copies from a stage, not here)."""
    sources = []
    text = re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8"))
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].upper() not in {"COPY", "ADD"}:
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue
        sources += args[:-1]
    return sources


def context_files(source: str) -> list[Path]:
    path = REPO / source
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [p for p in files if not any(part in CONTEXT_EXCLUDED or part.endswith(".pyc") for part in p.parts)]


def content_tag(name: str, base_image: str, base_id: str) -> str:
    """A tag derived from everything the image is built from: its Dockerfile, each file its COPY instructions
    take (the lock among them), and the base image. The same inputs give the same tag, so a second deploy finds
    the image and builds nothing; any change gives a new tag, so a tag never names two different builds."""
    digest = hashlib.sha256()
    dockerfile = REPO / IMAGES[name]
    digest.update(f"dockerfile {IMAGES[name]}\n".encode())
    digest.update(dockerfile.read_bytes())
    digest.update(f"base {base_image} {base_id}\n".encode())
    for source in sorted(set(dockerfile_sources(dockerfile))):
        if source.startswith(BUILD_ONLY):
            continue
        for file in context_files(source):
            relative = file.relative_to(REPO).as_posix()
            digest.update(f"file {relative} {hashlib.sha256(file.read_bytes()).hexdigest()}\n".encode())
    return "src-" + digest.hexdigest()[:12]


# --------------------------------------------------------------------------------------------- manifests
STAGES = (
    ("foundation", "namespace, service accounts, RBAC, settings, secrets, network policies"),
    ("data-services", "PostgreSQL and the object store (SeaweedFS)"),
    ("mlflow", "the MLflow tracking server"),
    ("bootstrap", "the bucket Job, the example's batches seeded from a Job, the initial training Job"),
    ("serving", "the BentoML service, its HPA and disruption budget"),
    ("cronjobs", "intake, monitor, the suspended retrain template, log compaction"),
)
FOUNDATION_KINDS = {"Namespace", "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret", "NetworkPolicy"}


def stage_of(obj: dict[str, Any]) -> str:
    labels = obj["metadata"].get("labels", {})
    component = labels.get("app.kubernetes.io/component")
    if obj["kind"] in FOUNDATION_KINDS:
        return "foundation"
    if obj["kind"] == "Job":
        return "bootstrap"
    if obj["kind"] == "CronJob":
        return "cronjobs"
    stage = {
        "database": "data-services",
        "object-store": "data-services",
        "tracking": "mlflow",
        "serving": "serving",
    }.get(component or "")
    if stage is None:
        raise DeployError(f"{obj['kind']}/{obj['metadata']['name']}: no deploy stage for component {component!r}")
    return stage


def image_kustomization(render_folder: Path, tags: dict[str, str]) -> dict[str, Any]:
    """The generated kustomization: the rendered overlay, each of our images at its own content tag."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(render_folder, render_folder.parent.parent)],
        "images": [{"name": f"mlops-{name}", "newTag": tag} for name, tag in sorted(tags.items())],
    }


def metrics_server_kustomization() -> dict[str, Any]:
    """metrics-server as kind needs it: the release's manifest plus --kubelet-insecure-tls (kubelets on kind serve
    self-signed certificates). A kustomization, so re-applying it is idempotent (a patch would add the flag twice)."""
    patch = [{"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": "--kubelet-insecure-tls"}]
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [METRICS_SERVER],
        "patches": [{"target": {"kind": "Deployment", "name": "metrics-server"}, "patch": yaml.safe_dump(patch)}],
    }


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    if len(found) != 1:
        raise DeployError(f"the render has {len(found)} {kind} named {name} (expected one): see k8s/README.md")
    return found[0]


def job_from_template(
    objects: list[dict[str, Any]],
    project: str,
    name: str,
    args: list[str],
    *,
    component: str | None = None,
    command: list[str] | None = None,
    keep_credentials: bool = True,
) -> dict[str, Any]:
    """A Job with the pod spec of the project's retrain template (its image, service account, security context,
    emptyDirs, settings), running another command. So what the deploy and the demo run inside the cluster passes
    the same policies as the manifests; only the command, the name and a small request differ."""
    cronjob = named(objects, "CronJob", f"{project}-retrain")
    spec = copy.deepcopy(cronjob["spec"]["jobTemplate"]["spec"])
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    container["name"] = name.removeprefix(f"{project}-").split("-")[0]
    container["args"] = args
    if command:
        container["command"] = command
    container["resources"] = {"requests": {"cpu": "100m", "memory": "384Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    for rule in spec.get("podFailurePolicy", {}).get("rules", []):
        if "onExitCodes" in rule:
            rule["onExitCodes"]["containerName"] = container["name"]
    spec["ttlSecondsAfterFinished"] = 86400
    spec["activeDeadlineSeconds"] = 900
    labels = {**cronjob["spec"]["jobTemplate"]["metadata"].get("labels", {}), "mlops/deploy": container["name"]}
    if component:
        labels["app.kubernetes.io/component"] = component
    spec["template"]["metadata"]["labels"] = dict(labels)
    if not keep_credentials:
        container["env"] = [e for e in container.get("env", []) if e["name"] != "AWS_SHARED_CREDENTIALS_FILE"]
        container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] != "data-store-credentials"]
        pod["volumes"] = [v for v in pod["volumes"] if v["name"] != "data-store-credentials"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": spec,
    }


def write_yaml(path: Path, documents: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False), encoding="utf-8")
    return path


def summary(objects: list[dict[str, Any]]) -> str:
    return ", ".join(f"{o['kind']}/{o['metadata']['name']}" for o in objects)


# --------------------------------------------------------------------------------------------- waiting
def failure_help(kind: str, name: str, cluster: str, what: str) -> str:
    show = [
        shlex.join(kubectl(cluster, "describe", f"{kind}/{name}")),
        shlex.join(kubectl(cluster, "get", "events", "--sort-by=.lastTimestamp")),
        shlex.join(kubectl(cluster, "logs", f"{kind}/{name}", "--all-containers", "--tail=50")),
    ]
    return f"{what}\n  see: " + "\n       ".join(show) + "\n  docs/deploy.md, 'Troubleshooting', lists the usual causes"


def wait_rollout(runner: Runner, cluster: str, target: str, *, timeout: int, what: str) -> None:
    kind, name = target.split("/")
    command = kubectl(cluster, "rollout", "status", f"{kind}/{name}", f"--timeout={timeout}s")
    done = runner.run(command, f"wait at most {timeout} s")
    if done.returncode != 0:
        raise DeployError(
            f"{kind}/{name} is not ready after {timeout} s: {tail(done.stderr or done.stdout, 3)}\n"
            + failure_help(kind, name, cluster, what)
        )


def job_state(cluster: str, name: str) -> str:
    """Complete, Failed or running, from the Job's conditions."""
    done = subprocess.run(
        kubectl(cluster, "get", f"job/{name}", "-o", "json"), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return "missing"
    conditions = json.loads(done.stdout).get("status", {}).get("conditions", [])
    for condition in conditions:
        if condition.get("status") == "True" and condition.get("type") in {"Complete", "Failed"}:
            return str(condition["type"])
    return "running"


def wait_job(runner: Runner, cluster: str, name: str, timeout: int, what: str) -> float:
    """Until the Job completes (returns the seconds waited); a failure or the timeout ends the deploy."""
    runner.show(
        kubectl(cluster, "get", f"job/{name}", "-o", "json"),
        f"every {POLL:.0f} s until Complete or Failed, at most {timeout} s",
    )
    if runner.dry_run:
        return 0.0
    started = time.monotonic()
    while (waited := time.monotonic() - started) < timeout:
        state = job_state(cluster, name)
        if state == "Complete":
            return waited
        if state == "Failed":
            raise DeployError(f"Job {name} failed\n" + failure_help("job", name, cluster, what))
        time.sleep(POLL)
    raise DeployError(f"Job {name} did not finish within {timeout} s\n" + failure_help("job", name, cluster, what))


# --------------------------------------------------------------------------------------------- HTTP
@contextlib.contextmanager
def port_forward(runner: Runner, cluster: str, service: str, port: int) -> Iterator[str]:
    """`kubectl port-forward` to a Service on a free local port; yields its base URL. It enters the pod's own
    network namespace, so the NetworkPolicies (which let no client in from outside) do not apply to it."""
    command = kubectl(cluster, "port-forward", f"svc/{service}", f":{port}")
    runner.show(command, "in the background while the requests below run")
    if runner.dry_run:
        yield "http://127.0.0.1:<local port>"
        return
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "Forwarding from 127.0.0.1:43127 -> 3000"
        found = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not found:
            why = process.stderr.read() if process.stderr else ""
            raise DeployError(f"kubectl port-forward to svc/{service} did not start: {line}{why}")
        yield f"http://127.0.0.1:{found.group(1)}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def http(
    runner: Runner,
    method: str,
    url: str,
    body: object = None,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> Any:
    runner.log.append(f"> {method} {url}")
    say(f"    > {method} {url}")
    if runner.dry_run:
        return None
    data = json.dumps(body).encode() if body is not None else None
    if not url.startswith("http://127.0.0.1:"):
        raise DeployError(f"{url}: only the local port-forward and the UI's host port are called")
    headers = {"content-type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 (checked above)
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


def wait_http(check: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while (waited := time.monotonic() - started) < timeout:
        try:
            if check():
                return waited
        except (OSError, ValueError, urllib.error.URLError):
            pass
        time.sleep(2)
    raise DeployError(f"timed out after {timeout:.0f} s waiting for {what}")


# --------------------------------------------------------------------------------------------- the deploy
@dataclass
class Deploy:
    project: str
    cluster: str
    runner: Runner
    out: Path
    base_image: str = field(default_factory=lambda: os.environ.get("BASE_IMAGE", "python:3.11-slim"))
    tags: dict[str, str] = field(default_factory=dict)
    objects: list[dict[str, Any]] = field(default_factory=list)
    bytes_loaded: int = 0
    steps: Steps = field(default_factory=lambda: Steps(total=9))

    @property
    def dry_run(self) -> bool:
        return self.runner.dry_run

    def k(self, *args: str, namespace: str | None = NAMESPACE) -> list[str]:
        return kubectl(self.cluster, *args, namespace=namespace)

    # -- 2. cluster
    def cluster_up(self) -> None:
        clusters = self.runner.query(["kind", "get", "clusters"])
        if clusters is not None and self.cluster in clusters.split():
            self.runner.note(f"cluster {self.cluster} exists: kept as it is")
        else:
            self.runner.check(
                ["kind", "create", "cluster", "--name", self.cluster, "--config", str(KIND_CONFIG), "--wait", "180s"],
                "creating the kind cluster",
                "docker info; kind create cluster -v 1 shows why (a port taken, too little memory)",
                "only when the cluster is absent; about a minute",
                timeout=600,
            )
        folder = write_yaml(self.out / "metrics-server" / "kustomization.yaml", [metrics_server_kustomization()])
        self.runner.check(
            self.k("apply", "-k", str(folder.parent), namespace=None),
            "installing metrics-server",
            "the release manifest is fetched from GitHub: is it reachable?",
            "idempotent: the same flags each time",
        )
        done = self.runner.run(
            self.k("rollout", "status", "deployment/metrics-server", "--timeout=180s", namespace="kube-system"),
            "wait at most 180 s",
        )
        if done.returncode != 0:
            self.runner.note(
                "metrics-server is not ready: the HPA shows <unknown> targets until it is "
                "(docs/deploy.md, 'HPA without metrics'); the deploy goes on"
            )
        self.check_api_endpoint()

    def check_api_endpoint(self) -> None:
        """The kind overlay lets the monitor reach the API server at Docker's default address pools on 6443
        (k8s/overlays/kind/network-policies.yaml); a Docker with other pools needs that policy changed."""
        found = self.runner.query(
            self.k(
                "get",
                "endpointslices",
                "-n",
                "default",
                "-l",
                "kubernetes.io/service-name=kubernetes",
                "-o",
                "json",
                namespace=None,
            )
        )
        if not found:
            return
        allowed = [ipaddress.ip_network(c) for c in ("172.16.0.0/12", "192.168.0.0/16")]
        for item in json.loads(found).get("items", []):
            ports = {p.get("port") for p in item.get("ports", [])}
            for endpoint in item.get("endpoints", []):
                for address in endpoint.get("addresses", []):
                    inside = any(ipaddress.ip_address(address) in net for net in allowed)
                    if not inside or 6443 not in ports:
                        raise DeployError(
                            f"the API server answers at {address}:{sorted(ports)}, outside what the monitor may reach "
                            "(172.16.0.0/12 and 192.168.0.0/16 on 6443): the retrain trigger would time out.\n"
                            "  fix: add the address to k8s/overlays/kind/network-policies.yaml "
                            "(monitoring-api-server-egress), or use Docker's default address pools"
                        )

    # -- 3. images
    def base_id(self) -> str:
        found = self.runner.query(["docker", "image", "inspect", "--format", "{{.Id}}", self.base_image], local=True)
        if not found:
            pulled = self.runner.run(["docker", "pull", "-q", self.base_image], "the base image, once")
            if self.dry_run:
                self.runner.note(
                    f"{self.base_image} is not on this host yet: the tags below change once its ID is known "
                    "(the deploy pulls it, or falls back to the offline base mlops-base:bookworm-python3.11)"
                )
                return ""
            if pulled.returncode != 0 and self.base_image == "python:3.11-slim":
                offline = "mlops-base:bookworm-python3.11"
                self.runner.note(f"{self.base_image} cannot be pulled: trying the offline base {offline}")
                self.base_image = offline
            found = self.runner.query(
                ["docker", "image", "inspect", "--format", "{{.Id}}", self.base_image], local=True
            )
        return (found or "").strip()

    def compute_tags(self) -> None:
        base = self.base_id()
        self.tags = {name: content_tag(name, self.base_image, base) for name in IMAGES}

    def images(self) -> None:
        self.compute_tags()
        for name, tag in self.tags.items():
            image = f"mlops-{name}:{tag}"
            present = self.runner.query(["docker", "image", "inspect", "--format", "{{.Size}}", image], local=True)
            if present:
                self.runner.note(f"{image} is built already ({int(present) / 1e6:.0f} MB): no rebuild")
                continue
            started = time.monotonic()
            self.runner.check(
                ["bash", str(BUILD_IMAGES), name],
                f"building {image}",
                f"the build output above; docker system df (disk); BASE_IMAGE={self.base_image}",
                "only when this content tag is missing",
                env={"IMAGE_TAG": tag, "BASE_IMAGE": self.base_image},
                timeout=3600,
            )
            if not self.dry_run:
                say(f"    built {image} in {time.monotonic() - started:.0f} s")

    def image_size(self, image: str) -> int:
        """Bytes of the image on the host; a plan without the image built yet estimates from the newest build of
        the same name (`:latest`, which build-images.sh also tags), and says so."""
        size = self.runner.query(["docker", "image", "inspect", "--format", "{{.Size}}", image], local=True)
        if size and size.strip().isdigit():
            return int(size)
        if self.dry_run and image.startswith("mlops-"):
            latest = image.split(":", maxsplit=1)[0] + ":latest"
            size = self.runner.query(
                ["docker", "image", "inspect", "--format", "{{.Size}}", latest],
                local=True,
                note="an estimate: the size of the last build",
            )
            return int(size) if size and size.strip().isdigit() else 0
        return 0

    def node_has(self, image: str) -> bool | None:
        found = self.runner.query(
            ["docker", "exec", f"{self.cluster}-control-plane", "crictl", "inspecti", "-q", image],
            "is the image on the node already?",
        )
        return None if found is None else bool(found.strip())

    def load(self) -> None:
        """`kind load docker-image` for each image the node lacks; the bytes it moves are counted and printed."""
        ours = [f"mlops-{name}:{tag}" for name, tag in self.tags.items()]
        for image in [*ours, *UPSTREAM_IMAGES]:
            if image in UPSTREAM_IMAGES:
                present = self.runner.query(["docker", "image", "inspect", "--format", "{{.Id}}", image], local=True)
                if not present:
                    self.runner.check(
                        ["docker", "pull", "-q", image],
                        f"pulling {image}",
                        "Docker Hub reachable? docker login lifts the anonymous rate limit",
                        "once per host, instead of once per node start",
                    )
            if self.node_has(image):
                self.runner.note(f"{image} is on the node already: not loaded again")
                continue
            size_bytes = self.image_size(image)
            started = time.monotonic()
            self.runner.check(
                ["kind", "load", "docker-image", "--name", self.cluster, image],
                f"loading {image}",
                "docker image ls; kind load needs the image on the host (docs/deploy.md, 'Image not loaded')",
                f"{size_bytes / 1e6:.0f} MB" if size_bytes else "",
                timeout=1800,
            )
            self.bytes_loaded += size_bytes
            if not self.dry_run:
                say(f"    loaded {image}: {size_bytes / 1e6:.0f} MB in {time.monotonic() - started:.0f} s")
        say(
            f"    bytes loaded into kind by this deploy: {self.bytes_loaded / 1e6:.0f} MB"
            + (" (a plan counts every image the node would not have on a first deploy)" if self.dry_run else "")
            + (
                "; counted as the images' sizes: `kind load` streams their `docker save` tar, 2-5% more "
                "(tar headers; docs/deploy.md)"
                if self.bytes_loaded
                else ""
            )
        )

    # -- 4. render
    def render(self) -> None:
        render_out = self.out / "k8s"
        self.runner.check(
            [
                sys.executable,
                str(RENDER),
                "--overlay",
                OVERLAY,
                "--project",
                self.project,
                "--image-tag",
                self.tags["jobs"],
                "--out",
                str(render_out),
            ],
            "rendering the manifests",
            "the message above names the file and key",
            local=True,
        )
        generated = write_yaml(self.out / "kustomization.yaml", [image_kustomization(render_out / OVERLAY, self.tags)])
        self.runner.note(
            f"generated {generated.relative_to(self.out.parent)}: "
            + ", ".join(f"mlops-{n}:{t}" for n, t in sorted(self.tags.items()))
        )
        text = self.runner.check(
            ["kubectl", "kustomize", str(self.out)],
            "kustomize",
            "kubectl kustomize build/deploy shows the error",
            local=True,
        )
        self.objects = [o for o in yaml.safe_load_all(text) if o]
        staged: dict[str, list[dict[str, Any]]] = {stage: [] for stage, _ in STAGES}
        for obj in self.objects:
            staged[stage_of(obj)].append(obj)
        for index, (stage, _) in enumerate(STAGES, 1):
            if stage != "bootstrap":
                write_yaml(self.out / "stages" / f"{index}-{stage}.yaml", staged[stage])
            self.runner.note(f"stage {index} {stage}: {len(staged[stage])} objects")

    def stage_file(self, stage: str) -> Path:
        index = [s for s, _ in STAGES].index(stage) + 1
        return self.out / "stages" / f"{index}-{stage}.yaml"

    def stage_objects(self, stage: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if stage_of(o) == stage]

    def apply(self, stage: str) -> None:
        objects = self.stage_objects(stage)
        self.runner.note(summary(objects))
        self.runner.check(
            self.k("apply", "-f", str(self.stage_file(stage)), namespace=None),
            f"applying {stage}",
            f"kubectl apply -f {self.stage_file(stage)} names the object it refused",
        )

    # -- 5. stages
    def data_services(self) -> None:
        self.apply("data-services")
        for name in ("postgres", "seaweedfs"):
            wait_rollout(
                self.runner,
                self.cluster,
                f"statefulset/{name}",
                timeout=300,
                what=f"{name} is not ready: image not loaded (ErrImagePull), its PVC pending, or too little memory",
            )

    def mlflow(self) -> None:
        self.apply("mlflow")
        wait_rollout(
            self.runner,
            self.cluster,
            "deployment/mlflow",
            timeout=300,
            what="MLflow is not ready: its db-upgrade init container (logs -c db-upgrade), PostgreSQL, or an "
            "OOM kill (describe shows Last State)",
        )

    def bootstrap_jobs(self) -> list[dict[str, Any]]:
        """The bucket Job first, then the seed (a generator project's batches, landed from inside the cluster),
        then the training, which waits for the bucket and the batches itself (wait_for_platform.py)."""
        jobs = sorted(self.stage_objects("bootstrap"), key=lambda job: job["metadata"]["name"] != "create-buckets")
        if self.generator_project():
            seed = job_from_template(
                self.objects,
                self.project,
                f"{self.project}-seed",
                ["data", "generate", "--project", "$(MLOPS_PROJECT)", "--batches", str(SEED_BATCHES)],
            )
            jobs.insert(1, seed)
        return jobs

    def generator_project(self) -> bool:
        contract = yaml.safe_load((REPO / "projects" / self.project / "project.yaml").read_text(encoding="utf-8"))
        return bool((contract.get("source") or {}).get("kind") == "generator")

    def bootstrap(self) -> None:
        """Jobs are created once: a Job's pod template is immutable, and a second one would train twice."""
        jobs = self.bootstrap_jobs()
        for job in jobs:
            name = job["metadata"]["name"]
            path = write_yaml(self.out / "stages" / "4-bootstrap" / f"{name}.yaml", [job])
            exists = self.runner.query(self.k("get", f"job/{name}", "--ignore-not-found", "-o", "name"))
            if exists:
                self.runner.note(f"job/{name} exists: left alone (no duplicate; delete it to run it again)")
                continue
            self.runner.check(
                self.k("create", "-f", str(path), namespace=None),
                f"creating job/{name}",
                f"kubectl create -f {path}",
                "only when the Job is absent",
            )
        for job in jobs:
            name = job["metadata"]["name"]
            timeout = 1500 if name.endswith("-train") else 600
            waited = wait_job(
                self.runner,
                self.cluster,
                name,
                timeout,
                f"{name}: its logs say which step failed (the training waits for landed batches and "
                "MLflow first: logs -c wait-for-platform)",
            )
            if not self.dry_run:
                say(f"    job/{name} complete ({waited:.0f} s)")

    def serving(self) -> None:
        self.apply("serving")
        wait_rollout(
            self.runner,
            self.cluster,
            f"deployment/{self.project}-serving",
            timeout=600,
            what="serving is ready only with the champion loaded: is there one (job/"
            f"{self.project}-train's logs show the gate's decision)? /readyz says why not",
        )

    def smoke(self) -> None:
        with port_forward(self.runner, self.cluster, f"{self.project}-serving", 3000) as url:
            spec = http(self.runner, "GET", f"{url}/docs.json")
            example = {"records": [{"<the example record from /docs.json>": "..."}]}
            if spec is not None:
                body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
                example = body["example"]
            answer = http(self.runner, "POST", f"{url}/predict", example)
            if answer is not None:
                version = answer.get("model", {}).get("version")
                say(f"    the service answered with model version {version}: {json.dumps(answer)[:200]}")

    def finish(self) -> None:
        p = self.project
        say(f"""
    MLflow UI      http://127.0.0.1:5000  (Model training > Models > {p})
    Swagger UI     kubectl --context kind-{self.cluster} -n {NAMESPACE} port-forward svc/{p}-serving 3000:3000
                   then http://127.0.0.1:3000/
    next           make drift-demo PROJECT={p}    the loop closing in the cluster
                   kubectl --context kind-{self.cluster} -n {NAMESPACE} get pods,jobs,cronjobs -l mlops/project={p}
                   make undeploy PROJECT={p}      this project only;  make cluster-down   the whole cluster""")

    def run(self) -> None:
        s = self.steps
        with s.step("prerequisites: docker (CPUs, memory), kind, kubectl and its kustomize"):
            prerequisites(("docker", "kind", "kubectl", "port"), self.dry_run, self.cluster)
        with s.step(f"kind cluster {self.cluster} ({KIND_CONFIG.relative_to(REPO)}) and metrics-server"):
            self.cluster_up()
        with s.step("images, tagged by the content of what they are built from"):
            self.images()
        with s.step("images into the kind node (kind load docker-image)"):
            self.load()
        with s.step("render: k8s/render.py, the generated kustomization, the stages"):
            self.render()
            self.apply("foundation")
        with s.step("data services: PostgreSQL and the object store"):
            self.data_services()
        with s.step("MLflow"):
            self.mlflow()
        with s.step("bucket, the example's batches and the initial training (Jobs)"):
            self.bootstrap()
        with s.step("serving, then the CronJobs, then a smoke prediction"):
            self.serving()
            self.apply("cronjobs")
            self.smoke()
        self.finish()
        total = sum(seconds for _, seconds in s.timings)
        say(
            f"\n    {'planned' if self.dry_run else 'deployed'} {self.project} in {total:.0f} s; "
            f"{self.bytes_loaded / 1e6:.0f} MB loaded into kind"
        )


# --------------------------------------------------------------------------------------------- drift demo
@dataclass
class DriftDemo:
    """The loop closing in the cluster, driven from Jobs (the host needs only kubectl): drifted labelled batches,
    drifted traffic, the intake and the monitor run now (Jobs from their CronJobs), then it follows: the trigger's
    retrain Job, the gate, the promotion, the serving pods answering with the new version."""

    deploy: Deploy
    run_id: str
    shift: str
    flush_seconds: float
    started: float = field(default_factory=time.monotonic)
    before: set[str] = field(default_factory=set)  # the project's Jobs before the demo
    monitor: str = ""

    @property
    def runner(self) -> Runner:
        return self.deploy.runner

    def k(self, *args: str, namespace: str | None = NAMESPACE) -> list[str]:
        return self.deploy.k(*args, namespace=namespace)

    def transition(self, what: str, command: list[str]) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%H:%M:%S")
        say(f"    [{stamp} +{time.monotonic() - self.started:.0f} s] {what}\n        look: {shlex.join(command)}")

    def rendered(self) -> None:
        """The objects as the deploy applied them: its generated kustomization, rendered again (a plan renders
        afresh into its temporary folder, with the tags a deploy would give the images now)."""
        if self.runner.dry_run:
            self.deploy.compute_tags()
            self.deploy.render()
            return
        out = self.deploy.out
        if not (out / "kustomization.yaml").is_file():
            raise DeployError(f"no {out / 'kustomization.yaml'}: run make deploy PROJECT={self.deploy.project} first")
        text = self.runner.check(["kubectl", "kustomize", str(out)], "kustomize", "make deploy again", local=True)
        self.deploy.objects = [o for o in yaml.safe_load_all(text) if o]

    def traffic_policy(self) -> list[dict[str, Any]]:
        """Lets the demo's traffic pods reach the project's serving pods on 3000, and nothing else: the manifests
        admit no in-cluster client of serving (k8s/README.md), so the demo brings its own opening, labelled so
        `make undeploy` removes it."""
        p = self.deploy.project
        labels = {"app.kubernetes.io/part-of": "mlops", "mlops/project": p, "mlops/deploy": "demo"}
        client = {"app.kubernetes.io/component": "demo-traffic", "mlops/project": p}
        serving = {"app.kubernetes.io/component": "serving", "mlops/project": p}
        port = [{"protocol": "TCP", "port": 3000}]
        return [
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"{p}-demo-traffic-egress", "namespace": NAMESPACE, "labels": labels},
                "spec": {
                    "podSelector": {"matchLabels": client},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [{"podSelector": {"matchLabels": serving}}], "ports": port}],
                },
            },
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"{p}-demo-serving-ingress", "namespace": NAMESPACE, "labels": labels},
                "spec": {
                    "podSelector": {"matchLabels": serving},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"podSelector": {"matchLabels": client}}], "ports": port}],
                },
            },
        ]

    def jobs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        p, objects = self.deploy.project, self.deploy.objects
        land = job_from_template(
            objects,
            p,
            f"{p}-land-{self.run_id}",
            [
                "data",
                "generate",
                "--project",
                "$(MLOPS_PROJECT)",
                "--scenario",
                self.shift,
                "--batches",
                str(DRIFT_BATCHES),
            ],
        )
        traffic = job_from_template(
            objects,
            p,
            f"{p}-traffic-{self.run_id}",
            [p, self.shift, str(DRIFT_ROWS), f"http://{p}-serving:3000"],
            command=["python3", "-c", TRAFFIC_SCRIPT],
            component="demo-traffic",
            keep_credentials=False,
        )
        return land, traffic

    def champion(self) -> str | None:
        """The champion's version, from MLflow's REST API on the UI's host port (cluster.yaml maps it)."""
        url = f"http://127.0.0.1:5000/api/2.0/mlflow/registered-models/alias?name={self.deploy.project}&alias=champion"
        try:
            found = http(self.runner, "GET", url)
        except (urllib.error.URLError, OSError, ValueError):
            return None
        return str(found["model_version"]["version"]) if found else None

    def created_job(self, prefix: str) -> str:
        """The name of the retrain Job the trigger created (named by the decision, so not known beforehand)."""
        command = self.k("get", "jobs", "-l", f"mlops/project={self.deploy.project}", "-o", "json")
        found = self.runner.query(command, f"every {POLL:.0f} s until a Job named {prefix}* appears")
        if found is None:
            return f"{prefix}<decision>"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            names = [item["metadata"]["name"] for item in json.loads(found or "{}").get("items", [])]
            fresh = [n for n in names if n.startswith(prefix) and n not in self.before]
            if fresh:
                return str(fresh[0])
            time.sleep(POLL)
            found = subprocess.run(command, capture_output=True, text=True, check=False).stdout
        raise DeployError(
            f"the monitor created no retrain Job within 300 s: its decision is in its log\n  see: "
            f"{shlex.join(self.k('logs', f'job/{self.monitor}', '--tail=40'))}"
        )

    def run(self) -> None:
        d, p, runner = self.deploy, self.deploy.project, self.runner
        s = Steps(total=6)
        with s.step("prerequisites: kubectl; the deploy's render"):
            prerequisites(("kubectl",), runner.dry_run, d.cluster)
            self.rendered()
            first = self.champion()
            say(f"    champion before the demo: version {first or '(read at run time)'}")
            listed = runner.query(self.k("get", "jobs", "-l", f"mlops/project={p}", "-o", "name"))
            self.before = {line.split("/", 1)[-1] for line in (listed or "").split()}
        land, traffic = self.jobs()
        with s.step(f"drifted labelled batches ({DRIFT_BATCHES} x {self.shift}) and drifted traffic, from Jobs"):
            policy = write_yaml(d.out / "demo" / "traffic-policy.yaml", self.traffic_policy())
            runner.check(
                self.k("apply", "-f", str(policy), namespace=None),
                "the demo's traffic policy",
                f"kubectl apply -f {policy}",
            )
            for job in (land, traffic):
                name = job["metadata"]["name"]
                path = write_yaml(d.out / "demo" / f"{name}.yaml", [job])
                runner.check(
                    self.k("create", "-f", str(path), namespace=None),
                    f"creating job/{name}",
                    f"kubectl create -f {path}",
                )
                wait_job(runner, d.cluster, name, 600, f"{name}: its logs")
                self.transition(f"job/{name} complete", self.k("logs", f"job/{name}", "--tail=20"))
            runner.note(f"the service flushes its inference log every {self.flush_seconds:.0f} s: waiting for it")
            if not runner.dry_run:
                time.sleep(self.flush_seconds + 5)
        with s.step("the intake validates the new batches, the monitor runs (Jobs from their CronJobs)"):
            for cronjob in ("intake", "monitor"):
                name = f"{p}-{cronjob}-{self.run_id}"
                runner.check(
                    self.k("create", "job", name, f"--from=cronjob/{p}-{cronjob}"),
                    f"starting {name}",
                    f"kubectl describe cronjob/{p}-{cronjob}",
                )
                wait_job(runner, d.cluster, name, 900, f"{name}: its logs")
                self.transition(f"job/{name} complete", self.k("logs", f"job/{name}", "--tail=30"))
            self.monitor = f"{p}-monitor-{self.run_id}"
        with s.step("drift detected -> the trigger's retrain Job -> the gate"):
            retrain = self.created_job(f"{p}-retrain-")
            self.transition(
                f"drift detected: the trigger created job/{retrain}", self.k("get", "job", retrain, "-o", "yaml")
            )
            wait_job(runner, d.cluster, retrain, 1800, f"{retrain}: validate, train, gate (its logs)")
            self.transition(
                f"job/{retrain} complete (validate, train, gate)", self.k("logs", f"job/{retrain}", "--tail=30")
            )
        with s.step("promotion -> the serving pods answer with the new version"):
            second = self.champion()
            if not runner.dry_run and second == first:
                raise DeployError(
                    f"the gate did not promote a new version (champion still {first}): the reason is "
                    f"in {shlex.join(self.k('logs', f'job/{retrain}', '--tail=30'))}"
                )
            self.transition(f"promoted: champion is version {second or '<new>'}", ["open", "http://127.0.0.1:5000"])
            with port_forward(runner, d.cluster, f"{p}-serving", 3000) as url:
                if runner.dry_run:
                    http(runner, "GET", f"{url}/metadata")
                else:
                    waited = wait_http(
                        lambda: http(runner, "GET", f"{url}/metadata")["model_version"] == second,
                        180,
                        f"serving to answer with version {second}",
                    )
                    say(f"    serving answers with version {second} ({waited:.0f} s after the promotion was read)")
            self.transition(
                "the serving pods answer with the new version, no restart",
                self.k("get", "pods", "-l", f"mlops/project={p},app.kubernetes.io/component=serving"),
            )
        with s.step("summary"):
            say(f"    drift demo of {p}: champion {first or '?'} -> {second or '?'}; retrain job {retrain}")


# The demo's traffic, run inside the jobs image: the project's own generator makes the shifted customers (the
# records clients send: id, features, the audited attribute), posted to the serving Service in batches of 100.
TRAFFIC_SCRIPT = """
import datetime as dt, json, sys, urllib.request
from pathlib import Path
from projects.contract import load_project
from projects.sources import load_generator
name, scenario, rows, url = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
project = load_project(name, Path("/app/projects"))
frame = load_generator(project).batch(dt.date.today(), scenario, rows)
schema = project.schema
columns = ([schema.id.name] if schema.id else []) + list(schema.feature_names)
columns += [schema.sensitive.name] if schema.sensitive else []
records = json.loads(frame[columns].to_json(orient="records", date_format="iso"))
versions = set()
for start in range(0, len(records), 100):
    body = json.dumps({"records": records[start:start + 100]}).encode()
    request = urllib.request.Request(url + "/predict", data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        versions.add(str(json.loads(response.read())["model"]["version"]))
print(f"sent {len(records)} {scenario} records to {url}/predict; answered by version(s) {sorted(versions)}")
"""


# --------------------------------------------------------------------------------------------- undeploy
PROJECT_KINDS = "deployment,service,hpa,pdb,cronjob,job,configmap,secret,serviceaccount,role,rolebinding,networkpolicy"


def undeploy(runner: Runner, cluster: str, project: str) -> None:
    prerequisites(("kubectl",), runner.dry_run, cluster)
    runner.check(
        kubectl(
            cluster,
            "delete",
            PROJECT_KINDS,
            "-l",
            f"mlops/project={project}",
            "--ignore-not-found",
            "--wait=true",
            "--timeout=120s",
        ),
        f"removing {project}",
        f"kubectl -n {NAMESPACE} get all -l mlops/project={project}",
    )
    say(
        f"    removed every object labelled mlops/project={project}; the platform, other projects and the data "
        f"(s3://mlops/data/{project}/, the registry's model {project}) are kept"
    )


def cluster_down(runner: Runner, cluster: str) -> None:
    prerequisites(("kind",), runner.dry_run, cluster)
    runner.check(["kind", "delete", "cluster", "--name", cluster], "deleting the cluster", "docker ps -a")
    say(f"    cluster {cluster} deleted (its data with it); images stay on the host: a new deploy only loads them")


# --------------------------------------------------------------------------------------------- main
def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="infra/scripts/deploy.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("deploy", "drift-demo", "undeploy", "cluster-down"))
    parser.add_argument("--project", default=os.environ.get("PROJECT", "churn"))
    parser.add_argument("--cluster", default=yaml.safe_load(KIND_CONFIG.read_text(encoding="utf-8"))["name"])
    parser.add_argument("--dry-run", action="store_true", help="print every command, run only local reads")
    parser.add_argument("--run-id", default=None, help="drift-demo: suffix of its Jobs (default: the time)")
    parser.add_argument("--out", type=Path, default=OUT, help="where the deploy writes its manifests (build/deploy)")
    return parser.parse_args(argv)


def project_settings(project: str) -> tuple[str, float]:
    """The generator's shift scenario (what `make run` lands) and the service's log flush interval."""
    folder = REPO / "projects" / project
    contract = yaml.safe_load((folder / "project.yaml").read_text(encoding="utf-8"))
    flush = float((contract.get("serving") or {}).get("log_flush_seconds", 5))
    found = (
        re.search(r"shift_scenario[^=]*=\s*[\"'](\w+)[\"']", (folder / "generator.py").read_text(encoding="utf-8"))
        if (folder / "generator.py").is_file()
        else None
    )
    return (found.group(1) if found else "covariate_drift"), flush


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    runner = Runner(dry_run=args.dry_run)
    if args.dry_run:
        say(
            "PLAN (dry run): the commands `make "
            + ("deploy" if args.action == "deploy" else args.action)
            + "` runs, in order; only local reads run now"
        )
    try:
        if args.action in {"deploy", "drift-demo", "undeploy"} and not (REPO / "projects" / args.project).is_dir():
            raise DeployError(f"PROJECT={args.project}: no folder projects/{args.project}/")
        with contextlib.ExitStack() as stack:
            out = (
                Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="deploy-plan-")))
                if args.dry_run
                else args.out
            )
            deploy = Deploy(args.project, args.cluster, runner, out)
            if args.action == "deploy":
                deploy.run()
            elif args.action == "drift-demo":
                shift, flush = project_settings(args.project)
                run_id = args.run_id or dt.datetime.now(dt.UTC).strftime("%d%H%M%S")
                DriftDemo(deploy, run_id, shift, flush).run()
            elif args.action == "undeploy":
                undeploy(runner, args.cluster, args.project)
            else:
                cluster_down(runner, args.cluster)
    except DeployError as exc:
        say(f"\nerror: {exc}")
        return 1
    except KeyboardInterrupt:
        say("\ninterrupted: what was applied stays; `make deploy` again carries on from there")
        return 130
    if args.dry_run:
        say(f"\nPLAN: {sum(1 for line in runner.log if line.startswith(('$', '>')))} commands and requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
