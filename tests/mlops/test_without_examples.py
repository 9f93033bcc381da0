"""A repository started from this one with the worked examples dropped, as the README tells a user to (`rm -rf
projects/churn projects/demand`, tests/helpers/checkout.py): the CLI answers and says how to make a project; after
`make new-project` the only project is everyone's default, so `make run` with no PROJECT closes its loop, the
serving process imports everything it needs for it (what the image build runs), and `make test-fast` passes,
with each test that needs an example skipped naming it.

The copy shares this checkout's virtualenv and is the first thing on PYTHONPATH; each test asserts that what ran
was the copy's code.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers.checkout import DROP_EXAMPLES, Checkout, checkout_without_examples
from tests.helpers.drafts import write_batches

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAME = "fraud"  # the README's name: in a copy of one's own, nobody else's projects/fraud is in the way


@pytest.fixture(scope="module")
def own_repo(tmp_path_factory: pytest.TempPathFactory) -> Checkout:
    """The copy, with one project of the user's own drafted from their batches by `make new-project`."""
    root = tmp_path_factory.mktemp("own-repo")
    checkout = checkout_without_examples(root / "repo")
    batches = write_batches("fraud", root / "my-batches")
    made = checkout.run("make", "new-project", f"NAME={NAME}", f"DATA={batches}", "TARGET=is_fraud", home=root / "home")
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    return checkout


def test_the_copy_has_no_examples_and_its_own_code_is_imported(tmp_path: Path) -> None:
    checkout = checkout_without_examples(tmp_path / "repo")
    assert DROP_EXAMPLES == "rm -rf projects/churn projects/demand", "the README's command, run in the copy"
    assert not (checkout.root / "projects" / "churn").exists()
    assert not (checkout.root / "projects" / "demand").exists()
    done = checkout.python(
        "-c", "import mlops, pipelines, projects, serving; print(*(m.__file__ for m in (mlops, pipelines, projects, "
        "serving)))", home=tmp_path / "home",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert all(Path(f).is_relative_to(checkout.root) for f in done.stdout.split()), done.stdout


def test_without_any_project_the_cli_answers_and_says_how_to_make_one(tmp_path: Path) -> None:
    checkout = checkout_without_examples(tmp_path / "repo")
    helped = checkout.run(".venv/bin/mlops", "--help", home=tmp_path / "home")
    assert helped.returncode == 0, helped.stderr
    assert "project" in helped.stdout
    default = checkout.run(".venv/bin/mlops", "project", "default", home=tmp_path / "home")
    assert default.returncode == 2, default.stdout + default.stderr
    assert "no project yet" in default.stderr, default.stderr
    assert "make new-project NAME=" in default.stderr, "it says how to make one"


def test_the_only_project_is_the_default_and_serving_imports_everything_for_it(
    own_repo: Checkout, tmp_path: Path
) -> None:
    default = own_repo.run(".venv/bin/mlops", "project", "default", home=tmp_path / "home")
    assert (default.returncode, default.stdout.strip()) == (0, NAME), default.stdout + default.stderr
    # what the serving image's build runs (serving/Dockerfile: compile_imported.py --call ...import_everything)
    imported = own_repo.python(
        "-c", "import os; from serving.server import import_everything; import_everything(); "
        "print(os.environ['MLOPS_PROJECT'])", home=tmp_path / "home",
    )  # fmt: skip
    assert imported.returncode == 0, imported.stdout[-3000:] + imported.stderr[-3000:]
    assert imported.stdout.split()[-1] == NAME, "the service is built for the only project there is"


def test_make_run_without_a_project_named_closes_the_loop_of_the_only_one(own_repo: Checkout, tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = own_repo.run("make", "run", home=home, timeout=1200)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert f"mlops run --project {NAME}" in result.stdout, "make picked the only project"
    summary = json.loads((home / "data" / NAME / "reports" / "run-summary.json").read_text())
    assert summary["served_version"] == summary["champion_after"] is not None, summary
    assert summary["drift_detected"] is True, "the newest batches drifted: the monitor saw it"
    assert summary["reports"]["drift"], "a drift report"


def test_make_test_fast_passes_and_the_examples_tests_skip_saying_why(own_repo: Checkout, tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    done = own_repo.run("make", "test-fast", f"PYTEST_ARGS=--junitxml={report}", home=tmp_path / "home")
    outcomes: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    failed = []
    for case in ET.parse(report).getroot().iter("testcase"):
        where = f"{case.get('classname')}.{case.get('name')}"
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        skip = case.find("skipped")
        if problem is not None:
            outcomes["failed"] += 1
            failed.append(f"{where}: {problem.get('message', '')[:300]}")
        elif skip is not None:
            outcomes["skipped"] += 1
            skipped[skip.get("message", "")] += 1
        else:
            outcomes["passed"] += 1
            outcomes["passed in the project's own tests"] += where.startswith(f"projects.{NAME}.tests.")
    assert not failed, "\n".join(failed)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert outcomes["passed"] > 150, f"most of the platform's fast tests run without the examples: {outcomes}"
    assert outcomes["passed in the project's own tests"] == 3, "make test collects the new project's own tests"
    about_examples = {why: n for why, n in skipped.items() if "churn" in why or "demand" in why}
    assert about_examples, "the examples' tests are skipped, not gone"
    assert all("this checkout does not have (dropped)" in why for why in about_examples), about_examples
    unexplained = {why: n for why, n in skipped.items() if why not in about_examples and not why.strip()}
    assert not unexplained, f"every skip says why: {unexplained}"
