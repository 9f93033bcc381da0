"""The one error boundary: every failure the platform expects derives from ``PlatformError``.

An expected failure is one a user can act on: a project.yaml with a wrong key, a batch with a bad column, a
tracking server that is down, too little data to train, a request field out of range. Each carries what the
user needs to find the problem, both in its message (for people) and as attributes (for code and tests):

- ``where``: the file or URL (``projects/churn/project.yaml``, ``s3://mlops/churn/validated``),
- ``key``: the key in a file (``gate.fairness.metric``) or the option (``--window``),
- ``column``: the data column,
- ``record``: the row or record index,
- ``value``: the offending value.

The ``mlops`` command catches ``PlatformError`` in one place (``mlops.cli.ErrorBoundary``) and prints its message
on one line without a traceback, exiting with ``exit_code``. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PlatformError(Exception):
    """An expected failure with a message a user can act on; see the module docstring."""

    exit_code: ClassVar[int] = 2
    headline: ClassVar[str] = "error"  # what the CLI prints before the message

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        key: str | None = None,
        column: str | None = None,
        record: int | None = None,
        value: Any = None,
    ) -> None:
        super().__init__(message)
        self.where, self.key, self.column, self.record, self.value = where, key, column, record, value

    @property
    def message(self) -> str:
        return str(self)

    def context(self) -> dict[str, Any]:
        """The located parts that are known (for JSON output and tests)."""
        parts = {"where": self.where, "key": self.key, "column": self.column, "record": self.record}
        return {k: v for k, v in {**parts, "value": self.value}.items() if v is not None}
