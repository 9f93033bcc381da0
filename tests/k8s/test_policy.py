"""checkov's Kubernetes policies over every overlay's render: resources scanned, zero failed checks, and every
skip an annotation on its object giving the reason (kustomize drops YAML comments, annotations survive).

Digest pinning and Always pulls may be skipped only in the kind overlay, whose images are built on the laptop
and loaded into the node; production pulls every image by digest."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers.kube import WORKLOADS, Rendered

pytestmark = pytest.mark.k8s

SKIP_ANNOTATION = re.compile(r"^checkov\.io/skip\d+$")
SKIP_VALUE = re.compile(r"^(CKV2?_K8S_\d+)=(\S.{20,})$", re.S)
# Every skip the manifests may carry: check -> the objects it may be on, per overlay.
ALLOWED_SKIPS = {
    "kind": {
        "CKV_K8S_43": {"*"},  # image digests: local images (ours) and tag-pinned upstream ones
        "CKV_K8S_15": {"*"},  # imagePullPolicy Always: images exist only on the node
        "CKV_K8S_35": {"Deployment/mlflow"},  # MLflow reads its backend store URI from the environment only
        "CKV_K8S_38": {"CronJob/*-monitor"},  # the monitor's trigger uses the API
    },
    "production": {
        "CKV_K8S_35": {"Deployment/mlflow"},
        "CKV_K8S_38": {"CronJob/*-monitor"},
    },
}


def skips_of(obj: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in obj["metadata"].get("annotations", {}).items():
        if key.startswith("checkov.io/"):
            assert SKIP_ANNOTATION.match(key), f"{obj['kind']} {obj['metadata']['name']}: annotation {key}"
            match = SKIP_VALUE.match(value)
            assert match, f"{obj['kind']} {obj['metadata']['name']}: {key}={value!r} is not CKV_K8S_xx=<reason>"
            out[match.group(1)] = match.group(2)
    return out


def allowed(check: str, kind: str, name: str, overlay: str) -> bool:
    patterns = ALLOWED_SKIPS[overlay].get(check, set())
    return any(
        p == "*" or p == f"{kind}/{name}" or (p.startswith(f"{kind}/*") and name.endswith(p[len(kind) + 2 :]))
        for p in patterns
    )


def test_checkov_scanned_every_overlay_and_nothing_failed(
    checkov_results: dict[str, dict[str, Any]], rendered: dict[str, Rendered]
) -> None:
    for overlay, results in checkov_results.items():
        assert not results["parsing_errors"], f"{overlay}: checkov could not parse {results['parsing_errors']}"
        scanned = {
            c["resource"] for kind in ("passed_checks", "failed_checks", "skipped_checks") for c in results[kind]
        }
        workloads = {f"{o['kind']}.mlops.{o['metadata']['name']}" for o in rendered[overlay].of_kind(*WORKLOADS)}
        assert workloads <= scanned, f"{overlay}: checkov did not scan {sorted(workloads - scanned)}"
        assert len(results["passed_checks"]) > 100, f"{overlay}: only {len(results['passed_checks'])} checks passed"
        failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in results["failed_checks"]]
        assert not failed, f"{overlay}: checkov failed checks:\n" + "\n".join(failed)


def test_every_skip_is_an_annotation_with_its_reason(
    checkov_results: dict[str, dict[str, Any]], rendered: dict[str, Rendered]
) -> None:
    for overlay, results in checkov_results.items():
        annotated = {}
        for obj in rendered[overlay].objects:
            for check, reason in skips_of(obj).items():
                kind, name = obj["kind"], obj["metadata"]["name"]
                assert allowed(check, kind, name, overlay), f"{overlay}: {kind} {name} skips {check}, not allowed here"
                annotated[(check, f"{kind}.mlops.{name}")] = reason
        for skipped in results["skipped_checks"]:
            key = (skipped["check_id"], skipped["resource"])
            assert key in annotated, f"{overlay}: checkov skipped {key} without an annotation on the object"
            assert skipped["check_result"].get("suppress_comment") == annotated[key]


def test_digest_and_pull_policy_skips_exist_only_in_kind(rendered: dict[str, Rendered]) -> None:
    production = {c for obj in rendered["production"].objects for c in skips_of(obj)}
    assert not production & {"CKV_K8S_43", "CKV_K8S_15"}, "production must pin digests and pull Always"
    for workload in rendered["production"].of_kind(*WORKLOADS):
        spec = workload["spec"]
        template = spec["jobTemplate"]["spec"]["template"] if workload["kind"] == "CronJob" else spec["template"]
        for container in template["spec"].get("initContainers", []) + template["spec"]["containers"]:
            assert re.search(r"@sha256:[0-9a-f]{64}$", container["image"]), container["image"]
            assert container["imagePullPolicy"] == "Always", f"{workload['metadata']['name']}/{container['name']}"
