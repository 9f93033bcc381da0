"""Write bytecode for exactly the modules a process imports, instead of for every installed module.

Used by serving/Dockerfile's build stage: ``python compile_imported.py MODULE [MODULE ...] [--call MOD:FUNC]``.
It imports the modules (and calls the functions, which may import more), then compiles the source file of
every module that ended up in ``sys.modules`` and lives under ``sys.prefix``.

Why: compiling every installed module (uv's ``--compile-bytecode``) put ~120 MB of ``.pyc`` into the serving
image, most of it for modules the service never imports (MLflow's GenAI code, the Databricks SDK, most of
SciPy). Without any bytecode a container with a read-only root filesystem would compile every module it
imports in memory at each start, which costs cold start. Bytecode for what the service imports keeps the
start fast and the image small; a module imported later without bytecode is still compiled, in memory.

Bytecode is written in ``unchecked-hash`` mode: valid regardless of file times, which ``COPY`` between
stages does not promise to keep.
"""

from __future__ import annotations

import importlib
import py_compile
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    calls = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--call"]
    modules = [arg for i, arg in enumerate(argv) if arg != "--call" and (i == 0 or argv[i - 1] != "--call")]
    if not modules and not calls:
        print(__doc__, file=sys.stderr)
        return 2
    for name in modules:
        importlib.import_module(name)
    for target in calls:
        module, _, function = target.partition(":")
        getattr(importlib.import_module(module), function)()
    prefix = Path(sys.prefix).resolve()
    sources = sorted(
        {
            Path(path).resolve()
            for module in list(sys.modules.values())
            if (path := getattr(module, "__file__", None)) and path.endswith(".py")
        }
    )
    compiled = 0
    for source in sources:
        if prefix in source.parents:
            py_compile.compile(
                str(source), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
            )
            compiled += 1
    print(f"compile_imported: bytecode for {compiled} imported modules under {prefix}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
