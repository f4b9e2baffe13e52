"""docs/cli.md is generated from --help; this fails when a command's help changes without `make docs`."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


def test_cli_reference_matches_the_help_texts() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_every_command_is_in_the_reference_and_shows_no_type_placeholders() -> None:
    """Each command and group has its section; help reads ``--port PORT`` and ``--dev``, not ``<int>``/``<bool>``."""
    text = (ROOT / "docs" / "cli.md").read_text()
    for command in ("serve", "hash-password", "keys create", "emulator run", "dev", "call", "proxy"):
        assert f"## `cloudgate {command}`" in text
    for placeholder in ("<bool>", "<str>", "<int>", "<path>", "<float>"):
        assert placeholder not in text
