"""The Job the retrain trigger creates, built by the trigger's own code from every rendered retrain CronJob, is
valid for the pinned Kubernetes version (what the API server would admit) and passes checkov as the CronJob it
was cloned from does: its pod spec is the jobTemplate verbatim, so any finding must be one the CronJob skips."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring.kubernetes import RETRAIN_SUFFIX, job_from_cronjob, retrain_job_name
from tests.helpers.kube import Rendered, kubernetes_validate

pytestmark = pytest.mark.k8s


def retrain_cronjobs(rendered: Rendered) -> list[dict[str, Any]]:
    found = [o for o in rendered.objects if o["kind"] == "CronJob" and o["metadata"]["name"].endswith(RETRAIN_SUFFIX)]
    assert found, f"{rendered.overlay}: no retrain CronJob rendered"
    return found


def trigger_jobs(rendered: Rendered) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(CronJob, Job) pairs: each CronJob as the API returns it (namespace and uid set), the Job built from it."""
    pairs = []
    for cronjob in retrain_cronjobs(rendered):
        served = {**cronjob, "metadata": {**cronjob["metadata"], "uid": "6c1b0e4e-0000-4000-8000-000000000001"}}
        project = cronjob["metadata"]["name"].removesuffix(RETRAIN_SUFFIX)
        pairs.append((cronjob, job_from_cronjob(served, retrain_job_name(project, "3", "2026-01-20T10:00:00+00:00"))))
    return pairs


def skipped_checks(obj: dict[str, Any]) -> set[str]:
    annotations = obj["metadata"].get("annotations") or {}
    return {v.split("=", 1)[0].strip() for k, v in annotations.items() if k.startswith("checkov.io/skip")}


@pytest.fixture(scope="module")
def job_files(rendered: dict[str, Rendered], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Per overlay, a folder with the Jobs and the overlay's NetworkPolicies (checkov's graph checks need them)."""
    files = {}
    for overlay, result in rendered.items():
        folder = tmp_path_factory.mktemp(f"trigger-jobs-{overlay}")
        files[overlay] = folder / "jobs.yaml"
        files[overlay].write_text(yaml.safe_dump_all([job for _, job in trigger_jobs(result)]), encoding="utf-8")
        policies = [o for o in result.objects if o["kind"] == "NetworkPolicy"]
        (folder / "network-policies.yaml").write_text(yaml.safe_dump_all(policies), encoding="utf-8")
    return files


def test_the_trigger_built_job_is_valid_for_the_pinned_version(
    rendered: dict[str, Rendered], job_files: dict[str, Path]
) -> None:
    for overlay, path in job_files.items():
        done = kubernetes_validate(path)
        problems = [
            line for line in (done.stdout + done.stderr).splitlines() if line.strip() and not line.startswith("INFO")
        ]
        assert done.returncode == 0, f"{overlay}:\n" + "\n".join(problems or [done.stderr])
        assert not problems, f"{overlay}:\n" + "\n".join(problems)
        passed = [line for line in done.stdout.splitlines() if " passed for resource " in line]
        assert len(passed) == len(trigger_jobs(rendered[overlay])), done.stdout
        for cronjob, job in trigger_jobs(rendered[overlay]):
            assert len(job["metadata"]["name"]) <= 63, job["metadata"]["name"]
            account = job["spec"]["template"]["spec"]["serviceAccountName"]
            assert account.endswith("-jobs"), f"{account}: retrains as the project's jobs, not as the monitor"
            assert job["spec"] == cronjob["spec"]["jobTemplate"]["spec"]


def test_the_trigger_built_job_passes_checkov_as_its_cronjob_does(
    checkov: str, rendered: dict[str, Rendered], job_files: dict[str, Path]
) -> None:
    for overlay, path in job_files.items():
        done = subprocess.run(
            [checkov, "--framework", "kubernetes", "--skip-download", "--file", str(path),
             "--file", str(path.with_name("network-policies.yaml")), "--output", "json"],
            capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        report = json.loads(done.stdout)
        reports = report if isinstance(report, list) else [report]
        results = next(r for r in reports if r.get("check_type") == "kubernetes")["results"]
        assert not results.get("parsing_errors"), results["parsing_errors"]
        jobs = [c for c in results["passed_checks"] + results["failed_checks"] if c["resource"].startswith("Job.")]
        assert jobs, f"{overlay}: checkov scanned no Job\n{done.stderr}"
        allowed = set().union(*(skipped_checks(c) for c, _ in trigger_jobs(rendered[overlay])))
        failed = {c["check_id"] for c in results["failed_checks"] if c["resource"].startswith("Job.")}
        assert failed <= allowed, (
            f"{overlay}: the Job fails {sorted(failed - allowed)}, which its CronJob does not skip"
        )
