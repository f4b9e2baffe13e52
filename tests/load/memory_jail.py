"""A memory limit for one process tree, as Cloud Run gives an instance: a cgroup of its own, v2 if this machine lets
us create one with the memory controller, else v1. (``prlimit --as`` is not used: DuckDB and jemalloc reserve far
more address space than they touch, so an address-space limit fails them at start rather than bounding memory.)

The cgroup is made under the test process's own (needs write access to the cgroup filesystem, e.g. root in a VM
or a container given its cgroup), and removed afterwards. ``wrap(argv)`` makes a command join it before it execs.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.resources import cgroup_dirs


@dataclass
class MemoryJail:
    """A cgroup whose processes may use at most ``limit`` bytes; ``version`` is 1 or 2."""

    path: Path
    version: int
    limit: int

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the cgroup (a shell joins it, then execs the command: same pid)."""
        procs = self.path / "cgroup.procs"
        return ["sh", "-c", f'echo $$ > "{procs}" && exec "$@"', "sh", *argv]

    def oom_kills(self) -> int:
        """How many processes the kernel killed in this cgroup for passing the limit."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        for line in (self.path / name).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def peak(self) -> int | None:
        """The most memory the cgroup was charged at once (page cache of its files included), if the kernel says."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        try:
            return int((self.path / name).read_text())
        except (OSError, ValueError):
            return None


def _try_v2(parent: Path, limit: int) -> MemoryJail | None:
    if not (parent / "cgroup.controllers").is_file():
        return None
    child = parent / f"cloudgate-load-{uuid.uuid4().hex[:8]}"
    try:
        child.mkdir()
    except OSError:
        return None
    if not (child / "memory.max").exists():
        with contextlib.suppress(OSError):
            (parent / "cgroup.subtree_control").write_text("+memory")
    try:
        (child / "memory.max").write_text(str(limit))
        (child / "memory.swap.max").write_text("0") if (child / "memory.swap.max").exists() else None
    except OSError:
        with contextlib.suppress(OSError):
            child.rmdir()
        return None
    return MemoryJail(child, 2, limit)


def _try_v1(parent: Path, limit: int) -> MemoryJail | None:
    if not (parent / "memory.limit_in_bytes").is_file():
        return None
    child = parent / f"cloudgate-load-{uuid.uuid4().hex[:8]}"
    try:
        child.mkdir()
        (child / "memory.limit_in_bytes").write_text(str(limit))
    except OSError:
        with contextlib.suppress(OSError):
            child.rmdir()
        return None
    return MemoryJail(child, 1, limit)


def _parents() -> list[Path]:
    """This process's own memory cgroup in each hierarchy (the first folder listed for each mount)."""
    seen: list[Path] = []
    for folder in cgroup_dirs(Path("/proc/self"), "memory"):
        if not any(folder.is_relative_to(parent) or parent.is_relative_to(folder) for parent in seen):
            seen.append(folder)
    return seen


@contextlib.contextmanager
def memory_jail(limit: int) -> Iterator[MemoryJail | None]:
    """A fresh memory cgroup limited to ``limit`` bytes, or ``None`` when this machine does not let us make one."""
    jail = None
    if os.access("/sys/fs/cgroup", os.W_OK) or any(os.access(p, os.W_OK) for p in _parents()):
        for parent in _parents():
            jail = _try_v2(parent, limit) or _try_v1(parent, limit)
            if jail is not None:
                break
    try:
        yield jail
    finally:
        if jail is not None:
            with contextlib.suppress(OSError):
                jail.path.rmdir()
