"""Streaming a response body to a file or a binary stream in constant memory, with a progress bar on a terminal.

The bar (rich, on stderr) appears only when stderr is a terminal, so scripts and logs stay clean. The body is
written chunk by chunk as it arrives; the file is written under a temporary name and renamed at the end, so an
interrupted download never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

import httpx

CHUNK_SIZE = 256 * 1024


class Progress(Protocol):
    def advance(self, n: int) -> None: ...


class _NoProgress:
    def advance(self, n: int) -> None:
        pass


class _RichProgress:
    def __init__(self, progress: object, task: object) -> None:
        self._progress = progress
        self._task = task

    def advance(self, n: int) -> None:
        self._progress.advance(self._task, n)  # type: ignore[attr-defined]


def wants_progress(progress: bool | None) -> bool:
    """``None`` means: when stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else progress


@contextlib.contextmanager
def progress_bar(response: httpx.Response, *, enabled: bool, label: str) -> Iterator[Progress]:
    """A progress sink for ``response``'s body: a rich bar on stderr, or nothing."""
    if not enabled:
        yield _NoProgress()
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        yield _RichProgress(bar, bar.add_task(label, total=total))


@contextlib.contextmanager
def open_target(target: Path | str | BinaryIO) -> Iterator[BinaryIO]:
    """A binary stream for ``target``; a path is written to ``<name>.part`` and renamed on success."""
    if not isinstance(target, str | Path):
        yield target
        return
    path = Path(target)
    partial = path.with_name(path.name + ".part")
    try:
        with partial.open("wb") as stream:
            yield stream
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
