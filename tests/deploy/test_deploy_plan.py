"""`make deploy-plan`: the commands `make deploy` runs, in order, from the same code path (a dry-run switch).

Given the plan of each example, these check the stages and their order, a wait after every stage with a timeout,
the images loaded into kind by their content tags (never `latest`), Jobs created only when absent, the generated
kustomization, the seed Job cut from the manifests' own pod spec, and that a plan touches nothing.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import commands, run_script
from tests.helpers.examples import example_dir, needs_example
from tests.helpers.system import REPO

pytestmark = pytest.mark.k8s

STAGE_FILES = ("1-foundation", "2-data-services", "3-mlflow", "5-serving", "6-cronjobs")


def index_of(lines: list[str], pattern: str, start: int = 0) -> int:
    for i, line in enumerate(lines[start:], start):
        if re.search(pattern, line):
            return i
    raise AssertionError(f"no line matching {pattern!r} after line {start}:\n" + "\n".join(lines[start:][:80]))


@pytest.mark.parametrize("project", ["churn", "demand"])
def test_the_plan_applies_the_stages_in_order_and_waits_on_each(plans: dict[str, list[str]], project: str) -> None:
    plan = commands(plans[project])
    order = [
        r"^kind create cluster --name mlops --config .*infra/kind/cluster.yaml",
        r"apply -k .*/metrics-server$",
        r"-n kube-system rollout status deployment/metrics-server --timeout=\d+s",
        r"^kind load docker-image --name mlops mlops-jobs:src-[0-9a-f]{12}$",
        r"k8s/render.py --overlay kind --project " + project,
        r"^kubectl kustomize ",
        r"apply -f .*/stages/1-foundation.yaml",
        r"apply -f .*/stages/2-data-services.yaml",
        r"rollout status statefulset/postgres --timeout=300s",
        r"rollout status statefulset/seaweedfs --timeout=300s",
        r"apply -f .*/stages/3-mlflow.yaml",
        r"rollout status deployment/mlflow --timeout=300s",
        r"create -f .*/4-bootstrap/create-buckets.yaml",
        r"create -f .*/4-bootstrap/" + project + "-seed.yaml",
        r"create -f .*/4-bootstrap/" + project + "-train.yaml",
        r"get job/create-buckets -o json",
        r"get job/" + project + "-train -o json",
        r"apply -f .*/stages/5-serving.yaml",
        rf"rollout status deployment/{project}-serving --timeout=600s",
        r"apply -f .*/stages/6-cronjobs.yaml",
        rf"port-forward svc/{project}-serving :3000",
    ]
    position = 0
    for pattern in order:
        position = index_of(plan, pattern, position) + 1
    every_kubectl = [c for c in plan if c.startswith("kubectl ") and " kustomize " not in f" {c} "]
    assert all(c.startswith("kubectl --context kind-mlops") for c in every_kubectl), (
        "every kubectl command names the kind cluster's context, whatever the user's current context is"
    )


def test_every_wait_has_a_timeout(plans: dict[str, list[str]]) -> None:
    lines = plans["churn"]
    waits = [line for line in lines if "rollout status" in line or re.search(r"get job/\S+ -o json", line)]
    assert len(waits) >= 8, waits
    for line in waits:
        assert re.search(r"--timeout=\d+s|at most \d+ s", line), f"a wait without a timeout: {line}"


def test_images_are_loaded_by_content_tag_and_never_latest(plans: dict[str, list[str]]) -> None:
    plan = commands(plans["churn"])
    loads = [c for c in plan if c.startswith("kind load docker-image")]
    loaded = [c.split()[-1] for c in loads]
    assert [name.split(":")[0] for name in loaded] == [
        "mlops-jobs", "mlops-mlflow", "mlops-serving", "postgres", "chrislusf/seaweedfs",
    ], loaded  # fmt: skip
    assert all(re.fullmatch(r"mlops-\w+:src-[0-9a-f]{12}", n) for n in loaded[:3]), loaded
    named = [c for c in plan if not c.startswith("docker image inspect")]  # a size estimate may read :latest
    assert not any(":latest" in c for c in named), "nothing is loaded, built or deployed as :latest"
    builds = [c for c in plan if "build-images.sh" in c]
    notes = [line for line in plans["churn"] if "is built already" in line]
    assert len(builds) + len(notes) == 3, "each image is either built (its content tag missing) or reused"
    assert any("bytes loaded into kind by this deploy" in line for line in plans["churn"])


def test_jobs_are_created_only_when_absent_and_never_applied(plans: dict[str, list[str]]) -> None:
    lines = plans["churn"]
    for job in ("create-buckets", "churn-seed", "churn-train"):
        asked = index_of(lines, rf"get job/{job} --ignore-not-found -o name")
        created = index_of(lines, rf"create -f .*/{job}\.yaml", asked)
        assert "only when the Job is absent" in lines[created]
    assert not any(re.search(r"apply -f .*4-bootstrap", line) for line in lines), "Jobs are immutable: never applied"


@needs_example("churn")
def test_a_project_fed_by_files_gets_no_seed_job(deploy: ModuleType, kubectl: str, tmp_path: Path) -> None:
    runner = deploy.Runner(dry_run=True)
    plan = deploy.Deploy("churn", "mlops", runner, tmp_path)
    plan.compute_tags()
    plan.render()
    assert plan.generator_project(), "churn is fed by its generator: its batches are seeded from a Job"
    names = [job["metadata"]["name"] for job in plan.bootstrap_jobs()]
    assert names == ["create-buckets", "churn-seed", "churn-train"], names
    plan.generator_project = lambda: False
    assert [job["metadata"]["name"] for job in plan.bootstrap_jobs()] == ["create-buckets", "churn-train"]


@pytest.fixture(scope="module")
def planned(deploy: ModuleType, kubectl: str) -> Any:
    example_dir("churn")
    folder = Path(tempfile.mkdtemp(prefix="deploy-test-"))
    plan = deploy.Deploy("churn", "mlops", deploy.Runner(dry_run=True), folder)
    plan.compute_tags()
    plan.render()
    return plan


def test_the_generated_kustomization_sets_each_image_to_its_own_content_tag(planned: Any) -> None:
    generated = yaml.safe_load((planned.out / "kustomization.yaml").read_text())
    assert generated["resources"] == ["k8s/kind"], generated
    images = {entry["name"]: entry["newTag"] for entry in generated["images"]}
    assert images == {f"mlops-{name}": tag for name, tag in planned.tags.items()}
    used = set()
    for obj in planned.objects:
        spec = obj.get("spec", {})
        pod = spec.get("template", spec.get("jobTemplate", {}).get("spec", {}).get("template", {})).get("spec", {})
        used |= {c["image"] for c in pod.get("containers", []) + pod.get("initContainers", [])}
    ours = {image for image in used if image.startswith("mlops-")}
    assert ours == {f"mlops-{name}:{tag}" for name, tag in planned.tags.items()}, used
    assert {"postgres:17.6-bookworm", "chrislusf/seaweedfs:4.48"} <= used


def test_every_object_has_exactly_one_stage_and_stage_files_hold_them(deploy: ModuleType, planned: Any) -> None:
    stages = {obj["kind"] + "/" + obj["metadata"]["name"]: deploy.stage_of(obj) for obj in planned.objects}
    assert set(stages.values()) == {stage for stage, _ in deploy.STAGES}
    assert stages["StatefulSet/postgres"] == "data-services"
    assert stages["Deployment/mlflow"] == "mlflow"
    assert stages["Job/churn-train"] == "bootstrap"
    assert stages["HorizontalPodAutoscaler/churn-serving"] == "serving"
    assert stages["CronJob/churn-retrain"] == "cronjobs"
    assert stages["NetworkPolicy/default-deny"] == "foundation"
    on_disk = 0
    for name in STAGE_FILES:
        on_disk += len([d for d in yaml.safe_load_all((planned.out / "stages" / f"{name}.yaml").read_text()) if d])
    jobs = [o for o in planned.objects if o["kind"] == "Job"]
    assert on_disk + len(jobs) == len(planned.objects), "every rendered object is in one stage file, Jobs aside"
    with pytest.raises(deploy.DeployError, match="no deploy stage"):
        deploy.stage_of({"kind": "Deployment", "metadata": {"name": "x", "labels": {}}})


def test_the_seed_job_is_the_retrain_templates_pod_with_another_command(deploy: ModuleType, planned: Any) -> None:
    seed = next(job for job in planned.bootstrap_jobs() if job["metadata"]["name"] == "churn-seed")
    template = deploy.named(planned.objects, "CronJob", "churn-retrain")["spec"]["jobTemplate"]["spec"]
    pod, original = seed["spec"]["template"]["spec"], template["template"]["spec"]
    for key in ("serviceAccountName", "securityContext", "volumes", "automountServiceAccountToken"):
        assert pod[key] == original[key], f"the seed Job's {key} comes from the manifests"
    container = pod["containers"][0]
    assert container["args"] == ["data", "generate", "--project", "$(MLOPS_PROJECT)", "--batches", "10"]
    assert container["image"] == original["containers"][0]["image"]
    assert container["securityContext"] == original["containers"][0]["securityContext"]
    rules = [r for r in seed["spec"]["podFailurePolicy"]["rules"] if "onExitCodes" in r]
    assert rules, "the retrain template's failure policy has exit-code rules"
    assert all(r["onExitCodes"]["containerName"] == container["name"] for r in rules), (
        "the failure policy names the renamed container, or the API would refuse the Job"
    )
    labels = seed["spec"]["template"]["metadata"]["labels"]
    assert labels["mlops/project"] == "churn", "labelled with its project, so `make undeploy` removes it"
    assert labels["app.kubernetes.io/component"] == "training", "the training pods' network openings apply"


def test_metrics_server_is_installed_the_way_kind_needs(deploy: ModuleType) -> None:
    kustomization = deploy.metrics_server_kustomization()
    assert re.search(r"/metrics-server/releases/download/v\d+\.\d+\.\d+/components\.yaml$",
                     kustomization["resources"][0]), "a pinned release, not latest"  # fmt: skip
    patch = yaml.safe_load(kustomization["patches"][0]["patch"])
    assert patch == [
        {"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": "--kubelet-insecure-tls"}
    ]


def test_a_plan_touches_nothing(plans: dict[str, list[str]]) -> None:
    """Every file a plan writes is in its own temporary folder; nothing under build/deploy is its doing."""
    lines = plans["churn"]
    paths = {m.group() for line in lines for m in re.finditer(r"(?<=\s)/\S*/(stages|metrics-server)\S*", line)}
    assert paths, "the plan names the files it writes"
    assert all("deploy-plan-" in p for p in paths), paths
    assert lines[0].startswith("PLAN (dry run)")
    assert re.search(r"^PLAN: \d+ commands and requests$", lines[-1]), lines[-1]


@needs_example("churn")
def test_drift_demo_plan_follows_the_loop(kubectl: str) -> None:
    done = run_script("drift-demo", "--project", "churn", "--dry-run", "--run-id", "01020304")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    lines = done.stdout.splitlines()
    order = [
        r"\$ .*apply -f .*/demo/traffic-policy.yaml",
        r"\$ .*create -f .*/demo/churn-land-01020304.yaml",
        r"get job/churn-land-01020304 -o json",
        r"\$ .*create -f .*/demo/churn-traffic-01020304.yaml",
        r"create job churn-intake-01020304 --from=cronjob/churn-intake",
        r"create job churn-monitor-01020304 --from=cronjob/churn-monitor",
        r"get jobs -l mlops/project=churn -o json .*churn-retrain-\*",
        r"drift detected: the trigger created job/churn-retrain-",
        r"complete \(validate, train, gate\)",
        r"registered-models/alias\?name=churn&alias=champion",
        r"promoted: champion is version",
        r"port-forward svc/churn-serving",
        r"> GET http://127.0.0.1:<local port>/metadata",
        r"the serving pods answer with the new version",
    ]
    position = 0
    for pattern in order:
        position = index_of(lines, pattern, position) + 1
    looks = [line for line in lines if line.strip().startswith("look: ")]
    assert len(looks) >= 7, "every transition prints the command to look at it"
    assert sum("market_shift" in line for line in lines) >= 1, "churn's own shift scenario, as make run lands it"


def test_drift_demo_jobs_and_their_opening(deploy: ModuleType, planned: Any) -> None:
    demo = deploy.DriftDemo(planned, "01020304", "market_shift", 2.0)
    land, traffic = demo.jobs()
    assert land["spec"]["template"]["spec"]["containers"][0]["args"][:6] == [
        "data", "generate", "--project", "$(MLOPS_PROJECT)", "--scenario", "market_shift",
    ]  # fmt: skip
    pod = traffic["spec"]["template"]["spec"]
    assert pod["containers"][0]["command"][:2] == ["python3", "-c"]
    assert not any(v["name"] == "data-store-credentials" for v in pod["volumes"]), "traffic needs no S3 credential"
    compile(deploy.TRAFFIC_SCRIPT, "traffic", "exec")  # the script the traffic Job runs is valid Python
    egress, ingress = demo.traffic_policy()
    client = traffic["spec"]["template"]["metadata"]["labels"]
    assert egress["spec"]["podSelector"]["matchLabels"].items() <= client.items()
    assert ingress["spec"]["ingress"][0]["from"][0]["podSelector"] == egress["spec"]["podSelector"]
    assert ingress["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 3000}]
    for name in (land, traffic, egress, ingress):
        assert len(name["metadata"]["name"]) <= 63
        assert name["metadata"]["labels"]["mlops/project"] == "churn", "undeploy removes what the demo made"


@needs_example("demand")
def test_undeploy_and_cluster_down_plans() -> None:
    done = run_script("undeploy", "--project", "demand", "--dry-run")
    assert done.returncode == 0, done.stdout
    (command,) = commands(done.stdout.splitlines())
    assert " delete " in command, command
    assert "-l mlops/project=demand" in command, command
    assert "namespace" not in command.split(" delete ")[1].split()[0], "never the namespace: other projects live there"
    done = run_script("cluster-down", "--dry-run")
    assert commands(done.stdout.splitlines()) == ["kind delete cluster --name mlops"]


def test_an_unknown_project_is_refused_without_a_traceback() -> None:
    done = run_script("deploy", "--project", "nosuchproject", "--dry-run")
    assert done.returncode == 1
    assert "PROJECT=nosuchproject: no folder projects/nosuchproject/" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_the_makefile_targets_call_the_script() -> None:
    makefile = (REPO / "Makefile").read_text()
    for target, args in (
        ("deploy", "deploy --project $(PROJECT)"),
        ("deploy-plan", "deploy --project $(PROJECT) --dry-run"),
        ("undeploy", "undeploy --project $(PROJECT)"),
        ("cluster-down", "cluster-down"),
        ("drift-demo", "drift-demo --project $(PROJECT)"),
    ):
        assert re.search(rf"^{target}: .*##.*\n\t\$\(DEPLOY\) {re.escape(args)}$", makefile, re.M), target


@pytest.mark.parametrize("project", ["churn", "demand"])
def test_undeploy_removes_every_kind_of_the_project_and_no_platform_object(
    deploy: ModuleType, kubectl: str, tmp_path: Path, project: str
) -> None:
    """`make undeploy PROJECT=x` deletes by the label mlops/project=x: each kind the project's objects have is in
    its list (or something would stay behind), and no platform object carries the label (or it would go too)."""
    example_dir(project)
    plan = deploy.Deploy(project, "mlops", deploy.Runner(dry_run=True), tmp_path)
    plan.compute_tags()
    plan.render()
    labelled = [o for o in plan.objects if o["metadata"].get("labels", {}).get("mlops/project") == project]
    kinds = {o["kind"] for o in labelled} | {o["kind"] for o in plan.bootstrap_jobs()[1:]}
    kinds |= {o["kind"] for o in deploy.DriftDemo(plan, "01020304", "x", 1.0).traffic_policy()}
    short = {"HorizontalPodAutoscaler": "hpa", "PodDisruptionBudget": "pdb"}
    listed = set(deploy.PROJECT_KINDS.split(","))
    assert {short.get(kind, kind.lower()) for kind in kinds} <= listed, kinds
    platform = {f"{o['kind']}/{o['metadata']['name']}" for o in plan.objects if o not in labelled}
    assert {"Namespace/mlops", "Deployment/mlflow", "StatefulSet/postgres", "StatefulSet/seaweedfs",
            "Job/create-buckets", "NetworkPolicy/default-deny", "NetworkPolicy/dns-egress"} <= platform  # fmt: skip
    assert {f"Deployment/{project}-serving", f"CronJob/{project}-retrain", f"Job/{project}-train"} <= {
        f"{o['kind']}/{o['metadata']['name']}" for o in labelled
    }


def test_a_plan_shows_the_base_image_pull_when_the_host_lacks_it(deploy: ModuleType, tmp_path: Path) -> None:
    runner = deploy.Runner(dry_run=True)
    asked: list[list[str]] = []

    def query(command: list[str], note: str = "", *, local: bool = False) -> str:
        asked.append(command)
        return ""  # no image of that name on this host

    runner.query = query
    plan = deploy.Deploy("churn", "mlops", runner, tmp_path, base_image="example.invalid/no-such-base:1")
    plan.compute_tags()
    assert "$ docker pull -q example.invalid/no-such-base:1    # the base image, once" in runner.log
    assert any("the tags below change once its ID is known" in line for line in runner.log)
    assert asked == [["docker", "image", "inspect", "--format", "{{.Id}}", "example.invalid/no-such-base:1"]]
    assert all(tag.startswith("src-") for tag in plan.tags.values())
