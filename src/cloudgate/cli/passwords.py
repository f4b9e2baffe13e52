"""``cloudgate hash-password``: make the argon2 hash of a docs user's password.

The password never comes from the command line (it would land in shell history and ``ps``): from a hidden
prompt with confirmation on a terminal, else one line of stdin. Only the hash goes to stdout.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cloudgate.env_vars import DOCS_USERS
from cloudgate.errors import ConfigError

MIN_LENGTH = 12
#: Unknown words and options go to ``ctx.args`` (to be refused unseen) instead of an argument shown in the usage.
_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}

_HELP = f"""Hash a docs user's password (argon2id) for {DOCS_USERS}.

Reads the password from a hidden prompt (asked twice) on a terminal, or else one line of stdin, never from the command line. Prints only the hash.

Example:

    cloudgate hash-password --user alice        # prints alice:$argon2id$...

    export {DOCS_USERS}="$(cloudgate hash-password --user alice)"
"""


def _read_password() -> str:
    if sys.stdin.isatty():
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
        return password
    line = sys.stdin.readline()
    # Strip the line ending only: spaces are part of the password.
    line = line.removesuffix("\n")
    return line.removesuffix("\r")


def _check_user(user: str) -> None:
    if not user or any(char.isspace() or char in ":," for char in user):
        raise ConfigError("--user: a user name must be non-empty, without spaces, colons or commas")


def hash_password_command(
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Print NAME:hash, ready for the docs users setting.")
    ] = None,
    allow_short: Annotated[
        bool, typer.Option("--allow-short", help=f"Accept a password shorter than {MIN_LENGTH} characters.")
    ] = False,
) -> None:
    # Extra words are collected (``_EXTRA``) only to be refused without repeating them: click's own error would
    # echo a password typed on the command line back to the terminal.
    if ctx.args:
        raise ConfigError(
            "hash-password takes no arguments (only --user and --allow-short), and never a password: on the command "
            "line it lands in shell history and `ps`; type it at the prompt or pipe it on stdin"
        )
    if user is not None:
        _check_user(user)
    password = _read_password()
    if not password:
        raise ConfigError("the password is empty")
    if len(password) < MIN_LENGTH and not allow_short:
        raise ConfigError(
            f"the password is shorter than {MIN_LENGTH} characters; use a longer one, or pass --allow-short"
        )
    from cloudgate.service.passwords import hash_password

    hashed = hash_password(password)
    typer.echo(hashed if user is None else f"{user}:{hashed}")


def register(root: typer.Typer) -> None:
    """Add ``hash-password`` to the ``cloudgate`` command."""
    root.command("hash-password", help=_HELP, context_settings=_EXTRA)(hash_password_command)
