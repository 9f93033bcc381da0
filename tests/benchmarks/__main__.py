"""Run the benchmarks and write docs/benchmarks.md: `python -m tests.benchmarks [--quick] [name ...]`."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import sys
import time
import traceback
from pathlib import Path

from projects.settings import disable_telemetry

MODULES = ("validation", "tracking", "serving", "drift", "images", "loop")
OUT = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


def machine() -> str:
    return (
        f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", default=list(MODULES), help=f"benchmarks to run (default: {MODULES})")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--output", type=Path, default=OUT)
    args = parser.parse_args(argv)
    disable_telemetry()
    sections, failed = [], []
    for name in args.names:
        try:
            module = importlib.import_module(f"tests.benchmarks.{name}")
        except ModuleNotFoundError:
            print(f"[bench] {name}: no such benchmark module yet, skipped", file=sys.stderr)
            continue
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            sections.append(module.run(quick=args.quick))
        except Exception:
            failed.append(name)
            sections.append(f"## {name}\n\nFAILED:\n\n```\n{traceback.format_exc()}\n```\n")
        print(f"[bench] {name} done in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    header = f"# Benchmarks\n\nWritten by `make bench` on {machine()}.\n\n"
    args.output.write_text(header + "\n\n".join(sections) + "\n", encoding="utf-8")
    print(f"[bench] wrote {args.output}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
