"""The platform's own rules for every pod, beyond checkov's generic ones: restricted Pod Security that admission
would enforce, writable paths only where a volume is, tokens only for the monitor, probes and graceful shutdown
as the serving image needs them, and Jobs that do not retry a deterministic failure."""

from __future__ import annotations

import pytest

from tests.helpers.kube import Pod, Rendered, pods, quantity

pytestmark = pytest.mark.k8s

OUR_IMAGES = ("mlops-serving", "mlops-jobs", "mlops-mlflow")
# The paths each image writes to (the VOLUMEs its Dockerfile declares), which must be emptyDirs.
WRITABLE = {
    "mlops-serving": {"/tmp", "/var/lib/mlops"},
    "mlops-jobs": {"/tmp", "/var/lib/mlops"},
    "mlops-mlflow": {"/tmp", "/var/lib/mlflow"},
}
SERVER_GRACEFUL_SHUTDOWN = 30  # uvicorn's timeout_graceful_shutdown in serving/server.py
EXPECTED_FAILURE = 2  # the CLI's exit code for an expected error (mlops/cli.py)


def image_name(image: str) -> str:
    return image.split("@", maxsplit=1)[0].rsplit(":", 1)[0].rsplit("/", 1)[-1]


def every_pod(rendered: dict[str, Rendered]) -> list[tuple[str, Pod]]:
    return [(overlay, pod) for overlay, result in rendered.items() for pod in pods(result)]


def test_the_namespace_enforces_restricted_pod_security(rendered: dict[str, Rendered]) -> None:
    for overlay, result in rendered.items():
        labels = result.named("Namespace", "mlops")["metadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", f"{overlay}: {mode}"
        assert labels["pod-security.kubernetes.io/enforce-version"] != "latest", "pin enforce to the tested version"


def test_every_container_runs_restricted(rendered: dict[str, Rendered]) -> None:
    for overlay, pod in every_pod(rendered):
        context = pod.spec["securityContext"]
        where = f"{overlay}: {pod.name}"
        assert context["runAsNonRoot"] is True, where
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert context["runAsUser"] >= 10000, where
        assert context["runAsGroup"] >= 10000, where
        for _, container in pod.containers():
            c = container["securityContext"]
            at = f"{where}/{container['name']}"
            assert c["allowPrivilegeEscalation"] is False, at
            assert c["readOnlyRootFilesystem"] is True, at
            assert c["capabilities"] == {"drop": ["ALL"]}, at
            assert c["runAsNonRoot"] is True, at
            assert c["runAsUser"] == context["runAsUser"], at
            assert c["seccompProfile"] == {"type": "RuntimeDefault"}, at
            assert not container.get("ports") or all("hostPort" not in p for p in container["ports"]), at
        assert not any(pod.spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), where


def test_every_container_has_requests_and_limits_within_them(rendered: dict[str, Rendered]) -> None:
    for overlay, pod in every_pod(rendered):
        for _, container in pod.containers():
            resources, at = container["resources"], f"{overlay}: {pod.name}/{container['name']}"
            for resource in ("cpu", "memory"):
                request, limit = resources["requests"][resource], resources["limits"][resource]
                assert quantity(request) <= quantity(limit), f"{at}: {resource} request {request} > limit {limit}"


def test_only_the_monitor_gets_a_service_account_token(rendered: dict[str, Rendered]) -> None:
    for overlay, result in rendered.items():
        for account in result.of_kind("ServiceAccount"):
            assert account["automountServiceAccountToken"] is False, f"{overlay}: {account['metadata']['name']}"
        for pod in pods(result):
            wants_token = pod.component == "monitoring"
            assert pod.spec["automountServiceAccountToken"] is wants_token, f"{overlay}: {pod.name}"
            assert pod.spec["serviceAccountName"] != "default", f"{overlay}: {pod.name} uses the default account"
            assert pod.spec["enableServiceLinks"] is False, f"{overlay}: {pod.name} gets *_SERVICE_* variables"


def test_writable_paths_are_volumes_and_declared_image_volumes_are_empty_dirs(rendered: dict[str, Rendered]) -> None:
    for overlay, pod in every_pod(rendered):
        kinds = {v["name"]: next(k for k in v if k != "name") for v in pod.spec.get("volumes", [])}
        claims = {t["metadata"]["name"] for t in pod.workload["spec"].get("volumeClaimTemplates", [])}
        for _, container in pod.containers():
            mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
            for mount in mounts.values():
                kind = "persistentVolumeClaim" if mount["name"] in claims else kinds[mount["name"]]
                if kind in {"secret", "configMap"}:
                    assert mount.get("readOnly") is True, f"{overlay}: {pod.name}: {mount['mountPath']}"
            name = image_name(container["image"])
            for path in WRITABLE.get(name, set()):
                assert path in mounts, f"{overlay}: {pod.name}/{container['name']} has no volume at {path}"
                assert kinds[mounts[path]["name"]] == "emptyDir", f"{overlay}: {pod.name}: {path} is not an emptyDir"


def test_data_of_the_stateful_services_is_on_claims(rendered: dict[str, Rendered]) -> None:
    result = rendered["kind"]
    for name, path in (("postgres", "/var/lib/postgresql/data"), ("seaweedfs", "/data")):
        statefulset = result.named("StatefulSet", name)
        claim = statefulset["spec"]["volumeClaimTemplates"][0]
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert claim["spec"]["resources"]["requests"]["storage"]
        mounts = statefulset["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        assert {"name": claim["metadata"]["name"], "mountPath": path} in mounts, f"{name}: data not on its claim"
        assert statefulset["spec"]["persistentVolumeClaimRetentionPolicy"] == {
            "whenDeleted": "Retain",
            "whenScaled": "Retain",
        }
        assert result.named("Service", f"{name}-headless")["spec"]["clusterIP"] == "None"
        assert statefulset["spec"]["serviceName"] == f"{name}-headless"
        result.named("Service", name)
    assert not rendered["production"].of_kind("StatefulSet"), "production uses managed PostgreSQL and S3"


def test_long_running_containers_have_probes_and_serving_shuts_down_gracefully(rendered: dict[str, Rendered]) -> None:
    for overlay, result in rendered.items():
        for pod in pods(result):
            if pod.workload["kind"] not in {"Deployment", "StatefulSet"}:
                continue
            for _, container in [c for c in pod.containers() if c[0] == "main"]:
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    assert probe in container, f"{overlay}: {pod.name}/{container['name']} has no {probe}"
        for deployment in (d for d in result.of_kind("Deployment") if d["metadata"]["name"].endswith("-serving")):
            spec = deployment["spec"]["template"]["spec"]
            serving = spec["containers"][0]
            assert serving["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
            assert serving["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
            assert serving["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}]
            pause = serving["lifecycle"]["preStop"]["sleep"]["seconds"]
            assert 0 < pause <= 10, "the pre-stop pause only has to outlast endpoint propagation"
            assert spec["terminationGracePeriodSeconds"] >= pause + SERVER_GRACEFUL_SHUTDOWN + 5, (
                "the grace period must cover the pause, the server's 30 s graceful shutdown and the log flush"
            )
            annotations = deployment["spec"]["template"]["metadata"]["annotations"]
            assert annotations == {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "3000",
                "prometheus.io/path": "/metrics",
            }


def test_jobs_do_not_retry_an_expected_error_and_the_schedules_do_not_overlap(rendered: dict[str, Rendered]) -> None:
    for overlay, result in rendered.items():
        for pod in pods(result):
            workload = pod.workload
            if workload["kind"] not in {"Job", "CronJob"} or pod.component == "bucket-setup":
                continue
            job = workload["spec"]["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else workload["spec"]
            where = f"{overlay}: {pod.name}"
            assert job["backoffLimit"] <= 3, where
            assert pod.spec["restartPolicy"] == "Never", where
            rules = job["podFailurePolicy"]["rules"]
            fail = [r for r in rules if r["action"] == "FailJob"]
            assert fail, where
            assert fail[0]["onExitCodes"] == {
                "containerName": pod.spec["containers"][0]["name"],
                "operator": "In",
                "values": [EXPECTED_FAILURE],
            }, where
            assert job["activeDeadlineSeconds"] > 0, where
            names = {c["name"] for _, c in pod.containers()}
            for rule in fail:
                assert rule["onExitCodes"]["containerName"] in names, f"{where}: a rule names a missing container"
            if workload["kind"] == "CronJob":
                assert workload["spec"]["concurrencyPolicy"] == "Forbid", where
        for cronjob in result.of_kind("CronJob"):
            suspended = cronjob["spec"].get("suspend", False)
            assert suspended is cronjob["metadata"]["name"].endswith("-retrain"), f"{cronjob['metadata']['name']}"


def test_workload_commands_are_the_cli_the_images_provide(rendered: dict[str, Rendered]) -> None:
    expected = {
        "serving": ["python", "-m", "serving.server", "--host", "0.0.0.0", "--port", "3000"],
        "monitor": ["monitor", "--project", "$(MLOPS_PROJECT)"],
        "retrain": ["retrain", "--project", "$(MLOPS_PROJECT)"],
        "train": ["retrain", "--project", "$(MLOPS_PROJECT)"],
        "compact": ["log", "compact", "--project", "$(MLOPS_PROJECT)"],
        "intake": ["validate", "--project", "$(MLOPS_PROJECT)"],
    }
    for overlay, result in rendered.items():
        for pod in pods(result):
            name = pod.workload["metadata"]["name"]
            role = next((r for r in expected if name.endswith(f"-{r}")), None)
            if role is None:
                continue
            container = pod.spec["containers"][0]
            words = container.get("command", []) + container.get("args", [])
            assert words == expected[role], f"{overlay}: {name}: {words}"
            for init in pod.spec.get("initContainers", []):
                if init["name"] == "ingest":
                    assert init["args"] == ["data", "ingest", "--project", "$(MLOPS_PROJECT)"], f"{overlay}: {name}"
