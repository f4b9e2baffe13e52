"""The image tag of a source folder changes with what a build sees, and only with that."""

from __future__ import annotations

from pathlib import Path

from cloudgate.deploy.source import source_tag


def make(folder: Path) -> Path:
    (folder / "app").mkdir(parents=True)
    (folder / "Dockerfile").write_text("FROM base\n")
    (folder / "app" / "main.py").write_text("print('hi')\n")
    (folder / ".dockerignore").write_text("# local state\n.env\n**/*.sqlite3\ndata/\n")
    return folder


def test_the_same_content_gives_the_same_tag_anywhere(tmp_path: Path) -> None:
    tag = source_tag(make(tmp_path / "a"))
    assert tag == source_tag(make(tmp_path / "b")) and tag.startswith("src-") and len(tag) == 16


def test_a_changed_file_changes_the_tag(tmp_path: Path) -> None:
    folder = make(tmp_path)
    before = source_tag(folder)
    (folder / "app" / "main.py").write_text("print('bye')\n")
    assert source_tag(folder) != before


def test_ignored_files_and_local_state_do_not_change_the_tag(tmp_path: Path) -> None:
    folder = make(tmp_path)
    before = source_tag(folder)
    (folder / ".env").write_text("SECRET=1\n")
    (folder / "app" / "keys.sqlite3").write_text("x")
    (folder / "data").mkdir()
    (folder / "data" / "big.csv").write_text("a,b\n")
    (folder / ".cloudgate").mkdir()
    (folder / ".cloudgate" / "session.json").write_text("{}")
    assert source_tag(folder) == before
