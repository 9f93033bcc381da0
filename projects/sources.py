"""Where landing batches come from: one small interface, the kind chosen by ``source.kind`` in project.yaml.

- ``generator``: a seeded synthetic generator (the worked example) writes dated batches to landing.
- ``files``: a folder or prefix of CSV/Parquet batches under any fsspec URL is copied into landing.

Both end the same way: immutable batch files under ``<root>/<project>/landing/``, each with a small record in
``landing/_meta/<name>.json`` (``LandingRecord``: when it landed, where from, the source file's modification time,
its size and SHA-256), which the data gate reads to time batches that carry no timestamp and to recognise a
file delivered twice under two names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import io
import json
import posixpath
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from fsspec.core import url_to_fs

from projects.clock import as_utc, iso_now
from projects.contract import BatchTime, ContractError, FilesSource, GeneratorSource, Project
from projects.storage import ProjectStore

if TYPE_CHECKING:
    import pandas as pd

BATCH_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")
BATCH_SUFFIXES = (".csv", ".parquet")
META = "_meta"  # landing/_meta/<name>.json: the landing record of each batch


class BatchGenerator(Protocol):
    """A project's synthetic data: one DataFrame per (date, scenario), deterministic for a seed."""

    scenarios: ClassVar[tuple[str, ...]]
    shift_scenario: ClassVar[str | None]  # what `make run` lands as the world changing (None: no such chapter)

    def __init__(self, project: Project, seed: int) -> None: ...

    def batch(self, date: dt.date, scenario: str, rows: int) -> pd.DataFrame: ...

    def to_csv(self, frame: pd.DataFrame) -> bytes: ...


@dataclass(frozen=True)
class LandedBatch:
    name: str
    url: str
    rows: int | None


@dataclass(frozen=True)
class LandingRecord:
    """What is known of a batch from its delivery, written next to it when it lands."""

    name: str
    landed_at: str
    source: str  # the file it was copied from, or "generator"
    source_modified: str | None  # the source file's modification time (ISO, UTC), when the store says
    size: int
    sha256: str

    @classmethod
    def of(cls, name: str, data: bytes, source: str, modified: dt.datetime | None) -> LandingRecord:
        stamp = as_utc(modified).isoformat() if modified is not None else None
        return cls(name, iso_now(), source, stamp, len(data), hashlib.sha256(data).hexdigest())


def land_bytes(store: ProjectStore, name: str, data: bytes, source: str, modified: dt.datetime | None = None) -> str:
    """Write a batch to landing with its landing record (the batch first: a record never names a missing file)."""
    url = store.write_bytes("landing", name, data=data)
    record = LandingRecord.of(name, data, source, modified)
    store.write_text("landing", META, f"{name}.json", text=json.dumps(asdict(record), indent=2))
    return url


def landing_record(store: ProjectStore, name: str) -> LandingRecord | None:
    """The batch's landing record, or None for a batch landed before records were kept."""
    if not store.exists("landing", META, f"{name}.json"):
        return None
    data = json.loads(store.read_text("landing", META, f"{name}.json"))
    return LandingRecord(**{k: data.get(k) for k in LandingRecord.__dataclass_fields__})


def name_time(name: str, rule: BatchTime) -> dt.datetime | None:
    """The time a batch's file name carries under ``source.batch_time`` (UTC; a date means its midnight)."""
    match = re.search(rule.pattern, name)
    if match is None:
        return None
    text = match.group(1)
    try:
        moment = dt.datetime.strptime(text, rule.format) if rule.format else dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return as_utc(moment)


def _modified(fs: Any, path: str) -> dt.datetime | None:
    """A file's modification time as fsspec reports it (local: mtime; S3: LastModified); None if unknown."""
    info = fs.info(path)
    value = info.get("mtime") or info.get("LastModified") or info.get("last_modified")
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    return value if isinstance(value, dt.datetime) else None


def batch_name(date: dt.date, scenario: str) -> str:
    return f"{date.isoformat()}_{scenario}.csv"


def batch_date(name: str) -> dt.date | None:
    match = BATCH_DATE.search(name)
    return dt.date.fromisoformat(match.group(1)) if match else None


def load_generator(project: Project) -> BatchGenerator:
    source = project.source
    if not isinstance(source, GeneratorSource):
        raise ContractError(f"project {project.name!r}: source.kind is {source.kind!r}, not 'generator'")
    module_name, _, attr = source.generator.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ContractError(
            f"project {project.name!r}: source.generator {source.generator!r} cannot be imported: {exc}"
        ) from None
    generator: BatchGenerator = cls(project, source.seed)
    return generator


def next_batch_date(store: ProjectStore, default: dt.date) -> dt.date:
    """The day after the newest landed batch, so reruns continue the calendar (landing is never pruned)."""
    dates = [d for name in store.list("landing") if (d := batch_date(name))]
    return max(dates) + dt.timedelta(days=1) if dates else default


def generate_batches(
    project: Project,
    store: ProjectStore,
    scenario: str,
    batches: int,
    *,
    start: dt.date | None = None,
    rows: int | None = None,
) -> list[LandedBatch]:
    """Write ``batches`` daily batches of ``scenario`` to landing, starting at ``start`` (or after the newest)."""
    generator = load_generator(project)
    if scenario not in generator.scenarios:
        raise ContractError(f"unknown scenario {scenario!r}; expected one of {', '.join(generator.scenarios)}")
    source = project.source
    assert isinstance(source, GeneratorSource)
    first = start or next_batch_date(store, dt.date.fromisoformat(source.start))
    n_rows = rows or source.rows_per_batch
    landed = []
    for offset in range(batches):
        date = first + dt.timedelta(days=offset)
        name = batch_name(date, scenario)
        frame = generator.batch(date, scenario, n_rows)
        url = land_bytes(store, name, generator.to_csv(frame), source="generator")
        landed.append(LandedBatch(name=name, url=url, rows=len(frame)))
    return landed


def natural_key(name: str) -> list[Any]:
    """Sort key for batch file names: numbers by value, so batch_2.csv comes before batch_10.csv."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", posixpath.basename(name))]


def held_back(pending: int, holdout_batches: int) -> int:
    """How many of the newest of ``pending`` files `make run` holds back as what arrives later: up to three, never
    so many that the first champion has no batch to train on besides its holdout."""
    return min(3, max(0, pending - (holdout_batches + 1)))


def pending_files(
    project: Project, store: ProjectStore, storage_options: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """(name, path) of the source's CSV/Parquet files not landed yet, in natural name order (how ingest lands
    them: a batch's name should carry its date or sequence number)."""
    source = project.source
    if not isinstance(source, FilesSource):
        raise ContractError(f"project {project.name!r}: source.kind is {source.kind!r}, not 'files'")
    try:
        fs, base = url_to_fs(source.url, **(storage_options or {}))
    except (ImportError, ValueError) as exc:  # an unknown protocol, or its filesystem library missing
        raise ContractError(f"project {project.name!r}: source.url {source.url!r}: {exc}") from None
    if not fs.exists(base):
        raise ContractError(f"project {project.name!r}: source.url {source.url!r} does not exist")
    known = set(store.list("landing"))
    found = []
    for path in sorted(fs.glob(posixpath.join(base, source.pattern)), key=natural_key):
        name = posixpath.basename(path)
        if name not in known and name.endswith(BATCH_SUFFIXES) and not fs.isdir(path):
            found.append((name, path))
    return found


def ingest_files(
    project: Project,
    store: ProjectStore,
    storage_options: dict[str, Any] | None = None,
    limit: int | None = None,
) -> list[LandedBatch]:
    """Copy CSV/Parquet batches from ``source.url`` into landing (the oldest ``limit`` of them if given); files
    already landed are skipped.

    Each gets its landing record with the source file's modification time: the batch's time when the data has no
    timestamp and the name carries none.
    """
    pending = pending_files(project, store, storage_options)
    source = project.source
    assert isinstance(source, FilesSource)  # pending_files refused any other kind
    fs, _ = url_to_fs(source.url, **(storage_options or {}))
    landed = []
    for name, path in pending[:limit]:
        url = land_bytes(
            store, name, fs.cat_file(path), source=f"{source.url.rstrip('/')}/{name}", modified=_modified(fs, path)
        )
        landed.append(LandedBatch(name=name, url=url, rows=None))
    return landed


def read_frame(data: bytes, name: str) -> pd.DataFrame:
    """Parse a batch's bytes by its suffix; callers handle the exceptions (unreadable files are quarantined)."""
    import pandas as pd

    if name.endswith(".parquet"):
        return pd.read_parquet(io.BytesIO(data))
    if name.endswith(".csv"):
        return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""])
    raise ValueError(f"{name}: unknown format (expected .csv or .parquet)")


def _land_generated(
    project: Project, store: ProjectStore, scenario: str | None, batches: int, options: dict[str, Any]
) -> list[LandedBatch]:
    generator = load_generator(project)
    chosen = scenario if scenario in generator.scenarios else generator.scenarios[0]
    return generate_batches(project, store, chosen, batches)


def _land_files(
    project: Project, store: ProjectStore, scenario: str | None, batches: int, options: dict[str, Any]
) -> list[LandedBatch]:
    return ingest_files(project, store, options)


LANDERS = {"generator": _land_generated, "files": _land_files}


def land_next(
    project: Project,
    store: ProjectStore,
    *,
    scenario: str | None = None,
    batches: int = 1,
    storage_options: dict[str, Any] | None = None,
) -> list[LandedBatch]:
    """Land whatever the project's source offers next, whatever its kind: generated batches of ``scenario``
    (the generator's first scenario if it has no such one), or the files not yet landed."""
    return LANDERS[project.source.kind](project, store, scenario, batches, storage_options or {})


def generator_scenarios(project: Project) -> tuple[str, ...]:
    """The scenarios a generator project can produce; () for a project fed by files."""
    return tuple(load_generator(project).scenarios) if isinstance(project.source, GeneratorSource) else ()


def shift_scenario(project: Project) -> str | None:
    """The scenario a generator declares as the world changing (its ``shift_scenario``); None for files projects."""
    if not isinstance(project.source, GeneratorSource):
        return None
    return getattr(load_generator(project), "shift_scenario", None)
