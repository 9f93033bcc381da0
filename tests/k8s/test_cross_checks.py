"""The manifests against the rest of the repository: the images build-images.sh builds, the variables the code
reads, the connections the rendered URLs imply, the object-store identities, the compose stack's pins and
bucket script, the kind cluster's own configuration, and what fits on a laptop."""

from __future__ import annotations

import configparser
import fnmatch
import ipaddress
import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from tests.helpers.kube import (
    CLUSTER_CONFIG,
    IMAGE_PREFIX,
    IMAGE_TAG,
    K8S,
    PROJECTS,
    REPO,
    SECOND_PROJECT,
    Pod,
    Rendered,
    environment,
    expanded,
    pods,
    quantity,
    secret_value,
)
from tests.helpers.kube_env import reads, settings_variables
from tests.helpers.kube_netpol import Endpoint, Policies, selects

pytestmark = pytest.mark.k8s

COMPOSE = yaml.safe_load((REPO / "infra" / "compose" / "compose.yaml").read_text(encoding="utf-8"))
NAMESPACE = "mlops"
NAMESPACE_LABELS = {"kubernetes.io/metadata.name": NAMESPACE}


# ------------------------------------------------------------------------------------------------ images
def built_images() -> dict[str, Path]:
    """mlops-<name> -> Dockerfile, as infra/scripts/build-images.sh declares them."""
    script = (REPO / "infra" / "scripts" / "build-images.sh").read_text(encoding="utf-8")
    assert 'image="${PREFIX}mlops-${name}"' in script, "build-images.sh no longer names images mlops-<name>"
    table = re.search(r"declare -A DOCKERFILE=\(([^)]*)\)", script)
    assert table, "build-images.sh: the DOCKERFILE table moved"
    return {f"mlops-{name}": REPO / path for name, path in re.findall(r"\[(\w+)\]=(\S+)", table.group(1))}


def test_images_are_the_ones_build_images_sh_builds_with_the_given_tag(rendered: dict[str, Rendered]) -> None:
    ours = built_images()
    upstream = {COMPOSE["services"]["postgres"]["image"], COMPOSE["services"]["s3"]["image"]}
    for overlay, result in rendered.items():
        prefix = IMAGE_PREFIX if overlay == "production" else ""
        for pod in pods(result):
            for _, container in pod.containers():
                image = container["image"]
                if image in upstream:
                    assert overlay == "kind", f"{overlay}: {image} belongs to the in-cluster services of kind only"
                    continue
                match = re.fullmatch(rf"{re.escape(prefix)}(mlops-[a-z]+):([^@:]+)(@sha256:[0-9a-f]{{64}})?", image)
                assert match, f"{overlay}: {pod.name} runs {image}, not one of {sorted(ours)}"
                assert match.group(1) in ours, f"{overlay}: {pod.name} runs {image}, not one of {sorted(ours)}"
                assert match.group(2) == IMAGE_TAG != "latest", f"{overlay}: {image}"


def test_in_cluster_services_are_pinned_like_the_compose_stack(rendered: dict[str, Rendered]) -> None:
    kind = rendered["kind"]
    postgres = kind.named("StatefulSet", "postgres")["spec"]["template"]["spec"]["containers"][0]
    seaweedfs = kind.named("StatefulSet", "seaweedfs")["spec"]["template"]["spec"]["containers"][0]
    assert postgres["image"] == COMPOSE["services"]["postgres"]["image"] == "postgres:17.6-bookworm"
    assert seaweedfs["image"] == COMPOSE["services"]["s3"]["image"] == "chrislusf/seaweedfs:4.48"
    assert "-s3.port=8333" in seaweedfs["args"]
    assert seaweedfs["ports"][0] == {
        "name": "s3",
        "containerPort": 8333,
        "protocol": "TCP",
    }


def test_the_bucket_script_is_the_compose_stacks_and_creates_the_buckets_in_use(rendered: dict[str, Rendered]) -> None:
    volumes = COMPOSE["services"]["create-buckets"]["volumes"]
    mount = next(v for v in volumes if v.endswith(":/opt/create_buckets.py:ro"))
    script = (REPO / "infra" / "compose" / mount.split(":", 1)[0]).resolve()
    assert script == K8S / "base" / "object-store" / "create_buckets.py", f"compose mounts {script}: one script, both"
    kind = rendered["kind"]
    job = kind.named("Job", "create-buckets")["spec"]["template"]["spec"]["containers"][0]
    data_root = kind.generated("ConfigMap", "mlops-settings")["data"]["MLOPS_DATA_ROOT"]
    mlflow = kind.named("Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]
    artifacts = next(a.split("=", 1)[1] for a in mlflow["args"] if a.startswith("--artifacts-destination="))
    assert job["args"] == [urlparse(data_root).netloc, urlparse(artifacts).netloc]


# ------------------------------------------------------------------------------------------------ environment
def image_packages(dockerfile: Path) -> list[str]:
    """The repository's packages the image holds (COPY <pkg>/ /app/<pkg>/ in its final stage)."""
    final = dockerfile.read_text(encoding="utf-8").rsplit("\nFROM ", 1)[1]
    return re.findall(r"^COPY (\w+)/ /app/\1/$", final, re.M)


# Variables the code reads whose default is right in the cluster, with the reason; a variable the code starts
# reading must be added here or set by the manifests, or this suite fails.
SAFE_DEFAULTS = {
    "MLOPS_HOME": "the images set it to /var/lib/mlops, an emptyDir",
    "MLOPS_REGISTRY_URI": "the registry is the tracking server",
    "MLOPS_ARTIFACT_ROOT": "used only with a local SQLite store",
    "MLOPS_PROJECTS_DIR": "the projects baked into the image under /app/projects",
    "MLOPS_TELEMETRY": "vendor telemetry stays off",
    "MLOPS_NAMESPACE": "only the monitor's trigger uses it, and the monitor sets it",
    "MLOPS_PROJECT": "only the service reads it (set there); the jobs take --project",
    "MLOPS_S3_ENDPOINT_URL": "unset means AWS S3; set wherever the store runs in the cluster",
    "MLOPS_SERVING_WORKERS": "1: one process per pod, scaled by replicas",
    "MLOPS_SERVING_ACCESS_LOG": "off (deploy.yaml serving.env turns it on)",
    "MLOPS_SERVING_TRACING": "off",
    "MLOPS_SERVING_GC_FREEZE": "on",
    "MLFLOW_TRACKING_URI": "a fallback behind MLOPS_TRACKING_URI, which is set",
    "MLFLOW_REGISTRY_URI": "a fallback behind MLOPS_REGISTRY_URI",
    "AWS_ENDPOINT_URL": "a fallback behind MLOPS_S3_ENDPOINT_URL",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "the code sets its own default",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "the code sets its own default",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "the code sets its own default",
    "PROMETHEUS_MULTIPROC_DIR": "the server sets it: a directory per instance under MLOPS_HOME/metrics (an emptyDir)",
}
# What must be set where the platform's code runs in the cluster (else it would use a laptop default: SQLite
# and files in an emptyDir, or an in-process retrain), by role.
REQUIRED = {"MLOPS_TRACKING_URI", "MLOPS_DATA_ROOT", "MLOPS_MODE"}
REQUIRED_BY_COMPONENT = {"serving": {"MLOPS_PROJECT"}, "monitoring": {"MLOPS_NAMESPACE"}}
# Variables libraries or upstream images read (not our code), allowed to be set for them.
BOTOCORE = {
    "AWS_SHARED_CREDENTIALS_FILE": "botocore: the credentials file",
    "AWS_DEFAULT_REGION": "botocore: the region",
}
LIBRARY_VARIABLES = {
    "mlops-serving": BOTOCORE,
    "mlops-jobs": BOTOCORE,
    "mlops-mlflow": BOTOCORE
    | {
        "MLFLOW_BACKEND_STORE_URI": "mlflow server / the db upgrade: the backend store",
        "MLFLOW_S3_ENDPOINT_URL": "MLflow's S3 artifact repository: the endpoint",
    },
    "postgres": {
        "POSTGRES_USER": "docker-entrypoint.sh",
        "POSTGRES_DB": "docker-entrypoint.sh",
        "POSTGRES_PASSWORD_FILE": "docker-entrypoint.sh",
        "PGDATA": "docker-entrypoint.sh and the server",
    },
    "seaweedfs": {},
}


def image_name(image: str) -> str:
    return image.split("@", maxsplit=1)[0].rsplit(":", 1)[0].rsplit("/", 1)[-1]


@cache
def image_reads(image: str) -> frozenset[str]:
    """What the platform code in one of our images reads: its packages' environment reads and the settings."""
    packages = image_packages(built_images()[image])
    found = reads(path for package in packages for path in (REPO / package).rglob("*.py"))
    return frozenset(found) | settings_variables(REPO / "projects" / "settings.py")


def code_reads(container: dict[str, Any]) -> set[str] | None:
    """What the process in the container reads: a script of ours, or the packages of its image (None: not ours)."""
    image = image_name(container["image"])
    script = next((w for w in container.get("command", []) if w.startswith("/opt/mlops/scripts/")), None)
    if script:
        name = Path(script).name
        found = [p for p in K8S.rglob(name) if "overlays" not in p.parts]
        assert len(found) == 1, f"no single k8s/**/{name} for {script}"
        return set(reads(found))
    if image not in {"mlops-serving", "mlops-jobs"}:
        return None
    return set(image_reads(image))


def test_every_variable_the_code_reads_is_classified() -> None:
    packages = ["projects", "pipelines", "serving", "monitoring", "mlops"]
    found = set(reads(p for package in packages for p in (REPO / package).rglob("*.py")))
    found |= settings_variables(REPO / "projects" / "settings.py")
    unknown = sorted(found - REQUIRED - set(SAFE_DEFAULTS))
    assert not unknown, (
        f"the code reads {unknown}: set it in the manifests (REQUIRED) or say why its default is right in a "
        "cluster (SAFE_DEFAULTS in this file)"
    )


def test_every_container_gets_what_its_code_needs_and_nothing_it_does_not_read(rendered: dict[str, Rendered]) -> None:
    for overlay, result in rendered.items():
        store_in_cluster = any(s["metadata"]["name"] == "seaweedfs" for s in result.of_kind("Service"))
        for pod in pods(result):
            for _, container in pod.containers():
                env = environment(result, pod, container)
                at = f"{overlay}: {pod.name}/{container['name']}"
                read = code_reads(container)
                library = LIBRARY_VARIABLES.get(image_name(container["image"]), {})
                if read is not None and not any("/opt/mlops/scripts/" in w for w in container.get("command", [])):
                    required = REQUIRED | REQUIRED_BY_COMPONENT.get(pod.component, set())
                    if store_in_cluster:
                        required |= {"MLOPS_S3_ENDPOINT_URL"}
                    missing = sorted(required - set(env.values))
                    assert not missing, f"{at}: {missing} must be set (their defaults are for a laptop)"
                unread = sorted(set(env.values) - (read or set()) - set(library) - env.references)
                assert not unread, f"{at} sets {unread}, which nothing in the container reads"


def test_cluster_settings_point_at_the_cluster(rendered: dict[str, Rendered]) -> None:
    for _overlay, result in rendered.items():
        settings = result.generated("ConfigMap", "mlops-settings")["data"]
        assert settings["MLOPS_MODE"] == "kubernetes", "in-process retraining inside a monitor pod would be lost"
        assert settings["MLOPS_DATA_ROOT"].startswith("s3://"), "an emptyDir data root would vanish with the pod"
        assert urlparse(settings["MLOPS_TRACKING_URI"]).scheme in {"http", "https"}


# ------------------------------------------------------------------------------------------------ network
POD_SUBNETS = {"kind": "10.244.0.0/16", "production": "10.100.0.0/16"}  # production: a sample pod network
KUBE_DNS = Endpoint(
    ip="10.244.255.10",
    namespace="kube-system",
    labels={"k8s-app": "kube-dns"},
    namespace_labels={"kubernetes.io/metadata.name": "kube-system"},
    name="kube-dns",
)
# Where things outside the namespace are, in each overlay's network. kind: cluster.yaml and Docker's "kind"
# network; production: the example addresses of overlays/production/network-policies.yaml and the internet.
EXTERNAL = {
    "kind": {
        "api-server": [
            Endpoint("172.18.0.2", name="the API server on the control-plane node"),
            Endpoint("10.96.0.1", name="the kubernetes Service"),
        ],
        "host": Endpoint("172.18.0.1", name="the host, through the NodePort"),
        "internet": Endpoint("203.0.113.10", name="an internet address"),
    },
    "production": {
        "api-server": [Endpoint("10.20.1.2", name="the managed API server endpoint")],
        "database": Endpoint("10.20.0.5", name="the managed PostgreSQL"),
        "s3": Endpoint("52.218.0.10", name="AWS S3"),
        "ingress-controller": Endpoint(
            "10.100.200.1",
            namespace="traefik",
            labels={"app.kubernetes.io/name": "traefik"},
            namespace_labels={"kubernetes.io/metadata.name": "traefik"},
            name="Traefik",
        ),
        "prometheus": Endpoint(
            "10.100.200.2",
            namespace="monitoring",
            labels={"app.kubernetes.io/name": "prometheus"},
            namespace_labels={"kubernetes.io/metadata.name": "monitoring"},
            name="Prometheus",
        ),
        "internet": Endpoint("203.0.113.10", name="an internet address"),
    },
}
DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql+psycopg2": 5432, "postgresql": 5432}


def endpoints(result: Rendered) -> list[tuple[Pod, Endpoint]]:
    network = ipaddress.ip_network(POD_SUBNETS[result.overlay])
    out = []
    for index, pod in enumerate(pods(result), start=1):
        ports = {p["name"]: p["containerPort"] for _, c in pod.containers() for p in c.get("ports", []) if "name" in p}
        numbers = {p["containerPort"] for _, c in pod.containers() for p in c.get("ports", [])}
        ports |= {str(n): n for n in numbers}
        ip = str(network.network_address + index)
        out.append((pod, Endpoint(ip, NAMESPACE, pod.labels, NAMESPACE_LABELS, ports, pod.name)))
    return out


def service_target(result: Rendered, host: str, port: int) -> tuple[Endpoint, int] | None:
    """The pod and container port a Service URL reaches, or None for a host outside the cluster."""
    name = host.split(".", maxsplit=1)[0]
    in_cluster = "." not in host or host.endswith((".svc", ".svc.cluster.local", f".{NAMESPACE}"))
    service = next((s for s in result.of_kind("Service") if s["metadata"]["name"] == name), None)
    if not in_cluster:
        return None
    assert service is not None, f"{result.overlay}: a URL names the Service {host!r}, which is not rendered"
    spec_port = next(p for p in service["spec"]["ports"] if p["port"] == port)
    targets = [e for p, e in endpoints(result) if selects({"matchLabels": service["spec"]["selector"]}, e.labels)]
    assert targets, f"{result.overlay}: Service {name} selects no pod"
    target = targets[0]
    wanted = spec_port.get("targetPort", port)
    return target, target.ports[str(wanted)]


def implied_connections(result: Rendered) -> set[tuple[str, str, int]]:
    """(source pod, destination, port) for every address a container is configured to reach."""
    wanted: set[tuple[str, str, int]] = set()
    external = EXTERNAL[result.overlay]
    for pod, source in endpoints(result):
        for _, container in pod.containers():
            env = environment(result, pod, container)
            urls = [
                env.values[k]
                for k in ("MLOPS_TRACKING_URI", "MLOPS_S3_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL")
                if k in env.values
            ]
            uri = env.values.get("MLFLOW_BACKEND_STORE_URI", "")
            if uri.startswith("postgresql"):
                urls.append(uri)
            elif uri:  # the operator's Secret (production): a managed database
                wanted.add((source.name, external["database"].name, 5432))
            args = expanded(container.get("args", []), env)
            s3_roots = [env.values.get("MLOPS_DATA_ROOT", "")] + [
                a.split("=", 1)[1] for a in args if a.startswith("--artifacts-destination=")
            ]
            uses_s3 = any(r.startswith("s3://") for r in s3_roots) and (
                "MLOPS_DATA_ROOT" in env.values or any(a.startswith("--artifacts-destination=") for a in args)
            )
            if uses_s3 and not ({"MLOPS_S3_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL"} & set(env.values)):
                wanted.add((source.name, external["s3"].name, 443))
            for url in urls:
                parsed = urlparse(url)
                port = parsed.port or DEFAULT_PORTS[parsed.scheme]
                target = service_target(result, parsed.hostname or "", port)
                assert target is not None, f"{result.overlay}: {pod.name} reaches {url} outside the cluster"
                wanted.add((source.name, target[0].name, target[1]))
        if pod.component == "monitoring":
            for api in external["api-server"]:
                wanted.add(
                    (source.name, api.name, 443 if api.ip == "10.96.0.1" or result.overlay == "production" else 6443)
                )
    return wanted


def as_list(value: Endpoint | list[Endpoint]) -> list[Endpoint]:
    return value if isinstance(value, list) else [value]


def external_endpoint(overlay: str, name: str) -> Endpoint:
    for value in EXTERNAL[overlay].values():
        for endpoint in as_list(value):
            if endpoint.name == name:
                return endpoint
    raise KeyError(name)


def test_policies_allow_every_connection_the_configuration_implies(rendered: dict[str, Rendered]) -> None:
    for overlay, result in rendered.items():
        policies = Policies(result.objects)
        by_name = {e.name: e for _, e in endpoints(result)}
        wanted = implied_connections(result)
        assert len(wanted) > 10, f"{overlay}: suspiciously few connections derived: {wanted}"
        for source, target, port in sorted(wanted):
            destination = by_name.get(target) or external_endpoint(overlay, target)
            assert policies.allowed(by_name[source], destination, port), (
                f"{overlay}: {source} -> {target}:{port} is blocked"
            )
        for _, pod in endpoints(result):
            for protocol in ("UDP", "TCP"):
                assert policies.allowed(pod, KUBE_DNS, 53, protocol), (
                    f"{overlay}: {pod} cannot resolve names ({protocol})"
                )


def test_inside_the_namespace_only_the_implied_connections_are_open(rendered: dict[str, Rendered]) -> None:
    for overlay, result in rendered.items():
        policies = Policies(result.objects)
        all_pods = [e for _, e in endpoints(result)]
        wanted = {(s, t, p) for s, t, p in implied_connections(result) if any(e.name == t for e in all_pods)}
        open_now = {
            (source.name, target.name, port)
            for source in all_pods
            for target in all_pods
            if source is not target
            for port in set(target.ports.values())
            if policies.allowed(source, target, port)
        }
        extra, missing = sorted(open_now - wanted), sorted(wanted - open_now)
        assert open_now == wanted, f"{overlay}: open but not needed: {extra}; needed but closed: {missing}"


DENIED = {
    "kind": [
        ("serving", "internet", 443),
        ("training", "internet", 443),
        ("serving", "api-server", 6443),
        ("training", "api-server", 6443),
        ("log-compaction", "api-server", 443),
        ("database", "internet", 443),
    ],
    "production": [
        ("serving", "database", 5432),
        ("training", "database", 5432),
        ("monitoring", "database", 5432),
        ("serving", "api-server", 443),
        ("training", "api-server", 443),
        ("serving", "internet", 5432),
        ("tracking", "internet", 22),
    ],
}


def test_a_sample_of_unneeded_connections_is_denied(rendered: dict[str, Rendered]) -> None:
    for overlay, result in rendered.items():
        policies = Policies(result.objects)
        by_component = {e.labels.get("app.kubernetes.io/component"): e for _, e in endpoints(result)}
        for component, target, port in DENIED[overlay]:
            for destination in as_list(EXTERNAL[overlay][target]):
                assert not policies.allowed(by_component[component], destination, port), (
                    f"{overlay}: {component} -> {destination}:{port} should be denied"
                )
    kind = rendered["kind"]
    policies, host = Policies(kind.objects), EXTERNAL["kind"]["host"]
    assert isinstance(host, Endpoint)
    for pod, endpoint in endpoints(kind):
        open_ports = {p for p in set(endpoint.ports.values()) if policies.allowed(host, endpoint, p)}
        assert open_ports == ({5000} if pod.component == "tracking" else set()), (
            f"kind: the host reaches {pod.name} on {open_ports}"
        )


def test_production_ingress_reaches_only_the_services(rendered: dict[str, Rendered]) -> None:
    result = rendered["production"]
    policies = Policies(result.objects)
    controller, prometheus = EXTERNAL["production"]["ingress-controller"], EXTERNAL["production"]["prometheus"]
    assert isinstance(controller, Endpoint)
    assert isinstance(prometheus, Endpoint)
    for pod, endpoint in endpoints(result):
        expected = {"tracking": {5000}, "serving": {3000}}.get(pod.component, set())
        reached = {p for p in set(endpoint.ports.values()) if policies.allowed(controller, endpoint, p)}
        assert reached == expected, f"the ingress controller reaches {pod.name} on {reached}"
        scraped = {p for p in set(endpoint.ports.values()) if policies.allowed(prometheus, endpoint, p)}
        assert scraped == ({3000} if pod.component == "serving" else set()), (
            f"Prometheus reaches {pod.name} on {scraped}"
        )
        backends = {
            path["backend"]["service"]["name"]
            for ingress in result.of_kind("Ingress")
            for rule in ingress["spec"]["rules"]
            for path in rule["http"]["paths"]
        }
    assert backends == {"mlflow", *(f"{p}-serving" for p in PROJECTS)}


def test_mlflow_accepts_the_host_names_its_clients_use(rendered: dict[str, Rendered]) -> None:
    for overlay, result in rendered.items():
        mlflow = result.named("Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]
        allowed = next(a.split("=", 1)[1] for a in mlflow["args"] if a.startswith("--allowed-hosts=")).split(",")
        hosts = {"localhost:5000", "127.0.0.1:5000"}  # port-forward; the kind NodePort mapping
        hosts |= {
            rule["host"]
            for i in result.of_kind("Ingress")
            if i["metadata"]["name"] == "mlflow"
            for rule in i["spec"]["rules"]
        }
        for pod in pods(result):
            for _, container in pod.containers():
                uri = environment(result, pod, container).values.get("MLOPS_TRACKING_URI")
                if uri:
                    hosts.add(urlparse(uri).netloc)
        for host in hosts:
            assert any(fnmatch.fnmatch(host, pattern) for pattern in allowed), (
                f"{overlay}: MLflow would refuse Host {host}"
            )
        assert "*" not in allowed


# ------------------------------------------------------------------------------------------------ secrets
def credentials_of(result: Rendered, secret: str) -> str:
    text = secret_value(result, secret, "credentials")
    assert text is not None, f"{result.overlay}: Secret {secret} is not rendered"
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return parser["default"]["aws_access_key_id"]


def mounted_secrets(pod: Pod) -> set[str]:
    names = {v["secret"]["secretName"] for v in pod.spec.get("volumes", []) if "secret" in v}
    for _, container in pod.containers():
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
    return {re.sub(r"-[a-z0-9]{10}$", "", name) for name in names}


SECRETS_BY_COMPONENT = {
    "kind": {
        "serving": {"mlops-data-store"},
        "training": {"mlops-data-store"},
        "data-intake": {"mlops-data-store"},
        "monitoring": {"mlops-data-store"},
        "log-compaction": {"mlops-data-store"},
        "tracking": {"mlflow-artifact-store", "postgres-credentials"},
        "database": {"postgres-credentials"},
        "object-store": {"object-store-identities"},
        "bucket-setup": {"object-store-admin"},
    },
    "production": {
        "serving": {"mlops-data-store"},
        "training": {"mlops-data-store"},
        "data-intake": {"mlops-data-store"},
        "monitoring": {"mlops-data-store"},
        "log-compaction": {"mlops-data-store"},
        "tracking": {"mlflow-artifact-store", "mlflow-backend-store"},
    },
}


def test_each_component_holds_only_its_own_credentials(rendered: dict[str, Rendered]) -> None:
    for overlay, result in rendered.items():
        for pod in pods(result):
            assert mounted_secrets(pod) == SECRETS_BY_COMPONENT[overlay][pod.component], f"{overlay}: {pod.name}"


def test_serving_and_jobs_use_a_scoped_identity_on_the_data_bucket_only(rendered: dict[str, Rendered]) -> None:
    result = rendered["kind"]
    identities_text = secret_value(
        result, result.generated("Secret", "object-store-identities")["metadata"]["name"], "s3.json"
    )
    assert identities_text is not None
    identities = {c["accessKey"]: i for i in json.loads(identities_text)["identities"] for c in i["credentials"]}
    data_bucket = urlparse(result.generated("ConfigMap", "mlops-settings")["data"]["MLOPS_DATA_ROOT"]).netloc
    mlflow = result.named("Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]
    artifact_bucket = urlparse(
        next(a.split("=", 1)[1] for a in mlflow["args"] if a.startswith("--artifacts-destination="))
    ).netloc
    generated = {s["metadata"]["name"].rsplit("-", 1)[0]: s["metadata"]["name"] for s in result.of_kind("Secret")}
    data = identities[credentials_of(result, generated["mlops-data-store"])]
    assert sorted(data["actions"]) == sorted(f"{a}:{data_bucket}" for a in ("Read", "Write", "List")), data
    artifacts = identities[credentials_of(result, generated["mlflow-artifact-store"])]
    assert sorted(artifacts["actions"]) == sorted(f"{a}:{artifact_bucket}" for a in ("Read", "Write", "List"))
    admin = identities[credentials_of(result, generated["object-store-admin"])]
    assert "Admin" in admin["actions"]
    assert len(identities) == 3, "one identity per credential: admin, artifacts, data"


def test_kind_secrets_are_marked_development_only_and_production_has_none(rendered: dict[str, Rendered]) -> None:
    kustomization = yaml.safe_load((K8S / "overlays" / "kind" / "kustomization.yaml").read_text(encoding="utf-8"))
    for generator in kustomization["secretGenerator"]:
        for source in generator.get("files", []) + generator.get("envs", []):
            assert "dev-only" in source, f"kind secret source {source} must say it is for development only"
    for secret in rendered["kind"].of_kind("Secret"):
        for key in secret["data"]:
            value = secret_value(rendered["kind"], secret["metadata"]["name"], key)
            assert value is not None, f"{secret['metadata']['name']}/{key} is not marked dev-only"
            assert "dev-only" in value, f"{secret['metadata']['name']}/{key} is not marked dev-only"
    assert not rendered["production"].of_kind("Secret"), (
        "production Secrets are the operator's, never rendered from git"
    )
    documented = (K8S / "overlays" / "production" / "kustomization.yaml").read_text(encoding="utf-8")
    for pod in pods(rendered["production"]):
        for name in mounted_secrets(pod):
            assert re.search(rf"^#\s+{name}\s", documented, re.M), f"production: Secret {name} is not documented"


# ------------------------------------------------------------------------------------------------ kind
def test_the_kind_cluster_config_matches_what_the_manifests_assume(rendered: dict[str, Rendered]) -> None:
    config = yaml.safe_load(CLUSTER_CONFIG.read_text(encoding="utf-8"))
    result = rendered["kind"]
    node_port = result.named("Service", "mlflow-ui")["spec"]["ports"][0]["nodePort"]
    mappings = config["nodes"][0]["extraPortMappings"]
    assert [(m["containerPort"], m["listenAddress"]) for m in mappings] == [(node_port, "127.0.0.1")]
    pod_subnet, service_subnet = config["networking"]["podSubnet"], config["networking"]["serviceSubnet"]
    assert pod_subnet == POD_SUBNETS["kind"]
    nodeport = result.named("NetworkPolicy", "tracking-nodeport-ingress")["spec"]["ingress"][0]["from"][0]["ipBlock"]
    assert nodeport["except"] == [pod_subnet], "pod addresses must not get the NodePort's opening"
    kubernetes_service = str(ipaddress.ip_network(service_subnet).network_address + 1)
    api = result.named("NetworkPolicy", "monitoring-api-server-egress")["spec"]["egress"]
    assert {"ipBlock": {"cidr": f"{kubernetes_service}/32"}} in [peer for rule in api for peer in rule["to"]]


def requests_of(pod: Pod) -> tuple[float, float]:
    containers = pod.spec["containers"]
    return (
        sum(quantity(c["resources"]["requests"]["cpu"]) for c in containers),
        sum(quantity(c["resources"]["requests"]["memory"]) for c in containers),
    )


def test_two_projects_fit_a_laptop_kind_cluster(rendered: dict[str, Rendered]) -> None:
    """Long-running pods, plus per project one training, intake, monitor and compaction at the same time, for the
    two examples (the files-fed copy rendered beside them is left out)."""
    result = rendered["kind"]
    cpu = memory = 0.0
    for pod in pods(result):
        name = pod.workload["metadata"]["name"]
        if name.startswith(f"{SECOND_PROJECT}-"):
            continue
        if pod.workload["kind"] in {"Deployment", "StatefulSet"} or name.endswith(
            ("-monitor", "-compact", "-train", "-intake")
        ):
            pod_cpu, pod_memory = requests_of(pod)
            cpu, memory = cpu + pod_cpu, memory + pod_memory
    assert cpu <= 2.0, f"kind requests {cpu:.2f} CPU, {memory / 2**30:.2f} GiB"
    assert memory <= 5 * 2**30, f"kind requests {cpu:.2f} CPU, {memory / 2**30:.2f} GiB"
