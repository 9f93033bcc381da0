"""Refuse answers that would make a project the platform cannot run (cookiecutter runs this before rendering)."""

import re
import sys

NAME = "{{ cookiecutter.name }}"
TASK = "{{ cookiecutter.task }}"
TARGET = "{{ cookiecutter.target }}"

if not re.fullmatch(r"[a-z][a-z0-9]{1,43}", NAME):
    sys.exit(
        f"name {NAME!r}: use 2 to 44 lowercase letters and digits, starting with a letter: it is a Python package "
        "(projects/<name>/) and part of every Kubernetes name the manifests generate"
    )
if TASK not in {"classification", "regression"}:
    sys.exit(f"task {TASK!r}: expected classification or regression")
if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", TARGET):
    sys.exit(f"target {TARGET!r}: a column name (letters, digits, underscores)")
