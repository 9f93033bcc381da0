"""A STAND-IN for the Kubernetes API server, for the retrain trigger's thin client layer only.

No cluster (kind, k3s, a kube-apiserver) can run on the development and CI machines, so the trigger's calls are
tested against this instead. It is not Kubernetes: it serves exactly what the trigger uses, the way the API
server would answer it, and nothing else:

- HTTPS with its own CA, and a bearer token, like a pod's mounted service account (the client verifies both);
- ``GET /apis/batch/v1/namespaces/<ns>/cronjobs/<name>``: the CronJob from the rendered manifests (with a uid);
- ``POST /apis/batch/v1/namespaces/<ns>/jobs``: 201 and the Job, then 409 Conflict for the same name;
- 403 Forbidden for any request the rendered Role of the calling service account does not grant (verbs,
  resources, resourceNames), and 401 without the token.

Every Job it is asked to create is kept (``created``) so a test can check or run its body.

For the pods the Docker harness runs (tests/helpers/kube_docker.py) it listens on the Docker network's gateway
(``host``) and writes what the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount
(``service_account_files``: token, ca.crt, namespace); the harness sets KUBERNETES_SERVICE_HOST/PORT to it, which
is what a client's in-cluster configuration reads (lightkube's ``KubeConfig.from_service_account``).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.helpers.system import free_port_on


@dataclass
class StandInApi:
    """Serve ``objects`` (rendered manifests) of ``namespace`` to holders of ``token`` under ``rules`` (a Role's)."""

    namespace: str
    objects: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    folder: Path
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: list[dict[str, Any]] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        self.port = self.port or free_port_on(self.host)
        self.cert, self.key = self.folder / "api.crt", self.folder / "api.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kubernetes",
             "-addext", f"subjectAltName=IP:{self.host},DNS:kubernetes.default.svc",
             "-keyout", str(self.key), "-out", str(self.cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    # -- what a client needs -------------------------------------------------------------------------
    def kubeconfig(self) -> Path:
        """A kubeconfig for this server: its CA, the token, the namespace (what KUBECONFIG points a client at)."""
        path = self.folder / "kubeconfig"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "stand-in", "cluster": {"server": self.url, "certificate-authority": str(self.cert)}}
            ],
            "users": [{"name": "monitor", "user": {"token": self.token}}],
            "contexts": [
                {"name": "stand-in", "context": {"cluster": "stand-in", "user": "monitor", "namespace": self.namespace}}
            ],
            "current-context": "stand-in",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def service_account_files(self, folder: Path) -> Path:
        """The files a pod's service-account volume holds (token, ca.crt, namespace), written into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "token").write_text(self.token)
        (folder / "ca.crt").write_bytes(self.cert.read_bytes())
        (folder / "namespace").write_text(self.namespace)
        return folder

    # -- serving ---------------------------------------------------------------------------------------
    def start(self) -> StandInApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                return

            def do_GET(self) -> None:
                api._answer(self, "get", None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                api._answer(self, "create", json.loads(self.rfile.read(length) or b"{}"))

            def do_DELETE(self) -> None:
                api._answer(self, "delete", None)

        server = ThreadingHTTPServer((self.host, self.port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, name="kube-api-stand-in", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StandInApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the API -----------------------------------------------------------------------------------------
    def allowed(self, verb: str, group: str, resource: str, name: str | None) -> bool:
        """RBAC as the API server evaluates a Role: any rule matching group, resource, verb and (if set) name."""
        for rule in self.rules:
            names = rule.get("resourceNames") or []
            if (
                group in rule.get("apiGroups", [])
                and resource in rule.get("resources", [])
                and verb in rule.get("verbs", [])
                and (not names or name in names)
            ):
                return True
        return False

    def _answer(self, handler: BaseHTTPRequestHandler, verb: str, body: dict[str, Any] | None) -> None:
        if handler.headers.get("Authorization") != f"Bearer {self.token}":
            self._send(handler, 401, _status(401, "Unauthorized", "no valid bearer token"))
            return
        path = handler.path.split("?")[0]  # the query (lightkube's ?fieldManager=...) is no part of the resource
        parts = path.strip("/").split("/")
        # apis/batch/v1/namespaces/<ns>/<resource>[/<name>]
        if len(parts) < 6 or parts[:3] != ["apis", "batch", "v1"] or parts[3] != "namespaces":
            self._deny(handler, verb, path)
            return
        namespace, resource = parts[4], parts[5]
        name = parts[6] if len(parts) > 6 else (body or {}).get("metadata", {}).get("name")
        if namespace != self.namespace or not self.allowed(verb, "batch", resource, name if verb != "create" else None):
            self._deny(handler, verb, path)
            return
        if verb == "get" and resource == "cronjobs":
            found = [o for o in self.objects if o["kind"] == "CronJob" and o["metadata"]["name"] == name]
            if not found:
                self._send(handler, 404, _status(404, "NotFound", f'cronjobs.batch "{name}" not found'))
                return
            cronjob = json.loads(json.dumps(found[0]))
            cronjob["metadata"] |= {"namespace": namespace, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, name))}
            self._send(handler, 200, cronjob)
            return
        if verb == "create" and resource == "jobs" and body is not None:
            if any(j["metadata"]["name"] == name for j in self.created):
                self._send(handler, 409, _status(409, "AlreadyExists", f'jobs.batch "{name}" already exists'))
                return
            self.created.append(body)
            self._send(handler, 201, body)
            return
        self._deny(handler, verb, path)

    def _deny(self, handler: BaseHTTPRequestHandler, verb: str, path: str) -> None:
        self.denied.append(f"{verb} {path}")
        self._send(handler, 403, _status(403, "Forbidden", f"{verb} {path} is not granted by the Role"))

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, code: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure"}
    return {**status, "message": message, "reason": reason, "code": code}
