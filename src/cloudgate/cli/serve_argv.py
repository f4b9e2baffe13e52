"""``cloudgate serve``'s flags read without the CLI framework, so the image's entrypoint starts like a bare app.

``parse_serve_argv`` reads what typer would (command line over environment variable over default,
``--name value`` and ``--name=value`` forms, the last of a repeated option winning, ``--`` before the argument,
an empty variable counting as unset) and returns ``None`` for anything else: ``--help``, an unknown or malformed
flag, a value typer might read otherwise. The caller then hands the command line to the typer CLI, which prints its own
help or error, so both paths answer the same. The table below is checked against the typer command's own
parameters by a test (``tests/unit/cli/test_serve_argv.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from cloudgate import env_vars
from cloudgate.cli.serve_run import ServeArgs

#: The boolean words typer (through pydantic) reads in a variable, compared stripped and in lower case.
_BOOLS: Final = {
    **dict.fromkeys(("1", "yes", "true", "on", "t", "y"), True),
    **dict.fromkeys(("0", "no", "false", "off", "f", "n"), False),
}


def _port(value: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise ValueError("not plain digits")  # signs, spaces, underscores: typer's parser decides
    return int(value)


def _path(value: str) -> Path:
    if not value:
        raise ValueError("an empty path")  # left to typer, which has its own answer
    return Path(value)


def _flag(value: str) -> bool:
    return _BOOLS[value.strip().lower()]  # KeyError (another word): left to typer


#: ``--flag``: (the ``ServeArgs`` field, its environment variable, how a value is read; ``None`` for a flag
#: that takes no value on the command line).
OPTIONS: Final[dict[str, tuple[str, str | None, Callable[[str], Any] | None]]] = {
    "--host": ("host", env_vars.HOST, str),
    "--port": ("port", env_vars.PORT, _port),
    "--dev": ("dev", None, None),
    "--factory": ("factory", None, None),
    "--log-format": ("log_format", env_vars.LOG_FORMAT, str),
    "--log-level": ("log_level", env_vars.LOG_LEVEL, str),
    "--app-dir": ("app_dir", env_vars.APP_DIR, _path),
    "--http2": ("http2", env_vars.HTTP2, None),
}
#: The one argument, APP, and its environment variable.
ARGUMENT: Final = ("app", env_vars.APP)


def parse_serve_argv(argv: Sequence[str]) -> ServeArgs | None:
    """``ServeArgs`` for the arguments after ``serve``, or ``None`` when typer should answer them instead."""
    given: dict[str, Any] = {}
    positional: list[str] = []
    rest = iter(argv)
    for item in rest:
        if item == "--":
            positional.extend(rest)
            break
        if not item.startswith("-") or item == "-":
            positional.append(item)
            continue
        name, has_value, value = item.partition("=")
        if name not in OPTIONS:
            return None
        field, _, read = OPTIONS[name]
        if read is None:
            if has_value:
                return None
            given[field] = True
            continue
        if not has_value:
            following = next(rest, None)
            if following is None or following.startswith("-"):
                return None  # a missing value, or one that reads like a flag: typer's call
            value = following
        try:
            given[field] = read(value)
        except (ValueError, KeyError):
            return None
    if len(positional) > 1:
        return None
    if positional:
        given[ARGUMENT[0]] = positional[0]
    return _with_environment(given)


def _with_environment(given: dict[str, Any]) -> ServeArgs | None:
    """Fill what the command line did not give from the environment; ``None`` if a variable would be refused."""
    fields = [ARGUMENT, *((field, envvar) for field, envvar, _ in OPTIONS.values())]
    readers = {field: read or _flag for field, _, read in OPTIONS.values()}
    for field, envvar in fields:
        if field in given or envvar is None:
            continue
        value = os.environ.get(envvar)
        if not value:  # as typer reads it: an empty variable is unset
            continue
        try:
            given[field] = readers[field](value) if field in readers else value
        except (ValueError, KeyError):
            return None
    return ServeArgs(**given)
