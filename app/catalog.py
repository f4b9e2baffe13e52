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
from typing import Any

import duckdb

from app.settings import DataSettings
from cloudgate.errors import DatasetError

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: Suffixes the catalog serves, in order of precedence when both exist.
_SUFFIXES = (".parquet", ".csv")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a dataset: its name and DuckDB type (``BIGINT``, ``TIMESTAMP``, ``VARCHAR``...)."""

    name: str
    type: str


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

    def column(self, name: str) -> Column:
        """The column called ``name``; an unknown one is a 400 that lists the known ones."""
        for column in self.columns:
            if column.name == name:
                return column
        known = ", ".join(c.name for c in self.columns)
        raise DatasetError(f"unknown column {name!r} in dataset {self.name!r} (columns: {known})", status=400)


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


class Catalog:
    """The data folder plus one DuckDB connection; hand each request its own ``cursor()``."""

    def __init__(self, settings: DataSettings) -> None:
        self.directory = settings.data_dir
        self.tmp_dir = self.directory / ".tmp"
        self._cache_dir = self.directory / ".cache"
        for folder in (self.directory, self.tmp_dir, self._cache_dir):
            folder.mkdir(parents=True, exist_ok=True)
        # DuckDB's file cache is keyed by path and checked by modification time, which a replacement within
        # the same timestamp tick passes: a query would mix cached blocks of the old file with the new one.
        # (The same holds for /proc/self/fd paths, which name a different file each time; see ``pin``.)
        config: dict[str, Any] = {
            "temp_directory": str(self.tmp_dir / "duckdb"),
            "enable_external_file_cache": False,
        }
        if settings.duckdb_memory_limit:
            config["memory_limit"] = settings.duckdb_memory_limit
        if settings.duckdb_threads:
            config["threads"] = settings.duckdb_threads
        self._db = duckdb.connect(config=config)
        self._known: dict[tuple[Path, str], Dataset] = {}
        self._known_guard = threading.Lock()
        self._write_locks: dict[str, asyncio.Lock] = {}

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own for one request (DuckDB cursors are safe to use from one thread at a time)."""
        return self._db.cursor()

    def close(self) -> None:
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
        cursor = self.cursor()
        try:
            relation = cursor.sql("SELECT * FROM read_parquet(?)", params=[str(read_path)])
            columns = tuple(Column(n, str(t)) for n, t in zip(relation.columns, relation.types, strict=True))
            counted = cursor.sql("SELECT count(*) FROM read_parquet(?)", params=[str(read_path)]).fetchall()
        except duckdb.Error as exc:
            raise DatasetError(f"dataset {name!r} cannot be read: {first_line(exc)}", status=422) from exc
        finally:
            cursor.close()
        dataset = Dataset(name, source, version, columns, int(counted[0][0]), source.suffix[1:])
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


def first_line(exc: BaseException) -> str:
    """The first line of a DuckDB error, which says what was wrong without DuckDB's long list of hints."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def convert_to_parquet(cursor: duckdb.DuckDBPyConnection, source: Path, fmt: str, target: Path, tmp_dir: Path) -> None:
    """Read ``source`` (``csv`` or ``parquet``) fully and write it to ``target`` as Parquet.

    Reading every row is the validation: a malformed file raises a 422 whose message names no server path.
    ``target`` appears only complete (written beside it, then renamed).
    """
    # CSV is RFC 4180 with a header row. The dialect is fixed: left to guess, DuckDB's sniffer takes a ragged
    # file for a headerless one that starts at a later line, or for one column of text.
    csv = "read_csv(?, header = true, skip = 0, delim = ',', quote = '\"', escape = '\"', strict_mode = true)"
    reader = csv if fmt == "csv" else "read_parquet(?)"
    partial = tmp_dir / f"{target.name}.{os.getpid()}.{threading.get_ident()}.partial"
    try:
        relation = cursor.sql(f"SELECT * FROM {reader}", params=[str(source)])  # noqa: S608 - fixed text
        _check_columns(relation.columns)
        relation.write_parquet(str(partial))
        os.replace(partial, target)
    except duckdb.Error as exc:
        message = first_line(exc).replace(str(source), "the upload").replace(str(partial), "the copy")
        raise DatasetError(f"not a valid {fmt.upper()} file: {message}", status=422) from exc
    finally:
        partial.unlink(missing_ok=True)


def _check_columns(names: list[str]) -> None:
    if not names:
        raise DatasetError("the file has no columns", status=422)
    for name in names:
        if not name or any(ch in name for ch in ":,") or name.startswith("__cg_") or name == "file_row_number":
            raise DatasetError(
                f"column name {name!r} is not allowed: names must be non-empty, without ':' or ',', "
                "and not start with '__cg_' or be 'file_row_number'",
                status=422,
            )
