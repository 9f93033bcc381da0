"""Screenshots for the docs from a real run: `make screenshots` (python -m tests.screenshots [--home DIR]).

Runs `mlops run --project churn` in a fresh MLOPS_HOME (or uses --home, the state of an earlier run), then opens
the run overview, the newest version's model card and the drift page after the shift in headless Chromium
(Debian's package, driven by Playwright) and writes docs/images/{overview,model-card,drift}.png. Exits 1 if
any page logs a console error, fails a request or asks for anything remote (tests/helpers/browser.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.helpers.browser import check_pages
from tests.helpers.system import REPO

IMAGES = REPO / "docs" / "images"


def run_loop(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")} | {"MLOPS_HOME": str(home)}
    command = [sys.executable, "-m", "mlops", "run", "--project", "churn"]
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True, timeout=900)


def targets(home: Path) -> dict[str, Path]:
    reports = home / "data" / "churn" / "reports"
    cards = sorted(reports.glob("model_cards/v*.html"), key=lambda p: int(p.stem[1:]))
    drift = sorted(p for p in reports.glob("drift/*.html") if not p.name.endswith(".evidently.html"))
    return {"overview": reports / "index.html", "model-card": cards[-1], "drift": drift[-1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, help="use the state of an earlier run instead of a fresh one")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as scratch:
        home = args.home or Path(scratch)
        if args.home is None:
            run_loop(home)
        pages = targets(home)
        shots = {f"file://{path}": IMAGES / f"{name}.png" for name, path in pages.items()}
        failed = False
        for check in check_pages(list(shots), shots, width=1200, height=900):
            print(f"{check.screenshot}: {check.title}", file=sys.stderr)
            for problem in check.problems:
                print(f"  {problem}", file=sys.stderr)
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
