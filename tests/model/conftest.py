"""Fixtures of the model suite (defined in tests/helpers/models.py, registered here)."""

from tests.helpers.models import biased_data, churn_data, churn_model, churn_project

__all__ = ["biased_data", "churn_data", "churn_model", "churn_project"]
