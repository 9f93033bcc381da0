"""The Docker harness's reading of the rendered pod specs (tests/helpers/kube_pods.py), offline.

The container suite runs the kind overlay's pod specs in Docker (tests/container/test_kind_overlay.py); what the
harness refuses before any container starts is proven here, without Docker: every pod of both overlays plans;
a field it does not map, a ConfigMap key that is not there, a $(VAR) used before it is defined, a URL on a
Service port the Service does not have, a named targetPort no container declares: each is refused with the
object and the field.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.helpers.kube import Rendered
from tests.helpers.kube_docker import check_target_ports
from tests.helpers.kube_pods import PodIdentity, PodSpecError, Render, expand, plan_pod, workload, workloads

pytestmark = pytest.mark.k8s
IDENTITY = PodIdentity("pod-0", "mlops", "10.0.0.9", "10.0.0.1", 6443)


def kind(rendered: dict[str, Rendered]) -> list[dict[str, Any]]:
    return copy.deepcopy(rendered["kind"].objects)


def named(objects: list[dict[str, Any]], kind_: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind_ and o["metadata"]["name"] == name)


def plan(objects: list[dict[str, Any]], kind_: str, name: str) -> Any:
    return plan_pod(Render(objects), workload(named(objects, kind_, name)), IDENTITY)


def test_every_pod_of_the_kind_overlay_plans(rendered: dict[str, Rendered]) -> None:
    render = Render(kind(rendered))
    plans = [plan_pod(render, w, IDENTITY) for w in workloads(render)]
    assert len(plans) >= 10, [p.ref for p in plans]
    monitor = next(p for p in plans if p.ref == "CronJob/churn-monitor")
    assert monitor.token, "the monitor's pod mounts the service-account token"
    assert monitor.containers[0].env["KUBERNETES_SERVICE_HOST"] == "10.0.0.1", "as the kubelet always injects it"
    assert monitor.containers[0].env["MLOPS_NAMESPACE"] == "mlops", "from the downward API"
    assert monitor.containers[0].args == ("monitor", "--project", "churn"), "$(MLOPS_PROJECT) expanded"
    holders = sorted(p.ref for p in plans if p.token)
    assert all(ref.endswith("-monitor") for ref in holders), f"only the monitors' pods get a token: {holders}"


def test_a_field_the_harness_does_not_map_is_refused_by_name(rendered: dict[str, Rendered]) -> None:
    objects = kind(rendered)
    named(objects, "Deployment", "churn-serving")["spec"]["template"]["spec"]["hostNetwork"] = True
    with pytest.raises(PodSpecError, match=r"Deployment/churn-serving spec\.template\.spec\.hostNetwork: a field"):
        plan(objects, "Deployment", "churn-serving")
    container = named(objects, "Job", "churn-train")["spec"]["template"]["spec"]["containers"][0]
    container["stdin"] = True
    with pytest.raises(PodSpecError, match=r"containers\[retrain\]\.stdin: a field the Docker harness does not map"):
        plan(objects, "Job", "churn-train")


def test_a_missing_configmap_key_is_refused_as_the_kubelet_would(rendered: dict[str, Rendered]) -> None:
    """Mutation (env): the settings ConfigMap without MLOPS_TRACKING_URI; the train Job's init container names it."""
    objects = kind(rendered)
    settings = next(o for o in objects if o["kind"] == "ConfigMap" and "MLOPS_TRACKING_URI" in o.get("data", {}))
    del settings["data"]["MLOPS_TRACKING_URI"]
    with pytest.raises(
        PodSpecError,
        match=r"Job/churn-train .*initContainers\[wait-for-platform\]\.env\[MLOPS_TRACKING_URI\]: "
        r"ConfigMap mlops-settings-\w+ has no key 'MLOPS_TRACKING_URI'",
    ):
        plan(objects, "Job", "churn-train")


def test_a_variable_used_before_it_is_defined_is_refused(rendered: dict[str, Rendered]) -> None:
    """Mutation (env order): MLflow's backend URI moved above the password it expands; the kubelet would pass
    '$(POSTGRES_PASSWORD)' on literally and the database would refuse the login."""
    objects = kind(rendered)
    env = named(objects, "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]["env"]
    env.insert(0, env.pop(next(i for i, e in enumerate(env) if e["name"] == "MLFLOW_BACKEND_STORE_URI")))
    with pytest.raises(
        PodSpecError, match=r"containers\[mlflow\]\.env\[MLFLOW_BACKEND_STORE_URI\]: \$\(POSTGRES_PASSWORD\)"
    ):
        plan(objects, "Deployment", "mlflow")
    assert expand("a$$(B)$(C)", {"C": "c"}, "x") == "a$(B)c", "$$ escapes, as in the kubelet"


def test_a_service_port_nothing_connects_to_is_named(rendered: dict[str, Rendered]) -> None:
    """Mutation (Service port): mlflow's Service on 5001 while every client's URL says mlflow:5000."""
    objects = kind(rendered)
    named(objects, "Service", "mlflow")["spec"]["ports"][0]["port"] = 5001
    with pytest.raises(
        PodSpecError,
        match=r"containers\[serving\]\.env\[MLOPS_TRACKING_URI\] \(http://mlflow:5000\): Service/mlflow spec\.ports "
        r"has no port 5000",
    ):
        plan(objects, "Deployment", "churn-serving")


def test_a_target_port_no_container_declares_is_named(rendered: dict[str, Rendered]) -> None:
    objects = kind(rendered)
    named(objects, "Service", "mlflow")["spec"]["ports"][0]["targetPort"] = "htp"
    with pytest.raises(
        PodSpecError, match=r"Service/mlflow spec\.ports\[0\]\.targetPort: 'htp' names no container port"
    ):
        check_target_ports(Render(objects), workload(named(objects, "Deployment", "mlflow")))


def test_a_probe_on_a_port_the_container_does_not_name_is_refused(rendered: dict[str, Rendered]) -> None:
    objects = kind(rendered)
    container = named(objects, "Deployment", "churn-serving")["spec"]["template"]["spec"]["containers"][0]
    container["livenessProbe"]["httpGet"]["port"] = "metrics"
    with pytest.raises(
        PodSpecError, match=r"containers\[serving\]\.livenessProbe\.httpGet\.port: the container has no port"
    ):
        plan(objects, "Deployment", "churn-serving")
