"""The image's lock files match pyproject.toml (``scripts/lock.py --check``, the check ``make lock`` satisfies)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

LOCK = ROOT / "scripts" / "lock.py"
LOCKED = ("requirements/service.txt", "requirements/build.txt")


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(LOCK), "--check", "--root", str(root)], capture_output=True, text=True, timeout=300
    )


def _project_copy(folder: Path) -> Path:
    for name in ("pyproject.toml", "uv.lock", "README.md", "src/cloudgate/__init__.py", *LOCKED):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, folder / name)
    return folder


def test_the_lock_files_match_pyproject() -> None:
    done = _check(ROOT)
    assert done.returncode == 0, done.stderr


def test_a_dependency_missing_from_the_lock_is_reported(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('    "rich>=13.7",\n', "", 1))
    done = _check(project)
    assert done.returncode == 1
    assert "uv.lock does not match pyproject.toml" in done.stderr


def test_an_edited_export_is_reported(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    service = project / "requirements" / "service.txt"
    service.write_text(service.read_text().replace("fastapi==", "fastapi>=", 1))
    done = _check(project)
    assert done.returncode == 1
    assert "requirements/service.txt differs" in done.stderr
