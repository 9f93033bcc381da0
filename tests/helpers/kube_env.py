"""Which environment variables Python code reads, found by parsing it (nothing is imported).

A read is ``os.environ.get(X)``, ``os.getenv(X)``, ``os.environ[X]``, ``X in os.environ`` or
``os.environ.setdefault(X, ...)`` (a read that supplies its own default), with X a string literal or a
module-level string constant; and, in a module that touches ``os.environ``, every module-level constant named
``ENV_*`` (the code's convention for a variable read through a helper, as serving/service.py's flags are).
The platform's settings are read by pydantic-settings from the fields of
``projects.settings.Settings`` with its ``env_prefix``: those are parsed from the class body.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path


def _constants(tree: ast.Module) -> dict[str, str]:
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name)


def _name(node: ast.AST, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def reads_in_source(source: str) -> set[str]:
    tree = ast.parse(source)
    constants = _constants(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            func = node.func
            if (_is_environ(func.value) and func.attr in {"get", "setdefault", "pop"}) or (
                func.attr == "getenv" and isinstance(func.value, ast.Name) and func.value.id == "os"
            ):
                name = _name(node.args[0], constants)
        elif isinstance(node, ast.Subscript) and _is_environ(node.value) and isinstance(node.ctx, ast.Load):
            name = _name(node.slice, constants)
        elif isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators):
            name = _name(node.left, constants)
        if name:
            found.add(name)
    if any(_is_environ(node) for node in ast.walk(tree)):
        found |= {value for key, value in constants.items() if key.startswith("ENV_")}
    return found


def reads(paths: Iterable[Path]) -> dict[str, set[Path]]:
    """Variable -> the files that read it."""
    out: dict[str, set[Path]] = {}
    for path in paths:
        for name in reads_in_source(path.read_text(encoding="utf-8")):
            out.setdefault(name, set()).add(path)
    return out


def settings_variables(settings_py: Path, class_name: str = "Settings") -> set[str]:
    """MLOPS_* names pydantic-settings reads for the class: its annotated fields, upper-cased, with the prefix."""
    tree = ast.parse(settings_py.read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    prefix = ""
    fields = []
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            fields.append(node.target.id)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "model_config" for t in node.targets
        ):
            call = node.value
            assert isinstance(call, ast.Call), "model_config is expected to be SettingsConfigDict(...)"
            for keyword in call.keywords:
                if keyword.arg == "env_prefix" and isinstance(keyword.value, ast.Constant):
                    prefix = str(keyword.value.value)
    assert prefix, f"{settings_py}: no env_prefix found in {class_name}.model_config"
    return {prefix + name.upper() for name in fields if name != "model_config"}
