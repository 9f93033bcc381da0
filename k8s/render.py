#!/usr/bin/env python3
"""Render the Kubernetes manifests of one overlay, for every project or the ones named.

    .venv/bin/python k8s/render.py --overlay kind --out build/k8s            # every project under projects/
    .venv/bin/python k8s/render.py --overlay kind --project churn --stdout   # the whole namespace as YAML
    kubectl apply -k build/k8s/kind

A kustomize base cannot be instantiated twice in one build with different values, and a project must be
deployable without editing anything under k8s/. So this writes, under OUT/<overlay>/:

    <project>/kustomization.yaml   k8s/base/project with the name prefix "<project>-", the label
                                   mlops/project=<project> on every object and selector, the overlay's per-project
                                   component, the image tags, and patches from projects/<project>/deploy.yaml
                                   layered over the overlay's defaults (k8s/overlays/<overlay>/render.yaml)
    kustomization.yaml             the overlay's platform part (k8s/overlays/<overlay>) plus every project

Nothing here is a template language: each value lands in an explicit JSON patch of a named object, so the
generated kustomization reads as the list of what differs from the base. Only the standard library and PyYAML
are used, and nothing of the platform's Python packages: this runs where the platform is not installed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

K8S_DIR = Path(__file__).resolve().parent
REPO_ROOT = K8S_DIR.parent
PROJECT_BASE = K8S_DIR / "base" / "project"
OVERLAYS_DIR = K8S_DIR / "overlays"
MARKER = ".rendered-by-k8s-render"

# What infra/scripts/build-images.sh builds (<prefix>mlops-<name>:<tag>), and the names the bases use for them.
IMAGES = ("mlops-serving", "mlops-jobs", "mlops-mlflow")
PROJECT_LABEL = "mlops/project"
PROJECT_NAME = re.compile(r"^[a-z][a-z0-9]*$")  # as projects/contract.py: a Python package and a Kubernetes name
MIN_PROJECT_NAME = 2

# Kubernetes name limits that bind the generated names. A CronJob's name is capped at 52 because its
# controller names each Job "<cronjob>-<minutes since the epoch>" and a Job's name must fit the 63 characters of
# the job-name label its pods carry; the retrain trigger names the Jobs it clones the same way (k8s/README.md).
# Deployment and Service names become DNS labels (63); everything else is a DNS subdomain (253).
NAME_LIMITS = {"CronJob": 52, "Job": 63, "Service": 63, "Deployment": 63}
DEFAULT_NAME_LIMIT = 253
LABEL_VALUE_LIMIT = 63
GENERATOR_SUFFIX = 11  # kustomize appends "-<10-character hash>" to generated ConfigMaps and Secrets

CPU = re.compile(r"^(\d+(\.\d+)?|\d+m)$")
MEMORY = re.compile(r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")
CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z]+$")
CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
TIME_ZONE = re.compile(r"^(UTC|[A-Za-z]+(/[A-Za-z0-9_+\-]+)+)$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# Set by the project base itself: a deploy.yaml may not override them (the overlay's settings.env keys neither).
RESERVED_ENV = {"MLOPS_PROJECT", "AWS_SHARED_CREDENTIALS_FILE"}


class RenderError(Exception):
    """A problem the user can fix: a bad option, deploy.yaml or project folder. Printed as one line, exit 2."""


# ----------------------------------------------------------------------------------------------- deploy.yaml
def _check(ok: bool, where: str, expected: str, value: object) -> None:
    if not ok:
        raise RenderError(f"{where}: expected {expected}, got {value!r}")


def positive_int(where: str, value: object) -> None:
    _check(isinstance(value, int) and not isinstance(value, bool) and value >= 1, where, "an integer >= 1", value)


def percent(where: str, value: object) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 100
    _check(ok, where, "an integer percentage from 1 to 100", value)


def boolean(where: str, value: object) -> None:
    _check(isinstance(value, bool), where, "true or false", value)


def cpu(where: str, value: object) -> None:
    _check(isinstance(value, str) and bool(CPU.match(value)), where, 'a CPU quantity as a string ("500m", "2")', value)


def memory(where: str, value: object) -> None:
    _check(isinstance(value, str) and bool(MEMORY.match(value)), where, 'a memory quantity ("512Mi", "2Gi")', value)


def cron(where: str, value: object) -> None:
    fields = value.split() if isinstance(value, str) else []
    ok = (len(fields) == 1 and fields[0] in CRON_MACROS) or (
        len(fields) == 5 and all(CRON_FIELD.match(f) for f in fields)
    )
    _check(ok, where, 'a cron schedule of five fields ("*/15 * * * *") or a macro such as "@hourly"', value)


def time_zone(where: str, value: object) -> None:
    _check(isinstance(value, str) and bool(TIME_ZONE.match(value)), where, 'an IANA time zone ("Etc/UTC")', value)


def optional_host(where: str, value: object) -> None:
    if value is None:
        return
    host = value.replace("{project}", "x") if isinstance(value, str) else value
    ok = isinstance(host, str) and bool(HOSTNAME.match(host))
    _check(ok, where, 'a DNS host name, "{project}" standing for the project ("{project}.models.example.com")', value)


def env_map(where: str, value: object) -> None:
    _check(isinstance(value, dict), where, "a mapping of variable names to string values", value)
    assert isinstance(value, dict)
    for name, item in value.items():
        _check(isinstance(name, str) and bool(ENV_NAME.match(name)), f"{where}.{name}", "an UPPER_CASE name", name)
        _check(isinstance(item, str), f"{where}.{name}", "a string (quote numbers and booleans)", item)


RESOURCES = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}
# Every key a deploy.yaml (or an overlay's project_defaults) may hold; k8s/README.md documents each.
SCHEMA: dict[str, Any] = {
    "time_zone": time_zone,
    "serving": {
        "replicas": positive_int,
        "autoscaling": {
            "enabled": boolean,
            "min_replicas": positive_int,
            "max_replicas": positive_int,
            "target_cpu_percent": percent,
        },
        "resources": RESOURCES,
        "ingress_host": optional_host,
        "env": env_map,
    },
    "training": {"active_deadline_seconds": positive_int, "resources": RESOURCES},
    "intake": {"schedule": cron, "active_deadline_seconds": positive_int, "resources": RESOURCES},
    "monitoring": {"schedule": cron, "active_deadline_seconds": positive_int, "resources": RESOURCES},
    "log_compaction": {"schedule": cron, "active_deadline_seconds": positive_int, "resources": RESOURCES},
}


def check_against_schema(data: object, schema: dict[str, Any], source: str, path: str, complete: bool) -> None:
    """Every key known and every value valid; with complete=True every key present too (an overlay's defaults).

    Errors read "<file>: <dotted key>: expected ..., got ...".
    """
    _check(isinstance(data, dict), f"{source}: {path or '(top level)'}", "a mapping", data)
    assert isinstance(data, dict)
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in schema:
            raise RenderError(f"{source}: {where}: unknown key (expected one of: {', '.join(schema)})")
        rule = schema[key]
        if isinstance(rule, dict):
            check_against_schema(value, rule, source, where, complete)
        else:
            rule(f"{source}: {where}", value)
    missing = [key for key in schema if key not in data] if complete else []
    if missing:
        raise RenderError(f"{source}: {path or '(top level)'}: missing {', '.join(missing)}")


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else in override replaces what base had."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


QUANTITY_UNITS = {
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def quantity(text: str) -> float:
    """A Kubernetes quantity as a number, for comparing requests with limits."""
    number = re.match(r"^\d+(\.\d+)?", text)
    assert number is not None
    return float(number.group()) * QUANTITY_UNITS.get(text[number.end() :], 1.0)


def check_consistent(config: dict[str, Any], where: str, reserved_env: set[str]) -> None:
    scaling = config["serving"]["autoscaling"]
    if scaling["min_replicas"] > scaling["max_replicas"]:
        raise RenderError(
            f"{where}: serving.autoscaling.min_replicas ({scaling['min_replicas']}) is above max_replicas "
            f"({scaling['max_replicas']})"
        )
    for section in ("serving", "training", "intake", "monitoring", "log_compaction"):
        resources = config[section]["resources"]
        for resource in ("cpu", "memory"):
            request, limit = resources["requests"][resource], resources["limits"][resource]
            if quantity(request) > quantity(limit):
                raise RenderError(
                    f"{where}: {section}.resources: the {resource} request {request} is above its limit {limit}"
                )
    clash = sorted(set(config["serving"]["env"]) & reserved_env)
    if clash:
        raise RenderError(f"{where}: serving.env sets {', '.join(clash)}, which the manifests set already")


# ----------------------------------------------------------------------------------------------- names
@cache
def base_names() -> tuple[tuple[str, str], ...]:
    """(kind, name) of what k8s/base/project creates, generated ConfigMaps included (with their hash suffix)."""
    kustomization = load_yaml(PROJECT_BASE / "kustomization.yaml")
    names = []
    for resource in kustomization.get("resources", []):
        for document in yaml.safe_load_all((PROJECT_BASE / resource).read_text(encoding="utf-8")):
            if document:
                names.append((document["kind"], document["metadata"]["name"]))
    for generator in kustomization.get("configMapGenerator", []):
        names.append(("ConfigMap", generator["name"] + "-" + "x" * (GENERATOR_SUFFIX - 1)))
    return tuple(names)


def max_project_name_length() -> tuple[int, str]:
    """The longest project name whose generated names all fit their limits, and the object that binds it."""
    candidates = [
        (NAME_LIMITS.get(kind, DEFAULT_NAME_LIMIT) - len("-" + name), f"{kind} <project>-{name}")
        for kind, name in base_names()
    ]
    candidates.append((LABEL_VALUE_LIMIT, f"label {PROJECT_LABEL}"))
    return min(candidates)


def check_project_name(name: str, where: str) -> None:
    longest, bound_by = max_project_name_length()
    if not PROJECT_NAME.match(name):
        raise RenderError(
            f"{where}: project name {name!r}: use lowercase letters and digits, starting with a letter (the folder "
            "is a Python package, and the name becomes part of Kubernetes names and a label value)"
        )
    if not MIN_PROJECT_NAME <= len(name) <= longest:
        raise RenderError(
            f"{where}: project name {name!r} has {len(name)} characters; {MIN_PROJECT_NAME} to {longest} fit "
            f"every generated name ({bound_by} is the tightest)"
        )


# ----------------------------------------------------------------------------------------------- inputs
def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RenderError(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        raise RenderError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RenderError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


@dataclass(frozen=True)
class Overlay:
    name: str
    path: Path
    namespace: str
    require_image_digests: bool
    ingress: bool
    defaults: dict[str, Any]
    settings_keys: frozenset[str]

    @classmethod
    def load(cls, name: str) -> Overlay:
        path = OVERLAYS_DIR / name
        known = overlay_names()
        if name not in known:
            raise RenderError(f"--overlay {name!r}: expected one of {', '.join(known)} (folders of {OVERLAYS_DIR})")
        config = load_yaml(path / "render.yaml")
        where = str(path / "render.yaml")
        for key, rule in (("require_image_digests", boolean), ("ingress", boolean)):
            rule(f"{where}: {key}", config.get(key))
        defaults = config.get("project_defaults")
        check_against_schema(defaults, SCHEMA, where, "project_defaults", complete=True)
        assert isinstance(defaults, dict)
        namespace = load_yaml(path / "kustomization.yaml").get("namespace")
        if not isinstance(namespace, str):
            raise RenderError(f"{path / 'kustomization.yaml'}: the overlay must set namespace")
        return cls(
            name=name,
            path=path,
            namespace=namespace,
            require_image_digests=config["require_image_digests"],
            ingress=config["ingress"],
            defaults=defaults,
            settings_keys=frozenset(env_file_keys(path / "settings.env")),
        )


def overlay_names() -> list[str]:
    """The folders of k8s/overlays that render.py can render (they have a render.yaml)."""
    return sorted(p.name for p in OVERLAYS_DIR.iterdir() if (p / "render.yaml").is_file())


def env_file_keys(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("=", 1)[0].strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def list_projects(projects_dir: Path) -> list[str]:
    if not projects_dir.is_dir():
        raise RenderError(f"--projects-dir {projects_dir}: no such folder")
    return sorted(p.name for p in projects_dir.iterdir() if (p / "project.yaml").is_file())


def source_kind(projects_dir: Path, name: str) -> str:
    """project.yaml's source.kind: a files project's Jobs copy new files into landing before they validate."""
    source = load_yaml(projects_dir / name / "project.yaml").get("source")
    kind = source.get("kind") if isinstance(source, dict) else None
    if not isinstance(kind, str):
        raise RenderError(f"{projects_dir / name / 'project.yaml'}: source.kind is missing")
    return kind


def project_config(projects_dir: Path, name: str, overlay: Overlay) -> dict[str, Any]:
    """The overlay's defaults, then deploy.yaml's top level, then its overlays.<overlay> section."""
    folder = projects_dir / name
    contract = folder / "project.yaml"
    if not contract.is_file():
        known = ", ".join(list_projects(projects_dir)) or "none"
        raise RenderError(f"project {name!r}: no {contract} (projects found: {known})")
    check_project_name(name, str(folder))
    declared = load_yaml(contract).get("name")
    if declared != name:
        raise RenderError(f"{contract}: name is {declared!r}, but the folder is {name!r}: they must be the same")
    deploy_file = folder / "deploy.yaml"
    deploy = load_yaml(deploy_file) if deploy_file.is_file() else {}
    per_overlay = deploy.pop("overlays", None) or {}
    where = str(deploy_file)
    check_against_schema(deploy, SCHEMA, where, "", complete=False)
    _check(isinstance(per_overlay, dict), f"{where}: overlays", "a mapping of overlay names", per_overlay)
    known = overlay_names()
    for overlay_name, section in per_overlay.items():
        if overlay_name not in known:
            raise RenderError(f"{where}: overlays.{overlay_name}: unknown overlay (expected one of {', '.join(known)})")
        check_against_schema(section, SCHEMA, where, f"overlays.{overlay_name}", complete=False)
    config = merged(merged(overlay.defaults, deploy), per_overlay.get(overlay.name) or {})
    check_consistent(config, where, RESERVED_ENV | overlay.settings_keys)
    return config


# ----------------------------------------------------------------------------------------------- images
def git_describe() -> str:
    """The tag infra/scripts/build-images.sh gives the images it builds (and its fallback outside git)."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "dev"
    return done.stdout.strip() or "dev"


def image_entries(tag: str, prefix: str, digests: dict[str, str], overlay: Overlay) -> list[dict[str, str]]:
    if tag == "latest" or not IMAGE_TAG.match(tag):
        raise RenderError(f"--image-tag {tag!r}: expected a fixed image tag such as a git revision, never 'latest'")
    if overlay.require_image_digests:
        missing = [name for name in IMAGES if name not in digests]
        if missing or not prefix:
            raise RenderError(
                f"the {overlay.name} overlay pulls pushed images by digest: pass --image-prefix REGISTRY/ and "
                f"--digest NAME=sha256:... for {', '.join(missing or IMAGES)} "
                "(after pushing: docker inspect --format '{{index .RepoDigests 0}}' IMAGE:TAG)"
            )
    entries = []
    for name in IMAGES:
        entry = {"name": name, "newName": prefix + name, "newTag": tag}
        if name in digests:
            entry["digest"] = digests[name]
        entries.append(entry)
    return entries


def parse_digests(values: list[str]) -> dict[str, str]:
    digests = {}
    for value in values:
        name, _, digest = value.partition("=")
        if name not in IMAGES or not DIGEST.match(digest):
            raise RenderError(
                f"--digest {value!r}: expected NAME=sha256:<64 hex digits>, NAME one of {', '.join(IMAGES)}"
            )
        digests[name] = digest
    return digests


# ----------------------------------------------------------------------------------------------- patches
def json_patch(kind: str, name: str, operations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"target": {"kind": kind, "name": name}, "patch": dump(operations)}


def replace(path: str, value: object) -> dict[str, Any]:
    return {"op": "replace", "path": path, "value": value}


def add(path: str, value: object) -> dict[str, Any]:
    return {"op": "add", "path": path, "value": value}


def remove(path: str) -> dict[str, Any]:
    return {"op": "remove", "path": path}


POD = "/spec/template/spec"
CRON_POD = "/spec/jobTemplate/spec/template/spec"


def cronjob_operations(config: dict[str, Any], time_zone: str, schedule: bool = True) -> list[dict[str, Any]]:
    operations = [replace("/spec/schedule", config["schedule"])] if schedule else []
    return [
        *operations,
        replace("/spec/timeZone", time_zone),
        replace("/spec/jobTemplate/spec/activeDeadlineSeconds", config["active_deadline_seconds"]),
        replace(f"{CRON_POD}/containers/0/resources", config["resources"]),
    ]


def delete(kind: str, api_version: str, name: str) -> dict[str, Any]:
    """A strategic-merge patch that removes the object from the build."""
    return {"patch": dump({"$patch": "delete", "apiVersion": api_version, "kind": kind, "metadata": {"name": name}})}


def serving_patches(project: str, serving: dict[str, Any], overlay: Overlay) -> list[dict[str, Any]]:
    deployment = [replace(f"{POD}/containers/0/resources", serving["resources"])]
    deployment += [add(f"{POD}/containers/0/env/-", {"name": k, "value": v}) for k, v in serving["env"].items()]
    scaling = serving["autoscaling"]
    patches = []
    if scaling["enabled"]:
        hpa = [
            replace("/spec/minReplicas", scaling["min_replicas"]),
            replace("/spec/maxReplicas", scaling["max_replicas"]),
            replace("/spec/metrics/0/resource/target/averageUtilization", scaling["target_cpu_percent"]),
        ]
        patches.append(json_patch("HorizontalPodAutoscaler", "serving", hpa))
    else:
        # A fixed count: the Deployment carries it and the autoscaler goes.
        deployment.append(add("/spec/replicas", serving["replicas"]))
        patches.append(delete("HorizontalPodAutoscaler", "autoscaling/v2", "serving"))
    patches.insert(0, json_patch("Deployment", "serving", deployment))
    if overlay.ingress and serving["ingress_host"]:
        host = serving["ingress_host"].replace("{project}", project)
        ingress = [
            add("/spec/rules/0/host", host),
            add("/spec/tls/0/hosts", [host]),
            replace("/spec/tls/0/secretName", f"{project}-serving-tls"),
        ]
        patches.append(json_patch("Ingress", "serving", ingress))
    elif overlay.ingress:
        # No host, no Ingress: the component's host-less rule would route every host to this project.
        patches.append(delete("Ingress", "networking.k8s.io/v1", "serving"))
    return patches


def project_patches(project: str, config: dict[str, Any], overlay: Overlay, source: str) -> list[dict[str, Any]]:
    training, zone = config["training"], config["time_zone"]
    train = [
        replace("/spec/activeDeadlineSeconds", training["active_deadline_seconds"]),
        replace(f"{POD}/containers/0/resources", training["resources"]),
    ]
    intake = cronjob_operations(config["intake"], zone)
    if source != "files":
        # Only a files project has a source to copy from: its `ingest` init container (and the failure rule that
        # names it, which the API would refuse without it) goes. Indexes as in k8s/base/project.
        train += [remove("/spec/podFailurePolicy/rules/1"), remove(f"{POD}/initContainers/1")]
        # Its batches are landed from outside: the first training waits for one (wait_for_platform.py --landing).
        train.append(replace(f"{POD}/initContainers/0/args", ["--landing"]))
        intake += [remove("/spec/jobTemplate/spec/podFailurePolicy/rules/1"), remove(f"{CRON_POD}/initContainers")]
    return [
        *serving_patches(project, config["serving"], overlay),
        json_patch("Job", "train", train),
        json_patch("CronJob", "retrain", cronjob_operations(training, zone, schedule=False)),
        json_patch("CronJob", "intake", intake),
        json_patch("CronJob", "monitor", cronjob_operations(config["monitoring"], zone)),
        json_patch("CronJob", "compact", cronjob_operations(config["log_compaction"], zone)),
        # The name prefix does not reach resourceNames: the monitor may read its own retrain CronJob only.
        json_patch("Role", "monitor", [replace("/rules/0/resourceNames", [f"{project}-retrain"])]),
    ]


# ----------------------------------------------------------------------------------------------- output
class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the patches) as literal blocks, so a generated kustomization reads like a written one."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _string)


def dump(data: object) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=120, default_flow_style=False)


def relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def write_kustomization(folder: Path, header: str, body: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(
        "written by k8s/render.py: rewritten at every render, removed once its project is gone\n", "utf-8"
    )
    text = dump(body)
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    (folder / "kustomization.yaml").write_text(comment + text, encoding="utf-8")


@dataclass(frozen=True)
class Project:
    name: str
    config: dict[str, Any]  # deploy.yaml over the overlay's defaults
    source: str  # project.yaml source.kind


def render_project(out: Path, spec: Project, overlay: Overlay, images: list[dict[str, str]]) -> Path:
    project = spec.name
    folder = out / project
    body = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": overlay.namespace,
        "namePrefix": f"{project}-",
        "resources": [relative(PROJECT_BASE, folder)],
        "components": [relative(overlay.path / "project", folder)],
        "labels": [{"pairs": {PROJECT_LABEL: project}, "includeSelectors": True, "includeTemplates": True}],
        "images": [entry for entry in images if entry["name"] != "mlops-mlflow"],
        "patches": project_patches(project, spec.config, overlay, spec.source),
    }
    header = (
        f"Project {project} in the {overlay.name} overlay, generated by k8s/render.py: edit\n"
        f"projects/{project}/deploy.yaml or k8s/, never this file (it is rewritten at every render)."
    )
    write_kustomization(folder, header, body)
    return folder


def render(
    overlay: Overlay, projects: list[str], projects_dir: Path, out_root: Path, images: list[dict[str, str]]
) -> Path:
    out = out_root / overlay.name
    specs = {
        name: Project(name, project_config(projects_dir, name, overlay), source_kind(projects_dir, name))
        for name in projects
    }
    if out.is_dir():
        # A project removed (or left out) since the last render must not linger in the namespace's kustomization.
        for stale in out.iterdir():
            if stale.is_dir() and (stale / MARKER).is_file() and stale.name not in specs:
                shutil.rmtree(stale)
    folders = [render_project(out, spec, overlay, images) for spec in specs.values()]
    body = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [relative(overlay.path, out), *(relative(folder, out) for folder in folders)],
        "images": images,
    }
    header = (
        f"The {overlay.name} overlay with the projects {', '.join(projects) or '(none)'}, generated by\n"
        "k8s/render.py; `kubectl apply -k` this folder (k8s/README.md, 'Deploy on kind')."
    )
    write_kustomization(out, header, body)
    return out


def kustomize(folder: Path) -> str:
    """`kubectl kustomize` (kustomize v5 is built into kubectl 1.27+), else a standalone `kustomize build`."""
    for command in (["kubectl", "kustomize", str(folder)], ["kustomize", "build", str(folder)]):
        if shutil.which(command[0]) is None:
            continue
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RenderError(f"{' '.join(command)} failed:\n{done.stderr.strip()}")
        return done.stdout
    raise RenderError("neither kubectl nor kustomize is on PATH: install kubectl (it bundles kustomize v5)")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="k8s/render.py", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--overlay", required=False, help=f"one of: {', '.join(overlay_names())}")
    parser.add_argument("--project", action="append", default=[], help="a project to include (repeat; default: all)")
    parser.add_argument("--projects-dir", type=Path, default=REPO_ROOT / "projects", help="default: projects/")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "k8s", help="default: build/k8s")
    parser.add_argument(
        "--image-tag",
        default=os.environ.get("IMAGE_TAG") or None,
        help="default: $IMAGE_TAG, else `git describe --always --dirty --abbrev=12`, as build-images.sh tags",
    )
    parser.add_argument(
        "--image-prefix", default=os.environ.get("IMAGE_PREFIX", ""), help="registry prefix, e.g. ghcr.io/acme/"
    )
    parser.add_argument("--digest", action="append", default=[], help="NAME=sha256:... (repeat for each image)")
    parser.add_argument("--stdout", action="store_true", help="print the rendered namespace (kubectl kustomize)")
    parser.add_argument(
        "--print-limits", action="store_true", help="print the longest project name allowed, and why, then exit"
    )
    args = parser.parse_args(argv)
    if not args.print_limits and not args.overlay:
        parser.error("--overlay is required")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        if args.print_limits:
            longest, bound_by = max_project_name_length()
            sys.stdout.write(f"project names: {MIN_PROJECT_NAME} to {longest} characters (bound by {bound_by})\n")
            return 0
        overlay = Overlay.load(args.overlay)
        projects = list(dict.fromkeys(args.project)) or list_projects(args.projects_dir)
        images = image_entries(args.image_tag or git_describe(), args.image_prefix, parse_digests(args.digest), overlay)
        folder = render(overlay, projects, args.projects_dir, args.out, images)
        if args.stdout:
            sys.stdout.write(kustomize(folder))
        else:
            sys.stderr.write(f"wrote {folder}: kubectl apply -k {folder}\n")
    except RenderError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
