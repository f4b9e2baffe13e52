"""What this instance may use: its memory and CPU limits, read from its cgroup as Cloud Run sets them.

Cloud Run gives each instance a memory limit (512 MiB by default) and a CPU quota through a cgroup; the machine
underneath has far more of both, and that is what ``os.cpu_count()`` and ``/proc/meminfo`` report. DuckDB sizes
its memory limit and thread pool from the machine, so left alone it plans for memory the instance does not have
and is killed for it. The defaults of ``app.catalog`` come from these figures instead.

Both cgroup versions are read: v2 (``memory.max``, ``cpu.max``; Cloud Run's second generation) and v1
(``memory.limit_in_bytes``, ``cpu.cfs_quota_us``). The limit that applies is the smallest one on the way from the
process's own cgroup up to the root of the hierarchy.

Example::

    limits = read_limits()
    print(limits.memory_bytes // 2**20, "MiB,", limits.cpus, "CPUs")
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: cgroup v1 reports "no limit" as a huge number (2**63 rounded down to a page); anything past this is no limit.
_UNLIMITED = 1 << 60


@dataclass(frozen=True, slots=True)
class Limits:
    """The instance's memory (bytes) and CPUs (whole, at least 1)."""

    memory_bytes: int
    cpus: int


def _mounts(mountinfo: Path) -> Iterator[tuple[str, str, str, set[str]]]:
    """``(root, mount point, filesystem type, super options)`` of each cgroup mount."""
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if not sep or len(fields) < 5 or len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
            continue
        yield fields[3], fields[4], rest[0], set(rest[2].split(","))


def cgroup_dirs(proc_self: Path, controller: str) -> list[Path]:
    """The folders of this process's cgroups that may hold ``controller``'s files, each from the process's own
    cgroup up to the root of its hierarchy (v2 and v1 hierarchies both, when both are mounted)."""
    try:
        memberships = [line.split(":", 2) for line in (proc_self / "cgroup").read_text().splitlines()]
    except OSError:
        return []
    dirs: list[Path] = []
    for root, mount_point, fs_type, options in _mounts(proc_self / "mountinfo"):
        if fs_type == "cgroup" and controller not in options:
            continue
        for membership in memberships:
            if len(membership) != 3:
                continue
            _, controllers, path = membership
            v2 = fs_type == "cgroup2" and controllers == ""
            v1 = fs_type == "cgroup" and controller in controllers.split(",")
            if not (v2 or v1):
                continue
            # The mount shows the hierarchy from ``root`` down (a container may see its own cgroup as the root).
            if root == "/":
                relative = path
            elif path == root or path.startswith(root + "/"):
                relative = path[len(root) :]
            else:
                relative = "/"
            top = Path(mount_point)
            leaf = top / relative.lstrip("/")
            dirs += [leaf, *(parent for parent in leaf.parents if parent.is_relative_to(top))]
    return dirs


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (v2) means no limit


def cgroup_memory_limit(proc_self: Path = Path("/proc/self")) -> int | None:
    """The memory limit of this process's cgroup in bytes, or ``None`` when none is set."""
    found = [
        value
        for folder in cgroup_dirs(proc_self, "memory")
        for name in ("memory.max", "memory.limit_in_bytes")
        if (value := _read_int(folder / name)) is not None and value < _UNLIMITED
    ]
    return min(found) if found else None


def cgroup_cpu_limit(proc_self: Path = Path("/proc/self")) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (``1.5``: 150 ms per 100 ms), or ``None`` when none is set."""
    quotas = []
    for folder in cgroup_dirs(proc_self, "cpu"):
        try:
            quota, _, period = (folder / "cpu.max").read_text().partition(" ")
            if quota.strip().isdigit() and period.strip().isdigit():
                quotas.append(int(quota) / max(int(period), 1))
            continue
        except OSError:
            pass
        v1_quota, v1_period = _read_int(folder / "cpu.cfs_quota_us"), _read_int(folder / "cpu.cfs_period_us")
        if v1_quota is not None and v1_period:  # -1 (no quota) is not all digits
            quotas.append(v1_quota / v1_period)
    return min(quotas) if quotas else None


def _machine_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume Cloud Run's default instance
        return 512 * 1024 * 1024


def read_limits(proc_self: Path = Path("/proc/self")) -> Limits:
    """The instance's limits: its cgroup's where set, else the machine's."""
    memory = _machine_memory()
    cgroup_memory = cgroup_memory_limit(proc_self)
    if cgroup_memory is not None:
        memory = min(memory, cgroup_memory)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cgroup_cpu_limit(proc_self)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return Limits(memory, max(1, cpus))
