"""Fixtures of the composer's tests (defined in tests/helpers, registered here)."""

from tests.helpers.loop import looped
from tests.helpers.registry import baseline, churn_project_session, migrated_db, ws

__all__ = ["baseline", "churn_project_session", "looped", "migrated_db", "ws"]
