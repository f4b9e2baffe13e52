"""One command of a deploy plan: an argv list, shown copy-pasteable, run without a shell.

A command never carries a secret: secret content travels in files (``--data-file=PATH``) or on stdin, through a
pipe that ``--dry-run`` prints as such (``gcloud auth print-access-token | podman login ... --password-stdin``: the
token never hits argv).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """``argv`` to run; ``stdin_from``, when set, is run first and its stdout fed to this one's stdin."""

    argv: tuple[str, ...]
    stdin_from: Command | None = None
    #: Reads nothing from the project and changes nothing outside this machine (a local build).
    local: bool = False

    def shell(self) -> str:
        """The command as one bash line (quoted so that pasting it runs exactly this argv)."""
        line = " ".join(shlex.quote(arg) for arg in self.argv)
        if self.stdin_from is not None:
            return f"{self.stdin_from.shell()} | {line}"
        return line


def gcloud(*args: str) -> Command:
    """A ``gcloud`` command (always with ``--quiet``: the plan never relies on a prompt)."""
    return Command(("gcloud", *args, "--quiet"))
