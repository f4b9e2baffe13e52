"""Entry point of the ``cloudgate`` command: assembles the command groups and turns errors into clean exits.

Each command module exposes ``register(root)``; heavy imports happen inside the commands, so
``cloudgate --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer

from cloudgate import __version__
from cloudgate.errors import CloudgateError

_COMMAND_MODULES = (
    "cloudgate.cli.serve",
    "cloudgate.cli.passwords",
    "cloudgate.cli.keys",
    "cloudgate.cli.emulator",
    "cloudgate.cli.emulator_oidc",
    "cloudgate.cli.dev",
    "cloudgate.cli.token",
    "cloudgate.cli.call",
    "cloudgate.cli.proxy",
    "cloudgate.cli.deploy",
    "cloudgate.cli.audit",
)


def _plain_help_types() -> None:
    """Help shows ``--port PORT``, a bare ``--dev`` and ``SERVICE``, not typer 0.29's ``<int>``/``<bool>`` type
    placeholders or its ``{service}`` in the usage line.

    A flag takes no value, so it gets no placeholder; an option shows its ``metavar`` (``FILE``) or the last word of
    its name in capitals; an argument is named by its ``metavar`` or its name in capitals (as the help texts write
    it: "Bind MEMBER to a role on NAME"), once. Older typers (no
    ``display_type_rich``) print click's own metavars and are left alone.
    """
    from typer import core

    def option_type(self: Any, ctx: Any) -> str | None:
        if self.is_flag:
            return None
        return str(self.metavar or self.name.replace("_", "-").split("-")[-1].upper())

    def argument_type(self: Any, ctx: Any) -> str | None:
        return None

    def argument_name(self: Any) -> str:
        return str(self.metavar or self.name.upper())

    def argument_usage(self: Any) -> str:
        """``SERVICE``, ``[SERVICE]``, ``COMMAND...`` as click writes them, not typer 0.29's ``{service}``."""
        name = self.display_name_raw
        name = name if self.required or name.startswith("[") else f"[{name}]"
        return name if self.nargs == 1 or name.endswith("...") else f"{name}..."

    if hasattr(core.TyperOption, "display_type_rich"):
        setattr(core.TyperOption, "display_type_rich", option_type)  # noqa: B010 - replacing a method on purpose
        setattr(core.TyperArgument, "display_type_rich", argument_type)  # noqa: B010
    if hasattr(core.TyperArgument, "_usage_display_name"):
        setattr(core.TyperArgument, "_usage_display_name", argument_usage)  # noqa: B010
        setattr(core.TyperArgument, "display_name_raw", property(argument_name))  # noqa: B010


_plain_help_types()

app = typer.Typer(
    name="cloudgate",
    help="Run, call and emulate private, secured FastAPI services on Google Cloud Run.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cloudgate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Run, call and emulate private, secured FastAPI services on Google Cloud Run."""


for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    """Run the CLI; a ``CloudgateError`` becomes a one-line message and its exit code, never a traceback.

    Click's standalone mode prints usage errors (unknown option, missing argument) as ``Usage: ... Error: ...``
    with exit code 2, and Ctrl-C/Ctrl-D as ``Aborted!``; only cloudgate's own errors reach the handler here.
    """
    try:
        app(standalone_mode=True)
    except CloudgateError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        sys.exit(exc.exit_code)
