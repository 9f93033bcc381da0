"""A secret scan of the tree (tracked files and untracked ones git would pick up): keys, tokens and
credentials in URLs must never be committed; .env stays out of git; the scanner is shown to catch a plant."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.helpers.system import REPO

MAX_BYTES = 2_000_000

PATTERNS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret key": re.compile(r"(?i)aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{40}\b"),
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60,})\b"),
    "Slack token": re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}\b"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "Stripe live key": re.compile(r"\b[rs]k_live_[0-9a-zA-Z]{24,}\b"),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^/\s:@'\"]{6,})@"),
}
# A password in a URL is fine when it is a variable, a placeholder or the tests' own throwaway value.
PLACEHOLDER = re.compile(r"[${}<>]|^(?:password|passwd|secret|changeme|testing|container-test|x+|\*+)$", re.I)
# (path, kind) pairs that are known not to be secrets, each with the reason.
ALLOWED: dict[tuple[str, str], str] = {
    ("tests/projects/test_tracking.py", "password in a URL"): (
        "a made-up password the test plants to prove that error messages redact it"
    ),
    ("projects/redaction.py", "password in a URL"): "the docstring's example of what redact() hides (s3cret)",
    ("tests/serving/test_servable.py", "password in a URL"): "made-up passwords the redaction tests plant and hide",
    ("tests/mlops/test_cli.py", "password in a URL"): "a made-up password `mlops ui` must not print (s3cret-ui)",
}


def candidate_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [REPO / name for name in out.split("\0") if name and (REPO / name).is_file()]


def findings(path: Path, relative: str) -> list[str]:
    if path.stat().st_size > MAX_BYTES:
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return []  # binary
    found = []
    for kind, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            if kind == "password in a URL" and PLACEHOLDER.search(match.group(1)):
                continue
            if (relative, kind) not in ALLOWED:
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{relative}:{line}: {kind}")
    return found


def test_no_secrets_in_the_tree() -> None:
    files = candidate_files()
    assert len(files) > 20, "git ls-files found almost nothing: is this a git checkout?"
    problems = [f for path in files for f in findings(path, str(path.relative_to(REPO)))]
    assert not problems, "possible secrets (remove them, rotate them, or allow-list with a reason):\n" + "\n".join(
        problems
    )


def test_env_files_and_build_ca_stay_out_of_git() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", ".env", "infra/certs"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert ".env" not in tracked.stdout.split(), ".env is tracked: remove it from git and rotate what it held"
    assert not any(name.endswith((".crt", ".pem")) for name in tracked.stdout.split()), tracked.stdout
    for name in (".env", "infra/certs/ca-bundle.crt"):
        ignored = subprocess.run(["git", "check-ignore", "-q", name], cwd=REPO, check=False)
        assert ignored.returncode == 0, f"{name} is not git-ignored"


def test_scanner_catches_planted_secrets(tmp_path: Path) -> None:
    """Built at run time so this file itself holds no secret-shaped string."""
    planted = tmp_path / "settings.py"
    key_id = "AKIA" + "Q7" * 8
    url = "postgresql://mlflow:" + "s3cr3t-Pa55" + "@db:5432/mlflow"
    planted.write_text(f"KEY = '{key_id}'\nDB = '{url}'\nOK = 'postgresql://u:${{PASSWORD}}@db/x'\n")
    assert findings(planted, "settings.py") == ["settings.py:1: AWS access key id", "settings.py:2: password in a URL"]
