"""What the image holds: the app and the service, compiled; no key, secret, local state or test file."""

from __future__ import annotations

import stat
from pathlib import PurePosixPath

from tests.container.conftest import Images
from tests.container.images import DECOYS
from tests.support import ROOT


def test_no_planted_secret_or_local_state_is_in_the_image(built_files: dict[str, tuple[int, int]]) -> None:
    """The build context held keys, .env files, databases, datasets, .git and .venv (tests/container/images.py)."""
    planted = {PurePosixPath(name).name for name in DECOYS}
    found = [path for path in built_files if PurePosixPath(path).name in planted]
    assert found == []
    assert [path for path in built_files if {".git", ".venv", ".cloudgate"} & set(PurePosixPath(path).parts)] == []


def test_no_test_file_is_in_the_image(built_files: dict[str, tuple[int, int]]) -> None:
    ours = {path.name for path in (ROOT / "tests").rglob("test_*.py")}
    assert ours
    assert [path for path in built_files if PurePosixPath(path).name in ours] == []


def test_srv_holds_exactly_the_app_and_its_bytecode(built: Images, built_files: dict[str, tuple[int, int]]) -> None:
    """Empty folders aside: a folder of app/ whose files are all ignored (the planted secrets' app/nested/) is
    copied empty, which ships nothing."""
    parents = {str(PurePosixPath(path).parent) for path in built_files}
    empty = {p for p, (mode, _) in built_files.items() if stat.S_ISDIR(mode) and p not in parents}
    shipped = {p for p in built_files if p.startswith("/srv/") and not p.endswith("__pycache__")} - empty
    sources = {f"/srv/app/{path.name}" for path in (ROOT / "app").glob("*.py")}
    compiled = {f"/srv/app/__pycache__/{path.stem}.cpython-311.pyc" for path in (ROOT / "app").glob("*.py")}
    assert shipped == {"/srv/app"} | sources | compiled


def test_the_service_package_is_compiled_in_the_image(built_files: dict[str, tuple[int, int]]) -> None:
    site = "/opt/venv/lib/python3.11/site-packages/cloudgate"
    sources = [p for p in built_files if p.startswith(site) and p.endswith(".py")]
    assert sources
    missing = [
        p
        for p in sources
        if str(PurePosixPath(p).parent / "__pycache__" / (PurePosixPath(p).stem + ".cpython-311.pyc"))
        not in built_files
    ]
    assert missing == []


def test_no_pip_in_the_service_environment(built_files: dict[str, tuple[int, int]]) -> None:
    assert not [p for p in built_files if p.startswith("/opt/venv/") and PurePosixPath(p).name in {"pip", "pip3"}]
