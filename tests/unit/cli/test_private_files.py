"""Files with secrets (emulator key files, dev session files) are private from their first byte."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from cloudgate.cli.emulator import _write_secret_file


def test_a_key_file_replaces_an_old_world_readable_one_instead_of_rewriting_it(tmp_path: Path) -> None:
    """Rewriting the old file in place would keep its 0644 mode until a chmod; a new file never has it."""
    path = tmp_path / "key.json"
    path.write_text("{}")
    path.chmod(0o644)
    old_inode = path.stat().st_ino
    _write_secret_file(path, {"private_key": "not-a-real-key"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_ino != old_inode
    assert json.loads(path.read_text()) == {"private_key": "not-a-real-key"}
    assert [p.name for p in tmp_path.iterdir()] == ["key.json"]  # no temporary file left behind


def test_a_new_key_file_is_private_and_its_folder_is_made(tmp_path: Path) -> None:
    path = tmp_path / "new" / "key.json"
    _write_secret_file(path, {"a": 1})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
