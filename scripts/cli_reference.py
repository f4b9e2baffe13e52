"""Writes docs/cli.md from the CLI's own ``--help`` output; ``--check`` fails when the file has drifted.

Usage: ``python scripts/cli_reference.py [--check]`` (``make docs`` writes it; a test compares ``render()``).
Every command's help is rendered in this process (typer's ``CliRunner``), as ``cloudgate ... --help`` prints it on
a 100-column terminal without colours: one process for the whole reference, not one per command.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer.main
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "cli.md"
_ENV = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}


def _commands() -> list[list[str]]:
    from cloudgate.cli.main import app

    root = typer.main.get_command(app)
    found: list[list[str]] = [[]]

    def walk(command: object, path: list[str]) -> None:
        # typer 0.2x ships its own copy of click, so isinstance(command, click.Group) is never true: a group is
        # whatever has sub-commands.
        commands = getattr(command, "commands", {})
        for name in sorted(commands):
            found.append([*path, name])
            walk(commands[name], [*path, name])

    walk(root, [])
    return found


def render() -> str:
    from cloudgate.cli.main import app

    runner = CliRunner()
    parts = [
        "# cloudgate command reference",
        "",
        "Generated from `cloudgate ... --help` by `scripts/cli_reference.py`; `make docs` refreshes it and a test",
        "fails when it drifts from the code.",
        "",
    ]
    for path in _commands():
        out = runner.invoke(app, [*path, "--help"], prog_name="cloudgate", env=_ENV, catch_exceptions=False)
        if out.exit_code != 0:
            raise SystemExit(f"cloudgate {' '.join(path)} --help failed ({out.exit_code}):\n{out.output}")
        lines = [line.rstrip() for line in out.stdout.strip("\n").splitlines()]
        parts += [f"## `{' '.join(['cloudgate', *path])}`"]
        parts += ["", "```text", *lines, "```", ""]
    return "\n".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print("docs/cli.md is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
