"""The data root through fsspec: the same operations on file:// and on a real S3 server (moto on 127.0.0.1)."""

from __future__ import annotations

import pandas as pd
import pytest

from projects.settings import Settings
from projects.storage import DataRoot, StorageError


def test_project_layout_and_roundtrip(data_root_settings: Settings) -> None:
    store = DataRoot.from_settings(data_root_settings).project("churn")
    assert store.list("landing") == [], "a fresh root has no batches and listing it is not an error"

    url = store.write_text("landing", "2026-01-01_baseline.csv", text="a,b\n1,2\n")
    store.write_parquet("validated", "2026-01-01_baseline.parquet", frame=pd.DataFrame({"a": [1, 2]}))
    store.copy("landing", "2026-01-01_baseline.csv", "quarantine", "2026-01-01_baseline", "original.csv")

    assert url.startswith(data_root_settings.data_root_url)
    assert url.endswith("/churn/landing/2026-01-01_baseline.csv")
    assert store.read_text("landing", "2026-01-01_baseline.csv") == "a,b\n1,2\n"
    assert store.read_parquet("validated", "2026-01-01_baseline.parquet")["a"].tolist() == [1, 2]
    assert store.list("quarantine", "2026-01-01_baseline") == ["original.csv"]
    assert store.list_dirs("quarantine") == ["2026-01-01_baseline"]
    assert store.list("validated", suffixes=(".csv",)) == []
    assert store.exists("landing", "2026-01-01_baseline.csv")


def test_unknown_area_is_refused(settings: Settings) -> None:
    store = DataRoot.from_settings(settings).project("churn")
    with pytest.raises(ValueError, match="unknown data area 'models'"):
        store.path("models")  # type: ignore[arg-type]


def test_unusable_url_is_named() -> None:
    with pytest.raises(StorageError, match="nosuchproto://x"):
        DataRoot.from_url("nosuchproto://x")
