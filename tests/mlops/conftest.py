"""Fixtures of the composer's tests: the registry workspace of the pipelines suite (tests/helpers/registry.py)."""

from tests.helpers.registry import baseline, churn_project_session, migrated_db, ws

__all__ = ["baseline", "churn_project_session", "migrated_db", "ws"]
