"""Every command's arguments are named as click writes them (``SERVICE``, never ``{service}``) and described."""

from __future__ import annotations

import typer.main

from cloudgate.cli.main import app


def _commands() -> dict[str, object]:
    found: dict[str, object] = {}

    def walk(command: object, path: list[str]) -> None:
        commands = getattr(command, "commands", {})  # typer ships its own click: a group is what has commands
        for name, sub in commands.items():
            found[" ".join([*path, name])] = sub
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def _arguments() -> dict[str, list[object]]:
    return {
        path: [param for param in getattr(command, "params", []) if type(param).__name__ == "TyperArgument"]
        for path, command in _commands().items()
    }


def test_every_argument_has_a_description() -> None:
    missing = [f"{path} {param.name}" for path, params in _arguments().items() for param in params if not param.help]  # type: ignore[attr-defined]
    assert missing == []


def test_usage_lines_name_arguments_without_braces() -> None:
    command = typer.main.get_command(app)
    ctx = command.make_context("cloudgate", ["emulator", "services", "grant", "--help"], resilient_parsing=True)
    usages = {
        path: " ".join(piece for param in params for piece in param.get_usage_pieces(ctx))  # type: ignore[attr-defined]
        for path, params in _arguments().items()
    }
    assert usages["audit"] == "[SERVICE]"  # optional: or --all
    assert usages["emulator services grant"] == "NAME MEMBER"
    assert usages["emulator run"] == "[COMMAND]..."
    assert [path for path, usage in usages.items() if "{" in usage] == []
