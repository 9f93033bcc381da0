"""The one composer: the ``mlops`` CLI, the ``make run`` story and the jobs that chain the libraries' steps.

Nothing imports this package; it imports ``serving``, ``monitoring``, ``pipelines`` and ``projects``
(docs/architecture.md, and the import-linter contracts in pyproject.toml that enforce it).
"""
