"""Fixtures of the projects tests (defined in tests/helpers, registered here)."""

from tests.helpers.registry import migrated_db

__all__ = ["migrated_db"]
