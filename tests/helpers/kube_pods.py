"""The pod specs of rendered manifests as Docker would run them: what each field becomes, and the refusals.

This is the pure half of the harness that runs the kind overlay's pod specs in Docker (tests/helpers/kube_docker.py
is the other half: containers, probes, Services, Jobs). It reads a workload (Deployment, StatefulSet, Job, or a
CronJob's jobTemplate) exactly as rendered and produces a plan: per container the image, the argv (command/args
with the kubelet's ``$(VAR)`` expansion), the environment (ConfigMap and Secret references resolved from the
render, the downward API, the variables the kubelet always injects), user and groups, read-only root, volumes,
limits, capabilities and probes.

Every field it meets must be mapped here: a field it does not know is refused with the object and the field's
path, so a new field cannot silently pass. Some fields are mapped as "no effect here", each with its reason
(scheduling on one node, rollout history). Where the kubelet itself would refuse to start a container (a
ConfigMap key that does not exist, a probe on a port the container does not name) the plan refuses too. Two
refusals are stricter than the kubelet, on purpose: a ``$(VAR)`` that names no variable defined before it (the
kubelet passes it on literally, which is never what a manifest means), and a URL in the environment that names a
Service on a port the Service does not have (the connection would be refused at run time, far from its cause).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from tests.helpers.kube_netpol import selects


class PodSpecError(AssertionError):
    """A field the harness cannot run as written; the message names the object and the field."""


# --------------------------------------------------------------------------------------------- what is mapped
NO_EFFECT_ONE_NODE = "no effect: the harness is one node (scheduling)"
WORKLOAD_FIELDS: dict[str, dict[str, str]] = {
    "Deployment": {
        "replicas": "that many pods (an HPA's minReplicas wins, as the HPA sets replicas)",
        "selector": "must select the template's labels",
        "template": "the pod",
        "strategy": "no effect: the harness never rolls a Deployment",
        "revisionHistoryLimit": "no effect: no rollout history",
        "progressDeadlineSeconds": "no effect: no rollout",
    },
    "StatefulSet": {
        "replicas": "pods <name>-0 .. <name>-(n-1)",
        "selector": "must select the template's labels",
        "serviceName": "the pods answer as <pod>.<serviceName> on the network",
        "template": "the pod",
        "volumeClaimTemplates": "one Docker volume per claim and pod (empty, fsGroup applied)",
        "persistentVolumeClaimRetentionPolicy": "no effect: the volumes go with the harness",
        "revisionHistoryLimit": "no effect: no rollout history",
        "podManagementPolicy": "no effect: the harness starts the pods in order",
        "updateStrategy": "no effect: the harness never rolls a StatefulSet",
    },
    "Job": {
        "template": "the pod",
        "backoffLimit": "failed pods counted before the Job fails",
        "activeDeadlineSeconds": "the Job is stopped and failed after that many seconds",
        "podFailurePolicy": "onExitCodes and onPodConditions rules (FailJob, Ignore, Count)",
        "podReplacementPolicy": "no effect: the harness starts a replacement only once a pod has failed",
        "ttlSecondsAfterFinished": "no effect: the harness removes its Jobs' pods itself",
        "completions": "1 only",
        "parallelism": "1 only",
    },
    "CronJob": {
        "jobTemplate": "the Job the harness creates on demand (as `kubectl create job --from=cronjob/...`)",
        "schedule": "no effect: the harness runs the job when the loop needs it, never on a schedule",
        "timeZone": "no effect: no schedule",
        "concurrencyPolicy": "no effect: the harness never runs two of one CronJob at once",
        "suspend": "no effect: only the schedule is suspended; the trigger clones the template",
        "startingDeadlineSeconds": "no effect: no schedule",
        "successfulJobsHistoryLimit": "no effect: no Job history",
        "failedJobsHistoryLimit": "no effect: no Job history",
    },
}
POD_FIELDS = {
    "containers": "one Docker container each, in the pod's network namespace (a pause container holds it)",
    "initContainers": "run one after another to completion before the containers start",
    "volumes": "emptyDir, secret, configMap and claim-template volumes",
    "securityContext": "user, group, fsGroup, non-root check, seccomp",
    "serviceAccountName": "the account whose Role the stand-in API enforces, and whose token is mounted",
    "automountServiceAccountToken": "the service-account token, CA and namespace at the kubelet's path",
    "enableServiceLinks": "false: no *_SERVICE_* variables; true: the Docker-link variables of every Service",
    "restartPolicy": "Always: restarted on exit and on a failed liveness probe; Never: the Job's rules",
    "terminationGracePeriodSeconds": "preStop, then SIGTERM, then SIGKILL after that many seconds",
    "topologySpreadConstraints": NO_EFFECT_ONE_NODE,
    "affinity": NO_EFFECT_ONE_NODE,
    "nodeSelector": NO_EFFECT_ONE_NODE,
    "tolerations": NO_EFFECT_ONE_NODE,
}
CONTAINER_FIELDS = {
    "name",
    "image",
    "imagePullPolicy",
    "command",
    "args",
    "workingDir",
    "env",
    "envFrom",
    "ports",
    "resources",
    "securityContext",
    "volumeMounts",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
}
CONTAINER_SECURITY = {
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "readOnlyRootFilesystem",
    "allowPrivilegeEscalation",
    "capabilities",
    "seccompProfile",
    "privileged",
}
POD_SECURITY = {"runAsUser", "runAsGroup", "runAsNonRoot", "fsGroup", "fsGroupChangePolicy", "seccompProfile"}
PROBE_TIMING = {
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 1,
    "successThreshold": 1,
    "failureThreshold": 3,
}
PROBE_ACTIONS = {"httpGet", "tcpSocket", "exec"}
HTTP_GET_FIELDS = {"path", "port", "scheme", "httpHeaders", "host"}
ENV_FIELD_PATHS = ("metadata.name", "metadata.namespace", "spec.serviceAccountName", "status.podIP")
VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)(?:[^@/]*@)?([a-z0-9][a-z0-9.-]*):(\d+)")
CPU_SHARES_PER_CPU = 1024  # what the kubelet writes for requests.cpu (cgroup v1 cpu.shares)


def refuse_unknown(data: dict[str, Any], known: set[str] | dict[str, str], where: str) -> None:
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise PodSpecError(f"{where}.{unknown[0]}: a field the Docker harness does not map (it maps: {sorted(known)})")


# --------------------------------------------------------------------------------------------- the render
@dataclass(frozen=True)
class Render:
    """The objects of one render, indexed the way the kubelet and the API server look them up."""

    objects: list[dict[str, Any]]

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        return next((o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name), None)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def data(self, kind: str, name: str) -> dict[str, str] | None:
        """A ConfigMap's or Secret's data as text (Secrets decoded), or None when the object is not rendered."""
        found = self.find(kind, name)
        if found is None:
            return None
        if kind == "ConfigMap":
            return dict(found.get("data") or {})
        decoded = {k: base64.b64decode(v).decode() for k, v in (found.get("data") or {}).items()}
        return decoded | dict(found.get("stringData") or {})

    def services(self) -> list[dict[str, Any]]:
        return self.of_kind("Service")

    def replicas(self, workload: dict[str, Any]) -> int:
        """The pods a Deployment or StatefulSet runs: an HPA aimed at it sets them to at least its minimum."""
        for hpa in self.of_kind("HorizontalPodAutoscaler"):
            target = hpa["spec"]["scaleTargetRef"]
            if target["kind"] == workload["kind"] and target["name"] == workload["metadata"]["name"]:
                return int(hpa["spec"].get("minReplicas", 1))
        return int(workload["spec"].get("replicas", 1))


# --------------------------------------------------------------------------------------------- workloads
@dataclass(frozen=True)
class Workload:
    """A workload and the pod template it runs; ``where`` is the template's path, for error messages."""

    obj: dict[str, Any]
    template: dict[str, Any]
    where: str

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.template.get("metadata", {}).get("labels") or {})

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.template["spec"])

    def job_spec(self) -> dict[str, Any]:
        """The Job spec: the Job's own, or a CronJob's jobTemplate's."""
        return dict(self.obj["spec"]["jobTemplate"]["spec"] if self.kind == "CronJob" else self.obj["spec"])


def workload(obj: dict[str, Any]) -> Workload:
    """The workload's pod template, after refusing every workload field the harness does not map."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    if kind not in WORKLOAD_FIELDS:
        raise PodSpecError(f"{kind}/{name}: the harness runs Deployments, StatefulSets, Jobs and CronJobs only")
    spec = obj["spec"]
    refuse_unknown(spec, WORKLOAD_FIELDS[kind], f"{kind}/{name} spec")
    job = spec["jobTemplate"]["spec"] if kind == "CronJob" else spec
    if kind in {"Job", "CronJob"}:
        prefix = f"{kind}/{name} spec" + (".jobTemplate.spec" if kind == "CronJob" else "")
        refuse_unknown(job, WORKLOAD_FIELDS["Job"], prefix)
        for key in ("completions", "parallelism"):
            if job.get(key, 1) != 1:
                raise PodSpecError(f"{prefix}.{key}: {job[key]} (the harness runs Jobs of one pod)")
    template = job["template"]
    where = f"{kind}/{name} spec." + ("jobTemplate.spec.template" if kind == "CronJob" else "template")
    if kind in {"Deployment", "StatefulSet"} and not selects(spec["selector"], template["metadata"].get("labels", {})):
        raise PodSpecError(f"{kind}/{name} spec.selector: does not select the template's labels")
    return Workload(obj, template, where)


def workloads(render: Render) -> list[Workload]:
    return [workload(o) for o in render.objects if o["kind"] in WORKLOAD_FIELDS]


# --------------------------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class Probe:
    """A probe as the kubelet runs it: one action, its timing, and where it is declared (for messages)."""

    kind: str  # startup | liveness | readiness
    action: str  # httpGet | tcpSocket | exec
    where: str
    port: int | None = None
    path: str = "/"
    scheme: str = "HTTP"
    headers: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    timing: dict[str, int] = field(default_factory=dict)

    def seconds(self, name: str) -> int:
        """A timing field (initialDelaySeconds, periodSeconds, ...), with the API's default when left out."""
        return int(self.timing.get(name, PROBE_TIMING[name]))


@dataclass(frozen=True)
class Mount:
    """A volume mounted into a container: ``source`` is the pod volume's name."""

    source: str
    path: str
    read_only: bool


@dataclass(frozen=True)
class ContainerPlan:
    name: str
    init: bool
    where: str
    image: str
    entrypoint: str | None  # None: the image's ENTRYPOINT
    args: tuple[str, ...] | None  # None: the image's CMD
    env: dict[str, str]
    user: str | None  # "uid:gid" or None (the image's USER)
    groups: tuple[int, ...]
    read_only_root: bool
    no_new_privileges: bool
    cap_drop: tuple[str, ...]
    cap_add: tuple[str, ...]
    memory_bytes: int | None
    cpus: float | None
    cpu_shares: int | None
    mounts: tuple[Mount, ...]
    ports: dict[str, int]
    probes: dict[str, Probe]
    pre_stop_sleep: int = 0
    pre_stop_exec: tuple[str, ...] = ()
    working_dir: str | None = None


@dataclass(frozen=True)
class Volume:
    name: str
    kind: str  # emptyDir | secret | configMap | claim | serviceAccount
    size_bytes: int | None = None
    files: dict[str, tuple[str, int]] = field(default_factory=dict)  # path -> (content, mode)


@dataclass(frozen=True)
class PodIdentity:
    """What the downward API and the injected variables need to know about one pod."""

    name: str
    namespace: str
    ip: str = "0.0.0.0"  # a placeholder until the sandbox has an address
    api_host: str = ""
    api_port: int = 0
    service_ips: dict[str, str] = field(default_factory=dict)  # Service name -> address (enableServiceLinks)


@dataclass(frozen=True)
class PodPlan:
    workload: Workload
    identity: PodIdentity
    hostname: str
    fs_group: int | None
    restart_policy: str
    grace_seconds: int
    volumes: dict[str, Volume]
    init_containers: tuple[ContainerPlan, ...]
    containers: tuple[ContainerPlan, ...]
    service_account: str
    token: bool

    @property
    def ref(self) -> str:
        return self.workload.ref


# --------------------------------------------------------------------------------------------- quantities
UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def memory_bytes(value: str | int, where: str) -> int:
    match = re.fullmatch(r"(\d+)([kMG]|[KMG]i)?", str(value))
    if not match:
        raise PodSpecError(f"{where}: {value!r} is not a memory quantity the harness maps")
    return int(match.group(1)) * UNITS[match.group(2) or ""]


def cpu_cores(value: str | int | float, where: str) -> float:
    text = str(value)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m?)", text)
    if not match:
        raise PodSpecError(f"{where}: {value!r} is not a CPU quantity the harness maps")
    return float(match.group(1)) / (1000 if match.group(2) else 1)


# --------------------------------------------------------------------------------------------- $(VAR)
def expand(text: str, values: dict[str, str], where: str) -> str:
    """The kubelet's expansion: ``$(NAME)`` becomes the variable's value, ``$$`` a literal ``$``.

    The kubelet leaves a reference to an undefined variable as it is; the harness refuses it instead (it never
    means what the manifest's author wanted: in ``env`` only variables defined *earlier* in the list count).
    """
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        match = VAR.match(text, i)
        if match:
            name = match.group(1)
            if name not in values:
                raise PodSpecError(
                    f"{where}: $({name}) names no variable defined before it (the kubelet would pass it literally)"
                )
            out.append(values[name])
            i = match.end()
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


# --------------------------------------------------------------------------------------------- environment
def injected_env(identity: PodIdentity, services: list[dict[str, Any]], links: bool) -> dict[str, str]:
    """What the kubelet adds to every container: the API server's Service always, every Service with links."""
    env: dict[str, str] = {}
    if identity.api_host:
        env |= link_env("kubernetes", identity.api_host, [{"name": "https", "port": identity.api_port}])
    if links:
        for svc in services:
            address = identity.service_ips.get(svc["metadata"]["name"])
            if address and svc["spec"].get("clusterIP") != "None":
                env |= link_env(svc["metadata"]["name"], address, svc["spec"]["ports"])
    return env


def link_env(service: str, address: str, ports: list[dict[str, Any]]) -> dict[str, str]:
    prefix = service.upper().replace("-", "_")
    first = ports[0]["port"]
    env = {f"{prefix}_SERVICE_HOST": address, f"{prefix}_SERVICE_PORT": str(first)}
    env[f"{prefix}_PORT"] = f"tcp://{address}:{first}"
    for port in ports:
        number, proto = port["port"], port.get("protocol", "TCP").lower()
        if port.get("name"):
            env[f"{prefix}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = str(number)
        key = f"{prefix}_PORT_{number}_{proto.upper()}"
        env |= {key: f"{proto}://{address}:{number}", f"{key}_PROTO": proto, f"{key}_PORT": str(number)}
        env[f"{key}_ADDR"] = address
    return env


def env_source(render: Render, kind: str, ref: dict[str, Any], where: str) -> dict[str, str] | None:
    data = render.data(kind, ref["name"])
    if data is None and not ref.get("optional"):
        raise PodSpecError(f"{where}: {kind} {ref['name']} is not rendered (the kubelet would not start the container)")
    return data


def field_value(path: str, identity: PodIdentity, pod: Workload, where: str) -> str:
    label = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if label:
        values = pod.template.get("metadata", {}).get(label.group(1)) or {}
        return str(values.get(label.group(2), ""))  # the kubelet gives "" for a key the pod does not carry
    facts = {
        "metadata.name": identity.name,
        "metadata.namespace": identity.namespace,
        "spec.serviceAccountName": pod.spec.get("serviceAccountName", "default"),
        "status.podIP": identity.ip,
    }
    if path not in facts:
        raise PodSpecError(f"{where}: fieldRef {path!r} is not mapped (mapped: {', '.join(ENV_FIELD_PATHS)}, labels)")
    return facts[path]


def value_from(ref: dict[str, Any], render: Render, identity: PodIdentity, pod: Workload, where: str) -> str | None:
    """One ``valueFrom``; None when an optional reference is missing (the variable is then not set)."""
    refuse_unknown(ref, {"configMapKeyRef", "secretKeyRef", "fieldRef"}, f"{where}.valueFrom")
    if "fieldRef" in ref:
        return field_value(ref["fieldRef"]["fieldPath"], identity, pod, where)
    kind = "ConfigMap" if "configMapKeyRef" in ref else "Secret"
    key_ref = ref.get("configMapKeyRef") or ref["secretKeyRef"]
    data = render.data(kind, key_ref["name"])
    if data is None or key_ref["key"] not in data:
        if key_ref.get("optional"):
            return None
        missing = "is not rendered" if data is None else f"has no key {key_ref['key']!r}"
        raise PodSpecError(f"{where}: {kind} {key_ref['name']} {missing} (the kubelet would not start the container)")
    return data[key_ref["key"]]


def container_env(
    render: Render, pod: Workload, container: dict[str, Any], identity: PodIdentity, where: str
) -> dict[str, str]:
    """envFrom, then env in order (each value expanded against what is defined before it), over the injected."""
    env = injected_env(identity, render.services(), bool(pod.spec.get("enableServiceLinks", True)))
    for i, source in enumerate(container.get("envFrom", [])):
        at = f"{where}.envFrom[{i}]"
        refuse_unknown(source, {"configMapRef", "secretRef", "prefix"}, at)
        kind = "ConfigMap" if "configMapRef" in source else "Secret"
        data = env_source(render, kind, source.get("configMapRef") or source["secretRef"], at) or {}
        env |= {source.get("prefix", "") + k: v for k, v in data.items()}
    for item in container.get("env", []):
        at = f"{where}.env[{item['name']}]"
        refuse_unknown(item, {"name", "value", "valueFrom"}, at)
        if "valueFrom" in item:
            value = value_from(item["valueFrom"], render, identity, pod, at)
            if value is not None:
                env[item["name"]] = value
        else:
            env[item["name"]] = expand(str(item.get("value", "")), env, at)
    return env


def check_service_urls(render: Render, env: dict[str, str], where: str) -> None:
    """A URL naming a Service must name one of its ports (clients connect to the Service's port)."""
    services = {s["metadata"]["name"]: s for s in render.services()}
    for name, value in env.items():
        for host, port in service_addresses(value):
            svc = services.get(host.split(".")[0]) if host.split(".")[0] in services else None
            if svc is None:
                continue
            ports = [p["port"] for p in svc["spec"]["ports"]]
            if port not in ports:
                raise PodSpecError(
                    f"{where}.env[{name}] ({value.split('@')[-1]}): Service/{svc['metadata']['name']} spec.ports has "
                    f"no port {port} (its ports: {ports}); the connection would be refused"
                )


def service_addresses(value: str) -> list[tuple[str, int]]:
    """(host, port) of a URL, including database URLs with credentials (postgresql+psycopg2://u:p@host:5432)."""
    match = URL.match(value)
    return [(match.group(1), int(match.group(2)))] if match else []


# --------------------------------------------------------------------------------------------- containers
def command_line(
    container: dict[str, Any], env: dict[str, str], where: str
) -> tuple[str | None, tuple[str, ...] | None]:
    """Kubernetes' rules: command replaces ENTRYPOINT (and drops CMD), args replace CMD."""
    command = [expand(w, env, f"{where}.command") for w in container.get("command", [])]
    args = [expand(w, env, f"{where}.args") for w in container.get("args", [])]
    if command:
        return command[0], (*command[1:], *args)
    return None, tuple(args) if "args" in container else None


def security(pod: Workload, container: dict[str, Any], where: str) -> dict[str, Any]:
    """The effective security context: the container's fields over the pod's."""
    pod_ctx, ctx = pod.spec.get("securityContext") or {}, container.get("securityContext") or {}
    refuse_unknown(pod_ctx, POD_SECURITY, f"{pod.where}.spec.securityContext")
    refuse_unknown(ctx, CONTAINER_SECURITY, f"{where}.securityContext")
    merged = {k: pod_ctx[k] for k in ("runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile") if k in pod_ctx}
    merged |= ctx
    if merged.get("privileged"):
        raise PodSpecError(f"{where}.securityContext.privileged: true is not run by the harness")
    seccomp = (merged.get("seccompProfile") or {}).get("type", "RuntimeDefault")
    if seccomp != "RuntimeDefault":
        raise PodSpecError(f"{where}.securityContext.seccompProfile.type: {seccomp} (mapped: RuntimeDefault)")
    if merged.get("runAsNonRoot") and merged.get("runAsUser") == 0:
        raise PodSpecError(f"{where}.securityContext: runAsNonRoot with runAsUser 0 (the kubelet would refuse it)")
    return merged


def probe(kind: str, spec: dict[str, Any], ports: dict[str, int], where: str) -> Probe:
    refuse_unknown(spec, PROBE_ACTIONS | set(PROBE_TIMING), where)
    actions = [a for a in PROBE_ACTIONS if a in spec]
    if len(actions) != 1:
        raise PodSpecError(f"{where}: exactly one of httpGet, tcpSocket, exec (got {actions})")
    action, body = actions[0], spec[actions[0]]
    timing = {k: int(spec[k]) for k in PROBE_TIMING if k in spec}
    if action == "exec":
        return Probe(kind, action, where, command=tuple(body["command"]), timing=timing)
    refuse_unknown(body, HTTP_GET_FIELDS if action == "httpGet" else {"port"}, f"{where}.{action}")
    port = resolve_port(body["port"], ports, f"{where}.{action}.port")
    if action == "tcpSocket":
        return Probe(kind, action, where, port=port, timing=timing)
    if body.get("host"):
        raise PodSpecError(f"{where}.httpGet.host: probing another host is not mapped")
    headers = {h["name"]: h["value"] for h in body.get("httpHeaders", [])}
    return Probe(kind, action, where, port, body.get("path", "/"), body.get("scheme", "HTTP"), headers, timing=timing)


def resolve_port(port: str | int, ports: dict[str, int], where: str) -> int:
    if isinstance(port, int):
        return port
    if port not in ports:
        raise PodSpecError(f"{where}: the container has no port named {port!r} (its ports: {ports})")
    return ports[port]


def lifecycle(container: dict[str, Any], where: str) -> tuple[int, tuple[str, ...]]:
    hooks = container.get("lifecycle") or {}
    refuse_unknown(hooks, {"preStop"}, f"{where}.lifecycle")
    pre_stop = hooks.get("preStop") or {}
    refuse_unknown(pre_stop, {"sleep", "exec"}, f"{where}.lifecycle.preStop")
    sleep = int((pre_stop.get("sleep") or {}).get("seconds", 0))
    return sleep, tuple((pre_stop.get("exec") or {}).get("command", []))


def resources(container: dict[str, Any], where: str) -> tuple[int | None, float | None, int | None]:
    """Memory limit, CPU limit, and CPU shares from the request (what the kubelet writes to the cgroup)."""
    spec = container.get("resources") or {}
    refuse_unknown(spec, {"limits", "requests"}, f"{where}.resources")
    limits, requests = spec.get("limits") or {}, spec.get("requests") or {}
    for part, values in (("limits", limits), ("requests", requests)):
        refuse_unknown(values, {"cpu", "memory"}, f"{where}.resources.{part}")
    memory = memory_bytes(limits["memory"], f"{where}.resources.limits.memory") if "memory" in limits else None
    cpus = cpu_cores(limits["cpu"], f"{where}.resources.limits.cpu") if "cpu" in limits else None
    request = requests.get("cpu", limits.get("cpu"))
    shares = (
        max(2, round(cpu_cores(request, f"{where}.resources.requests.cpu") * CPU_SHARES_PER_CPU)) if request else None
    )
    return memory, cpus, shares


def mounts(container: dict[str, Any], volumes: dict[str, Volume], where: str) -> tuple[Mount, ...]:
    out = []
    for i, mount in enumerate(container.get("volumeMounts", [])):
        at = f"{where}.volumeMounts[{i}]"
        refuse_unknown(mount, {"name", "mountPath", "readOnly"}, at)
        if mount["name"] not in volumes:
            raise PodSpecError(f"{at}.name: no volume {mount['name']!r} in the pod (volumes: {sorted(volumes)})")
        out.append(Mount(mount["name"], mount["mountPath"], bool(mount.get("readOnly", False))))
    return tuple(out)


def plan_container(
    render: Render,
    pod: Workload,
    container: dict[str, Any],
    identity: PodIdentity,
    volumes: dict[str, Volume],
    where: str,
) -> ContainerPlan:
    refuse_unknown(container, CONTAINER_FIELDS, where)
    if container.get("imagePullPolicy", "IfNotPresent") == "Always":
        raise PodSpecError(f"{where}.imagePullPolicy: Always (nothing can be pulled here)")
    ports = {p["name"]: int(p["containerPort"]) for p in container.get("ports", []) if p.get("name")}
    for i, port in enumerate(container.get("ports", [])):
        refuse_unknown(port, {"name", "containerPort", "protocol"}, f"{where}.ports[{i}]")
    env = container_env(render, pod, container, identity, where)
    check_service_urls(render, env, where)
    entrypoint, args = command_line(container, env, where)
    ctx = security(pod, container, where)
    caps = ctx.get("capabilities") or {}
    refuse_unknown(caps, {"drop", "add"}, f"{where}.securityContext.capabilities")
    user = f"{ctx['runAsUser']}:{ctx.get('runAsGroup', ctx['runAsUser'])}" if "runAsUser" in ctx else None
    fs_group = (pod.spec.get("securityContext") or {}).get("fsGroup")
    memory, cpus, shares = resources(container, where)
    sleep, pre_exec = lifecycle(container, where)
    probes = {
        kind: probe(kind, container[f"{kind}Probe"], ports, f"{where}.{kind}Probe")
        for kind in ("startup", "liveness", "readiness")
        if f"{kind}Probe" in container
    }
    return ContainerPlan(
        name=container["name"],
        init="initContainers" in where,
        where=where,
        image=container["image"],
        entrypoint=entrypoint,
        args=args,
        env=env,
        user=user,
        groups=(fs_group,) if fs_group is not None else (),
        read_only_root=bool(ctx.get("readOnlyRootFilesystem", False)),
        no_new_privileges=ctx.get("allowPrivilegeEscalation") is False,
        cap_drop=tuple(caps.get("drop", [])),
        cap_add=tuple(caps.get("add", [])),
        memory_bytes=memory,
        cpus=cpus,
        cpu_shares=shares,
        mounts=mounts(container, volumes, where),
        ports=ports,
        probes=probes,
        pre_stop_sleep=sleep,
        pre_stop_exec=pre_exec,
        working_dir=container.get("workingDir"),
    )


# --------------------------------------------------------------------------------------------- volumes
def key_files(data: dict[str, str], spec: dict[str, Any], where: str) -> dict[str, tuple[str, int]]:
    """A Secret's or ConfigMap's keys as files: all of them, or the listed items, with their modes."""
    default = int(spec.get("defaultMode", 0o644))
    if "items" not in spec:
        return {key: (value, default) for key, value in data.items()}
    files = {}
    for i, item in enumerate(spec["items"]):
        refuse_unknown(item, {"key", "path", "mode"}, f"{where}.items[{i}]")
        if item["key"] not in data:
            raise PodSpecError(f"{where}.items[{i}].key: no key {item['key']!r} (the kubelet would not start the pod)")
        files[item["path"]] = (data[item["key"]], int(item.get("mode", default)))
    return files


def plan_volume(render: Render, spec: dict[str, Any], claims: set[str], where: str) -> Volume:
    name = spec["name"]
    kinds = [k for k in spec if k != "name"]
    if kinds == ["emptyDir"]:
        empty = spec["emptyDir"] or {}
        refuse_unknown(empty, {"sizeLimit", "medium"}, f"{where}.emptyDir")
        size = memory_bytes(empty["sizeLimit"], f"{where}.emptyDir.sizeLimit") if "sizeLimit" in empty else None
        return Volume(name, "emptyDir", size_bytes=size)
    if kinds in (["secret"], ["configMap"]):
        kind = "Secret" if kinds == ["secret"] else "ConfigMap"
        body = spec[kinds[0]]
        refuse_unknown(body, {"secretName" if kind == "Secret" else "name", "items", "defaultMode", "optional"}, where)
        source = body.get("secretName") or body.get("name")
        data = render.data(kind, source)
        if data is None:
            raise PodSpecError(f"{where}: {kind} {source} is not rendered (the kubelet would not start the pod)")
        return Volume(name, kinds[0], files=key_files(data, body, f"{where}.{kinds[0]}"))
    if not kinds and name in claims:
        return Volume(name, "claim")
    raise PodSpecError(f"{where}: volume type {kinds or '(none)'} is not mapped (emptyDir, secret, configMap)")


TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def token_wanted(render: Render, workload: Workload) -> bool:
    """automountServiceAccountToken: the pod's, else its ServiceAccount's, else true."""
    if "automountServiceAccountToken" in workload.spec:
        return bool(workload.spec["automountServiceAccountToken"])
    account = render.find("ServiceAccount", workload.spec.get("serviceAccountName", "default")) or {}
    return bool(account.get("automountServiceAccountToken", True))


# --------------------------------------------------------------------------------------------- one pod
def plan_pod(render: Render, pod: Workload, identity: PodIdentity) -> PodPlan:
    """Everything needed to run one pod of ``pod``, or a PodSpecError naming what cannot be run."""
    spec = pod.spec
    where = f"{pod.where}.spec"
    refuse_unknown(spec, POD_FIELDS, where)
    refuse_unknown(pod.template, {"metadata", "spec"}, pod.where)
    claims = {c["metadata"]["name"] for c in pod.obj["spec"].get("volumeClaimTemplates", [])}
    volumes = {
        v["name"]: plan_volume(render, v, claims, f"{where}.volumes[{v['name']}]") for v in spec.get("volumes", [])
    }
    volumes |= {c: Volume(c, "claim") for c in claims}
    token = token_wanted(render, pod)
    if token:
        volumes["kube-api-access"] = Volume("kube-api-access", "serviceAccount")
    init = tuple(
        plan_container(render, pod, c, identity, volumes, f"{where}.initContainers[{c['name']}]")
        for c in spec.get("initContainers", [])
    )
    main = tuple(
        plan_container(render, pod, c, identity, volumes, f"{where}.containers[{c['name']}]")
        for c in spec["containers"]
    )
    if token:
        main = tuple(with_token(c) for c in main)
        init = tuple(with_token(c) for c in init)
    restart = spec.get("restartPolicy", "Always")
    if pod.kind in {"Job", "CronJob"} and restart not in {"Never", "OnFailure"}:
        raise PodSpecError(f"{where}.restartPolicy: {restart} (a Job's pods need Never or OnFailure)")
    if restart == "OnFailure":
        raise PodSpecError(f"{where}.restartPolicy: OnFailure is not mapped (Never and Always are)")
    return PodPlan(
        workload=pod,
        identity=identity,
        hostname=identity.name,
        fs_group=(spec.get("securityContext") or {}).get("fsGroup"),
        restart_policy=restart,
        grace_seconds=int(spec.get("terminationGracePeriodSeconds", 30)),
        volumes=volumes,
        init_containers=init,
        containers=main,
        service_account=spec.get("serviceAccountName", "default"),
        token=token,
    )


def with_token(container: ContainerPlan) -> ContainerPlan:
    from dataclasses import replace

    return replace(container, mounts=(*container.mounts, Mount("kube-api-access", TOKEN_PATH, True)))


def role_rules(render: Render, service_account: str, namespace: str) -> list[dict[str, Any]]:
    """The rules of every Role bound (by a RoleBinding in the namespace) to the service account."""
    rules: list[dict[str, Any]] = []
    for binding in render.of_kind("RoleBinding"):
        subjects = binding.get("subjects") or []
        if not any(s["kind"] == "ServiceAccount" and s["name"] == service_account for s in subjects):
            continue
        role = render.find(binding["roleRef"]["kind"], binding["roleRef"]["name"])
        if role is not None and role["metadata"].get("namespace", namespace) == namespace:
            rules += role.get("rules", [])
    return rules
