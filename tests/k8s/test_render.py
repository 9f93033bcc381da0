"""k8s/render.py: two projects side by side in one namespace, deploy.yaml applied, names within limits, bad
input refused with the file and the key, image tags from the git revision and never `latest`."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.helpers.examples import needs_example
from tests.helpers.kube import (
    IMAGE_TAG,
    K8S,
    OVERLAYS,
    PROJECTS,
    REPO,
    SECOND_PROJECT,
    Rendered,
    load_objects,
    overlay_args,
    pod_template,
    pods,
    run_render,
)
from tests.helpers.kube_netpol import selects

pytestmark = pytest.mark.k8s

NAMESPACED_NOT = {"Namespace", "ClusterRole", "ClusterRoleBinding"}


@pytest.fixture(scope="module")
def render_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("k8s_render", K8S / "render.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve string annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_every_overlay_renders_both_projects(rendered: dict[str, Rendered]) -> None:
    assert set(rendered) >= {"kind", "production"}, f"overlays found: {sorted(rendered)}"
    for overlay, result in rendered.items():
        for project in PROJECTS:
            for kind, suffix in [("Deployment", "serving"), ("CronJob", "monitor"), ("CronJob", "retrain")]:
                result.named(kind, f"{project}-{suffix}")
            result.named("Job", f"{project}-train")
            result.named("CronJob", f"{project}-compact")
            result.named("CronJob", f"{project}-intake")
        assert result.named("Deployment", "mlflow"), overlay


def test_two_projects_share_one_namespace_without_a_name_clash(rendered: dict[str, Rendered]) -> None:
    for overlay, result in rendered.items():
        keys = Counter((o["kind"], o["metadata"]["name"]) for o in result.objects)
        clashes = [key for key, count in keys.items() if count > 1]
        assert not clashes, f"{overlay}: objects sharing (kind, name): {clashes}"
        namespaces = {o["metadata"].get("namespace") for o in result.objects if o["kind"] not in NAMESPACED_NOT}
        assert namespaces == {"mlops"}, f"{overlay}: every namespaced object belongs in mlops, found {namespaces}"


def test_every_project_object_carries_its_project_label(rendered: dict[str, Rendered]) -> None:
    for overlay, result in rendered.items():
        for obj in result.objects:
            name, labels = obj["metadata"]["name"], obj["metadata"].get("labels", {})
            assert labels.get("app.kubernetes.io/part-of") == "mlops", f"{overlay}: {obj['kind']} {name} unlabelled"
            owner = next((p for p in PROJECTS if name.startswith(f"{p}-")), None)
            if owner:
                assert labels.get("mlops/project") == owner, f"{overlay}: {obj['kind']} {name}: {labels}"


def test_each_project_selects_only_its_own_pods(rendered: dict[str, Rendered]) -> None:
    for overlay, result in rendered.items():
        all_pods = pods(result)
        for project in PROJECTS:
            service = result.named("Service", f"{project}-serving")
            chosen = [p for p in all_pods if selects({"matchLabels": service["spec"]["selector"]}, p.labels)]
            assert [p.name for p in chosen] == [f"Deployment/{project}-serving"], f"{overlay}: {project} Service"
            budget = result.named("PodDisruptionBudget", f"{project}-serving")
            chosen = [p for p in all_pods if selects(budget["spec"]["selector"], p.labels)]
            assert [p.name for p in chosen] == [f"Deployment/{project}-serving"], f"{overlay}: {project} PDB"
            hpa = result.named("HorizontalPodAutoscaler", f"{project}-serving")
            assert hpa["spec"]["scaleTargetRef"]["name"] == f"{project}-serving"
            for pod in all_pods:
                if pod.workload["metadata"]["name"].startswith(f"{project}-"):
                    assert pod.labels["mlops/project"] == project, f"{overlay}: {pod.name}"


def test_the_monitor_may_read_only_its_own_retrain_cronjob(rendered: dict[str, Rendered]) -> None:
    for overlay, result in rendered.items():
        for project in PROJECTS:
            role = result.named("Role", f"{project}-monitor")
            assert role["rules"] == [
                {
                    "apiGroups": ["batch"],
                    "resources": ["cronjobs"],
                    "resourceNames": [f"{project}-retrain"],
                    "verbs": ["get"],
                },
                {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]},
            ], f"{overlay}: {project}'s monitor Role grants more (or other) than reading its CronJob and creating Jobs"
            result.named("CronJob", f"{project}-retrain")
            binding = result.named("RoleBinding", f"{project}-monitor")
            assert binding["roleRef"] == {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": role["metadata"]["name"],
            }
            assert binding["subjects"] == [
                {"kind": "ServiceAccount", "name": f"{project}-monitor", "namespace": "mlops"}
            ]
            monitor = pod_template(result.named("CronJob", f"{project}-monitor"))["spec"]
            assert monitor["serviceAccountName"] == f"{project}-monitor"
        assert not result.of_kind("ClusterRole", "ClusterRoleBinding"), f"{overlay}: nothing needs cluster-wide rights"


def test_deploy_yaml_and_overlay_defaults_land_in_the_manifests(
    rendered: dict[str, Rendered], projects_dir: Path, render_module: ModuleType
) -> None:
    for overlay, result in rendered.items():
        spec = render_module.Overlay.load(overlay)
        for project in PROJECTS:
            config = render_module.project_config(projects_dir, project, spec)
            deployment = result.named("Deployment", f"{project}-serving")
            serving = deployment["spec"]["template"]["spec"]["containers"][0]
            assert serving["resources"] == config["serving"]["resources"], f"{overlay}: {project} serving resources"
            hpa = result.named("HorizontalPodAutoscaler", f"{project}-serving")["spec"]
            scaling = config["serving"]["autoscaling"]
            assert (hpa["minReplicas"], hpa["maxReplicas"]) == (scaling["min_replicas"], scaling["max_replicas"])
            assert "replicas" not in deployment["spec"], "with an autoscaler, replicas in the Deployment fight it"
            monitor = result.named("CronJob", f"{project}-monitor")["spec"]
            assert monitor["schedule"] == config["monitoring"]["schedule"]
            assert monitor["timeZone"] == config["time_zone"]
            train = result.named("Job", f"{project}-train")["spec"]
            assert train["template"]["spec"]["containers"][0]["resources"] == config["training"]["resources"]
            retrain = result.named("CronJob", f"{project}-retrain")["spec"]["jobTemplate"]["spec"]
            assert retrain["template"]["spec"]["containers"][0]["resources"] == config["training"]["resources"]
    # And independently of render.py's own merge: values written in the example deploy.yaml, per overlay.
    example = yaml.safe_load((K8S / "deploy.example.yaml").read_text(encoding="utf-8"))
    production = rendered["production"].named("HorizontalPodAutoscaler", f"{SECOND_PROJECT}-serving")["spec"]
    assert production["maxReplicas"] == example["serving"]["autoscaling"]["max_replicas"]
    kind = rendered["kind"].named("HorizontalPodAutoscaler", f"{SECOND_PROJECT}-serving")["spec"]
    assert kind["maxReplicas"] == example["overlays"]["kind"]["serving"]["autoscaling"]["max_replicas"]
    env = rendered["kind"].named("Deployment", f"{SECOND_PROJECT}-serving")["spec"]["template"]["spec"]["containers"][
        0
    ]["env"]
    assert {"name": "MLOPS_SERVING_ACCESS_LOG", "value": "false"} in env
    ingress = rendered["production"].named("Ingress", f"{SECOND_PROJECT}-serving")["spec"]
    assert ingress["rules"][0]["host"] == f"{SECOND_PROJECT}.models.example.com"
    assert ingress["tls"] == [
        {"hosts": [f"{SECOND_PROJECT}.models.example.com"], "secretName": f"{SECOND_PROJECT}-serving-tls"}
    ]
    assert not rendered["kind"].of_kind("Ingress"), "kind reaches the services by port-forward, not an Ingress"


def test_only_a_project_fed_by_files_ingests_before_it_validates(rendered: dict[str, Rendered]) -> None:
    for overlay, result in rendered.items():
        for project, ingests in (("churn", False), (SECOND_PROJECT, True)):
            train = result.named("Job", f"{project}-train")["spec"]
            intake = result.named("CronJob", f"{project}-intake")["spec"]["jobTemplate"]["spec"]
            for job in (train, intake):
                inits = [c["name"] for c in job["template"]["spec"].get("initContainers", [])]
                rules = [
                    r["onExitCodes"]["containerName"] for r in job["podFailurePolicy"]["rules"] if "onExitCodes" in r
                ]
                assert ("ingest" in inits) is ingests, f"{overlay}: {project}: {inits}"
                assert ("ingest" in rules) is ingests, f"{overlay}: {project}: {inits}"
            assert next(c["name"] for c in train["template"]["spec"]["initContainers"]) == "wait-for-platform"


def test_a_project_without_autoscaling_gets_fixed_replicas_and_no_autoscaler(
    projects_dir: Path, tmp_path: Path, kubectl: str
) -> None:
    projects = tmp_path / "projects"
    shutil.copytree(projects_dir / SECOND_PROJECT, projects / "fixed", symlinks=False)
    contract = projects / "fixed" / "project.yaml"
    contract.write_text(contract.read_text(encoding="utf-8").replace(f"name: {SECOND_PROJECT}", "name: fixed"), "utf-8")
    (projects / "fixed" / "deploy.yaml").write_text(
        "serving:\n  replicas: 3\n  autoscaling: {enabled: false}\n", "utf-8"
    )
    done = run_render(
        *overlay_args("kind"), "--projects-dir", str(projects), "--out", str(tmp_path / "out"), "--stdout"
    )
    assert done.returncode == 0, done.stderr
    objects = load_objects(done.stdout)
    deployment = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "fixed-serving")
    assert deployment["spec"]["replicas"] == 3
    assert not [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"], "the autoscaler should be gone"


def test_a_production_project_without_an_ingress_host_gets_no_ingress(tmp_path: Path, kubectl: str) -> None:
    folder = project_named(tmp_path / "projects", "internal")
    (folder / "deploy.yaml").write_text("serving:\n  ingress_host: null\n", encoding="utf-8")
    args = [*overlay_args("production"), "--projects-dir", str(tmp_path / "projects"), "--out", str(tmp_path / "o")]
    done = run_render(*args, "--stdout")
    assert done.returncode == 0, done.stderr
    ingresses = [o["metadata"]["name"] for o in load_objects(done.stdout) if o["kind"] == "Ingress"]
    assert ingresses == ["mlflow"], "a host-less Ingress would route every host to the project"


def read_limits() -> tuple[int, str]:
    done = run_render("--print-limits")
    assert done.returncode == 0, done.stderr
    match = re.fullmatch(r"project names: 2 to (\d+) characters \(bound by (.+)\)\n", done.stdout)
    assert match, done.stdout
    return int(match.group(1)), match.group(2)


def project_named(root: Path, name: str) -> Path:
    folder = root / name
    shutil.copytree(REPO / "projects" / "churn", folder, ignore=shutil.ignore_patterns("__pycache__", "deploy.yaml"))
    contract = folder / "project.yaml"
    contract.write_text(re.sub(r"(?m)^name: churn$", f"name: {name}", contract.read_text(encoding="utf-8")), "utf-8")
    return folder


def test_the_longest_allowed_project_name_fits_every_kubernetes_limit(tmp_path: Path, kubectl: str) -> None:
    longest, bound_by = read_limits()
    assert longest == 44, (longest, bound_by)
    assert "CronJob" in bound_by, (longest, bound_by)
    name = "p" + "x" * (longest - 2) + "1"
    project_named(tmp_path / "projects", name)
    for overlay in OVERLAYS:
        args = overlay_args(overlay)
        done = run_render(
            *args, "--projects-dir", str(tmp_path / "projects"), "--out", str(tmp_path / "out"), "--stdout"
        )
        assert done.returncode == 0, done.stderr
        for obj in load_objects(done.stdout):
            kind, object_name = obj["kind"], obj["metadata"]["name"]
            limit = {"CronJob": 52, "Job": 63, "Service": 63, "Deployment": 63}.get(kind, 253)
            assert len(object_name) <= limit, f"{overlay}: {kind} {object_name} has {len(object_name)} > {limit}"
            for key, value in obj["metadata"].get("labels", {}).items():
                assert len(value) <= 63, f"{kind} {object_name}: label {key}={value} is over 63 characters"
    too_long = name + "z"
    project_named(tmp_path / "long", too_long)
    done = run_render(*overlay_args("kind"), "--projects-dir", str(tmp_path / "long"), "--out", str(tmp_path / "o2"))
    assert done.returncode == 2, done.stderr
    assert f"{longest + 1} characters" in done.stderr, done.stderr
    readme = (K8S / "README.md").read_text(encoding="utf-8")
    assert f"{longest} characters" in readme, "k8s/README.md must state the project-name limit render.py enforces"


@pytest.mark.parametrize(
    ("deploy_yaml", "message"),
    [
        ("serving:\n  replica: 2\n", "serving.replica: unknown key"),
        ('monitoring:\n  schedule: "every 5 minutes"\n', "monitoring.schedule: expected a cron schedule"),
        ('serving:\n  resources: {requests: {cpu: "4"}}\n', "the cpu request 4 is above its limit"),
        ("serving:\n  autoscaling: {min_replicas: 5, max_replicas: 2}\n", "min_replicas (5) is above max_replicas"),
        ("serving:\n  env: {MLOPS_TRACKING_URI: elsewhere}\n", "serving.env sets MLOPS_TRACKING_URI"),
        ("overlays:\n  staging: {}\n", "overlays.staging: unknown overlay"),
        ("serving:\n  env: {MLOPS_SERVING_TRACING: true}\n", "a string (quote numbers and booleans)"),
    ],
)
def test_a_bad_deploy_yaml_is_refused_naming_the_file_and_the_key(
    tmp_path: Path, deploy_yaml: str, message: str
) -> None:
    folder = project_named(tmp_path / "projects", "broken")
    (folder / "deploy.yaml").write_text(deploy_yaml, encoding="utf-8")
    done = run_render(*overlay_args("kind"), "--projects-dir", str(tmp_path / "projects"), "--out", str(tmp_path / "o"))
    assert done.returncode == 2, done.stderr
    assert str(folder / "deploy.yaml") in done.stderr, done.stderr
    assert message in done.stderr, done.stderr


def test_a_copied_project_keeping_the_old_name_is_refused(tmp_path: Path) -> None:
    shutil.copytree(
        REPO / "projects" / "churn", tmp_path / "projects" / "copy", ignore=shutil.ignore_patterns("__pycache__")
    )
    done = run_render(*overlay_args("kind"), "--projects-dir", str(tmp_path / "projects"), "--out", str(tmp_path / "o"))
    assert done.returncode == 2, done.stderr
    assert "name is 'churn', but the folder is 'copy'" in done.stderr, done.stderr


def git_describe() -> str:
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=REPO, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@needs_example("churn")
def test_images_are_tagged_like_build_images_sh_and_never_latest(tmp_path: Path, kubectl: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"IMAGE_TAG", "IMAGE_PREFIX"}}
    done = run_render("--overlay", "kind", "--project", "churn", "--out", str(tmp_path), "--stdout", env=env)
    assert done.returncode == 0, done.stderr
    images = {
        c["image"]
        for p in pods(Rendered("kind", tmp_path, done.stdout, load_objects(done.stdout)))
        for _, c in p.containers()
    }
    ours = {image for image in images if image.startswith("mlops-")}
    assert ours == {f"mlops-{name}:{git_describe()}" for name in ("serving", "jobs", "mlflow")}, ours
    refused = run_render("--overlay", "kind", "--image-tag", "latest", "--out", str(tmp_path))
    assert refused.returncode == 2, refused.stderr
    assert "never 'latest'" in refused.stderr, refused.stderr


def test_production_refuses_images_without_a_registry_and_digests(tmp_path: Path) -> None:
    done = run_render("--overlay", "production", "--image-tag", IMAGE_TAG, "--out", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert "by digest" in done.stderr, done.stderr
    bad = run_render(*overlay_args("production"), "--digest", "mlops-jobs=sha256:abc", "--out", str(tmp_path))
    assert bad.returncode == 2, bad.stderr
    assert "--digest 'mlops-jobs=sha256:abc'" in bad.stderr, bad.stderr


def test_a_project_left_out_disappears_from_the_generated_folder(
    projects_dir: Path, tmp_path: Path, kubectl: str
) -> None:
    out = tmp_path / "out"
    assert run_render(*overlay_args("kind"), "--projects-dir", str(projects_dir), "--out", str(out)).returncode == 0
    assert (out / "kind" / SECOND_PROJECT / "kustomization.yaml").is_file()
    (out / "kind" / "notes").mkdir()  # not ours: must survive
    done = run_render(
        *overlay_args("kind"), "--projects-dir", str(projects_dir), "--project", "churn", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert not (out / "kind" / SECOND_PROJECT).exists(), "a stale project's kustomization would still be applied"
    assert (out / "kind" / "notes").is_dir(), "render.py removed a folder it did not write"
    top = yaml.safe_load((out / "kind" / "kustomization.yaml").read_text(encoding="utf-8"))
    assert top["resources"][1:] == ["churn"], top["resources"]


def test_the_generated_kustomizations_build_on_the_bases_in_k8s(rendered: dict[str, Rendered]) -> None:
    for overlay, result in rendered.items():
        top = yaml.safe_load((result.folder / "kustomization.yaml").read_text(encoding="utf-8"))
        assert (result.folder / top["resources"][0]).resolve() == K8S / "overlays" / overlay
        for project in PROJECTS:
            folder = result.folder / project
            body = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
            assert (folder / body["resources"][0]).resolve() == K8S / "base" / "project"
            assert (folder / body["components"][0]).resolve() == K8S / "overlays" / overlay / "project"
            assert body["namePrefix"] == f"{project}-"
            assert {i["newTag"] for i in body["images"]} == {IMAGE_TAG}


def test_the_example_deploy_yaml_is_valid_and_shows_every_key(render_module: ModuleType) -> None:
    example = yaml.safe_load((K8S / "deploy.example.yaml").read_text(encoding="utf-8"))
    overlays = example.pop("overlays")
    render_module.check_against_schema(example, render_module.SCHEMA, "deploy.example.yaml", "", complete=True)
    assert set(overlays) <= set(OVERLAYS)


def test_every_project_in_the_repository_renders_in_every_overlay(tmp_path: Path, kubectl: str) -> None:
    """Projects added by others (a second example, a scaffolded one) need no change under k8s/."""
    for overlay in OVERLAYS:
        done = run_render(*overlay_args(overlay), "--out", str(tmp_path), "--stdout")
        assert done.returncode == 0, f"{overlay}:\n{done.stderr}"
        names = {o["metadata"]["name"] for o in load_objects(done.stdout) if o["kind"] == "Deployment"}
        for project in (p.name for p in (REPO / "projects").iterdir() if (p / "project.yaml").is_file()):
            assert f"{project}-serving" in names, f"{overlay}: {project} was not rendered"
