"""The real (not dry-run) deploy's command sequence, first and second time, against STAND-INS.

STAND-INS, and why: no cluster can run on these machines (kind, k3s and kube-apiserver cannot be installed), so
`kind`, `kubectl` and `docker` here are small shell scripts on PATH that log their arguments and answer the few
questions the script asks (does the cluster exist, is the Job there, is the image on the node, is the Job
complete) with a fixed "first deploy" or "second deploy" state, the training Job answering complete, running
(on the first poll) or failed. `kubectl kustomize` and `kubectl version` are
passed to the real kubectl. The smoke prediction goes to a stand-in HTTP server on 127.0.0.1 that the fake
`kubectl port-forward` points at. Only the thin script's sequencing and idempotence are tested this way; what the
cluster does with the commands is the kind-e2e workflow's to prove.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.deploy.conftest import run_script
from tests.helpers.examples import needs_example

pytestmark = [pytest.mark.k8s, needs_example("churn")]  # the deploy of the churn example, seed Job and all

EXAMPLE = {"records": [{"customer_id": "c1"}]}

FAKE_KIND = """#!/bin/sh
echo "kind $*" >> "$FAKE_LOG"
case "$1 $2" in
  "version "*) echo "kind v0.33.0 go1.24 linux/amd64" ;;
  "get clusters") [ "$FAKE_STATE" = second ] && echo mlops ;;
esac
exit 0
"""
FAKE_DOCKER = """#!/bin/sh
echo "docker $*" >> "$FAKE_LOG"
size() {  # an image's size: our images exist once the stand-in build made them (or on a second deploy)
  case "$1" in
    mlops-*:src-*) n="${1#mlops-}"; { [ "$FAKE_STATE" = second ] || [ -f "$FAKE_BUILT-${n%%:*}" ]; } || exit 1 ;;
  esac
  echo 1000000
}
case "$1" in
  info) echo '{"NCPU": 4, "MemTotal": 8589934592, "OperatingSystem": "stand-in"}' ;;
  image) case "$4" in *Id*) echo sha256:stand-in ;; *) size "$5" ;; esac ;;
  exec) [ "$FAKE_STATE" = second ] && echo sha256:on-node ;;
esac
exit 0
"""
FAKE_KUBECTL = """#!/bin/sh
echo "kubectl $*" >> "$FAKE_LOG"
train() {  # FAKE_JOB: the training Job is complete, still running on the first poll, or failed
  case "$FAKE_JOB" in
    running) [ -f "$FAKE_LOG.polled" ] || { touch "$FAKE_LOG.polled"; echo '{"status": {"active": 1}}'; return; } ;;
    failed) echo '{"status": {"conditions": [{"type": "Failed", "status": "True"}]}}'; return ;;
  esac
  echo '{"status": {"conditions": [{"type": "Complete", "status": "True"}]}}'
}
case " $* " in
  *" version "*|*" kustomize "*) exec "$REAL_KUBECTL" "$@" ;;
  *" --ignore-not-found -o name"*) [ "$FAKE_STATE" = second ] && echo "job.batch/x" ;;
  *" get job/churn-train -o json "*) train ;;
  *" get job/"*) echo '{"status": {"conditions": [{"type": "Complete", "status": "True"}]}}' ;;
  *" endpointslices "*) echo '{"items": [{"ports": [{"port": 6443}], "endpoints": [{"addresses": ["172.18.0.2"]}]}]}' ;;
  *" port-forward "*) echo "Forwarding from 127.0.0.1:$FAKE_PORT -> 3000"; sleep 60 ;;
esac
exit 0
"""


class Service(BaseHTTPRequestHandler):
    """A stand-in for the serving pod behind the port-forward: its OpenAPI example and a prediction."""

    def do_GET(self) -> None:
        body = {
            "paths": {"/predict": {"post": {"requestBody": {"content": {"application/json": {"example": EXAMPLE}}}}}}
        }
        self.answer(body)

    def do_POST(self) -> None:
        length = int(self.headers["content-length"])
        assert json.loads(self.rfile.read(length)) == EXAMPLE, "the smoke sends the service's own example"
        self.answer({"model": {"version": "1"}, "predictions": [0]})

    def answer(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def service() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def deploy_with_stand_ins(
    tmp_path: Path, state: str, port: int, kubectl: str, *, job: str = "complete", returncode: int = 0
) -> tuple[list[str], str]:
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for name, script in (("kind", FAKE_KIND), ("docker", FAKE_DOCKER), ("kubectl", FAKE_KUBECTL)):
        (folder / name).write_text(script)
        (folder / name).chmod(0o755)
    log = tmp_path / f"{state}.log"
    built = tmp_path / "built"
    (folder / "bash").write_text(f'#!/bin/sh\necho "bash $*" >> "$FAKE_LOG"\ntouch "{built}-$2"\n')  # build-images.sh
    (folder / "bash").chmod(0o755)
    env = {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}", "FAKE_LOG": str(log),
           "FAKE_STATE": state, "FAKE_PORT": str(port), "REAL_KUBECTL": kubectl, "FAKE_BUILT": str(built),
           "FAKE_JOB": job}  # fmt: skip
    done = run_script("deploy", "--project", "churn", "--out", str(tmp_path / "out"), env=env)
    assert done.returncode == returncode, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr
    return log.read_text().splitlines(), done.stdout


def test_first_deploy_creates_builds_loads_and_creates_each_job_once(
    tmp_path: Path, service: int, kubectl: str
) -> None:
    calls, out = deploy_with_stand_ins(tmp_path, "first", service, kubectl)
    assert sum(c.startswith("kind create cluster") for c in calls) == 1
    assert sum(c.startswith("bash ") and "build-images.sh" in c for c in calls) == 3, "three images built"
    assert sum(c.startswith("kind load docker-image") for c in calls) == 5
    created = [c.split("/")[-1] for c in calls if " create -f " in c]
    assert created == ["create-buckets.yaml", "churn-seed.yaml", "churn-train.yaml"], created
    applied = [c.split("/")[-1] for c in calls if " apply -f " in c]
    assert applied == ["1-foundation.yaml", "2-data-services.yaml", "3-mlflow.yaml", "5-serving.yaml",
                       "6-cronjobs.yaml"], applied  # fmt: skip
    assert "the service answered with model version 1" in out
    assert "bytes loaded into kind by this deploy: 5 MB" in out, "five images of 1 MB each (the stand-in's size)"
    assert (tmp_path / "out" / "kustomization.yaml").is_file(), "the generated kustomization is kept in --out"


def test_a_second_deploy_builds_nothing_loads_nothing_and_duplicates_no_job(
    tmp_path: Path, service: int, kubectl: str
) -> None:
    calls, out = deploy_with_stand_ins(tmp_path, "second", service, kubectl)
    assert not [c for c in calls if c.startswith("kind create")], "the cluster exists: kept"
    assert not [c for c in calls if "build-images.sh" in c], "same content, same tags: nothing rebuilt"
    assert not [c for c in calls if c.startswith("kind load")], "the node has every image"
    assert not [c for c in calls if " create -f " in c], "every Job exists: none created again"
    assert "bytes loaded into kind by this deploy: 0 MB" in out
    for job in ("create-buckets", "churn-seed", "churn-train"):
        assert f"job/{job} exists: left alone" in out
    assert len([c for c in calls if " apply -f " in c]) == 5, "the stages are applied again (unchanged is a no-op)"


def test_a_second_deploy_while_a_job_runs_leaves_it_alone_and_waits_for_it(
    tmp_path: Path, service: int, kubectl: str
) -> None:
    """docs/deploy.md, 'A second deploy while Jobs run': the stand-in training Job is still running on the first
    poll. Nothing is created, deleted or re-applied for it; the deploy polls until it completes, then goes on."""
    calls, out = deploy_with_stand_ins(tmp_path, "second", service, kubectl, job="running")
    assert "job/churn-train exists: left alone" in out
    assert not [c for c in calls if " create -f " in c or " delete " in c], "a running Job is never replaced"
    polls = [c for c in calls if c.endswith("get job/churn-train -o json")]
    assert len(polls) == 2, f"polled while running, then complete: {polls}"
    assert "job/churn-train complete" in out
    assert calls.index(polls[-1]) < next(i for i, c in enumerate(calls) if c.endswith("5-serving.yaml")), (
        "serving is applied only after the training Job completed"
    )


def test_a_failed_job_stops_the_deploy_naming_what_to_check_and_the_commands(
    tmp_path: Path, service: int, kubectl: str
) -> None:
    calls, out = deploy_with_stand_ins(tmp_path, "first", service, kubectl, job="failed", returncode=1)
    assert "error: Job churn-train failed" in out, out[-2000:]
    for command in ("describe job/churn-train", "get events --sort-by=.lastTimestamp",
                    "logs job/churn-train --all-containers --tail=50"):  # fmt: skip
        assert f"kubectl --context kind-mlops -n mlops {command}" in out, command
    assert "docs/deploy.md, 'Troubleshooting'" in out
    assert not [c for c in calls if "5-serving.yaml" in c], "nothing after the failed stage was applied"


def test_each_step_prints_what_it_does_and_how_long_it_took(tmp_path: Path, service: int, kubectl: str) -> None:
    _, out = deploy_with_stand_ins(tmp_path, "second", service, kubectl)
    titles = re.findall(r"^==> \[(\d)/9\] (.+)$", out, re.M)
    assert [int(n) for n, _ in titles] == list(range(1, 10)), titles
    for _, title in titles:
        assert re.search(rf"^    \({re.escape(title)}: \d+\.\d s\)$", out, re.M), f"no time for {title!r}"
    assert re.search(r"deployed churn in \d+ s; 0 MB loaded into kind", out)
