"""``cloudgate dev`` reads the scopes an app declares in a probe process; its own errors come back as one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudgate.cli.dev import _declared_scopes
from cloudgate.errors import ConfigError


def test_an_app_that_cannot_be_imported_from_here_is_named_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not the folder that holds app/
    with pytest.raises(ConfigError) as caught:
        _declared_scopes("app.main:create_app", f"sqlite:///{tmp_path / 'keys.sqlite3'}")
    assert str(caught.value) == "cannot import 'app.main' (run from the folder that holds it)"


def test_an_app_whose_own_import_fails_shows_its_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's own bug: its traceback is what its author needs."""
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="not_a_module_anywhere"):
        _declared_scopes("broken:app", f"sqlite:///{tmp_path / 'keys.sqlite3'}")
