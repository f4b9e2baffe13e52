"""``cloudgate ARGS`` run in the test's own process, as the console script runs it: ``cloudgate.cli.main:main``.

For CLI tests where a process of its own proves nothing more (argument parsing, messages, exit codes, what a
command writes): about 1 ms instead of the ~1 s a fresh interpreter costs. The result reads like
``subprocess.run(..., capture_output=True, text=True)``'s. What the process would have printed on an uncaught
exception (its traceback, exit status 1) is what ``stderr`` and ``returncode`` say here too, so a test that
asserts "no traceback" still can fail.

Tests that need a real process keep one (``tests.support.CLOUDGATE``): a terminal (pty), signals, a server, an
import made to fail, what the installed console script itself does.
"""

from __future__ import annotations

import os
import sys
import traceback
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from cloudgate.cli.main import main


@dataclass(frozen=True)
class Ran:
    """What one run printed and its exit status (named as ``subprocess.CompletedProcess`` names them)."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def run_cloudgate(
    *args: str, input: str | None = None, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Ran:
    """Run ``cloudgate *args`` here: stdin is ``input`` (empty when ``None``, never a terminal), ``env`` is laid
    over the test's environment (``tests/conftest.py`` has stripped the machine's settings), ``cwd`` the folder."""
    runner = CliRunner()
    saved_argv, saved_cwd, saved_main = sys.argv, Path.cwd(), sys.modules["__main__"]
    code: int
    with runner.isolation(input=input, env=dict(env or {})) as (out, err, _):
        sys.argv = ["cloudgate", *args]
        # As the console script's: click names the program after argv[0] unless ``__main__`` is a package's
        # (``python -m pytest``), which would make usage lines read "python -m pytest".
        sys.modules["__main__"] = types.ModuleType("__main__")
        if cwd is not None:
            os.chdir(cwd)
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = _exit_status(exc.code)
        except Exception:  # what the interpreter would print, and its status
            sys.stderr.write(traceback.format_exc())
            code = 1
        finally:
            sys.argv, sys.modules["__main__"] = saved_argv, saved_main
            os.chdir(saved_cwd)
            sys.stdout.flush()
            sys.stderr.flush()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return Ran(args, code, stdout, stderr)


def _exit_status(code: object) -> int:
    """``sys.exit(code)``'s status as a process would have it: ``None`` is 0, a message is printed and 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1
