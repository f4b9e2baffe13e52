"""Every command's --help renders as a user sees it (rich formatting on), without a traceback."""

from __future__ import annotations

import pytest
import typer.main
from typer.testing import CliRunner

from cloudgate.cli.main import app


def _command_paths() -> list[list[str]]:
    found: list[list[str]] = [[]]

    def walk(command: object, path: list[str]) -> None:
        # typer ships its own copy of click: look for a group's commands rather than checking click's classes.
        commands = getattr(command, "commands", {})
        for name in sorted(commands):
            found.append([*path, name])
            walk(commands[name], [*path, name])

    walk(typer.main.get_command(app), [])
    return found


@pytest.mark.parametrize("path", _command_paths(), ids=lambda path: " ".join(path) or "cloudgate")
def test_help_renders(path: list[str]) -> None:
    """Rich markup in help text (e.g. a `[/X]` in a URL pattern) must not crash the help screen."""
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
