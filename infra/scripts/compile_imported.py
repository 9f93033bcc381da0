"""Write bytecode for exactly the modules a process imports, instead of for every installed module.

Used by serving/Dockerfile: ``python compile_imported.py [MODULE ...] [--call MOD:FUNC ...] [--under DIR ...]
[--stdlib]``. It imports the modules and calls the functions (which import more), then compiles the source file
of every module that ended up in ``sys.modules``, has no bytecode yet and lives under one of the DIRs or the
standard library (default: ``sys.prefix``).

Why: compiling every installed module (uv's ``--compile-bytecode``) put ~120 MB of ``.pyc`` into the serving
image, most of it for modules the service never imports (MLflow's GenAI code, the Databricks SDK, most of
SciPy). Without bytecode, a container with a read-only root filesystem compiles every module it imports in
memory at each start (238 modules without bytecode once cost 0.37 s of every cold start). Bytecode for what
the service imports keeps the start fast and the image small; a module imported later without bytecode is
still compiled, in memory.

Bytecode is written in ``unchecked-hash`` mode: valid regardless of file times, which ``COPY`` between
stages does not promise to keep.
"""

from __future__ import annotations

import importlib
import importlib.util
import py_compile
import sys
import sysconfig
from pathlib import Path


def parse(argv: list[str]) -> tuple[list[str], list[str], list[Path]]:
    """MODULE ... [--call MOD:FUNC] ... [--under DIR] ... [--stdlib] -> (modules, calls, roots)."""
    modules: list[str] = []
    calls: list[str] = []
    roots: list[Path] = []
    args = iter(argv)
    for arg in args:
        if arg == "--stdlib":
            roots.append(Path(sysconfig.get_paths()["stdlib"]).resolve())
        elif arg in {"--call", "--under"}:
            value = next(args, None)
            if value is None:
                raise SystemExit(f"compile_imported: {arg} needs a value")
            (calls.append(value) if arg == "--call" else roots.append(Path(value).resolve()))
        else:
            modules.append(arg)
    return modules, calls, roots or [Path(sys.prefix).resolve()]


def main(argv: list[str]) -> int:
    sys.dont_write_bytecode = True  # the imports below must not leave timestamp-checked .pyc of their own
    modules, calls, roots = parse(argv)
    if not modules and not calls:
        sys.stderr.write(__doc__ or "")
        return 2
    for name in modules:
        importlib.import_module(name)
    for target in calls:
        module, _, function = target.partition(":")
        getattr(importlib.import_module(module), function)()
    sources = sorted(
        {
            Path(path).resolve()
            for module in list(sys.modules.values())
            if (path := getattr(module, "__file__", None)) and path.endswith(".py")
        }
    )
    compiled = 0
    for source in sources:
        if Path(importlib.util.cache_from_source(str(source))).exists():
            continue  # e.g. a base image's standard library that ships its bytecode
        if any(root == source or root in source.parents for root in roots):
            py_compile.compile(
                str(source), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
            )
            compiled += 1
    sys.stdout.write(f"compile_imported: bytecode for {compiled} imported modules under {', '.join(map(str, roots))}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
