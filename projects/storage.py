"""The data root: one URL, reached through fsspec, under which all of a project's data lives.

Layout (the same on ``file://`` and ``s3://``)::

    <root>/<project>/landing/      batches as they arrive (never deleted)
    <root>/<project>/validated/    cleaned batches that passed the suite (Parquet)
    <root>/<project>/quarantine/   failing batches, each with its JSON and HTML reports
    <root>/<project>/inference/    the inference log (immutable part files)
    <root>/<project>/reports/      validation, model-card and drift reports

Code asks a ``ProjectStore`` for locations and bytes; it never joins local paths by hand, so the same
pipeline runs on a laptop and in a Kubernetes Job against an object store.
"""

from __future__ import annotations

import builtins
import io
import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import fsspec
from fsspec.core import url_to_fs

from projects.errors import PlatformError
from projects.settings import Settings

if TYPE_CHECKING:
    import pandas as pd
    from fsspec import AbstractFileSystem

Area = Literal["landing", "validated", "quarantine", "inference", "reports"]
AREAS: tuple[Area, ...] = ("landing", "validated", "quarantine", "inference", "reports")


class StorageError(PlatformError, RuntimeError):
    """The data root cannot be reached or a location is unusable; the message names the URL."""


@dataclass(frozen=True)
class DataRoot:
    """A filesystem plus the root URL; cheap to create, safe to share."""

    url: str
    fs: AbstractFileSystem
    root: str  # the root in the filesystem's own path form (no protocol)

    @classmethod
    def from_url(cls, url: str, **storage_options: Any) -> DataRoot:
        try:
            fs, root = url_to_fs(url, **storage_options)
        except (ImportError, ValueError) as exc:
            raise StorageError(f"data root {url!r}: {exc}", where=url) from exc
        return cls(url=url.rstrip("/"), fs=fs, root=root.rstrip("/"))

    @classmethod
    def from_settings(cls, settings: Settings) -> DataRoot:
        return cls.from_url(settings.data_root_url, **settings.storage_options())

    def project(self, name: str) -> ProjectStore:
        return ProjectStore(self, name)


@dataclass(frozen=True)
class ProjectStore:
    """Locations and I/O for one project's data under the data root."""

    data_root: DataRoot
    project: str

    @property
    def fs(self) -> AbstractFileSystem:
        return self.data_root.fs

    # -- locations ---------------------------------------------------------------------------------
    def path(self, area: Area, *parts: str) -> str:
        """Filesystem path (no protocol) of ``area/parts...``."""
        if area not in AREAS:
            raise ValueError(f"unknown data area {area!r}; expected one of {AREAS}")
        return posixpath.join(self.data_root.root, self.project, area, *parts)

    def url(self, area: Area, *parts: str) -> str:
        """Full URL (with protocol) of ``area/parts...``, for reports and logs a person reads."""
        path = self.path(area, *parts)
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return f"{protocol}://{path}" if protocol != "file" else f"file://{path}"

    def ensure(self, area: Area, *parts: str) -> str:
        path = self.path(area, *parts)
        self.fs.makedirs(path, exist_ok=True)
        return path

    # -- listing -----------------------------------------------------------------------------------
    def list(self, area: Area, *parts: str, suffixes: tuple[str, ...] = ()) -> list[str]:
        """Names (relative to ``area/parts``) of the files directly under it, sorted; [] if it is missing."""
        base = self.path(area, *parts)
        try:
            entries = self.fs.ls(base, detail=True)
        except FileNotFoundError:
            return []
        names = [posixpath.basename(e["name"].rstrip("/")) for e in entries if e.get("type") == "file"]
        return sorted(n for n in names if not suffixes or n.endswith(suffixes))

    def list_dirs(self, area: Area, *parts: str) -> builtins.list[str]:
        base = self.path(area, *parts)
        try:
            entries = self.fs.ls(base, detail=True)
        except FileNotFoundError:
            return []
        return sorted(posixpath.basename(e["name"].rstrip("/")) for e in entries if e.get("type") == "directory")

    def exists(self, area: Area, *parts: str) -> bool:
        return bool(self.fs.exists(self.path(area, *parts)))

    # -- bytes and frames --------------------------------------------------------------------------
    def read_bytes(self, area: Area, *parts: str) -> bytes:
        data = self.fs.cat_file(self.path(area, *parts))
        return bytes(data)

    def write_bytes(self, area: Area, *parts: str, data: bytes) -> str:
        """Write a whole object at once (object stores cannot append). Returns the URL."""
        path = self.path(area, *parts)
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        self.fs.pipe_file(path, data)
        return self.url(area, *parts)

    def write_text(self, area: Area, *parts: str, text: str) -> str:
        return self.write_bytes(area, *parts, data=text.encode("utf-8"))

    def read_text(self, area: Area, *parts: str) -> str:
        return self.read_bytes(area, *parts).decode("utf-8")

    def write_parquet(self, area: Area, *parts: str, frame: pd.DataFrame) -> str:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return self.write_bytes(area, *parts, data=buffer.getvalue())

    def read_parquet(self, area: Area, *parts: str) -> pd.DataFrame:
        import pandas as pd

        return pd.read_parquet(io.BytesIO(self.read_bytes(area, *parts)))

    def copy(self, src_area: Area, src_name: str, dst_area: Area, *dst_parts: str) -> str:
        """Copy one object to another area of the project (e.g. landing -> quarantine). Returns the URL."""
        dst = self.path(dst_area, *dst_parts)
        self.fs.makedirs(posixpath.dirname(dst), exist_ok=True)
        self.fs.copy(self.path(src_area, src_name), dst)
        return self.url(dst_area, *dst_parts)

    def remove(self, area: Area, *parts: str) -> None:
        self.fs.rm(self.path(area, *parts), recursive=True)


def open_url(url: str, mode: str = "rb", **storage_options: Any) -> Any:
    """Open any fsspec URL (used by the ``files`` data source and ``mlops predict``)."""
    return fsspec.open(url, mode, **storage_options)
