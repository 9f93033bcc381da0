"""Fixtures of the data suite (defined in tests/helpers/batches.py, registered here)."""

from tests.helpers.batches import check, generator, good_csv, good_frame, project, specs

__all__ = ["check", "generator", "good_csv", "good_frame", "project", "specs"]
