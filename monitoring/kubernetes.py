"""The thin typed layer between the retrain trigger and the Kubernetes API: read a CronJob, create a Job from it.

Only the ``kubernetes`` trigger kind uses it. It makes exactly the two calls the project's Role grants (get the
suspended retraining CronJob by name, create a Job) through lightkube, a maintained typed client on httpx
(which the platform already uses): the official client would add a second HTTP stack, ~40 MB and a second of
import to every monitoring pod. Configuration is what kubectl does: the pod's service account when it runs in
a cluster, else ``KUBECONFIG`` (or ``~/.kube/config``).

``job_from_cronjob`` is what ``kubectl create job --from=cronjob/<name>`` builds: the CronJob's jobTemplate with
its labels and annotations, a name of our choosing, the ``cronjob.kubernetes.io/instantiate: manual`` annotation
and an owner reference to the CronJob, so the image tag and the service account come from the manifests and
deleting the CronJob cleans up its Jobs.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from projects.errors import PlatformError

if TYPE_CHECKING:
    from lightkube import Client

RETRAIN_SUFFIX = "-retrain"  # the project's suspended CronJob: <project>-retrain (k8s/base/project)
NAME_HASH = 10  # a Job name is <cronjob>-<10 characters>: at most 52 + 11 = 63 (k8s/README.md, "Names")
MANUAL = {"cronjob.kubernetes.io/instantiate": "manual"}  # what kubectl sets on a Job it clones


class ClusterError(PlatformError, RuntimeError):
    """The Kubernetes API refused or could not be reached; the message names the object and the status."""


@dataclass(frozen=True)
class Created:
    """What creating the Job did: ``created`` False means a Job of that name exists already (409)."""

    name: str
    namespace: str
    created: bool


def retrain_cronjob(project: str) -> str:
    return f"{project}{RETRAIN_SUFFIX}"


def retrain_job_name(project: str, *parts: str) -> str:
    """A deterministic Job name for one retraining decision: the same (project, champion, newest labelled data)
    always gives the same name, so a second trigger for it gets 409 Conflict instead of a second Job."""
    digest = hashlib.sha256("|".join((project, *parts)).encode()).hexdigest()[:NAME_HASH]
    return f"{retrain_cronjob(project)}-{digest}"


def job_from_cronjob(cronjob: dict[str, Any], name: str) -> dict[str, Any]:
    """The Job ``kubectl create job --from=cronjob/...`` would create from ``cronjob`` (a dict as the API returns)."""
    template = cronjob["spec"]["jobTemplate"]
    meta = template.get("metadata") or {}
    owner = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "name": cronjob["metadata"]["name"],
        "uid": cronjob["metadata"].get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": cronjob["metadata"].get("namespace"),
        "labels": dict(meta.get("labels") or {}),
        "annotations": {**(meta.get("annotations") or {}), **MANUAL},
    }
    if owner["uid"]:
        metadata["ownerReferences"] = [owner]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": copy.deepcopy(template["spec"])}


class RetrainJobs:
    """Read the project's retraining CronJob and create Jobs from it, in one namespace."""

    def __init__(self, namespace: str, client: Client | None = None) -> None:
        self.namespace = namespace
        self._client = client

    def _api(self) -> Client:
        if self._client is None:
            from lightkube import Client
            from lightkube.config.kubeconfig import KubeConfig

            try:
                config = KubeConfig.from_env()
            except Exception as exc:
                raise ClusterError(
                    "no Kubernetes configuration: not in a pod with a service account, and no KUBECONFIG "
                    f"({type(exc).__name__}: {exc}); MLOPS_MODE=kubernetes needs one"
                ) from None
            self._client = Client(config=config, namespace=self.namespace, field_manager="mlops-retrain-trigger")
        return self._client

    @contextmanager
    def _calling(self, kind: str, name: str, conflict_ok: bool = False) -> Iterator[list[bool]]:
        """Turn the API's refusals and an unreachable server into a ClusterError naming the object; with
        ``conflict_ok`` a 409 is not an error: the yielded flag is set instead."""
        import httpx
        from lightkube import ApiError

        conflict: list[bool] = []
        try:
            yield conflict
        except ApiError as exc:
            if conflict_ok and exc.status.code == 409:
                conflict.append(True)
                return
            raise ClusterError(
                f"{kind} {self.namespace}/{name}: {exc.status.code} {exc.status.reason}: {exc.status.message}",
                where=f"{kind.lower()}/{name}",
            ) from None
        except httpx.HTTPError as exc:
            raise ClusterError(f"{kind} {self.namespace}/{name}: the API server is unreachable: {exc}") from None

    def read_cronjob(self, name: str) -> dict[str, Any]:
        from lightkube.resources.batch_v1 import CronJob

        with self._calling("CronJob", name):
            found = self._api().get(CronJob, name, namespace=self.namespace)
        data: dict[str, Any] = found.to_dict()
        return data

    def create_job(self, body: dict[str, Any]) -> Created:
        """Create the Job; ``created`` is False when one of that name exists (409: this decision already ran)."""
        from lightkube.resources.batch_v1 import Job

        name = body["metadata"]["name"]
        with self._calling("Job", name, conflict_ok=True) as conflict:
            self._api().create(Job.from_dict(body), namespace=self.namespace)
        return Created(name, self.namespace, created=not conflict)
