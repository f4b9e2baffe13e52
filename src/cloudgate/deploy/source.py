"""The image tag of a source folder: a digest of what a build would see, so an unchanged source is not rebuilt.

Files matched by the folder's ``.dockerignore`` (plain ``fnmatch`` patterns, ``**/`` prefixes and folder names;
``!`` exceptions are not supported and make every file count) are left out, as the build leaves them out.
"""

from __future__ import annotations

import fnmatch
import hashlib
from pathlib import Path

#: Never part of a build context worth hashing (and possibly huge).
_ALWAYS_SKIPPED = (".git", ".venv", ".cloudgate", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache")


def source_tag(folder: Path) -> str:
    """``src-<12 hex digits>`` over every included file's relative path and content."""
    patterns = _ignore_patterns(folder)
    digest = hashlib.sha256()
    for path in sorted(_files(folder, patterns)):
        relative = path.relative_to(folder).as_posix()
        digest.update(relative.encode() + b"\0")
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return f"src-{digest.hexdigest()[:12]}"


def _ignore_patterns(folder: Path) -> list[str]:
    ignore = folder / ".dockerignore"
    if not ignore.is_file():
        return []
    patterns = []
    for line in ignore.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!"):
            return []  # exceptions need Docker's full matcher: count every file rather than guess
        patterns.append(line.strip("/").removeprefix("./"))
    return patterns


def _ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's rule, roughly: a pattern matches a path or one of its parent folders, from the context root."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        if pattern.startswith("**/"):
            tail = pattern.removeprefix("**/")
            if any(fnmatch.fnmatchcase(prefix.rsplit("/", 1)[-1], tail) for prefix in prefixes):
                return True
        elif any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            return True
    return False


def _files(folder: Path, patterns: list[str]) -> list[Path]:
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).as_posix()
        if any(part in _ALWAYS_SKIPPED for part in relative.split("/")):
            continue
        if path.is_file() and not path.is_symlink() and not _ignored(relative, patterns):
            found.append(path)
    return found
