"""The kubernetes trigger kind: a Job cloned from the project's suspended retraining CronJob, exactly once.

The Kubernetes API here is a STAND-IN (tests/helpers/kube_api.py): no cluster can run on these machines. It
serves the CronJob from the kind overlay as rendered, and enforces the monitor's Role as rendered, so the test
also proves that the Role grants exactly the calls the trigger makes. MLflow and the workspace are real.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest

from monitoring.kubernetes import ClusterError, RetrainJobs, job_from_cronjob, retrain_job_name
from monitoring.trigger import ALREADY, COOLDOWN, RETRAIN, KubernetesTrigger, TriggerDecision, act_on_drift
from projects import registry, tracking
from projects.settings import Settings
from projects.workspace import Workspace
from tests.helpers.kube import load_objects, run_render
from tests.helpers.kube_api import StandInApi

pytestmark = [pytest.mark.integration, pytest.mark.k8s]
NAMESPACE = "mlops"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed: it renders the manifests (its built-in kustomize)")
    out = tmp_path_factory.mktemp("k8s")
    args = ("--overlay", "kind", "--project", "churn", "--image-tag", "0123456789ab", "--out", str(out), "--stdout")
    done = run_render(*args)
    assert done.returncode == 0, done.stderr
    return load_objects(done.stdout)


def monitor_rules(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    role = next(o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == "churn-monitor")
    return list(role["rules"])


@pytest.fixture
def api(rendered: list[dict[str, Any]], tmp_path: Path) -> StandInApi:
    with StandInApi(NAMESPACE, rendered, monitor_rules(rendered), tmp_path) as server:
        yield server


def jobs_for(api: StandInApi) -> RetrainJobs:
    from lightkube import Client
    from lightkube.config.kubeconfig import KubeConfig

    return RetrainJobs(NAMESPACE, Client(config=KubeConfig.from_file(api.kubeconfig()), namespace=NAMESPACE))


def test_the_job_is_the_cronjobs_template_as_kubectl_would_create_it(rendered: list[dict[str, Any]]) -> None:
    cronjob = next(o for o in rendered if o["kind"] == "CronJob" and o["metadata"]["name"] == "churn-retrain")
    cronjob = {**cronjob, "metadata": {**cronjob["metadata"], "uid": "u-1", "namespace": NAMESPACE}}
    job = job_from_cronjob(cronjob, "churn-retrain-0123456789")
    assert job["spec"] == cronjob["spec"]["jobTemplate"]["spec"], "image, command and service account as declared"
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["ownerReferences"][0]["name"] == "churn-retrain"
    assert job["metadata"]["labels"] == cronjob["spec"]["jobTemplate"]["metadata"]["labels"]
    assert retrain_job_name("churn", "3", "2026-01-20") == retrain_job_name("churn", "3", "2026-01-20")
    assert retrain_job_name("churn", "3", "2026-01-20") != retrain_job_name("churn", "4", "2026-01-20")
    assert len(retrain_job_name("a" * 44, "3", "x")) == 63, "the longest project name still fits a Job name"


def test_one_decision_creates_one_job_and_a_second_trigger_is_already_triggered(api: StandInApi, churn: Workspace):
    client = tracking.configure(churn.settings)
    client.create_registered_model("churn")
    facts = {"champion_version": "1", "newest_labelled": "2026-01-20T10:00:00+00:00"}
    trigger = KubernetesTrigger(jobs=jobs_for(api))
    first = trigger.fire(churn, client, TriggerDecision(RETRAIN, "drift", dict(facts)))
    assert first.action == RETRAIN
    assert len(api.created) == 1, api.denied
    name = api.created[0]["metadata"]["name"]
    assert name == retrain_job_name("churn", "1", facts["newest_labelled"])
    assert first.outcome["follow"] == f"kubectl -n {NAMESPACE} logs -f job/{name}", "says where to follow it"
    tags = client.get_registered_model("churn").tags
    assert registry.TAG_LAST_RETRAIN_AT in tags, "the cooldown starts when the Job is created"
    second = trigger.fire(churn, client, TriggerDecision(RETRAIN, "drift", dict(facts)))
    assert second.action == ALREADY, second.reason
    assert len(api.created) == 1, "never a second Job for one decision"
    assert api.denied == [], "the Role grants every call the trigger makes"


def test_the_role_grants_nothing_more(api: StandInApi) -> None:
    jobs = jobs_for(api)
    with pytest.raises(ClusterError, match=r"CronJob mlops/fraud-retrain: 403"):
        jobs.read_cronjob("fraud-retrain")  # another project's CronJob: not in resourceNames
    assert any("cronjobs/fraud-retrain" in d for d in api.denied)


def test_mlops_mode_kubernetes_makes_the_monitor_create_the_job(
    api: StandInApi, mlops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The platform setting chooses the kind, whatever project.yaml says: the same project retrains in a Job."""
    from mlops.jobs import retrain, train_and_gate
    from tests.helpers import builders

    monkeypatch.setenv("MLOPS_MODE", "kubernetes")
    monkeypatch.setenv("MLOPS_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig()))
    ws = Workspace.open("churn", Settings())
    builders.write_validated(ws.store, builders.churn_batches(ws.project, batches=4))
    assert train_and_gate(ws).decision.promoted
    later = builders.churn_batches(ws.project, batches=2, scenario="market_shift")
    month = dt.timedelta(days=31)
    shifted = [
        (name.replace("2026-01-0", "2026-02-0"), frame.assign(event_time=frame["event_time"] + month))
        for name, frame in later
    ]
    builders.write_validated(ws.store, shifted)
    decision = act_on_drift(ws, drift_detected=True, retrain=retrain)
    assert decision.action == RETRAIN, decision.reason
    assert decision.outcome["started"].startswith(f"Job {NAMESPACE}/churn-retrain-"), decision.outcome
    assert len(api.created) == 1, "the Job, not an in-process retraining"
    versions = tracking.configure(ws.settings).search_model_versions("name='churn'")
    assert len(versions) == 1, "nothing was trained in the monitor's process"
    again = act_on_drift(ws, drift_detected=True, retrain=retrain)
    assert again.action == COOLDOWN, "a second monitor inside the cooldown does not reach the API"


def test_an_unreachable_api_and_a_missing_configuration_are_named(
    api: StandInApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.stop()  # the server is gone: the same configuration now points at a closed port
    with pytest.raises(ClusterError, match=r"CronJob mlops/churn-retrain: the API server is unreachable"):
        jobs_for(api).read_cronjob("churn-retrain")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClusterError, match=r"no Kubernetes configuration.*MLOPS_MODE=kubernetes needs one"):
        RetrainJobs(NAMESPACE).read_cronjob("churn-retrain")
