"""docs/cli.md is generated from --help; this fails when a command's help changes without `make docs`."""

from __future__ import annotations

import importlib.util

from tests.support import ROOT


def test_cli_reference_matches_the_help_texts() -> None:
    """What ``make docs`` would write (every ``--help``, rendered in this process) is what docs/cli.md says."""
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "scripts" / "cli_reference.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.render() == (ROOT / "docs" / "cli.md").read_text(), "docs/cli.md is out of date: run `make docs`"


def test_every_command_is_in_the_reference_and_shows_no_type_placeholders() -> None:
    """Each command and group has its section; help reads ``--port PORT`` and ``--dev``, not ``<int>``/``<bool>``."""
    text = (ROOT / "docs" / "cli.md").read_text()
    for command in ("serve", "hash-password", "keys create", "emulator run", "dev", "call", "proxy"):
        assert f"## `cloudgate {command}`" in text
    for placeholder in ("<bool>", "<str>", "<int>", "<path>", "<float>"):
        assert placeholder not in text
