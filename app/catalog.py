"""The datasets on disk: which exist, their schema and size, and how one is replaced or removed atomically.

A dataset is a file in the data folder: ``<name>.parquet`` or ``<name>.csv`` (a mounted Cloud Storage bucket or
files baked into the image). Queries always read Parquet: a CSV file is converted once into ``.cache/`` (keyed by
the file's identity, so an edited CSV is converted again). Uploads are stored as Parquet.

Replacement is ``os.replace`` of a complete, validated file: a reader that already opened the old file keeps
reading it (the inode lives on), a reader that starts afterwards sees the new one, nobody sees half a file.

Example::

    catalog = Catalog(DataSettings(data_dir=Path("data")))
    dataset = catalog.get("sample")          # DatasetError(404) if there is none
    print(dataset.rows, [c.name for c in dataset.columns])
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.columns import RESERVED_COLUMNS, Column, fold
from app.convert import convert_to_parquet, describe_file, first_line
from app.errors import DatasetError
from app.resources import Limits, read_limits
from app.settings import DataSettings

if TYPE_CHECKING:  # DuckDB itself is imported on first use (``Catalog.cursor``): cold start, see docs/performance.md
    import duckdb

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: Suffixes the catalog serves, in order of precedence when both exist.
_SUFFIXES = (".parquet", ".csv")


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset as it is right now: where queries read it, its version, schema and row count."""

    name: str
    #: The file in the data folder; in a ``Pinned`` dataset, the path that reads exactly the pinned version.
    path: Path
    #: Changes whenever the file is replaced; paging cursors carry it.
    version: str
    columns: tuple[Column, ...]
    rows: int
    #: ``parquet`` or ``csv``: the format of the file in the data folder.
    source_format: str
    #: What the rows take once decoded (fixed-width values plus the bytes of variable-width ones).
    decoded_bytes: int = 0

    def batch_rows(self, most: int, batch_bytes: int) -> int:
        """Rows per export batch: ``most``, fewer when rows are so wide that a batch would pass ``batch_bytes``."""
        row_bytes = max(1, self.decoded_bytes // max(1, self.rows))
        return max(1, min(most, batch_bytes // row_bytes))

    def column(self, name: str) -> Column:
        """The column called ``name``, matched as DuckDB matches identifiers (ASCII case-insensitively); an
        unknown one is a 400 that lists the known ones."""
        for column in self.columns:
            if column.name == name:
                return column
        folded = fold(name)
        for column in self.columns:
            if fold(column.name) == folded:
                return column
        known = ", ".join(c.name for c in self.columns[:50]) + (", ..." if len(self.columns) > 50 else "")
        raise DatasetError(f"unknown column {name[:200]!r} in dataset {self.name!r} (columns: {known})", status=400)


def check_name(name: str) -> str:
    """Return ``name`` if it can name a dataset (and a file), else raise a 400."""
    if not _NAME.fullmatch(name):
        raise DatasetError(
            "a dataset name is 1-64 letters, digits, '_' or '-', starting with a letter or digit", status=400
        )
    return name


_PROC_FD = Path("/proc/self/fd")


def _fd_path(fd: int, fallback: Path) -> Path:
    """A path that opens the same file as ``fd`` even after the name was replaced (Linux), else ``fallback``."""
    return _PROC_FD / str(fd) if _PROC_FD.is_dir() else fallback


class Pinned:
    """A dataset held open for the length of one query; close it (or use ``with``) when the query is done."""

    def __init__(self, dataset: Dataset, fd: int) -> None:
        self.dataset = dataset
        self._fd: int | None = fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Pinned:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _version(stat: os.stat_result) -> str:
    identity = f"{stat.st_dev}:{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}".encode()
    return hashlib.sha256(identity).hexdigest()[:16]


_MiB = 1024 * 1024


def duckdb_config(settings: DataSettings, limits: Limits, tmp_dir: Path) -> dict[str, Any]:
    """DuckDB's settings: the explicit ones, else derived from the instance's limits so DuckDB spills to disk
    (``temp_directory``, itself capped) rather than growing past what the instance has."""
    memory = limits.memory_bytes
    threads = settings.duckdb_threads or max(1, min(limits.cpus, memory // (256 * _MiB)))
    return {
        # DuckDB's file cache is keyed by path and checked by modification time, which a replacement within
        # the same timestamp tick passes: a query would mix cached blocks of the old file with the new one.
        # (The same holds for /proc/self/fd paths, which name a different file each time; see ``pin``.)
        "enable_external_file_cache": False,
        # Late materialization rewrites a page's top-N over ``file_row_number`` into a semi join back on the row
        # numbers, and in that plan DuckDB (2.0.1) keeps a few KB per query for good: an instance grew ~20 MiB per
        # 10,000 pages under load (tests/load/test_sustained_load.py). Pages were not measurably slower without it.
        "disabled_optimizers": "late_materialization",
        "memory_limit": settings.duckdb_memory_limit or f"{max(memory // 4, 64 * _MiB) // _MiB}MiB",
        "threads": threads,
        "temp_directory": str(settings.duckdb_temp_directory or tmp_dir / "duckdb"),
        "max_temp_directory_size": f"{(settings.duckdb_max_temp_bytes or memory // 4) // _MiB}MiB",
    }


class Catalog:
    """The data folder plus one DuckDB connection; hand each request its own ``cursor()``.

    The connection (and the ``duckdb`` import, the largest part of the service's start-up) is made by the first
    ``cursor()`` call, not here: building the app stays cheap, and the service warms it up once it listens.
    """

    def __init__(self, settings: DataSettings, limits: Limits | None = None) -> None:
        self.directory = settings.data_dir
        self.tmp_dir = self.directory / ".tmp"
        self._cache_dir = self.directory / ".cache"
        for folder in (self.directory, self.tmp_dir, self._cache_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.limits = limits or read_limits()
        self.config = duckdb_config(settings, self.limits, self.tmp_dir)
        self._db: duckdb.DuckDBPyConnection | None = None
        self._db_guard = threading.Lock()
        self._closed = False
        self._known: dict[tuple[Path, str], Dataset] = {}
        self._known_guard = threading.Lock()
        self._write_locks: dict[str, asyncio.Lock] = {}

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own for one request (DuckDB cursors are safe to use from one thread at a time).

        The first call imports DuckDB and opens the database (blocking: call it from a worker thread).
        """
        with self._db_guard:
            if self._closed:
                raise RuntimeError("the catalog is closed")
            if self._db is None:
                import duckdb

                self._db = duckdb.connect(config=self.config)
                logger.info(
                    "DuckDB: memory_limit %s, threads %s, spilling up to %s (instance: %d MiB, %d CPUs)",
                    self.config["memory_limit"],
                    self.config["threads"],
                    self.config["max_temp_directory_size"],
                    self.limits.memory_bytes // _MiB,
                    self.limits.cpus,
                )
            return self._db.cursor()

    def close(self) -> None:
        with self._db_guard:
            self._closed = True
            if self._db is not None:
                self._db.close()

    def write_lock(self, name: str) -> asyncio.Lock:
        """Serialises the swap of one dataset name (uploads and deletes); readers never wait on it."""
        return self._write_locks.setdefault(check_name(name), asyncio.Lock())

    def names(self) -> list[str]:
        """Names of the datasets in the data folder, sorted."""
        found = {
            entry.stem
            for entry in self.directory.iterdir()
            if entry.suffix in _SUFFIXES and entry.is_file() and _NAME.fullmatch(entry.stem)
        }
        return sorted(found)

    def list(self) -> list[Dataset]:
        """Every readable dataset; a file DuckDB cannot read is logged and left out."""
        datasets = []
        for name in self.names():
            try:
                datasets.append(self.get(name))
            except DatasetError as exc:
                if exc.status != 404:  # 404: removed since names() looked
                    logger.warning("dataset %s left out of the listing: %s", name, exc)
        return datasets

    def get(self, name: str) -> Dataset:
        """The dataset called ``name``, for its description (blocking: call it from a worker thread)."""
        with self.pin(name) as pinned:
            return pinned.dataset

    def pin(self, name: str) -> Pinned:
        """The dataset called ``name``, held open for one query: ``pinned.dataset.path`` reads this version only.

        DuckDB opens a file more than once per query (footer at bind, data at execution); by path, a replacement
        in between would mix two versions. ``/proc/self/fd/N`` names the open file itself. (Elsewhere than
        Linux the plain path is used, and that small window remains.)
        """
        check_name(name)
        for suffix in _SUFFIXES:
            source = self.directory / f"{name}{suffix}"
            try:
                fd = os.open(source, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                version = _version(os.fstat(fd))
                if suffix == ".csv":
                    converted = self._converted(source, _fd_path(fd, source), version)
                    os.close(fd)
                    fd = os.open(converted, os.O_RDONLY)
                    source_path = converted
                else:
                    source_path = source
                read_path = _fd_path(fd, source_path)
                dataset = self._describe(name, source, version, read_path)
                return Pinned(replace(dataset, path=read_path), fd)
            except BaseException:
                os.close(fd)
                raise
        raise DatasetError(f"no dataset named {name!r}", status=404)

    def _describe(self, name: str, source: Path, version: str, read_path: Path) -> Dataset:
        key = (source, version)
        with self._known_guard:
            known = self._known.get(key)
        if known is not None:
            return known
        import duckdb

        cursor = self.cursor()
        try:
            columns, rows, decoded = describe_file(cursor, read_path)
        except duckdb.Error as exc:
            raise DatasetError(f"dataset {name!r} cannot be read: {first_line(exc)}", status=422) from exc
        finally:
            cursor.close()
        clashing = [c.name for c in columns if fold(c.name) in RESERVED_COLUMNS]
        if clashing:
            # Every query adds DuckDB's row id; a file column of a reserved name would make each one fail.
            raise DatasetError(
                f"dataset {name!r} cannot be served: its columns {clashing} have names DuckDB reserves", status=422
            )
        dataset = Dataset(name, source, version, columns, rows, source.suffix[1:], decoded)
        with self._known_guard:
            self._known = {k: v for k, v in self._known.items() if k[0] != source}
            self._known[key] = dataset
        return dataset

    def _converted(self, source: Path, read_path: Path, version: str) -> Path:
        """The Parquet copy of a CSV file (read from ``read_path``), made on first use of each version."""
        target = self._cache_dir / f"{source.stem}-{version}.parquet"
        if not target.exists():
            cursor = self.cursor()
            try:
                convert_to_parquet(cursor, read_path, "csv", target, self.tmp_dir)
            finally:
                cursor.close()
            for stale in self._cache_dir.glob(f"{source.stem}-*.parquet"):
                if stale != target:
                    stale.unlink(missing_ok=True)
        return target

    def install(self, name: str, parquet: Path) -> Dataset:
        """Make ``parquet`` (a validated file in ``tmp_dir``) the dataset ``name``, atomically.

        Call under ``write_lock(name)``. A CSV of the same name is removed afterwards: Parquet takes precedence,
        so readers never see a moment without the dataset; readers that pinned the old file keep reading it.
        """
        target = self.directory / f"{check_name(name)}.parquet"
        os.replace(parquet, target)
        (self.directory / f"{name}.csv").unlink(missing_ok=True)
        logger.info("dataset %s replaced", name)
        return self.get(name)

    def remove(self, name: str) -> None:
        """Delete the dataset ``name`` (call under ``write_lock(name)``); readers already streaming finish."""
        removed = False
        for suffix in _SUFFIXES:
            with contextlib.suppress(FileNotFoundError):
                (self.directory / f"{check_name(name)}{suffix}").unlink()
                removed = True
        for cached in self._cache_dir.glob(f"{name}-*.parquet"):
            cached.unlink(missing_ok=True)
        if not removed:
            raise DatasetError(f"no dataset named {name!r}", status=404)
        logger.info("dataset %s deleted", name)
