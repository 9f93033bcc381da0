"""Fixtures of the pipelines tests (defined in tests/helpers, registered here)."""

from tests.helpers.models import biased_data, churn_data, churn_model, churn_project
from tests.helpers.registry import baseline, churn_project_session, migrated_db, ws

__all__ = [
    "baseline",
    "biased_data",
    "churn_data",
    "churn_model",
    "churn_project",
    "churn_project_session",
    "migrated_db",
    "ws",
]
