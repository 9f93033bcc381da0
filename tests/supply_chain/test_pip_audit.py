"""pip-audit of uv.lock (runtime and dev groups): every known vulnerability is reported; one with a fixed
release fails the suite unless tests/supply_chain/audit-allowlist.toml lists it with a reason and a date."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.system import REPO

ALLOWLIST = Path(__file__).with_name("audit-allowlist.toml")
BIN = Path(sys.executable).parent


def allowlist() -> list[dict[str, Any]]:
    entries = tomllib.loads(ALLOWLIST.read_text(encoding="utf-8"))["ignore"]
    for entry in entries:
        missing = {"id", "package", "reason", "until"} - set(entry)
        assert not missing, f"{ALLOWLIST.name}: entry {entry.get('id', '?')} lacks {sorted(missing)}"
    return entries


def tool(name: str) -> str:
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (it is in the dev group: make setup)")
    return str(found)


def test_allowlist_entries_are_explained_and_current() -> None:
    today = dt.date.today()
    for entry in allowlist():
        assert len(entry["reason"]) >= 20, f"{entry['id']}: say why it is acceptable"
        assert entry["until"] >= today, f"{entry['id']} was allowed until {entry['until']}: review it again"


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    requirements = tmp_path_factory.mktemp("audit") / "locked.txt"
    subprocess.run(
        [tool("uv"), "export", "--frozen", "--all-groups", "--no-emit-project", "--quiet", "-o", str(requirements)],
        cwd=REPO,
        check=True,
        timeout=120,
    )
    ignores = [arg for entry in allowlist() for arg in ("--ignore-vuln", entry["id"])]
    proc = subprocess.run(
        [
            tool("pip-audit"),
            "-r",
            str(requirements),
            "--require-hashes",
            "--disable-pip",
            "--format",
            "json",
            "--progress-spinner",
            "off",
            *ignores,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if not proc.stdout.strip().startswith("{"):
        reason = f"pip-audit could not run (vulnerability service unreachable?): {proc.stderr.strip()[-500:]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return json.loads(proc.stdout)


@pytest.mark.network
def test_lock_has_no_fixable_known_vulnerability(audit: dict[str, Any]) -> None:
    found = [
        (dep["name"], dep["version"], vuln["id"], vuln.get("fix_versions", []))
        for dep in audit["dependencies"]
        for vuln in dep.get("vulns", [])
    ]
    for name, version, vuln_id, fixes in found:
        print(f"pip-audit: {name} {version}: {vuln_id} (fixed in {', '.join(fixes) or 'no release yet'})")
    fixable = [f"{n} {v}: {i} -> upgrade to {', '.join(fx)}" for n, v, i, fx in found if fx]
    assert not fixable, "known vulnerabilities with a fix (upgrade in uv.lock, or allow-list with a reason):\n" + (
        "\n".join(fixable)
    )
    audited = len(audit["dependencies"])
    assert audited > 100, f"only {audited} packages audited: did the export of uv.lock go wrong?"
