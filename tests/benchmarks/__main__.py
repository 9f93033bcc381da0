"""Run the benchmarks and write docs/benchmarks.md: `python -m tests.benchmarks [--quick] [name ...]`.

Each benchmark's section is kept in docs/benchmarks/<name>.md, and docs/benchmarks.md is assembled from every
section present, so running one benchmark refreshes its tables without losing the others'.
"""

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

MODULES = ("validation", "tracking", "serving", "drift", "inference_log", "images", "loop")
DOCS = Path(__file__).resolve().parents[2] / "docs"
OUT = DOCS / "benchmarks.md"


def machine() -> str:
    return (
        f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )


def write_sections(sections: dict[str, str]) -> None:
    folder = DOCS / "benchmarks"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in sections.items():
        (folder / f"{name}.md").write_text(f"{text.rstrip()}\n\n_Measured {machine()}._\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", default=list(MODULES), help=f"benchmarks to run (default: {MODULES})")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--output", type=Path, default=OUT)
    args = parser.parse_args(argv)
    disable_telemetry()
    sections: dict[str, str] = {}
    failed = []
    for name in args.names:
        try:
            module = importlib.import_module(f"tests.benchmarks.{name}")
        except ModuleNotFoundError:
            print(f"[bench] {name}: no such benchmark module yet, skipped", file=sys.stderr)
            continue
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            sections[name] = module.run(quick=args.quick)
        except Exception:
            failed.append(name)
            sections[name] = f"## {name}\n\nFAILED:\n\n```\n{traceback.format_exc()}\n```\n"
        print(f"[bench] {name} done in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    if args.output == OUT:
        write_sections(sections)
        sections = {p.stem: p.read_text(encoding="utf-8") for p in sorted((DOCS / "benchmarks").glob("*.md"))}
    ordered = [sections[n] for n in MODULES if n in sections] + [v for k, v in sections.items() if k not in MODULES]
    header = (
        '# Benchmarks\n\nWritten by `make bench` (`make bench BENCH_ARGS="drift"` refreshes one section). '
        f"Last run: {machine()}.\n\n"
    )
    args.output.write_text(header + "\n\n".join(ordered) + "\n", encoding="utf-8")
    print(f"[bench] wrote {args.output}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
